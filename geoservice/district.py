"""District profiles: which district (or whole city) the service is set up for.

A :class:`District` holds the words every page, map, message and file takes — the
district's name (``name``, ``name_en``), its code, the organisation that runs the service
(``org``, ``org_en``) and the town whose caravan base is the tours' default depot — and
what is derived from the district's boundary: the metric CRS (the UTM zone of its centre,
as osmnx's ``projection`` module picks one), the map's centre and bounds, and the named
water bodies drawn on the maps.

Everything lives in the store: the words are columns of the ``boundary`` layer (beside its
``code`` and ``name``), the water bodies are the rows of the water layer. A boundary layer
written before profiles existed lacks the new columns: it reads as the shipped district,
Miyun (`MIYUN`), so an instance seeded from an older GeoPackage keeps working.

:func:`current` gives the profile of a store, read again whenever the store's revision
changes; :func:`set_up` replaces the boundary, towns and water layers from files, all or
nothing (``flask --app app district set``).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geoservice import crs as _crs
from geoservice.errors import DistrictError, FileFormatError, StoreError, excerpt
from geoservice.model import CRS_STORAGE
from geoservice.store import Store
from geoservice.store import tables as _tables
from geoservice.store import validate as _validate
from geoservice.store.towns import Towns

__all__ = [
    "MIYUN",
    "OUTSIDE_NETWORK",
    "OUTSIDE_NOTICE",
    "WATER_LAYER",
    "WORDS",
    "District",
    "SetupReport",
    "Water",
    "current",
    "set_up",
]

#: The words of the shipped district: the defaults of a boundary layer without them.
MIYUN: Mapping[str, str] = MappingProxyType(
    {
        "code": "110118",
        "name": "密云区",
        "name_en": "Miyun District",
        "org": "密云区总工会",
        "org_en": "Miyun District Federation of Trade Unions",
        "depot_town": "110118001",  # 鼓楼街道, where the caravan base is
    }
)
#: The profile's columns of the ``boundary`` layer, in their stored order.
WORDS = tuple(MIYUN)
#: The store layer of the water bodies drawn on the maps (one row each: ``name``,
#: ``name_en``, ``approximate``). It keeps the name of the shipped layer (the Miyun
#: Reservoir) so that every existing store stays readable.
WATER_LAYER = "reservoir"
#: What every page, answer and command says when the active road network lies wholly
#: outside the district (``net.meta["outside_district"]``).
OUTSIDE_NETWORK = (
    "路网不在本区范围内",
    "the road network lies outside the district",
)

#: The notice of answers planned or computed on such a network (``code``, ``zh``, ``en``).
OUTSIDE_NOTICE: Mapping[str, str] = MappingProxyType(
    {
        "code": "outside_district",
        "zh": f"{OUTSIDE_NETWORK[0]}：导入的路网与区界没有交集，结果与本区无关。",
        "en": f"{OUTSIDE_NETWORK[1]}: the imported extract does not touch the district's "
        "boundary, so the results say nothing about the district.",
    }
)

#: A boundary's area (km²) must lie in this range: a village at least, a whole
#: prefecture-level city at most.
MIN_AREA_KM2 = 0.1
MAX_AREA_KM2 = 500_000.0


@dataclass(frozen=True)
class Water:
    """A water body drawn on the maps (a reservoir, a lake)."""

    name: str
    name_en: str = ""
    approximate: bool = False

    @property
    def label(self) -> str:
        """Its name on a map's layer control: ``密云水库（近似）`` when approximate."""
        return f"{self.name}（近似）" if self.approximate else self.name


@dataclass(frozen=True)
class District:
    """The profile of the district the service is set up for.

    Attributes
    ----------
    code, name, name_en : str
        The district's code (NBS, or any code for a district elsewhere) and names.
    org, org_en : str
        The organisation that runs the service, in Chinese and English.
    depot_town : str
        Code of the town whose caravan base is the tours' default depot (``""``: none).
    metric_crs : str
        The UTM zone of the boundary's centre, e.g. ``"EPSG:32650"`` for Miyun.
    bounds : tuple of float
        ``(west, south, east, north)`` of the boundary (WGS84).
    waters : tuple of Water
        The water bodies of the water layer, in stored order.
    boundary : shapely geometry
        The boundary (WGS84), all its features in one geometry.
    """

    code: str
    name: str
    name_en: str
    org: str
    org_en: str
    depot_town: str
    metric_crs: str
    bounds: tuple[float, float, float, float]
    waters: tuple[Water, ...] = ()
    boundary: shapely.Geometry | None = field(default=None, compare=False, repr=False)

    @property
    def center(self) -> tuple[float, float]:
        """``(lat, lon)`` of the middle of the bounds (folium's order)."""
        west, south, east, north = self.bounds
        return (round((south + north) / 2, 5), round((west + east) / 2, 5))

    @property
    def boundary_label(self) -> str:
        """The boundary's name on the maps: ``密云区界``."""
        return f"{self.name}界"

    @property
    def whole_label(self) -> str:
        """The whole district as a row of figures: ``密云区（全区）``."""
        return f"{self.name}（全区）"

    def words(self) -> dict[str, str]:
        """The profile's words (`WORDS`) as a JSON-ready dict."""
        return {k: getattr(self, k) for k in WORDS}

    @classmethod
    def from_frames(cls, boundary: gpd.GeoDataFrame, water: gpd.GeoDataFrame) -> District:
        """The profile of a ``boundary`` layer and a water layer (see the module docstring).

        Raises
        ------
        StoreError
            The boundary layer has no geometry.
        """
        geometry = boundary.geometry.union_all() if len(boundary) else None
        if geometry is None or geometry.is_empty:
            msg = "区界图层为空 / the store's boundary layer has no geometry"
            raise StoreError(msg)
        row = boundary.iloc[0]
        words = {
            k: _validate.cell_text(row[k]) if k in boundary.columns else MIYUN[k] for k in WORDS
        }
        centre = geometry.centroid
        west, south, east, north = (float(v) for v in geometry.bounds)
        return cls(
            **words,
            metric_crs=_crs.utm_crs(centre.x, centre.y),
            bounds=(west, south, east, north),
            waters=tuple(_water(r) for r in water.to_dict("records")),
            boundary=geometry,
        )

    @classmethod
    def from_store(cls, store: Store) -> District:
        """The profile kept in ``store`` (read now; :func:`current` caches it)."""
        return cls.from_frames(store.read("boundary"), store.read(WATER_LAYER))


def _water(row: Mapping[str, object]) -> Water:
    flag = row.get("approximate")
    return Water(
        name=_validate.cell_text(row.get("name")),
        name_en=_validate.cell_text(row.get("name_en")),
        approximate=bool(flag) and not pd.isna(flag),  # NaN: not said, so not approximate
    )


# -- the profile of a store, cached per revision ----------------------------------------------

_CACHE: dict[str, tuple[str, District]] = {}
_CACHE_LOCK = threading.Lock()
#: Profiles kept (one per store location; tests make many stores).
_CACHE_SIZE = 8


def current(store: Store) -> District:
    """The profile of ``store``, read again only when its revision has changed.

    Cheap enough for every page and answer that shows the district's words (one ``stat``
    of the store); never called on the routing hot path.
    """
    location, revision = store.location(), store.revision()
    with _CACHE_LOCK:
        hit = _CACHE.get(location)
    if hit is not None and hit[0] == revision:
        return hit[1]
    district = District.from_store(store)
    with _CACHE_LOCK:
        _CACHE.pop(location, None)
        while len(_CACHE) >= _CACHE_SIZE:
            del _CACHE[next(iter(_CACHE))]
        _CACHE[location] = (revision, district)
    return district


# -- setting a district up from files ----------------------------------------------------------


@dataclass
class SetupReport:
    """What :func:`set_up` wrote (or would write, for a dry run)."""

    district: District
    towns: int
    towns_kept: bool
    waters: int
    waters_kept: bool
    stations: int
    stations_outside: int
    dry_run: bool = False

    def summary(self) -> str:
        """Bilingual lines for the CLI."""
        d = self.district
        verb = "将设置 / would set" if self.dry_run else "已设置 / set"
        kept = "（保留 / kept）"
        lines = [
            f"{verb} {d.name}（{d.code}）/ {d.name_en} · {d.org} / {d.org_en}",
            f"  乡镇 / towns: {self.towns}{kept if self.towns_kept else ''}"
            f"，水域 / water bodies: {self.waters}{kept if self.waters_kept else ''}",
            f"  默认出发乡镇 / default depot town: {d.depot_town or '—（任一大篷车基地或站点）'}",
            f"  投影 / metric CRS: {d.metric_crs}",
        ]
        if self.stations_outside:
            lines.append(
                f"  注意：{self.stations_outside} / {self.stations} 个站点在新区界外（未删除）/ "
                f"{self.stations_outside} of {self.stations} stations lie outside the new "
                "district (kept)"
            )
        return "\n".join(lines)


def read_polygons(path: str | Path, source_crs: str = "wgs84") -> gpd.GeoDataFrame:
    """Read a file of polygons (GeoJSON, GeoPackage, shapefile …) into WGS84.

    Every feature must be a finite (multi)polygon; ``source_crs`` ``gcj02``/``bd09``
    converts the coordinates (the file itself then has no projected CRS). Invalid rings
    are repaired (:func:`shapely.make_valid`).

    Raises
    ------
    DistrictError
        Naming the file and every feature at fault.
    """
    path = Path(path)
    frame = _read_frame(path)
    source_crs = _crs.normalize_crs(source_crs)
    if frame.crs is not None and not frame.crs.equals(CRS_STORAGE):
        frame = frame.to_crs(CRS_STORAGE)  # a GCJ-02/BD-09 file says it is in WGS84
    problems = []
    geoms = []
    for i, geom in enumerate(frame.geometry, start=1):
        geom, reason = _polygon(geom, source_crs)
        if reason:
            problems.append(f"{path.name} 第 {i} 个要素：{reason}")
        geoms.append(geom)
    if problems:
        raise DistrictError(problems)
    return gpd.GeoDataFrame(frame.drop(columns="geometry"), geometry=geoms, crs=CRS_STORAGE)


def _read_frame(path: Path) -> gpd.GeoDataFrame:
    if not path.is_file():
        raise DistrictError([f"找不到文件 / file not found: {path}"])
    size = path.stat().st_size
    if size > _tables.MAX_FILE_BYTES:
        limit = _tables.MAX_FILE_BYTES // 2**20
        raise DistrictError(
            [f"{path.name}：文件超过 {limit} MB 上限 / the file is over the {limit} MB limit"]
        )
    try:
        frame = gpd.read_file(path, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError) as exc:
        reason = excerpt(str(exc), 160)
        raise DistrictError([f"{path.name}：无法读取 / cannot be read: {reason}"]) from exc
    if not len(frame) or "geometry" not in frame:
        raise DistrictError([f"{path.name}：没有要素 / the file has no features"])
    return frame


def _polygon(geom: object, source_crs: str) -> tuple[shapely.Geometry | None, str]:
    """The WGS84 (multi)polygon of one feature, or a reason it cannot be one."""
    if not isinstance(geom, shapely.Geometry) or geom.is_empty:
        return None, "没有几何 / the feature has no geometry"
    shape: shapely.Geometry = geom
    if shape.geom_type not in ("Polygon", "MultiPolygon"):
        kind = shape.geom_type
        return None, f"几何类型为 {kind}，应为多边形 / a {kind}, not a polygon"
    if not np.isfinite(shapely.get_coordinates(shape)).all():
        return None, "坐标不是有限数值 / a coordinate is not a finite number"
    if source_crs != "wgs84":

        def to_wgs84(coords: np.ndarray) -> np.ndarray:
            lon, lat = _crs.to_wgs84(coords[:, 0], coords[:, 1], source_crs)
            return np.column_stack([lon, lat])

        shape = shapely.transform(shape, to_wgs84)
    xy = shapely.get_coordinates(shape)
    if not ((np.abs(xy[:, 0]) <= 180).all() and (np.abs(xy[:, 1]) <= 90).all()):
        return None, "坐标超出经纬度范围（应为 WGS84 经纬度）/ coordinates are not lon/lat degrees"
    if not shape.is_valid:  # self-touching rings and the like, common in exported files
        parts = shapely.get_parts(shapely.make_valid(shape))
        polygons = [g for g in parts if g.geom_type == "Polygon" and g.area > 0]
        if not polygons:
            return None, "多边形没有面积 / the polygon has no area"
        shape = shapely.multipolygons(polygons) if len(polygons) > 1 else polygons[0]
    return shape, ""


def area_km2(geometry: shapely.Geometry) -> float:
    """Area of a WGS84 geometry in km², in the UTM zone of its centre."""
    centre = geometry.centroid
    metric = _crs.utm_crs(centre.x, centre.y)
    return float(gpd.GeoSeries([geometry], crs=CRS_STORAGE).to_crs(metric).area.iloc[0]) / 1e6


def _boundary_layer(
    path: Path, source_crs: str, words: Mapping[str, str]
) -> tuple[gpd.GeoDataFrame, shapely.Geometry]:
    frame = read_polygons(path, source_crs)
    geometry = shapely.union_all(np.asarray(frame.geometry.values))
    area = area_km2(geometry)
    if not MIN_AREA_KM2 <= area <= MAX_AREA_KM2:
        raise DistrictError(
            [
                f"{path.name}：区域面积 {area:,.2f} 平方公里，应在 {MIN_AREA_KM2:g}–"
                f"{MAX_AREA_KM2:,.0f} 之间 / the boundary's area is {area:,.2f} km², outside "
                f"{MIN_AREA_KM2:g}–{MAX_AREA_KM2:,.0f} km²"
            ]
        )
    layer = gpd.GeoDataFrame(
        {
            **{k: [words[k]] for k in WORDS},
            "area_km2": [round(area, 3)],
            "source": [path.name],
        },
        geometry=[geometry],
        crs=CRS_STORAGE,
    )
    return layer, geometry


def _water_layer(path: Path, source_crs: str) -> gpd.GeoDataFrame:
    frame = read_polygons(path, source_crs)
    if "name" not in frame:
        raise DistrictError([f"{path.name}：缺少 name 列（水域名称）/ missing column name"])
    names = [_validate.cell_text(v) for v in frame["name"]]
    missing = [i for i, n in enumerate(names, start=1) if not n]
    if missing:
        raise DistrictError(
            [f"{path.name} 第 {i} 个要素，列「name」：名称为空 / name is empty" for i in missing]
        )
    rows = frame.to_dict("records")
    return gpd.GeoDataFrame(
        {
            "name": names,
            "name_en": [_validate.cell_text(r.get("name_en")) for r in rows],
            "approximate": [_water(r).approximate for r in rows],
            "area_km2": [round(area_km2(g), 3) for g in frame.geometry],
            "source": [path.name] * len(rows),
        },
        geometry=frame.geometry.values,
        crs=CRS_STORAGE,
    )


def _towns_layer(path: Path, source_crs: str, district: District) -> gpd.GeoDataFrame:
    try:
        table = _tables.read_table(path)
    except FileFormatError as exc:
        raise DistrictError([str(exc)]) from exc
    try:
        return _validate.validate_towns(table, district=district, source_crs=source_crs)
    except _validate.ValidationError as exc:
        raise DistrictError([f"{path.name} {e}" for e in exc.errors]) from exc


def _depot_town(raw: str | None, towns: gpd.GeoDataFrame, keep: str) -> str:
    """The depot town's code: ``raw`` resolved among ``towns`` (code, name, short name or
    pinyin), else ``keep`` when it is still one of them, else none."""
    resolver = Towns.from_frame(towns)
    if raw is None:
        return keep if keep in resolver.by_code else ""
    if not raw.strip():
        return ""
    code = resolver.resolve(raw)
    if code is None:
        err = resolver.unknown([raw], "--depot-town")
        raise DistrictError([f"--depot-town：{err.zh} / {err.en}"])
    return code


def _words(given: Mapping[str, str | None], old: District | None) -> dict[str, str]:
    """The new profile's words: as given, else the current ones for the same district
    (code), else derived from its name."""
    same = old is not None and old.code == given["code"]
    out = {"code": str(given["code"]).strip(), "name": str(given["name"]).strip(), "depot_town": ""}
    for key in ("name_en", "org", "org_en"):
        value = given.get(key)
        if value is None and same and old is not None:
            value = getattr(old, key)
        out[key] = (value or "").strip()
    out["name_en"] = out["name_en"] or out["name"]
    out["org"] = out["org"] or f"{out['name']}总工会"
    out["org_en"] = out["org_en"] or f"{out['name_en']} Federation of Trade Unions"
    return out


def set_up(
    store: Store,
    boundary: str | Path,
    *,
    words: Mapping[str, str | None],
    towns: str | Path | None = None,
    water: str | Path | None = None,
    source_crs: str = "wgs84",
    dry_run: bool = False,
) -> SetupReport:
    """Set the service up for a district: replace the ``boundary`` layer (and the towns
    and water layers) from files, all or nothing.

    Parameters
    ----------
    store : Store
    boundary : path
        Polygons (GeoJSON, GeoPackage, shapefile …): the district is their union.
    words : mapping
        ``code`` and ``name`` (required), ``name_en``, ``org``, ``org_en``,
        ``depot_town`` (a town's code or name; ``""`` for none). A word left None keeps
        its current value when the code stays the same, else is derived from the name
        (``org`` = name + 总工会).
    towns, water : path, optional
        The district's towns (a table: ``code``, ``name``, optional seat ``lon``/``lat``)
        and its water bodies (polygons with ``name``, optional ``name_en``,
        ``approximate``). Not given: kept when the code stays the same, else emptied (a
        district may have no towns).
    source_crs : str
        ``wgs84``, ``gcj02`` or ``bd09``: the coordinates of every file.
    dry_run : bool
        Check everything, write nothing.

    Returns
    -------
    SetupReport

    Raises
    ------
    DistrictError
        Every problem found, each naming its file and feature, row or column; the store
        is unchanged.
    """
    for key in ("code", "name"):
        value = words.get(key)
        if not value or not str(value).strip():
            raise DistrictError([f"--{key} 不能为空 / --{key} is required"])
    try:
        old: District | None = current(store)
    except StoreError:
        old = None
    same = old is not None and old.code == words["code"]
    new_words = _words(words, old)
    layer, geometry = _boundary_layer(Path(boundary), source_crs, new_words)
    water_now = store.read(WATER_LAYER)
    layers: dict[str, gpd.GeoDataFrame] = {}
    if water is not None:
        layers[WATER_LAYER] = _water_layer(Path(water), source_crs)
    elif not same:
        layers[WATER_LAYER] = water_now.iloc[:0]
    district = District.from_frames(layer, layers.get(WATER_LAYER, water_now))
    towns_now = store.read("towns")
    if towns is not None:
        layers["towns"] = _towns_layer(Path(towns), source_crs, district)
    elif not same:
        layers["towns"] = towns_now.iloc[:0]
    town_frame = layers.get("towns", towns_now)
    keep = old.depot_town if same and old is not None else ""
    depot = _depot_town(words.get("depot_town"), town_frame, keep)
    layer["depot_town"] = depot
    layers["boundary"] = layer
    district = dataclasses.replace(district, depot_town=depot)
    stations = store.stations()
    located = stations.loc[stations.geometry.notna() & ~stations.geometry.is_empty]
    inside = shapely.contains_xy(geometry, located.geometry.x, located.geometry.y)
    report = SetupReport(
        district=district,
        towns=len(town_frame),
        towns_kept="towns" not in layers,
        waters=len(district.waters),
        waters_kept=WATER_LAYER not in layers,
        stations=len(located),
        stations_outside=int((~inside).sum()),
        dry_run=dry_run,
    )
    if not dry_run:
        store.update_layers(tuple(layers), _replace(layers, report))
    return report


def _replace(
    layers: dict[str, gpd.GeoDataFrame], report: SetupReport
) -> Callable[[dict[str, gpd.GeoDataFrame]], tuple[dict[str, gpd.GeoDataFrame], SetupReport]]:
    def change(
        _current: dict[str, gpd.GeoDataFrame],
    ) -> tuple[dict[str, gpd.GeoDataFrame], SetupReport]:
        return layers, report

    return change
