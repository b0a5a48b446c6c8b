"""Synthetic city-size inputs for the scale benchmark: roads, stations and OSM files.

The roads are generated as OSM data (nodes and ``highway=*`` ways with their tags), so that
the project's own builder turns them into each mode's network: :func:`osm_data` gives the
arrays :func:`geoservice.network.osm.read_osm` would read from the same file, and
:func:`geoservice.network.build_from_osm` applies the real access rules, speeds, one-way
handling and simplification (no table of the builder is copied here). :func:`write_pbf`
writes the same roads as an ``.osm.pbf`` with pyosmium.

Everything is deterministic for a given seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geoservice.model import AMENITIES, CRS_STORAGE, STATION_COLUMNS
from geoservice.network import osm

#: Where the synthetic city lies (central Beijing): lon, lat of its centre.
CENTRE = (116.4, 39.9)
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(CENTRE[1]))

#: Share of minor street segments removed (dead ends, blocks joined), and of the remaining
#: residential ones that are footways, paths or cycleways.
_REMOVED = 0.12
_NON_CAR = 0.10
#: Share of grid cells with a diagonal street.
_DIAGONAL = 0.03


@dataclass(frozen=True)
class Roads:
    """OSM-like roads: nodes, and ways as node lists with their tags.

    Attributes
    ----------
    node_id : ndarray (N,) int64
        Ascending OSM ids of the nodes the ways use.
    node_xy : ndarray (N, 2)
        Their lon/lat, on libosmium's 1e-7° grid (so a PBF round trip is exact).
    way_tags : dict of str to ndarray (W,) object
        ``highway``, ``name``, ``oneway``, ``maxspeed`` (``""`` where absent).
    refs : ndarray int64
        Node indices of every way, way after way.
    offsets : ndarray (W + 1,) int64
        Way ``w``'s nodes are ``refs[offsets[w]:offsets[w + 1]]``.
    """

    node_id: np.ndarray
    node_xy: np.ndarray
    way_tags: dict[str, np.ndarray]
    refs: np.ndarray
    offsets: np.ndarray

    @property
    def n_ways(self) -> int:
        return len(self.offsets) - 1


def _to_lonlat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Metres east/north of :data:`CENTRE` → lon/lat on the 1e-7° grid."""
    lon = np.round((CENTRE[0] + x / _M_PER_DEG_LON) * 1e7) / 1e7
    lat = np.round((CENTRE[1] + y / _M_PER_DEG_LAT) * 1e7) / 1e7
    return np.column_stack([lon, lat])


def _line_class(i: np.ndarray) -> np.ndarray:
    """Road class of grid line ``i`` (a row or a column): a hierarchy by spacing."""
    out = np.full(len(i), "residential", dtype=object)
    out[i % 3 == 0] = "tertiary"
    out[i % 6 == 0] = "secondary"
    out[i % 12 == 0] = "primary"
    out[i % 48 == 24] = "trunk"
    out[i % 48 == 0] = "motorway"
    return out


def _grid(junctions: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """Junction positions (metres, jittered) of a grid of ~50–100 m blocks, and its width."""
    rows = max(2, int(math.sqrt(junctions)))
    cols = max(2, math.ceil(junctions / rows))
    xs = np.cumsum(rng.uniform(50, 100, cols))
    ys = np.cumsum(rng.uniform(50, 100, rows))
    x = np.tile(xs - xs.mean(), rows) + rng.normal(0, 5, rows * cols)
    y = np.repeat(ys - ys.mean(), cols) + rng.normal(0, 5, rows * cols)
    return x, y, cols


def _segments(
    n: int, cols: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Grid streets between junctions: ends, road class and the grid line (for names)."""
    j = np.arange(n)
    r, c = j // cols, j % cols
    east = j[(c < cols - 1) & (j + 1 < n)]
    north = j[j + cols < n]
    diag = j[(c < cols - 1) & (j + cols + 1 < n) & (rng.random(n) < _DIAGONAL)]
    u = np.concatenate([east, north, diag])
    v = np.concatenate([east + 1, north + cols, diag + cols + 1])
    line = np.concatenate([r[east], cols + c[north], np.full(len(diag), -1)])
    cls = np.concatenate([_line_class(r[east]), _line_class(c[north])])
    cls = np.concatenate([cls, np.full(len(diag), "residential", dtype=object)])
    minor = np.isin(cls, ("residential", "tertiary"))
    keep = ~(minor & (rng.random(len(u)) < _REMOVED))
    return u[keep], v[keep], cls[keep], line[keep]


def _tags(
    cls: np.ndarray, line: np.ndarray, u: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Every way's tags: foot/bike-only streets among the residential ones, one-way
    streets (motorways by carriageway), names and a few ``maxspeed`` values."""
    w = len(cls)
    cls = cls.copy()
    draw = rng.random(w)
    non_car = (cls == "residential") & (draw < _NON_CAR)
    cls[non_car] = rng.choice(
        np.array(["footway", "path", "cycleway"], dtype=object), non_car.sum()
    )
    oneway = np.full(w, "", dtype=object)
    oneway[(cls == "residential") & (draw > 0.92)] = "yes"
    oneway[np.isin(cls, ("secondary", "tertiary")) & (draw > 0.95)] = "yes"
    oneway[cls == "motorway"] = "yes"
    # Carriageways of alternate motorway lines run against the node order.
    oneway[(cls == "motorway") & (line % 96 == 48)] = "-1"
    name = np.array([f"{i}号路" if i >= 0 else "" for i in line.tolist()], dtype=object)
    name[non_car] = ""
    maxspeed = np.full(w, "", dtype=object)
    maxspeed[(cls == "primary") & (draw < 0.3)] = "60"
    return {"highway": cls, "name": name, "oneway": oneway, "maxspeed": maxspeed}


def roads(junctions: int, *, shape: tuple[int, int] = (0, 2), seed: int = 0) -> Roads:
    """A road-like network of about ``junctions`` street junctions.

    A jittered grid of 50–100 m blocks with some streets removed and some diagonals, a
    hierarchy of classes by grid line (residential, tertiary, secondary, primary, every 24th
    line a trunk or a one-way motorway carriageway), about 10 % of residential streets
    foot/bike-only (footway, path, cycleway), some one-way streets. Each street between two
    junctions is one way whose ``shape`` (min, max) intermediate nodes bend it into a curve.

    Parameters
    ----------
    junctions : int
        Grid junctions (the walk network has about this many nodes: see
        :func:`junctions_for`).
    shape : (int, int)
        Range of intermediate (shape) nodes per street.
    seed : int
    """
    rng = np.random.default_rng(seed)
    x, y, cols = _grid(junctions, rng)
    u, v, cls, line = _segments(len(x), cols, rng)
    tags = _tags(cls, line, u, rng)
    inner = rng.integers(shape[0], shape[1] + 1, len(u))
    sizes = inner + 2
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    refs = np.empty(offsets[-1], dtype=np.int64)
    refs[offsets[:-1]] = u
    refs[offsets[1:] - 1] = v
    interior = np.ones(len(refs), dtype=bool)
    interior[offsets[:-1]] = interior[offsets[1:] - 1] = False
    refs[interior] = len(x) + np.arange(interior.sum())
    # Shape node t of a street at fraction t / (inner + 1), bowed sideways (a curve).
    way = np.repeat(np.arange(len(u)), inner)
    t = (np.flatnonzero(interior) - offsets[:-1][way]) / (inner[way] + 1)
    dx, dy = x[v] - x[u], y[v] - y[u]
    bow = rng.normal(0, 0.06, len(u))[way] * np.sin(np.pi * t)
    sx = x[u][way] + t * dx[way] - bow * dy[way] + rng.normal(0, 1, len(t))
    sy = y[u][way] + t * dy[way] + bow * dx[way] + rng.normal(0, 1, len(t))
    xy = _to_lonlat(np.concatenate([x, sx]), np.concatenate([y, sy]))
    # Keep the nodes some way uses (a junction whose streets were all removed is none).
    used, refs = np.unique(refs, return_inverse=True)
    return Roads(used + 1, xy[used], tags, refs.astype(np.int64), offsets)


def junctions_for(walk_nodes: int, seed: int = 0) -> int:
    """Grid junctions that give about ``walk_nodes`` walk-network nodes.

    Some junctions drop out of the walk network (degree two after removed streets and
    motorways, which walking may not use, so the builder's simplification merges their
    streets); the share is measured on a pilot network of at most 50,000 junctions.
    """
    from geoservice.network import build_from_osm

    pilot = min(walk_nodes, 50_000)
    net = build_from_osm(osm_data(roads(pilot, seed=seed)), ("walk",))["walk"]
    return round(walk_nodes * pilot / net.n_nodes)


def osm_data(r: Roads, source: str = "synthetic") -> osm.OsmData:
    """The arrays :func:`geoservice.network.osm.read_osm` reads from these roads' file."""
    way_of_ref = np.repeat(np.arange(r.n_ways), np.diff(r.offsets))
    same = way_of_ref[:-1] == way_of_ref[1:]
    full = {k: r.way_tags.get(k, np.full(r.n_ways, "", dtype=object)) for k in osm.ROUTING_TAGS}
    return osm.OsmData(
        source=source,
        schematic=False,
        node_id=r.node_id,
        node_xy=r.node_xy,
        way_id=np.arange(1, r.n_ways + 1, dtype=np.int64),
        way_tags=full,
        seg_u=r.refs[:-1][same],
        seg_v=r.refs[1:][same],
        seg_way=way_of_ref[:-1][same],
        n_refs=len(r.refs),
    )


def write_pbf(r: Roads, path: Path) -> None:
    """Write the roads as an OSM PBF (nodes, then ways with their non-empty tags)."""
    import osmium

    path.unlink(missing_ok=True)
    writer = osmium.SimpleWriter(str(path))
    try:
        node = osmium.osm.mutable.Node
        for i, (lon, lat) in zip(r.node_id.tolist(), r.node_xy.tolist(), strict=True):
            writer.add_node(node(id=i, location=(lon, lat)))
        ids = r.node_id[r.refs].tolist()
        keys = list(r.way_tags)
        columns = [r.way_tags[k].tolist() for k in keys]
        bounds = r.offsets.tolist()
        way = osmium.osm.mutable.Way
        for w in range(r.n_ways):
            tags = {k: c[w] for k, c in zip(keys, columns, strict=True) if c[w]}
            writer.add_way(way(id=w + 1, nodes=ids[bounds[w] : bounds[w + 1]], tags=tags))
    finally:
        writer.close()


def roads_with_raw_nodes(raw_nodes: int, seed: int = 0) -> Roads:
    """Roads of about ``raw_nodes`` OSM nodes, as a real extract has: ways with 0–4 shape
    nodes (about five raw nodes per walk-network node)."""
    shape = (0, 4)
    # Per junction: itself and ~1.85 streets of (0 + 4) / 2 shape nodes each.
    per_junction = 1 + 1.85 * sum(shape) / 2
    return roads(round(raw_nodes / per_junction), shape=shape, seed=seed)


# -- stations ---------------------------------------------------------------------------------

#: Opening hours of the stations that are not open day and night.
DAY_HOURS = (
    "Mo-Su 08:00-20:00",
    "Mo-Su 07:00-21:00",
    "Mo-Fr 08:00-18:00; Sa-Su 09:00-17:00",
    "Mo-Sa 09:00-19:00",
)
#: The amenity few stations offer (a restrictive filter).
RARE_AMENITY = "repair_kit"
#: How often each other amenity is offered.
_AMENITY_SHARE = {
    "hot_water": 0.8, "drinking_water": 0.6, "charging": 0.5, "rest_area": 0.5,
    "toilet": 0.4, "microwave": 0.3, "heating": 0.2, "cooling": 0.15, "first_aid": 0.1,
    "wifi": 0.3, RARE_AMENITY: 0.03,
}  # fmt: skip


def stations(r: Roads, count: int, seed: int = 0) -> gpd.GeoDataFrame:
    """``count`` stations a few metres off random streets (not motorways), as a stations
    layer: ~10 % open 24/7, the others by day; mostly warm stations, some worker homes;
    amenities at the shares of ``_AMENITY_SHARE`` (one of them rare)."""
    rng = np.random.default_rng(seed + 1)
    ok = np.flatnonzero(r.way_tags["highway"] != "motorway")
    way = ok[rng.integers(0, len(ok), count)]
    # A point along the street's first piece, ~15 m to the side.
    a, b = r.node_xy[r.refs[r.offsets[way]]], r.node_xy[r.refs[r.offsets[way] + 1]]
    t = rng.random(count)[:, None]
    jitter = rng.normal(0, 15, (count, 2)) / [_M_PER_DEG_LON, _M_PER_DEG_LAT]
    lonlat = a + t * (b - a) + jitter
    all_day = rng.random(count) < 0.1
    hours = np.where(all_day, "24/7", np.array(DAY_HOURS)[rng.integers(0, 4, count)])
    kinds = rng.choice(
        ["warm_station", "worker_home", "public_worker_home"], count, p=[0.85, 0.12, 0.03]
    )
    offered = {k: rng.random(count) < _AMENITY_SHARE[k] for k in AMENITIES}
    amenities = [";".join(k for k in AMENITIES if offered[k][i]) for i in range(count)]
    values = {
        "id": [f"B{i:06d}" for i in range(count)],
        "name": [f"测试驿站{i}" for i in range(count)],
        "kind": kinds,
        "lon": lonlat[:, 0],
        "lat": lonlat[:, 1],
        "town_code": "110118001",
        "opening_hours": hours,
        "amenities": amenities,
        "source": "import",
    }
    df = pd.DataFrame({c: values.get(c, "") for c in STATION_COLUMNS if c != "capacity"})
    df["capacity"] = None
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon, df.lat), crs=CRS_STORAGE)
