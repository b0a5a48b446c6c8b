"""Validate imported station and site rows, reporting every problem at once.

One bad row rejects the whole file: :func:`validate_stations` and :func:`validate_sites`
either return a clean, normalised GeoDataFrame or raise :class:`ValidationError` carrying a
:class:`RowError` (row number, column as headed in the user's file, reason) for every
problem found, so a user can fix the spreadsheet in one pass.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geoservice import crs as _crs
from geoservice import hours as _hours
from geoservice.errors import ValidationError
from geoservice.io import AMENITY_ALIASES, Table
from geoservice.model import (
    AMENITIES,
    CRS_METRIC,
    CRS_STORAGE,
    SITE_COLUMNS,
    SITE_KINDS,
    SITE_SERVICE_MINUTES,
    SOURCES,
    STATION_COLUMNS,
    STATION_KINDS,
)
from geoservice.store import normalize

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$")
_PHONE_RE = re.compile(r"^[0-9+\-() ,;/转]{3,40}$")
_AMENITY_SPLIT = re.compile(r"[;,，；、|/\s]+")
_KIND_ALIASES = {
    **{label: key for key, label in STATION_KINDS.items()},
    **{label: key for key, label in SITE_KINDS.items()},
    "户外职工之家": "public_worker_home",
    "大篷车": "caravan_base",
    "驿站": "warm_station",
    "村委会": "village",
    "居委会": "community",
    "保护点": "reservoir_site",
    "水库保护站点": "reservoir_site",
}
#: Rough China extent, used to recognise swapped lon/lat columns.
_CHINA_LON = (73.0, 136.0)
_CHINA_LAT = (3.0, 54.0)


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem in one cell: where it is and why it is wrong."""

    row: int
    column: str
    message: str
    row_label: str = "row"

    def __str__(self) -> str:
        where = f"第 {self.row} 行" if self.row_label == "row" else f"第 {self.row} 个要素"
        return f"{where}，列「{self.column}」：{self.message}"

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"row": self.row, "column": self.column, "message": self.message}


class _Collector:
    def __init__(self, table: Table) -> None:
        self.table = table
        self.errors: list[RowError] = []

    def add(self, i: int, column: str, message: str) -> None:
        header = self.table.headers.get(column, column)
        self.errors.append(RowError(self.table.rows[i], header, message, self.table.row_label))


def _blank(v: object) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return False  # a real NaN number is reported as non-finite, not as missing
    return str(v).strip() == ""


def _text(v: object) -> str:
    if _blank(v):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))  # spreadsheet cells like 110118001.0 → "110118001"
    return str(v).strip()


def _number(v: object) -> tuple[float | None, str | None]:
    """Parse a coordinate-like cell: (value, None) or (None, reason)."""
    if isinstance(v, bool):
        return None, f"不是数字 / not a number: {v!r}"
    if isinstance(v, int | float):
        x = float(v)
    else:
        s = str(v).strip().replace("°", "").replace("，", ".").replace("．", ".")
        try:
            x = float(s)
        except ValueError:
            return None, f"不是数字 / not a number: {str(v)!r}"
    if not math.isfinite(x):
        return None, f"不是有限数值 / not a finite number: {v!r}"
    return x, None


def _coordinates(table: Table, out: _Collector, *, optional: np.ndarray | None = None):
    """Check lon/lat of every row; return arrays with NaN where a row failed."""
    n = len(table.frame)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    for c in ("lon", "lat"):
        if c not in table.frame:
            label = "经度/lon" if c == "lon" else "纬度/lat"
            for i in range(n):
                if optional is None or not optional[i]:
                    out.add(i, c, f"缺少坐标列 {label} / missing column {c}")
    if "lon" not in table.frame or "lat" not in table.frame:
        return lon, lat
    for i, (vx, vy) in enumerate(zip(table.frame["lon"], table.frame["lat"], strict=True)):
        if _blank(vx) and _blank(vy) and optional is not None and optional[i]:
            continue
        x = y = None
        for c, v in (("lon", vx), ("lat", vy)):
            if _blank(v):
                out.add(i, c, "坐标缺失 / coordinate is missing")
                continue
            val, reason = _number(v)
            if reason:
                out.add(i, c, reason)
            elif c == "lon":
                x = val
            else:
                y = val
        if x is None or y is None:
            continue
        if (
            _CHINA_LAT[0] <= x <= _CHINA_LAT[1]
            and _CHINA_LON[0] <= y <= _CHINA_LON[1]
            and not (_CHINA_LON[0] <= x <= _CHINA_LON[1])
        ):
            out.add(
                i,
                "lon",
                f"经纬度疑似填反 / lon and lat look swapped (lon={x}, lat={y}); "
                "经度约 116.6–117.5，纬度约 40.2–40.8",
            )
            continue
        if not -180.0 <= x <= 180.0:
            out.add(i, "lon", f"经度超出范围 / lon out of range [-180, 180]: {x}")
            continue
        if not -90.0 <= y <= 90.0:
            out.add(i, "lat", f"纬度超出范围 / lat out of range [-90, 90]: {y}")
            continue
        lon[i], lat[i] = x, y
    return lon, lat


def _to_storage(
    lon: np.ndarray,
    lat: np.ndarray,
    out: _Collector,
    *,
    source_crs: str,
    boundary: shapely.Geometry | None,
    allow_outside: bool,
) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = _crs.to_wgs84(lon, lat, source_crs)
    lon, lat = np.atleast_1d(lon), np.atleast_1d(lat)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if boundary is None or allow_outside or not ok.any():
        return lon, lat
    inside = np.zeros(len(lon), dtype=bool)
    inside[ok] = shapely.contains_xy(boundary, lon[ok], lat[ok])
    bad = np.flatnonzero(ok & ~inside)
    if len(bad):
        pts = gpd.GeoSeries.from_xy(lon[bad], lat[bad], crs=CRS_STORAGE).to_crs(CRS_METRIC)
        edge = gpd.GeoSeries([boundary], crs=CRS_STORAGE).to_crs(CRS_METRIC).iloc[0]
        for i, d in zip(bad, pts.distance(edge.boundary), strict=True):
            out.add(
                int(i),
                "lon",
                f"点位在密云区界外 {d / 1000:.1f} km / point is {d / 1000:.1f} km outside "
                "the district (use --allow-outside to accept it)",
            )
    return lon, lat


def _ids(table: Table, out: _Collector) -> list[str]:
    ids = [_text(v) for v in table.frame["id"]] if "id" in table.frame else [""] * len(table.frame)
    first: dict[str, int] = {}
    for i, sid in enumerate(ids):
        if not sid:
            continue
        if not _ID_RE.match(sid):
            out.add(i, "id", f"编号格式无效 / invalid id {sid!r} (letters, digits, _ . -)")
        elif sid in first:
            out.add(
                i,
                "id",
                f"编号重复 / duplicate id {sid!r} (first at {table.row_label} "
                f"{table.rows[first[sid]]})",
            )
        else:
            first[sid] = i
    return ids


def _names(table: Table, out: _Collector) -> list[str]:
    if "name" not in table.frame:
        for i in range(len(table.frame)):
            out.add(i, "name", "缺少名称列 / missing column name")
        return [""] * len(table.frame)
    names = [_text(v) for v in table.frame["name"]]
    for i, name in enumerate(names):
        if not name:
            out.add(i, "name", "名称为空 / name is empty")
    return names


def _kinds(table: Table, out: _Collector, vocab: dict[str, str], default: str) -> list[str]:
    if "kind" not in table.frame:
        return [default] * len(table.frame)
    kinds = []
    for i, v in enumerate(table.frame["kind"]):
        s = _text(v)
        k = s if s in vocab else _KIND_ALIASES.get(s, s.lower()) if s else default
        if k not in vocab:
            allowed = ", ".join(f"{key} ({label})" for key, label in vocab.items())
            out.add(i, "kind", f"未知类型 / unknown kind {s!r}; allowed: {allowed}")
        kinds.append(k)
    return kinds


def _amenities(table: Table, out: _Collector) -> list[str]:
    if "amenities" not in table.frame:
        return [""] * len(table.frame)
    result = []
    for i, v in enumerate(table.frame["amenities"]):
        chosen = set()
        for token in _AMENITY_SPLIT.split(_text(v)):
            if not token:
                continue
            key = token if token in AMENITIES else AMENITY_ALIASES.get(token.lower())
            if key is None:
                out.add(
                    i,
                    "amenities",
                    f"未知服务设施 / unknown amenity {token!r}; allowed: {', '.join(AMENITIES)}",
                )
            else:
                chosen.add(key)
        result.append(";".join(a for a in AMENITIES if a in chosen))
    return result


def _column(
    table: Table, out: _Collector, name: str, parse: Callable[[object], object], default=None
) -> list:
    if name not in table.frame:
        return [default] * len(table.frame)
    values = []
    for i, v in enumerate(table.frame[name]):
        if _blank(v):
            values.append(default)
            continue
        try:
            values.append(parse(v))
        except ValueError as exc:
            out.add(i, name, str(exc))
            values.append(default)
    return values


def _parse_hours(v: object) -> str:
    try:
        return _hours.validate(str(v))
    except _hours.HoursError as exc:
        raise ValueError(str(exc)) from exc  # bilingual, with the character position


@dataclass(frozen=True, slots=True)
class HoursConversion:
    """An ``opening_hours`` cell written another way (Chinese, full-width…) and stored in
    OSM syntax, for the import report."""

    row: int
    column: str
    original: str
    converted: str
    row_label: str = "row"

    def __str__(self) -> str:
        where = f"第 {self.row} 行" if self.row_label == "row" else f"第 {self.row} 个要素"
        original = " ↵ ".join(line.strip() for line in self.original.splitlines())
        return f"{where}「{self.column}」：{original} → {self.converted}"


def hours_conversions(table: Table) -> list[HoursConversion]:
    """The cells of the ``opening_hours`` column that `hours.convert` changed.

    Invalid and blank cells are left out (validation reports those).
    """
    if "opening_hours" not in table.frame:
        return []
    column = table.headers.get("opening_hours", "opening_hours")
    found = []
    for i, v in enumerate(table.frame["opening_hours"]):
        if _blank(v):
            continue
        try:
            osm, changed = _hours.convert(str(v))
        except _hours.HoursError:
            continue
        if changed:
            found.append(
                HoursConversion(table.rows[i], column, str(v).strip(), osm, table.row_label)
            )
    return found


def _parse_phone(v: object) -> str:
    s = _text(v)
    if not _PHONE_RE.match(s) or not any(ch.isdigit() for ch in s):
        msg = f"电话号码无效 / invalid phone {s!r}"
        raise ValueError(msg)
    return s


def _parse_count(v: object, name: str, upper: int) -> int:
    x, reason = _number(v)
    if reason or x is None or not x.is_integer() or not 0 <= x <= upper:
        msg = f"{name} 应为 0–{upper} 的整数 / {name} must be a whole number 0–{upper}: {v!r}"
        raise ValueError(msg)
    return int(x)


def _parse_date(v: object) -> str:
    if isinstance(v, dt.datetime):
        return v.date().isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    s = str(v).strip().replace("/", "-").replace(".", "-")
    s = re.sub(r"(\d+)年(\d+)月(\d+)日?", r"\1-\2-\3", s)
    try:
        y, m, d = (int(p) for p in s.split("-"))
        return dt.date(y, m, d).isoformat()
    except (ValueError, TypeError):
        msg = f"日期无效 / invalid date {str(v)!r} (use YYYY-MM-DD)"
        raise ValueError(msg) from None


def _parse_source(v: object) -> str:
    s = _text(v)
    if s not in SOURCES:
        msg = f"未知来源 / unknown source {s!r}; allowed: {', '.join(SOURCES)}"
        raise ValueError(msg)
    return s


def _town_codes(table: Table, out: _Collector, towns: pd.DataFrame | None) -> list[str]:
    n = len(table.frame)
    known = dict(zip(towns["name"], towns["code"], strict=True)) if towns is not None else {}
    codes = set(known.values())
    result = [""] * n
    if "town_code" in table.frame:
        for i, v in enumerate(table.frame["town_code"]):
            s = _text(v)
            if s and codes and s not in codes:
                out.add(i, "town_code", f"未知乡镇代码 / unknown town code {s!r}")
            result[i] = s
    if "town" in table.frame:
        short = {
            k.removesuffix("镇").removesuffix("街道").removesuffix("地区"): c
            for k, c in known.items()
        }
        for i, v in enumerate(table.frame["town"]):
            s = _text(v)
            if not s or result[i]:
                continue
            code = known.get(s) or short.get(s)
            if code is None:
                out.add(i, "town", f"未知街道/乡镇 / unknown town {s!r}")
            else:
                result[i] = code
    return result


def validate_stations(
    table: Table,
    *,
    boundary: shapely.Geometry | None = None,
    towns: pd.DataFrame | None = None,
    source_crs: str = "wgs84",
    allow_outside: bool = False,
    default_source: str = "import",
) -> gpd.GeoDataFrame:
    """Validate station rows and return them as a normalised ``stations`` frame.

    Parameters
    ----------
    table : Table
        Rows read by :func:`geoservice.io.read_table`.
    boundary : shapely geometry, optional
        District boundary (WGS84); points outside it are rejected unless ``allow_outside``.
    towns : DataFrame, optional
        The ``towns`` layer, to check town codes and resolve town names.
    source_crs : str
        CRS of the lon/lat cells: ``wgs84``, ``gcj02`` (Amap/Tencent) or ``bd09`` (Baidu).
    allow_outside : bool
        Accept points outside the district.
    default_source : str
        ``source`` for rows that do not give one.

    Raises
    ------
    ValidationError
        With every problem found, if any.
    """
    out = _Collector(table)
    ids = _ids(table, out)
    names = _names(table, out)
    kinds = _kinds(table, out, STATION_KINDS, "warm_station")
    lon, lat = _coordinates(table, out)
    lon, lat = _to_storage(
        lon, lat, out, source_crs=source_crs, boundary=boundary, allow_outside=allow_outside
    )
    if "opening_hours" not in table.frame:
        for i in range(len(table.frame)):
            out.add(i, "opening_hours", "缺少开放时间列 / missing column opening_hours")
    hours = _column(table, out, "opening_hours", _parse_hours)
    for i, h in enumerate(hours):
        if h is None and "opening_hours" in table.frame and _blank(table.frame["opening_hours"][i]):
            out.add(i, "opening_hours", "开放时间为空（全天开放请填 24/7）/ opening_hours is empty")
    frame = pd.DataFrame(
        {
            "id": ids,
            "name": names,
            "kind": kinds,
            "lon": np.round(lon, 7),
            "lat": np.round(lat, 7),
            "address": [_text(v) for v in _column(table, out, "address", _text, "")],
            "town_code": _town_codes(table, out, towns),
            "opening_hours": hours,
            "amenities": _amenities(table, out),
            "phone": _column(table, out, "phone", _parse_phone, ""),
            "host_org": _column(table, out, "host_org", _text, ""),
            "capacity": _column(
                table, out, "capacity", lambda v: _parse_count(v, "capacity", 10000)
            ),
            "verified_on": _column(table, out, "verified_on", _parse_date, ""),
            "source": _column(table, out, "source", _parse_source, default_source),
        }
    )
    if out.errors:
        raise ValidationError(out.errors)
    return _frame(frame, "stations", STATION_COLUMNS)


def validate_sites(
    table: Table,
    *,
    boundary: shapely.Geometry | None = None,
    towns: pd.DataFrame | None = None,
    source_crs: str = "wgs84",
    allow_outside: bool = False,
    default_source: str = "import",
) -> gpd.GeoDataFrame:
    """Validate site rows (villages, communities, reservoir sites); see
    :func:`validate_stations` for the parameters.

    A row may leave lon/lat empty only when its ``coord_source`` is ``missing``.
    """
    out = _Collector(table)
    ids = _ids(table, out)
    names = _names(table, out)
    kinds = _kinds(table, out, SITE_KINDS, "village")
    coord_source = [_text(v) for v in _column(table, out, "coord_source", _text, "")]
    missing_ok = np.array([c == "missing" for c in coord_source])
    lon, lat = _coordinates(table, out, optional=missing_ok)
    lon, lat = _to_storage(
        lon, lat, out, source_crs=source_crs, boundary=boundary, allow_outside=allow_outside
    )
    minutes = _column(
        table, out, "service_minutes", lambda v: _parse_count(v, "service_minutes", 24 * 60)
    )
    frame = pd.DataFrame(
        {
            "id": ids,
            "name": names,
            "kind": kinds,
            "code": [_text(v) for v in _column(table, out, "code", _text, "")],
            "lon": np.round(lon, 7),
            "lat": np.round(lat, 7),
            "town_code": _town_codes(table, out, towns),
            "service_minutes": [
                m if m is not None else SITE_SERVICE_MINUTES.get(k, 30)
                for m, k in zip(minutes, kinds, strict=True)
            ],
            "official_name": _column(table, out, "official_name", _text, ""),
            "coord_source": [
                c or ("missing" if math.isnan(x) else default_source)
                for c, x in zip(coord_source, lon, strict=True)
            ],
            "source": _column(table, out, "source", _parse_source, default_source),
        }
    )
    if out.errors:
        raise ValidationError(out.errors)
    return _frame(frame, "sites", SITE_COLUMNS)


def _frame(frame: pd.DataFrame, layer: str, columns: tuple[str, ...]) -> gpd.GeoDataFrame:
    geom = [
        None if math.isnan(x) or math.isnan(y) else shapely.Point(x, y)
        for x, y in zip(frame["lon"], frame["lat"], strict=True)
    ]
    gdf = gpd.GeoDataFrame(frame[list(columns)], geometry=geom, crs=CRS_STORAGE)
    return normalize(gdf, layer)
