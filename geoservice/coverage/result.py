"""The result of one coverage query: :class:`Coverage`, its figures and GeoJSON layers.

Results are JSON-ready (:meth:`Coverage.to_dict`, :meth:`Coverage.layer`,
:meth:`Coverage.to_geojson`); display polygons are dissolved from the tiles when first
asked for.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely

from geoservice.coverage.query import num
from geoservice.coverage.tiles import Areas, dissolve, get_tiling, tiled_areas
from geoservice.model import STATION_KINDS
from geoservice.network import MODE_LABELS

if TYPE_CHECKING:
    from geoservice.coverage.engine import ModeCache
    from geoservice.coverage.envelope import Pieces
    from geoservice.coverage.places import Places
    from geoservice.coverage.query import CoverageQuery
    from geoservice.coverage.roads import Roads
    from geoservice.responses import NetworkSummary, Notice

#: The layers of :meth:`Coverage.layer`.
LAYERS = ("areas", "cross", "catchments", "uncovered", "stations")
#: Coordinates of published geometry are rounded to this many decimals (≈0.1 m).
_DECIMALS = 6

_GC_LOCK = threading.Lock()
_GC_HOLDS = [0, True]  # pauses held, and whether the collector ran before the first


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: building large GeoJSON or many small lists makes
    no reference cycles, yet triggers full collections that rescan the whole heap (several
    hundred thousand objects here), which used to cost more than the building itself.
    Nested and concurrent pauses are counted; the collector resumes after the last."""
    with _GC_LOCK:
        if _GC_HOLDS[0] == 0:
            _GC_HOLDS[1] = gc.isenabled()
            gc.disable()
        _GC_HOLDS[0] += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_HOLDS[0] -= 1
            if _GC_HOLDS[0] == 0 and _GC_HOLDS[1]:
                gc.enable()


@dataclass
class Coverage:
    """Coverage of one query: figures, layers and the arrays they come from.

    Use :meth:`to_dict` for the JSON figures, :meth:`layers` for GeoJSON layers
    (``areas``, ``cross``, ``catchments``, ``uncovered``, ``stations``) and
    :meth:`to_geojson` for the areas with the figures (``GET /api/coverage``).
    """

    query: CoverageQuery
    network: NetworkSummary
    stations: pd.DataFrame  # the stations counted, with their snap distance
    excluded_far: int
    district: dict
    towns: list[dict]
    villages: list[dict]
    gaps: list[dict]
    notices: list[Notice]
    pieces: Pieces = field(repr=False)  # the roads cut where their coverage changes
    _roads: Roads = field(repr=False)
    _places: Places = field(repr=False)
    _gap_pieces: Pieces = field(repr=False)  # the pieces of the gaps
    _gap_groups: list[np.ndarray] = field(repr=False)  # each gap's rows of _gap_pieces
    areas: Mapping[int, shapely.Geometry] = field(repr=False, default_factory=dict)
    area_m2: list[float] = field(repr=False, default_factory=list)  # by threshold
    town_areas: dict[int, dict[int, float]] = field(repr=False, default_factory=dict)
    _cross_poly: shapely.Geometry | None = field(repr=False, default=None)
    # With geometry: the mode's tables, the thresholds and the engine's lock.
    _cross_source: tuple[ModeCache, int, threading.RLock] | None = field(repr=False, default=None)

    @property
    def cross(self) -> shapely.Geometry | None:
        """Dissolved buffer of the roads reached by two or more stations within the largest
        threshold (metric CRS), computed on first use; None without geometry."""
        if self._cross_poly is None and self._cross_source is not None:
            cache, K, lock = self._cross_source
            lvl = np.where(self.pieces.lvl2 <= K - 1, 0, 1)
            with lock:  # the engine's caches
                tiling = get_tiling(cache, self.query.buffer_m)
                tiled = tiled_areas(cache, tiling, self.pieces, lvl, 1)
                self._cross_poly = dissolve(tiled.tiles[0])
        return self._cross_poly

    @property
    def sample(self) -> bool:
        return bool((self.stations["source"] == "sample").any()) if len(self.stations) else False

    def to_dict(self) -> dict:
        """The figures as JSON-ready data (no geometry)."""
        return {
            "query": self.query.to_dict(),
            "network": self.network,
            "stations": {
                "count": len(self.stations),
                "excluded_far_from_roads": self.excluded_far,
                "sample": self.sample,
            },
            "district": self.district,
            "towns": self.towns,
            "uncovered_villages": self.villages,
            "gaps": self.gaps,
            "notices": self.notices,
        }

    def layer(self, name: str, *, tolerance_m: float = 0.0, decimals: int = _DECIMALS) -> dict:
        """One GeoJSON FeatureCollection (WGS84): ``areas`` (one polygon per threshold,
        largest first), ``cross`` (reached by two or more stations within the largest
        threshold), ``catchments`` (reached roads by nearest station), ``uncovered``
        (gaps, longest first) or ``stations``.

        Parameters
        ----------
        name : str
        tolerance_m : float
            0 (default): the geometry as computed. Above 0, lighter geometry for display:
            simplified by that many metres in the metric CRS (polygons keeping their
            topology), the pieces of a line layer merged where they meet.
        decimals : int
            Coordinates are rounded to this many decimals (6 ≈ 0.1 m, 5 ≈ 1 m).
        """
        if name not in LAYERS:
            msg = f"unknown layer {name!r}; expected one of {', '.join(LAYERS)}"
            raise ValueError(msg)
        with gc_paused():
            if name == "stations":  # points as stored: nothing to project or lighten
                return self._station_points()
            builders: dict[str, Callable[[_Shape], dict]] = {
                "areas": self._areas,
                "cross": self._cross_layer,
                "catchments": self._catchments,
                "uncovered": self._uncovered,
            }
            return builders[name](_Shape(self._roads, tolerance_m, decimals))

    def layers(self, *, tolerance_m: float = 0.0, decimals: int = _DECIMALS) -> dict[str, dict]:
        """Every layer of :meth:`layer` by name."""
        return {
            name: self.layer(name, tolerance_m=tolerance_m, decimals=decimals) for name in LAYERS
        }

    def to_geojson(self) -> dict:
        """The coverage areas as a FeatureCollection with the figures as ``coverage``."""
        return {**self.layer("areas"), "coverage": self.to_dict()}

    def _areas(self, shape: _Shape) -> dict:
        K = len(self.query.minutes)
        if isinstance(self.areas, Areas):
            self.areas.dissolve_all()
        geoms = shape.geojson([self.areas.get(k) for k in range(K)])
        feats = [
            _feature(
                geoms[k],
                {
                    "minutes": num(minutes),
                    "label": f"{num(minutes)} 分钟{MODE_LABELS[self.query.mode]}",
                    "area_km2": None
                    if k >= len(self.area_m2)
                    else round(float(self.area_m2[k]) / 1e6, 3),
                },
            )
            for k, minutes in enumerate(self.query.minutes)
        ]
        # Largest first, so smaller areas are drawn on top.
        return {"type": "FeatureCollection", "features": feats[::-1]}

    def _cross_layer(self, shape: _Shape) -> dict:
        feats = []
        if self.cross is not None and not self.cross.is_empty:
            minutes = num(self.query.minutes[-1])
            feats.append(
                _feature(
                    shape.geojson([self.cross])[0],
                    {
                        "minutes": minutes,
                        "label": f"{minutes} 分钟内可达 2 个及以上站点",
                        "area_km2": round(float(self.cross.area) / 1e6, 3),
                    },
                )
            )
        return {"type": "FeatureCollection", "features": feats}

    # -- layer builders --------------------------------------------------------------------
    def _catchments(self, shape: _Shape) -> dict:
        p, roads = self.pieces, self._roads
        K = len(self.query.minutes)
        reached = p.take(p.lvl1 < K)
        if not len(reached.r):
            return {"type": "FeatureCollection", "features": []}
        order = np.argsort(reached.s1, kind="stable")
        reached = reached.take(order)
        lengths = reached.length(roads)
        people = self._places.people[reached.r]
        cuts = np.flatnonzero(np.r_[True, reached.s1[1:] != reached.s1[:-1]])
        ends = np.r_[cuts[1:], len(order)]
        lines = roads.cut(reached.r, reached.g0, reached.g1)
        which = np.repeat(np.arange(len(cuts)), ends - cuts)
        geoms = shape.geojson(shapely.multilinestrings(lines, indices=which), lines=True)
        ids = self.stations["id"].astype(str).tolist()
        names = self.stations["name"].astype(str).tolist()
        feats = []
        for j, (a, b) in enumerate(zip(cuts.tolist(), ends.tolist(), strict=True)):
            s = int(reached.s1[a])
            length, on_people = lengths[a:b], people[a:b]
            feats.append(
                _feature(
                    geoms[j],
                    {
                        "station_id": ids[s],
                        "name": names[s],
                        "color": _palette(s),
                        "road_km": round(float(length.sum()) / 1000, 3),
                        "people_road_km": round(float(length[on_people].sum()) / 1000, 3),
                    },
                )
            )
        return {"type": "FeatureCollection", "features": feats}

    def _uncovered(self, shape: _Shape) -> dict:
        roads, p = self._roads, self._gap_pieces
        if not self._gap_groups:
            return {"type": "FeatureCollection", "features": []}
        idx = np.concatenate(self._gap_groups)
        which = np.repeat(np.arange(len(self._gap_groups)), [len(g) for g in self._gap_groups])
        lines = roads.cut(p.r[idx], p.g0[idx], p.g1[idx])
        geoms = shape.geojson(shapely.multilinestrings(lines, indices=which), lines=True)
        feats = [_feature(g, props) for g, props in zip(geoms, self.gaps, strict=True)]
        return {"type": "FeatureCollection", "features": feats}

    def _station_points(self) -> dict:
        feats = []
        for i, rec in enumerate(self.stations.to_dict("records")):
            feats.append(
                {
                    "type": "Feature",
                    "geometry": {
                        "type": "Point",
                        "coordinates": [round(rec["lon"], 7), round(rec["lat"], 7)],
                    },
                    "properties": {
                        "id": str(rec["id"]),
                        "name": str(rec["name"]),
                        "kind": str(rec["kind"]),
                        "kind_label": STATION_KINDS.get(rec["kind"], rec["kind"]),
                        "opening_hours": str(rec["opening_hours"]),
                        "color": _palette(i),
                        "snap_distance_m": round(float(rec["snap_m"]), 1),
                        "sample": rec["source"] == "sample",
                    },
                }
            )
        return {"type": "FeatureCollection", "features": feats}


_PALETTE = (
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
    "#1f78b4", "#b2df8a", "#fb9a99", "#cab2d6", "#6a3d9a", "#b15928", "#33a02c",
)  # fmt: skip


def _palette(i: int) -> str:
    return _PALETTE[i % len(_PALETTE)]


def _feature(geometry: dict | None, props: dict) -> dict:
    return {"type": "Feature", "geometry": geometry, "properties": props}


@dataclass
class _Shape:
    """How layer geometry is written: metric geometry to WGS84 GeoJSON, optionally lighter
    (see :meth:`Coverage.layer`)."""

    roads: Roads
    tolerance_m: float = 0.0
    decimals: int = _DECIMALS

    def geojson(self, geoms: list | np.ndarray, *, lines: bool = False) -> list[dict | None]:
        """GeoJSON geometries (None for a missing or empty one), all projected at once."""
        geoms = np.asarray(geoms, dtype=object)
        out: list[dict | None] = [None] * len(geoms)
        ok = np.flatnonzero(~(shapely.is_missing(geoms) | shapely.is_empty(geoms)))
        if not len(ok):
            return out
        g = geoms[ok]
        if self.tolerance_m > 0:
            if lines:
                g = shapely.line_merge(g)
            g = shapely.simplify(g, self.tolerance_m, preserve_topology=not lines)
        xy = shapely.get_coordinates(g)
        lon, lat = self.roads.to_wgs.transform(xy[:, 0], xy[:, 1])
        xy = np.round(np.column_stack([lon, lat]), self.decimals)
        for i, geom in zip(ok.tolist(), _geojson_geometries(g, xy), strict=True):
            out[i] = geom
        return out


def _geojson_geometries(geoms: np.ndarray, xy: np.ndarray) -> list[dict]:
    """GeoJSON geometries of ``geoms`` with their coordinates replaced by ``xy`` (in
    :func:`shapely.get_coordinates` order), built from the arrays: parsing GeoJSON text
    would cost a float object per number."""
    types = shapely.get_type_id(geoms)
    polygonal = np.isin(types, (3, 6)).all()
    if not (polygonal or np.isin(types, (1, 5)).all()):
        g = shapely.set_coordinates(geoms.copy(), xy)
        return [json.loads(text) for text in shapely.to_geojson(g).tolist()]
    # Offsets of lines or rings into the coordinates, of polygons into the rings, and of
    # parts into the geometries when there is a multi-part one (then all are promoted).
    kind, _, offsets = shapely.to_ragged_array(geoms)
    points = xy.tolist()
    runs = [points[a:b] for a, b in itertools.pairwise(offsets[0].tolist())]
    if polygonal:
        runs = [runs[a:b] for a, b in itertools.pairwise(offsets[1].tolist())]
    single, multi = ("Polygon", "MultiPolygon") if polygonal else ("LineString", "MultiLineString")
    if kind not in (shapely.GeometryType.MULTIPOLYGON, shapely.GeometryType.MULTILINESTRING):
        return [{"type": single, "coordinates": run} for run in runs]
    out = []
    for t, (a, b) in zip(types.tolist(), itertools.pairwise(offsets[-1].tolist()), strict=True):
        if t in (1, 3):
            out.append({"type": single, "coordinates": runs[a]})
        else:
            out.append({"type": multi, "coordinates": runs[a:b]})
    return out
