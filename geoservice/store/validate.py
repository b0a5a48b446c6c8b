"""Validate imported station and site rows, reporting every problem at once.

One bad row rejects the whole file: :func:`validate_stations` and :func:`validate_sites`
either return a clean, normalised GeoDataFrame or raise :class:`ValidationError` carrying a
:class:`RowError` (row number, column as headed in the user's file, reason) for every
problem found, so a user can fix the spreadsheet in one pass.

Every cell is first held to the text limits (:data:`~geoservice.store.tables.MAX_NAME_CHARS`,
:data:`~geoservice.store.tables.MAX_TEXT_CHARS`; no control characters), and a cell that fails is
checked no further; messages quote at most a short excerpt of what the user wrote.
:func:`duplicates` finds rows that would add a station (or a reservoir site) already in
the store, or a site code already taken.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.spatial import cKDTree

from geoservice import crs as _crs
from geoservice import hours as _hours
from geoservice.errors import ValidationError, excerpt
from geoservice.model import (
    AMENITIES,
    CRS_STORAGE,
    SITE_COLUMNS,
    SITE_KINDS,
    SITE_SERVICE_MINUTES,
    SOURCES,
    STATION_COLUMNS,
    STATION_KINDS,
)
from geoservice.network.points import distance_to
from geoservice.store import normalize
from geoservice.store.tables import AMENITY_ALIASES, MAX_NAME_CHARS, MAX_TEXT_CHARS, Table
from geoservice.store.towns import Towns

if TYPE_CHECKING:
    from geoservice.district import District

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$")
#: 统计用区划代码: the NBS statistical division code of a village or community.
_CODE_RE = re.compile(r"^[0-9]{12}$")
# Control characters (tab, line feed and carriage return are text) and lone surrogates.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_LEADING_SPACE_RE = re.compile(r"^[^\S\t\r]+")
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


def _where_zh(row: int, row_label: str) -> str:
    """Row ``row`` of a file in Chinese: ``第 3 行``, or ``第 3 个要素`` in a GeoJSON file
    (``row_label`` ``"feature"``)."""
    return f"第 {row} 行" if row_label == "row" else f"第 {row} 个要素"


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem in one cell: where it is and why it is wrong."""

    row: int
    column: str
    message: str
    row_label: str = "row"

    def __str__(self) -> str:
        where = _where_zh(self.row, self.row_label)
        return f"{where}，列「{self.column}」：{self.message}"

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"row": self.row, "column": self.column, "message": self.message}


class _Collector:
    """Collects the errors of one file; ``table`` is the file with the cells that failed
    the text limits blanked, so that no later check parses them (a 10 MB cell must not
    reach the opening-hours parser)."""

    def __init__(self, table: Table, *, screen: bool = True) -> None:
        self.table = table
        self.errors: list[RowError] = []
        self.screened: set[tuple[int, str]] = set()
        if screen:
            self.table = self._screen(table)

    def add(self, i: int, column: str, message: str) -> None:
        header = self.table.headers.get(column, column)
        self.errors.append(RowError(self.table.rows[i], header, message, self.table.row_label))

    def failed(self, i: int, column: str) -> bool:
        """Whether the cell was already reported by the text limits (and blanked)."""
        return (i, column) in self.screened

    def _screen(self, table: Table) -> Table:
        changed: dict[str, list] = {}
        for column in table.frame.columns:
            limit = MAX_NAME_CHARS if column == "name" else MAX_TEXT_CHARS
            values = table.frame[column].tolist()
            for i, v in enumerate(values):
                if not isinstance(v, str):
                    continue
                if len(v) > limit:
                    message = (
                        f"内容过长（{len(v):,} 个字符，上限 {limit}）/ too long ({len(v):,} "
                        f"characters; at most {limit})"
                    )
                elif m := _CONTROL_RE.search(v):
                    code = f"U+{ord(m.group()):04X}"
                    message = f"含控制字符 {code} / contains the control character {code}"
                else:
                    continue
                self.add(i, column, message)
                self.screened.add((i, column))
                values[i] = None
                changed[column] = values
        if not changed:
            return table
        frame = table.frame.copy()
        for column, values in changed.items():
            frame[column] = pd.Series(values, index=frame.index, dtype=object)
        return dataclasses.replace(table, frame=frame)


def _blank(v: object) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return False  # a real NaN number is reported as non-finite, not as missing
    return str(v).strip() == ""


def cell_text(v: object) -> str:
    """A cell as trimmed text. A leading tab or carriage return is kept: a spreadsheet
    export protects such text from formula evaluation, and it must read back unchanged."""
    if _blank(v):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))  # spreadsheet cells like 110118001.0 → "110118001"
    return _LEADING_SPACE_RE.sub("", str(v).rstrip())


def _number(v: object) -> tuple[float | None, str | None]:
    """Parse a coordinate-like cell: (value, None) or (None, reason)."""
    if isinstance(v, bool):
        return None, f"不是数字 / not a number: {excerpt(v)}"
    if isinstance(v, int | float):
        try:
            x = float(v)
        except OverflowError:  # an integer beyond float range (from JSON)
            return None, f"不是有限数值 / not a finite number: {excerpt(v)}"
    else:
        s = str(v).strip().replace("°", "").replace("，", ".").replace("．", ".")
        try:
            x = float(s)
        except ValueError:
            return None, f"不是数字 / not a number: {excerpt(str(v))}"
    if not math.isfinite(x):
        return None, f"不是有限数值 / not a finite number: {excerpt(v)}"
    return x, None


def _swapped_hint(district: District | None) -> str:
    """Where the district's points lie, for a message about swapped columns."""
    if district is None:
        return ""
    west, south, east, north = district.bounds
    return f"；经度约 {west:.1f}–{east:.1f}，纬度约 {south:.1f}–{north:.1f}"


def _swapped(x: float, y: float, district: District | None) -> bool:
    """Whether (x, y) looks like a latitude and a longitude written the wrong way round:
    swapped, it falls in China (or in the district's bounds, widened by 1°); as written,
    x is no longer there."""
    boxes = [(*_CHINA_LON, *_CHINA_LAT)]
    if district is not None:
        west, south, east, north = district.bounds
        boxes.append((west - 1, east + 1, south - 1, north + 1))
    return any(w <= y <= e and s <= x <= n and not (w <= x <= e) for w, e, s, n in boxes)


def _coordinates(
    out: _Collector, *, optional: np.ndarray | None = None, district: District | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Check lon/lat of every row; return arrays with NaN where a row failed."""
    frame = out.table.frame
    n = len(frame)
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    if not _coordinate_columns(out, optional):
        return lon, lat
    for i, (vx, vy) in enumerate(zip(frame["lon"], frame["lat"], strict=True)):
        if _blank(vx) and _blank(vy) and optional is not None and optional[i]:
            continue
        x, y = _coordinate(out, i, "lon", vx), _coordinate(out, i, "lat", vy)
        if x is None or y is None:
            continue
        problem = _misplaced(x, y, district)
        if problem is not None:
            out.add(i, *problem)
            continue
        lon[i], lat[i] = x, y
    return lon, lat


def _coordinate_columns(out: _Collector, optional: np.ndarray | None) -> bool:
    """Whether the file has both coordinate columns; a missing one is reported on every
    row that needs coordinates."""
    frame = out.table.frame
    for c, label in (("lon", "经度/lon"), ("lat", "纬度/lat")):
        if c in frame:
            continue
        for i in range(len(frame)):
            if optional is None or not optional[i]:
                out.add(i, c, f"缺少坐标列 {label} / missing column {c}")
    return "lon" in frame and "lat" in frame


def _coordinate(out: _Collector, i: int, column: str, v: object) -> float | None:
    """One coordinate cell as a number, or None (reported) when blank or no number."""
    if _blank(v):
        if not out.failed(i, column):  # blanked by the text limits: reported there
            out.add(i, column, "坐标缺失 / coordinate is missing")
        return None
    value, reason = _number(v)
    if reason:
        out.add(i, column, reason)
    return value


def _misplaced(x: float, y: float, district: District | None) -> tuple[str, str] | None:
    """The column and message when (x, y) cannot be a lon/lat: swapped or out of range."""
    if _swapped(x, y, district):
        return (
            "lon",
            f"经纬度疑似填反 / lon and lat look swapped (lon={x}, lat={y})"
            + _swapped_hint(district),
        )
    if not -180.0 <= x <= 180.0:
        return "lon", f"经度超出范围 / lon out of range [-180, 180]: {x}"
    if not -90.0 <= y <= 90.0:
        return "lat", f"纬度超出范围 / lat out of range [-90, 90]: {y}"
    return None


def _to_storage(
    lon: np.ndarray,
    lat: np.ndarray,
    out: _Collector,
    *,
    source_crs: str,
    district: District | None,
    allow_outside: bool,
    column: str = "lon",
) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = _crs.to_wgs84(lon, lat, source_crs)
    lon, lat = np.atleast_1d(lon), np.atleast_1d(lat)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if district is None or district.boundary is None or allow_outside or not ok.any():
        return lon, lat
    boundary = district.boundary
    inside = np.zeros(len(lon), dtype=bool)
    inside[ok] = shapely.contains_xy(boundary, lon[ok], lat[ok])
    bad = np.flatnonzero(ok & ~inside)
    if len(bad):
        # The one rule of distances to roads (exact nearby, great-circle far away).
        gaps = distance_to(shapely.boundary(boundary), lon[bad], lat[bad])
        for i, d in zip(bad, gaps, strict=True):
            out.add(
                int(i),
                column,
                f"点位在{district.name}界外 {d / 1000:.1f} km / point is {d / 1000:.1f} km "
                f"outside the district, {district.name_en} (use --allow-outside to accept it)",
            )
    return lon, lat


def _ids(table: Table, out: _Collector) -> list[str]:
    ids = (
        [cell_text(v) for v in table.frame["id"]]
        if "id" in table.frame
        else [""] * len(table.frame)
    )
    first: dict[str, int] = {}
    for i, sid in enumerate(ids):
        if not sid:
            continue
        if not _ID_RE.match(sid):
            out.add(
                i,
                "id",
                f"编号格式无效（字母、数字、_ . -，最多 40 个）/ invalid id {excerpt(sid)} "
                "(letters, digits, _ . -; at most 40)",
            )
        elif sid in first:
            out.add(
                i,
                "id",
                f"编号重复 / duplicate id {excerpt(sid)} (first at {table.row_label} "
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
    names = [cell_text(v) for v in table.frame["name"]]
    for i, name in enumerate(names):
        if not name and not out.failed(i, "name"):
            out.add(i, "name", "名称为空 / name is empty")
    return names


def _kinds(table: Table, out: _Collector, vocab: dict[str, str], default: str) -> list[str]:
    if "kind" not in table.frame:
        return [default] * len(table.frame)
    kinds = []
    for i, v in enumerate(table.frame["kind"]):
        s = cell_text(v)
        k = s if s in vocab else _KIND_ALIASES.get(s, s.lower()) if s else default
        if k not in vocab:
            allowed = ", ".join(f"{key} ({label})" for key, label in vocab.items())
            out.add(i, "kind", f"未知类型 / unknown kind {excerpt(s)}; allowed: {allowed}")
        kinds.append(k)
    return kinds


def _amenities(table: Table, out: _Collector) -> list[str]:
    if "amenities" not in table.frame:
        return [""] * len(table.frame)
    result = []
    for i, v in enumerate(table.frame["amenities"]):
        chosen = set()
        for token in _AMENITY_SPLIT.split(cell_text(v)):
            if not token:
                continue
            key = token if token in AMENITIES else AMENITY_ALIASES.get(token.lower())
            if key is None:
                out.add(
                    i,
                    "amenities",
                    f"未知服务设施 / unknown amenity {excerpt(token)}; "
                    f"allowed: {', '.join(AMENITIES)}",
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
        where = _where_zh(self.row, self.row_label)
        return f"{where}「{self.column}」：{_one_line(self.original)} → {self.converted}"

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "row": self.row,
            "column": self.column,
            "original": self.original,
            "converted": self.converted,
        }


def _one_line(text: str) -> str:
    return " ↵ ".join(line.strip() for line in text.splitlines())


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


@dataclass(frozen=True, slots=True)
class HolidayWarning:
    """An ``opening_hours`` cell that says nothing about public holidays: the station
    counts as open on them (国庆节, 春节…) by its weekday rules. A warning, not an error."""

    row: int
    column: str
    value: str
    row_label: str = "row"

    def __str__(self) -> str:
        return f"{_where_zh(self.row, self.row_label)}「{self.column}」：{_one_line(self.value)}"

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"row": self.row, "column": self.column, "value": self.value}


def holiday_warnings(table: Table, hours: list[str | None]) -> list[HolidayWarning]:
    """The rows whose hours have no holiday rule (no ``PH`` in the OSM value), so that they
    count as open on public holidays; ``24/7`` is meant to.

    Parameters
    ----------
    table : Table
        The file, for row numbers, the user's header and the cells as written.
    hours : list of str or None
        The validated OSM value of each row (None where a row has none).
    """
    if "opening_hours" not in table.frame:
        return []
    column = table.headers.get("opening_hours", "opening_hours")
    found = []
    for i, (cell, osm) in enumerate(zip(table.frame["opening_hours"], hours, strict=True)):
        if not osm or osm == "24/7" or _hours.mentions_holidays(osm):
            continue
        found.append(HolidayWarning(table.rows[i], column, str(cell).strip(), table.row_label))
    return found


def _parse_phone(v: object) -> str:
    s = cell_text(v)
    if not _PHONE_RE.match(s) or not any(ch.isdigit() for ch in s):
        msg = f"电话号码无效 / invalid phone {excerpt(s)}"
        raise ValueError(msg)
    return s


def _parse_count(v: object, name: str, upper: int) -> int:
    x, reason = _number(v)
    if reason or x is None or not x.is_integer() or not 0 <= x <= upper:
        msg = (
            f"{name} 应为 0–{upper} 的整数 / {name} must be a whole number 0–{upper}: {excerpt(v)}"
        )
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
        msg = f"日期无效 / invalid date {excerpt(str(v))} (use YYYY-MM-DD)"
        raise ValueError(msg) from None


def _parse_code(v: object) -> str:
    s = cell_text(v)
    if not _CODE_RE.match(s):
        msg = (
            f"区划代码应为 12 位数字（统计用区划代码；Excel 里请设为文本，以免显示成科学计数法）"
            f" / code must be the 12-digit NBS division code: {excerpt(s)}"
        )
        raise ValueError(msg)
    return s


def _parse_source(v: object) -> str:
    s = cell_text(v)
    if s not in SOURCES:
        msg = f"未知来源 / unknown source {excerpt(s)}; allowed: {', '.join(SOURCES)}"
        raise ValueError(msg)
    return s


def _town_codes(table: Table, out: _Collector, towns: pd.DataFrame | None) -> list[str]:
    n = len(table.frame)
    resolver = Towns.from_frame(towns) if towns is not None else None
    result = [""] * n
    if "town_code" in table.frame:
        for i, v in enumerate(table.frame["town_code"]):
            s = cell_text(v)
            if s and resolver is not None and len(resolver) and s not in resolver.by_code:
                out.add(i, "town_code", f"未知乡镇代码 / unknown town code {excerpt(s)}")
            result[i] = s
    if "town" in table.frame:
        for i, v in enumerate(table.frame["town"]):
            s = cell_text(v)
            if not s or result[i]:
                continue
            code = resolver.resolve(s) if resolver is not None else None
            if code is None:
                out.add(i, "town", f"未知街道/乡镇 / unknown town {excerpt(s)}")
            else:
                result[i] = code
    return result


def validate_stations(
    table: Table,
    *,
    district: District | None = None,
    towns: pd.DataFrame | None = None,
    source_crs: str = "wgs84",
    allow_outside: bool = False,
    default_source: str = "import",
) -> gpd.GeoDataFrame:
    """Validate station rows and return them as a normalised ``stations`` frame.

    Parameters
    ----------
    table : Table
        Rows read by :func:`geoservice.store.tables.read_table`.
    district : District, optional
        The district profile: points outside its boundary are rejected unless
        ``allow_outside`` (the message names the district and the distance, measured in its
        metric CRS).
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
    table = out.table
    ids = _ids(table, out)
    names = _names(table, out)
    kinds = _kinds(table, out, STATION_KINDS, "warm_station")
    lon, lat = _coordinates(out, district=district)
    lon, lat = _to_storage(
        lon, lat, out, source_crs=source_crs, district=district, allow_outside=allow_outside
    )
    if "opening_hours" not in table.frame:
        for i in range(len(table.frame)):
            out.add(i, "opening_hours", "缺少开放时间列 / missing column opening_hours")
    hours = _column(table, out, "opening_hours", _parse_hours)
    for i, h in enumerate(hours):
        if (
            h is None
            and "opening_hours" in table.frame
            and _blank(table.frame["opening_hours"][i])
            and not out.failed(i, "opening_hours")
        ):
            out.add(i, "opening_hours", "开放时间为空（全天开放请填 24/7）/ opening_hours is empty")
    frame = pd.DataFrame(
        {
            "id": ids,
            "name": names,
            "kind": kinds,
            "lon": np.round(lon, 7),
            "lat": np.round(lat, 7),
            "address": [cell_text(v) for v in _column(table, out, "address", cell_text, "")],
            "town_code": _town_codes(table, out, towns),
            "opening_hours": hours,
            "amenities": _amenities(table, out),
            "phone": _column(table, out, "phone", _parse_phone, ""),
            "host_org": _column(table, out, "host_org", cell_text, ""),
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
    district: District | None = None,
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
    table = out.table
    ids = _ids(table, out)
    names = _names(table, out)
    kinds = _kinds(table, out, SITE_KINDS, "village")
    coord_source = [cell_text(v) for v in _column(table, out, "coord_source", cell_text, "")]
    missing_ok = np.array([c == "missing" for c in coord_source], dtype=bool)
    lon, lat = _coordinates(out, optional=missing_ok, district=district)
    lon, lat = _to_storage(
        lon, lat, out, source_crs=source_crs, district=district, allow_outside=allow_outside
    )
    minutes = _column(
        table, out, "service_minutes", lambda v: _parse_count(v, "service_minutes", 24 * 60)
    )
    frame = pd.DataFrame(
        {
            "id": ids,
            "name": names,
            "kind": kinds,
            "code": _column(table, out, "code", _parse_code, ""),
            "lon": np.round(lon, 7),
            "lat": np.round(lat, 7),
            "town_code": _town_codes(table, out, towns),
            "service_minutes": [
                m if m is not None else SITE_SERVICE_MINUTES.get(k, 30)
                for m, k in zip(minutes, kinds, strict=True)
            ],
            "official_name": _column(table, out, "official_name", cell_text, ""),
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


#: Columns of the ``towns`` layer (its geometry is the seat point, or none).
TOWN_COLUMNS = ("code", "name", "kind", "seat_name_en", "coord_source")


def validate_towns(
    table: Table, *, district: District | None = None, source_crs: str = "wgs84"
) -> gpd.GeoDataFrame:
    """Validate the rows of a district's towns file and return them as a ``towns`` layer.

    Each row is a town or subdistrict: ``code`` (unique; letters, digits, ``_ . -``),
    ``name`` (unique) and optionally the seat's ``lon``/``lat``, which must lie in the
    district. ``kind`` is ``subdistrict`` for a name ending in 街道 or 地区, else ``town``.

    Raises
    ------
    ValidationError
        With every problem found, if any.
    """
    out = _Collector(table)
    table = out.table
    n = len(table.frame)
    codes = [cell_text(v) for v in table.frame["code"]] if "code" in table.frame else [""] * n
    for i, code in enumerate(codes):
        if out.failed(i, "code"):
            continue
        if not code:
            out.add(i, "code", "乡镇代码为空 / code is empty")
        elif not _ID_RE.match(code):
            out.add(i, "code", f"代码格式无效 / invalid code {excerpt(code)}")
    names = _names(table, out)
    for column, values in (("code", codes), ("name", names)):
        seen: dict[str, int] = {}
        for i, v in enumerate(values):
            if v and v in seen:
                first = table.rows[seen[v]]
                out.add(
                    i,
                    column,
                    f"与{_where_zh(first, table.row_label)}重复 / {excerpt(v)} is also in "
                    f"{table.row_label} {first}",
                )
            seen.setdefault(v, i)
    lon, lat = _coordinates(out, optional=np.ones(n, dtype=bool), district=district)
    lon, lat = _to_storage(
        lon, lat, out, source_crs=source_crs, district=district, allow_outside=False
    )
    if out.errors:
        raise ValidationError(out.errors)
    seat = np.isfinite(lon) & np.isfinite(lat)
    frame = pd.DataFrame(
        {
            "code": codes,
            "name": names,
            "kind": ["subdistrict" if t.endswith(("街道", "地区")) else "town" for t in names],
            "seat_name_en": "",
            "coord_source": np.where(seat, "import", "missing"),
        }
    )
    geom = [shapely.Point(x, y) if ok else None for x, y, ok in zip(lon, lat, seat, strict=True)]
    return gpd.GeoDataFrame(frame[list(TOWN_COLUMNS)], geometry=geom, crs=CRS_STORAGE)


def _frame(frame: pd.DataFrame, layer: str, columns: tuple[str, ...]) -> gpd.GeoDataFrame:
    geom = [
        None if math.isnan(x) or math.isnan(y) else shapely.Point(x, y)
        for x, y in zip(frame["lon"], frame["lat"], strict=True)
    ]
    gdf = gpd.GeoDataFrame(frame[list(columns)], geometry=geom, crs=CRS_STORAGE)
    return normalize(gdf, layer)


# -- duplicates -----------------------------------------------------------------------------

#: Two stations (or reservoir sites) of the same name closer than this are taken for one
#: place imported twice.
DUPLICATE_RADIUS_M = 50.0
#: Two points closer than this are "at the same coordinates", whatever their names.
SAME_PLACE_M = 1.0
# Distinct names are put this far apart on a third axis, so that one KD-tree query finds
# the nearest point *of the same name* (the district is ~100 km across).
_NAME_AXIS_M = 1.0e7


@dataclass(frozen=True, slots=True)
class _Points:
    """Metric points with a name key, and how a message names point ``i``."""

    xyz: np.ndarray  # (n, 3): x, y in metres; name code × _NAME_AXIS_M
    label: Callable[[int], tuple[str, str]]  # i → (Chinese, English)


@functools.cache
def _to_metric(metric_crs: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(CRS_STORAGE, metric_crs, always_xy=True)


def _name_key(name: str) -> str:
    """Names compared as people read them: full-width = half-width, case and spaces
    ignored."""
    return "".join(unicodedata.normalize("NFKC", name).casefold().split())


def _short(name: str) -> str:
    return name if len(name) <= 40 else name[:40] + "…"


def duplicates(
    layer: str,
    incoming: gpd.GeoDataFrame,
    table: Table,
    *,
    adds: np.ndarray,
    others: gpd.GeoDataFrame,
    metric_crs: str,
) -> tuple[list[RowError], list[RowError]]:
    """Rows of an import that would duplicate a record.

    The rule: a row that *adds* a station is a duplicate when a station of the same name
    (ignoring case, spaces and full-width forms) lies within :data:`DUPLICATE_RADIUS_M`,
    or any station within :data:`SAME_PLACE_M`, counting both the records the import keeps
    and the other rows of the file. For sites the same rule holds among reservoir sites
    (villages and communities have no reliable position), and a site ``code`` (the NBS
    division code) may belong to one site only. Vectorised: one KD-tree query per rule in
    the district's metric CRS, so 20,000 rows against 20,000 records take milliseconds.

    Parameters
    ----------
    layer : str
        ``stations`` or ``sites``.
    incoming : GeoDataFrame
        The validated rows, in file order (one per row of ``table``), ids assigned.
    table : Table
        The file, for row numbers and the user's headers.
    adds : ndarray of bool
        Per incoming row: it adds a record (an update by id is never a duplicate of the
        record it updates, but it is a neighbour of the rows that add one).
    others : GeoDataFrame
        The records the import leaves as they are.
    metric_crs : str
        The district's metric CRS (:attr:`geoservice.district.District.metric_crs`).

    Returns
    -------
    places, codes : list of RowError
        Same-place rows (refused unless duplicates are allowed) and rows with a taken
        code (always refused).
    """
    out = _Collector(table, screen=False)  # validation screened the cells already
    adds = np.asarray(adds, dtype=bool)
    noun = ("站点", "station") if layer == "stations" else ("点位", "site")
    placed_in = np.isfinite(incoming["lon"].to_numpy(float))
    placed_old = np.isfinite(others["lon"].to_numpy(float))
    if layer == "sites":
        placed_in &= incoming["kind"].to_numpy() == "reservoir_site"
        placed_old &= others["kind"].to_numpy() == "reservoir_site"
    new = np.flatnonzero(adds & placed_in)
    ref_rows = np.flatnonzero(~adds & placed_in)
    ref_old = np.flatnonzero(placed_old)
    if len(new):
        in_ids, in_names = incoming["id"].tolist(), incoming["name"].tolist()
        old_ids, old_names = others["id"].tolist(), others["name"].tolist()
        keys = [_name_key(in_names[i]) for i in new.tolist()]
        keys += [_name_key(old_names[i]) for i in ref_old.tolist()]
        keys += [_name_key(in_names[i]) for i in ref_rows.tolist()]
        codes, _ = pd.factorize(pd.Index(keys))

        def within(i: int) -> tuple[str, str]:
            r = int(new[i])
            return f"本文件{_row_zh(table, r)}", f"{_row_en(table, r)} of this file"

        def reference(i: int) -> tuple[str, str]:
            if i < len(ref_old):
                sid, name = old_ids[ref_old[i]], old_names[ref_old[i]]
                return (
                    f"已有{noun[0]} {sid}「{_short(name)}」",
                    f"existing {noun[1]} {sid} {excerpt(name)}",
                )
            r = int(ref_rows[i - len(ref_old)])
            return (
                f"本文件{_row_zh(table, r)}（{in_ids[r]}）",
                f"{_row_en(table, r)} of this file ({in_ids[r]})",
            )

        to_metric = _to_metric(metric_crs)
        b = _points(incoming.iloc[new], codes[: len(new)], within, to_metric)
        a = _points(
            pd.concat([others.iloc[ref_old], incoming.iloc[ref_rows]]),
            codes[len(new) :],
            reference,
            to_metric,
        )
        _place_duplicates(out, new, a, b)
    places = out.errors
    out.errors = []
    if layer == "sites":
        _code_duplicates(out, incoming, table, others)
    return places, out.errors


def _row_zh(table: Table, i: int) -> str:
    return _where_zh(table.rows[i], table.row_label)


def _row_en(table: Table, i: int) -> str:
    return f"{table.row_label} {table.rows[i]}"


def _points(
    frame: pd.DataFrame,
    codes: np.ndarray,
    label: Callable[[int], tuple[str, str]],
    to_metric: pyproj.Transformer,
) -> _Points:
    x, y = to_metric.transform(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float))
    xyz = np.column_stack([x, y, np.asarray(codes, dtype=float) * _NAME_AXIS_M])
    return _Points(xyz.reshape(-1, 3), label)


def _nearest_other(
    tree: cKDTree, pts: np.ndarray, radius: float, *, exclude_self: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Distance to and index of each point's nearest tree point within ``radius`` (inf and
    -1 when none); with ``exclude_self`` the tree holds ``pts`` and a point never finds
    itself (ties at 0 m with an identical point are resolved to the other one)."""
    k = 2 if exclude_self else 1
    if tree.n < k:
        return np.full(len(pts), np.inf), np.full(len(pts), -1)
    d, j = tree.query(pts, k=k, distance_upper_bound=radius)
    if exclude_self:
        first_is_self = j[:, 0] == np.arange(len(pts))
        d = np.where(first_is_self, d[:, 1], d[:, 0])
        j = np.where(first_is_self, j[:, 1], j[:, 0])
    return d, np.where(np.isfinite(d), j, -1)


def _place_duplicates(out: _Collector, new: np.ndarray, a: _Points, b: _Points) -> None:
    """One error per new row: a same-name neighbour first, else a same-place one; records
    the import keeps first, else other rows of the file."""
    hint_zh = "疑似重复导入（确属不同地点请加 --allow-duplicates）"
    hint_en = "imported twice? (add --allow-duplicates if it is another place)"
    searches = []  # (distances, indices, whose points, rule), in order of preference
    for rule, radius, dims in (("name", DUPLICATE_RADIUS_M, 3), ("place", SAME_PLACE_M, 2)):
        if len(a.xyz):
            tree = cKDTree(a.xyz[:, :dims])
            searches.append(
                (*_nearest_other(tree, b.xyz[:, :dims], radius, exclude_self=False), a, rule)
            )
        tree = cKDTree(b.xyz[:, :dims])
        searches.append(
            (*_nearest_other(tree, b.xyz[:, :dims], radius, exclude_self=True), b, rule)
        )
    done = np.zeros(len(new), dtype=bool)
    for d, j, points, rule in searches:
        for r in np.flatnonzero((j >= 0) & ~done).tolist():
            zh, en = points.label(int(j[r]))
            dist = float(d[r])
            shown = f"{dist:.1f}" if dist < 10 else f"{dist:.0f}"
            if rule == "name":
                column = "name"
                message = (
                    f"与{zh}同名，相距 {shown} 米，{hint_zh} / same name as {en}, {shown} m "
                    f"away: {hint_en}"
                )
            else:
                column = "lon"
                message = (
                    f"与{zh}坐标相同（相距 {shown} 米），{hint_zh} / at the same coordinates as "
                    f"{en} ({shown} m): {hint_en}"
                )
            out.add(int(new[r]), column, message)
            done[r] = True


def _code_duplicates(
    out: _Collector, incoming: gpd.GeoDataFrame, table: Table, others: gpd.GeoDataFrame
) -> None:
    """A site code may belong to one site only: every imported row whose code another kept
    site or an earlier row already has."""
    taken = {
        c: (sid, n)
        for c, sid, n in zip(others["code"], others["id"], others["name"], strict=True)
        if c
    }
    first: dict[str, int] = {}
    for i, code in enumerate(incoming["code"].tolist()):
        if not code:
            continue
        if code in taken:
            sid, name = taken[code]
            out.add(
                i,
                "code",
                f"区划代码 {code} 已属于{sid}「{_short(name)}」/ code {code} already belongs to "
                f"{sid} {excerpt(name)}",
            )
        elif code in first:
            out.add(
                i,
                "code",
                f"区划代码 {code} 与本文件{_row_zh(table, first[code])}重复 / code {code} "
                f"repeats {_row_en(table, first[code])} of this file",
            )
        else:
            first[code] = i
