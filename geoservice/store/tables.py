"""Read and write station/site tables: CSV, XLSX, GeoJSON and GeoPackage.

Reading gives a :class:`Table`: raw cell values under canonical column names, the header
each column had in the file (so errors name the user's own column) and the row number a
user sees (spreadsheet row, GeoJSON feature or GeoPackage feature id), and the CRS its
coordinate headers name (``经度(GCJ02)``; a CSV/XLSX export always names it, so that an
import reads the coordinates back in the CRS they were written in). Validation lives in
:mod:`geoservice.store.validate`; nothing here interprets cell values beyond the file format.

Files come from users and attackers alike, so reading is bounded (the ``MAX_*`` limits
below): the size is checked before anything is read, CSV and XLSX rows are streamed and
reading stops at the first row over the limit, and an XLSX archive's unpacked size is
checked before it is inflated. Writing is safe for spreadsheets: CSV text that Excel, WPS
or LibreOffice would run as a formula is escaped (and unescaped on reading), XLSX text is
always a text cell.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import uuid
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from geoservice import crs as _crs
from geoservice import escape
from geoservice.errors import FileFormatError, excerpt
from geoservice.model import AMENITIES, CRS_STORAGE, SITE_COLUMNS, STATION_COLUMNS

if TYPE_CHECKING:  # openpyxl is imported when a workbook is read or written
    from openpyxl.worksheet.worksheet import Worksheet

# -- limits of an imported file (one place; the README lists them) ---------------------------

#: Largest file accepted for import, checked before reading it.
MAX_FILE_BYTES = 20 * 1024 * 1024
#: Most data rows (GeoJSON/GeoPackage features) in one file; reading stops at the next one.
MAX_ROWS = 20_000
#: Most rows of an XLSX workbook, blank ones included: all its sheets' <row> tags, counted
#: in the raw XML before openpyxl reads anything, and the rows of the sheet read.
MAX_SHEET_ROWS = 2 * MAX_ROWS + 1
#: Most columns of a CSV/XLSX header.
MAX_COLUMNS = 200
#: Largest unpacked size of all the parts of an XLSX workbook (a zip archive), and of the
#: parts openpyxl loads whole (shared strings, styles, …; the sheet itself is streamed).
MAX_XLSX_UNPACKED_BYTES = 128 * 1024 * 1024
MAX_XLSX_LOADED_BYTES = 32 * 1024 * 1024
#: Longest name, and longest other text cell (address, hours, host_org, phone, …), in
#: characters. Ids and codes have their own, shorter patterns.
MAX_NAME_CHARS = 200
MAX_TEXT_CHARS = 500
#: Most row errors listed in an import report; the others are counted.
MAX_REPORTED_ERRORS = 200

FORMATS = {
    ".csv": "csv",
    ".xlsx": "xlsx",
    ".geojson": "geojson",
    ".json": "geojson",
    ".gpkg": "gpkg",
}

#: Header aliases (compared case-insensitively, spaces removed) → canonical column.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "编号", "站点编号", "序号id"),
    "name": ("name", "名称", "站点名称", "驿站名称", "点位名称"),
    "kind": ("kind", "type", "类型", "站点类型", "点位类型"),
    "lon": ("lon", "lng", "long", "longitude", "x", "经度"),
    "lat": ("lat", "latitude", "y", "纬度"),
    "address": ("address", "地址", "详细地址"),
    "town_code": ("town_code", "towncode", "乡镇代码", "街乡代码"),
    "town": ("town", "街道", "乡镇", "所属街乡", "所属镇街", "街乡", "镇街"),
    "opening_hours": ("opening_hours", "hours", "开放时间", "营业时间", "服务时间"),
    "amenities": ("amenities", "服务设施", "设施", "服务内容"),
    "phone": ("phone", "tel", "联系电话", "电话"),
    "host_org": ("host_org", "host", "主办单位", "依托单位", "承建单位", "运营单位"),
    "capacity": ("capacity", "容纳人数", "容量"),
    "verified_on": ("verified_on", "核实日期", "更新日期"),
    "source": ("source", "来源", "数据来源"),
    "code": ("code", "代码", "区划代码", "统计用区划代码"),
    "service_minutes": ("service_minutes", "服务时长", "服务分钟", "服务时长（分钟）"),
    "official_name": ("official_name", "正式名称", "全称"),
    "coord_source": ("coord_source", "坐标来源"),
}
_ALIAS_TO_COLUMN = {a.lower(): c for c, aliases in HEADER_ALIASES.items() for a in aliases}

#: How a coordinate header names its CRS: ``经度(GCJ02)``, ``lat（wgs84）``, ``lon (BD-09)``.
CRS_LABELS: dict[str, str] = {"wgs84": "WGS84", "gcj02": "GCJ02", "bd09": "BD09"}
_HEADER_CRS_RE = re.compile(r"^(?P<base>.+?)[(（](?P<crs>[^()（）]*)[)）]$")
_COORDINATES = ("lon", "lat")

#: Chinese headers used by ``export --headers zh`` (each is also an accepted alias).
ZH_HEADERS: dict[str, str] = {
    "id": "编号",
    "name": "名称",
    "kind": "类型",
    "lon": "经度",
    "lat": "纬度",
    "address": "地址",
    "town_code": "乡镇代码",
    "town": "所属镇街",
    "opening_hours": "开放时间",
    "amenities": "服务设施",
    "phone": "联系电话",
    "host_org": "依托单位",
    "capacity": "容纳人数",
    "verified_on": "核实日期",
    "source": "数据来源",
    "code": "区划代码",
    "service_minutes": "服务时长",
    "official_name": "正式名称",
    "coord_source": "坐标来源",
}


@dataclass
class Table:
    """Raw rows read from a file.

    Attributes
    ----------
    frame : pandas.DataFrame
        Object-dtype cells under canonical column names; unknown columns are dropped.
    headers : dict
        Canonical column → the header as written in the file.
    rows : list of int
        The number a user sees for each row (spreadsheet row, feature number, fid).
    row_label : str
        What a row is called in messages: ``"row"`` or ``"feature"``.
    ignored : list of str
        Headers that matched no known column.
    crs : str or None
        The CRS the coordinate headers name (``经度(GCJ02)``: ``"gcj02"``), None when they
        name none.
    """

    frame: pd.DataFrame
    headers: dict[str, str]
    rows: list[int]
    row_label: str = "row"
    ignored: list[str] = field(default_factory=list)
    crs: str | None = None


def detect_format(path: str | Path) -> str:
    """Return ``csv``, ``xlsx``, ``geojson`` or ``gpkg`` from the file extension."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        shown = excerpt(suffix or "(none)")
        msg = (
            f"不支持的文件类型 {shown}，请用 .csv、.xlsx、.geojson 或 .gpkg / unsupported file "
            f"type {shown}; use .csv, .xlsx, .geojson or .gpkg"
        )
        raise FileFormatError(msg)
    return FORMATS[suffix]


def canonical_column(header: object) -> str | None:
    """Map a header (Chinese or English, any case) to its canonical column, or None.

    A coordinate header may name its CRS in brackets, half- or full-width: ``经度(WGS84)``
    and ``lat（GCJ02）`` are ``lon`` and ``lat`` (:func:`header_crs` reads the CRS).
    """
    return _split_header(header)[0]


def header_crs(header: object) -> str | None:
    """The CRS a coordinate header names (``经度(GCJ-02)`` → ``"gcj02"``), or None.

    Raises
    ------
    FileFormatError
        When the brackets of a coordinate header hold no known CRS.
    """
    column, named = _split_header(header)
    if column not in _COORDINATES or named is None:
        return None
    try:
        return _crs.normalize_crs(named)
    except ValueError:
        shown = excerpt(str(header).strip())
        known = "、".join(CRS_LABELS.values())
        msg = (
            f"列「{shown}」：括号里不是可识别的坐标系，应为 {known} / column {shown}: the "
            f"brackets name no known coordinate system; use {', '.join(CRS_LABELS.values())}"
        )
        raise FileFormatError(msg) from None


def sheet_header(column: str, headers: str, crs: str) -> str:
    """The header an export writes for ``column``: Chinese or canonical, and for lon/lat
    the CRS in brackets (``经度(GCJ02)``, ``lon(WGS84)``)."""
    base = ZH_HEADERS.get(column, column) if headers == "zh" else column
    return f"{base}({CRS_LABELS[crs]})" if column in _COORDINATES else base


def _split_header(header: object) -> tuple[str | None, str | None]:
    """(canonical column, the text in a coordinate header's brackets or None)."""
    key = str(header).strip().lstrip("\ufeff").replace(" ", "").lower()
    if key in _ALIAS_TO_COLUMN:
        return _ALIAS_TO_COLUMN[key], None
    m = _HEADER_CRS_RE.match(key)
    if m and _ALIAS_TO_COLUMN.get(m["base"]) in _COORDINATES:
        return _ALIAS_TO_COLUMN[m["base"]], m["crs"]
    return None, None


def read_table(path: str | Path, layer: str | None = None) -> Table:
    """Read a CSV, XLSX, GeoJSON or GeoPackage file into a :class:`Table`.

    Parameters
    ----------
    path : str or Path
        The file; its extension gives the format.
    layer : str, optional
        GeoPackage layer (default: ``stations``/``sites`` if present, else the first) or
        XLSX sheet (default: the first).
    """
    path = Path(path)
    fmt = detect_format(path)
    if not path.is_file():
        msg = f"找不到文件 / file not found: {path}"
        raise FileFormatError(msg)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        msg = (
            f"{path.name}：文件 {size / 2**20:.1f} MB，超过 {MAX_FILE_BYTES // 2**20} MB 上限；"
            f"请拆分后分批导入 / the file is {size / 2**20:.1f} MB, over the "
            f"{MAX_FILE_BYTES // 2**20} MB limit; split it"
        )
        raise FileFormatError(msg)
    reader = {"csv": _read_csv, "xlsx": _read_xlsx, "geojson": _read_geojson, "gpkg": _read_gpkg}
    return reader[fmt](path, layer)


def _too_many_rows(path: Path, label: str = "行") -> FileFormatError:
    unit = "rows" if label == "行" else "features"
    msg = (
        f"{path.name}：超过 {MAX_ROWS:,} {label}上限，已停止读取；请拆分后分批导入 / more than "
        f"{MAX_ROWS:,} {unit} (the limit); reading stopped. Split the file"
    )
    return FileFormatError(msg)


def _data_rows(path: Path, records: Iterable[list], first: int = 2) -> tuple[list, list[int]]:
    """Keep the non-blank rows with their spreadsheet row numbers, stopping with an error
    at the first row over :data:`MAX_ROWS` (so a huge file is never read to its end)."""
    kept: list[list] = []
    numbers: list[int] = []
    for n, rec in enumerate(records, start=first):
        if not any(v is not None and str(v).strip() != "" for v in rec):
            continue
        if len(kept) == MAX_ROWS:
            raise _too_many_rows(path)
        kept.append(rec)
        numbers.append(n)
    return kept, numbers


def _build(header: list, records: list[list], rows: list[int], row_label: str = "row") -> Table:
    columns: dict[str, int] = {}
    headers: dict[str, str] = {}
    ignored: list[str] = []
    for i, h in enumerate(header):
        if h is None or str(h).strip() == "":
            continue
        c = canonical_column(h)
        if c is None:
            ignored.append(str(h))
        elif c in columns:
            msg = (
                f"列「{excerpt(headers[c])}」和「{excerpt(h)}」含义相同（{c}），请只保留一列 / "
                f"columns {excerpt(headers[c])} and {excerpt(h)} both mean {c!r}; keep one"
            )
            raise FileFormatError(msg)
        else:
            columns[c] = i
            headers[c] = str(h).strip().lstrip("\ufeff")
    data = {c: [rec[i] if i < len(rec) else None for rec in records] for c, i in columns.items()}
    frame = pd.DataFrame(data, dtype=object, index=range(len(records)))
    return Table(frame, headers, rows, row_label, ignored, _named_crs(headers))


def _named_crs(headers: dict[str, str]) -> str | None:
    """The one CRS the lon/lat headers name (either may leave it out); two differing ones
    are refused, since no reading of such a file is safe."""
    named = {c: header_crs(headers[c]) for c in _COORDINATES if c in headers}
    found = {v for v in named.values() if v is not None}
    if len(found) > 1:
        lon, lat = excerpt(headers["lon"]), excerpt(headers["lat"])
        msg = (
            f"经度列「{lon}」和纬度列「{lat}」注明的坐标系不同，请改为同一坐标系 / the longitude "
            f"column {lon} and the latitude column {lat} name different coordinate systems"
        )
        raise FileFormatError(msg)
    return found.pop() if found else None


def _decode(raw: bytes, path: Path) -> str:
    # Excel on Chinese Windows saves CSV as GBK; everything else is UTF-8 (maybe with BOM).
    for encoding in _ENCODINGS:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise _undecodable(path)


_ENCODINGS = ("utf-8-sig", "gb18030")


def _undecodable(path: Path) -> FileFormatError:
    msg = (
        f"{path.name}：无法按 UTF-8 或 GBK/GB18030 解码 / "
        "cannot decode as UTF-8 or GBK/GB18030 text"
    )
    return FileFormatError(msg)


def _read_csv(path: Path, _layer: str | None) -> Table:
    for encoding in _ENCODINGS:
        try:
            return _read_csv_as(path, encoding)
        except UnicodeDecodeError:
            continue  # streamed: a GBK file fails as UTF-8 somewhere; start again
    raise _undecodable(path)


def _read_csv_as(path: Path, encoding: str) -> Table:
    """Stream the rows (stopping at :data:`MAX_ROWS`); undo the export's formula escape."""
    with open(path, encoding=encoding, newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            if header is None:
                msg = f"{path.name}：文件为空 / the file is empty"
                raise FileFormatError(msg)
            if len(header) > MAX_COLUMNS:
                raise _too_many_columns(path, len(header))
            width = len(header)
            cells = ([escape.unspreadsheet_cell(c) for c in r[:width]] for r in reader)
            records, rows = _data_rows(path, cells)
        except csv.Error as exc:
            msg = (
                f"{path.name}：第 {reader.line_num} 行附近不是有效的 CSV（单元格超长或引号不成对）"
                f" / not a valid CSV file near line {reader.line_num}: {exc}"
            )
            raise FileFormatError(msg) from exc
    return _build(header, records, rows)


def _too_many_columns(path: Path, n: int | str) -> FileFormatError:
    msg = (
        f"{path.name}：表头超过 {MAX_COLUMNS} 列（{n}）/ the header has more than "
        f"{MAX_COLUMNS} columns ({n})"
    )
    return FileFormatError(msg)


def _check_xlsx_parts(path: Path) -> None:
    """Refuse a workbook whose parts unpack to more than the limits, before openpyxl
    inflates anything (a zip bomb is small on disk). The sizes are the archive's declared
    ones, which :mod:`zipfile` enforces while reading."""
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        msg = f"{path.name}：不是可读的 .xlsx 工作簿 / not a readable .xlsx workbook: {exc}"
        raise FileFormatError(msg) from exc
    total = sum(p.file_size for p in parts)
    loaded = sum(p.file_size for p in parts if not p.filename.startswith("xl/worksheets/"))
    for size, limit, zh, en in (
        (total, MAX_XLSX_UNPACKED_BYTES, "工作簿", "the workbook unpacks"),
        (loaded, MAX_XLSX_LOADED_BYTES, "共享字符串与样式", "its shared strings and styles unpack"),
    ):
        if size > limit:
            msg = (
                f"{path.name}：{zh}解压后 {size / 2**20:.0f} MB，超过 {limit // 2**20} MB 上限 / "
                f"{en} to {size / 2**20:.0f} MB, over the {limit // 2**20} MB limit"
            )
            raise FileFormatError(msg)
    # openpyxl parses about 20,000 rows a second, and parses a whole sheet at load when it
    # has no <dimension>: counting <row> tags in the raw XML refuses a million rows in
    # milliseconds instead, before openpyxl sees them.
    sheets = [
        p.filename
        for p in parts
        if p.filename.startswith("xl/worksheets/") and p.filename.endswith(".xml")
    ]
    if _row_tags_exceed(path, sheets, MAX_SHEET_ROWS):
        raise _past_scan_limit(path)


def _read_xlsx(path: Path, layer: str | None) -> Table:
    import openpyxl

    _check_xlsx_parts(path)
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken file
        msg = f"{path.name}：不是可读的 .xlsx 工作簿 / not a readable .xlsx workbook: {exc}"
        raise FileFormatError(msg) from exc
    try:
        if layer and layer not in wb.sheetnames:
            msg = (
                f"{path.name}：没有工作表 {excerpt(layer)} / no sheet {excerpt(layer)}; "
                f"sheets: {excerpt(', '.join(wb.sheetnames), 200)}"
            )
            raise FileFormatError(msg)
        ws = wb[layer] if layer else wb.worksheets[0]
        # Always bound the columns: a read-only sheet pads every row to the width its
        # <dimension> claims, which a crafted file sets to 16,384.
        head = next(ws.iter_rows(max_row=1, max_col=MAX_COLUMNS + 1, values_only=True), ())
        header = list(head)
        while header and (header[-1] is None or str(header[-1]).strip() == ""):
            header.pop()
        if not header:
            title = excerpt(ws.title)
            msg = f"{path.name}：工作表 {title} 为空 / sheet {title} is empty"
            raise FileFormatError(msg)
        if len(header) > MAX_COLUMNS:
            raise _too_many_columns(path, f"> {MAX_COLUMNS}")
        body = ws.iter_rows(
            min_row=2, max_row=MAX_SHEET_ROWS + 1, max_col=len(header), values_only=True
        )
        records, rows = _data_rows(path, _sheet_rows(path, body))
    except FileFormatError:
        raise
    except Exception as exc:  # a damaged part: zlib, XML or openpyxl errors of many types
        msg = f"{path.name}：工作簿已损坏 / the workbook is damaged: {excerpt(str(exc), 200)}"
        raise FileFormatError(msg) from exc
    finally:
        wb.close()
    return _build(header, records, rows)


# OOXML text (ST_Xstring) writes characters XML cannot carry as _xHHHH_ (Excel writes a
# carriage return as _x000D_: XML parsers turn a raw one into a line feed); a literal
# "_xHHHH_" is written "_x005F_xHHHH_". openpyxl leaves both to the caller.
_XSTRING_RE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_XSTRING_UNSAFE_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0d\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xstring_escape(value: str) -> str:
    value = _XSTRING_RE.sub(r"_x005F_x\1_", value)
    return _XSTRING_UNSAFE_RE.sub(lambda m: f"_x{ord(m.group()):04X}_", value)


def _xstring_unescape(value: object) -> object:
    if not isinstance(value, str) or "_x" not in value:
        return value
    return _XSTRING_RE.sub(lambda m: chr(int(m.group(1), 16)), value)


def _sheet_rows(path: Path, rows: Iterable[tuple]) -> Iterator[list]:
    """Sheet rows from row 2 on; an error when the sheet goes on past MAX_SHEET_ROWS."""
    for n, rec in enumerate(rows, start=2):
        if n > MAX_SHEET_ROWS:
            raise _past_scan_limit(path)
        yield [_xstring_unescape(v) for v in rec]


def _past_scan_limit(path: Path) -> FileFormatError:
    msg = (
        f"{path.name}：工作簿超过 {MAX_SHEET_ROWS:,} 行（含空行），已停止读取；每个文件最多 "
        f"{MAX_ROWS:,} 行数据，请删除多余的行或拆分文件 / the workbook has more than "
        f"{MAX_SHEET_ROWS:,} rows (blank rows included); reading stopped. At most "
        f"{MAX_ROWS:,} rows per file: delete the unused rows or split the file"
    )
    return FileFormatError(msg)


_ROW_TAG_RE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s/>]")


def _row_tags_exceed(path: Path, parts: list[str], limit: int) -> bool:
    """Whether the sheet XML ``parts`` together have more than ``limit`` <row> elements,
    counted in the inflated streams a megabyte at a time and stopped as soon as they do."""
    keep = 64  # a tag cut by a chunk boundary is counted with the next chunk
    count = 0
    with zipfile.ZipFile(path) as archive:
        for part in parts:
            buf = b""
            with archive.open(part) as f:
                while chunk := f.read(1 << 20):
                    buf += chunk
                    cut = len(buf) - keep
                    count += sum(1 for m in _ROW_TAG_RE.finditer(buf) if m.start() < cut)
                    if count > limit:
                        return True
                    buf = buf[cut:]
            count += len(_ROW_TAG_RE.findall(buf))
    return count > limit


def _read_geojson(path: Path, _layer: str | None) -> Table:
    try:
        doc = json.loads(_decode(path.read_bytes(), path))
    except json.JSONDecodeError as exc:
        msg = (
            f"{path.name}：JSON 格式错误（第 {exc.lineno} 行第 {exc.colno} 列）/ invalid JSON at "
            f"line {exc.lineno} column {exc.colno}: {exc.msg}"
        )
        raise FileFormatError(msg) from exc
    except RecursionError as exc:
        msg = f"{path.name}：JSON 嵌套过深 / the JSON is nested too deeply"
        raise FileFormatError(msg) from exc
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        msg = f"{path.name}：JSON 内容无效 / invalid JSON: {excerpt(str(exc), 120)}"
        raise FileFormatError(msg) from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        msg = f"{path.name}：应为 GeoJSON FeatureCollection / expected a GeoJSON FeatureCollection"
        raise FileFormatError(msg)
    features = doc.get("features")
    if not isinstance(features, list):
        msg = f"{path.name}：features 应为列表 / 'features' must be a list"
        raise FileFormatError(msg)
    if len(features) > MAX_ROWS:
        raise _too_many_rows(path, "个要素")
    records: list[dict] = []
    for f in features:
        props = f.get("properties") if isinstance(f, dict) else None
        props = dict(props) if isinstance(props, dict) else {}
        props = _with_geometry(props, f.get("geometry") if isinstance(f, dict) else None)
        if isinstance(f, dict) and "id" in f and "id" not in props:
            props["id"] = f["id"]
        records.append(props)
    return _from_records(path, records, list(range(1, len(records) + 1)), "feature")


def _with_geometry(props: dict, geom: object) -> dict:
    """Merge a GeoJSON geometry into a feature's cells as lon/lat.

    A point geometry wins over lon/lat-like properties; a non-point geometry is passed on
    as text so validation reports it against the row.
    """
    if geom is None:
        return props
    props = {k: v for k, v in props.items() if canonical_column(k) not in ("lon", "lat")}
    if isinstance(geom, dict) and geom.get("type") == "Point":
        coords = [*list(geom.get("coordinates") or []), None, None]
        props.update(lon=coords[0], lat=coords[1])
    else:
        kind = geom.get("type") if isinstance(geom, dict) else type(geom).__name__
        props.update(lon=f"<{kind} geometry, expected Point>", lat=f"<{kind} geometry>")
    return props


def _from_records(path: Path, records: list[dict], rows: list[int], row_label: str) -> Table:
    header: dict[str, None] = {}  # ordered set: the union of every record's keys
    for rec in records:
        header.update(dict.fromkeys(rec))
        if len(header) > MAX_COLUMNS:
            msg = (
                f"{path.name}：属性超过 {MAX_COLUMNS} 个 / more than {MAX_COLUMNS} "
                "distinct properties"
            )
            raise FileFormatError(msg)
    body = [[_cell(rec.get(h)) for h in header] for rec in records]
    return _build(list(header), body, rows, row_label)


def _cell(value: object) -> object:
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    if isinstance(value, dict):  # text, so that validation holds it to the text limits
        return json.dumps(value, ensure_ascii=False)
    return value


def _read_gpkg(path: Path, layer: str | None) -> Table:
    try:
        layers = [name for name, _ in pyogrio.list_layers(path)]
    except pyogrio.errors.DataSourceError as exc:
        msg = f"{path.name}：不是可读的 GeoPackage / not a readable GeoPackage: {exc}"
        raise FileFormatError(msg) from exc
    if layer is None:
        layer = next(
            (n for n in ("stations", "sites") if n in layers), layers[0] if layers else None
        )
    if layer not in layers:
        msg = (
            f"{path.name}：没有图层 {excerpt(layer)} / no layer {excerpt(layer)}; layers: "
            f"{excerpt(', '.join(layers), 200)}"
        )
        raise FileFormatError(msg)
    if pyogrio.read_info(path, layer=layer)["features"] > MAX_ROWS:
        raise _too_many_rows(path, "个要素")
    gdf = gpd.read_file(
        path, layer=layer, engine="pyogrio", fid_as_index=True, max_features=MAX_ROWS + 1
    )
    if len(gdf) > MAX_ROWS:  # a layer whose feature count was not known in advance
        raise _too_many_rows(path, "个要素")
    if gdf.crs is not None and not gdf.crs.equals(CRS_STORAGE):
        gdf = gdf.to_crs(CRS_STORAGE)
    records = []
    for props, geom in zip(
        gdf.drop(columns="geometry").to_dict("records"), gdf.geometry, strict=True
    ):
        props = {k: (None if _isna(v) else v) for k, v in props.items()}
        if geom is not None and not geom.is_empty:
            props = _with_geometry(props, geom.__geo_interface__)
        records.append(props)
    return _from_records(path, records, [int(i) for i in gdf.index], "feature")


def _isna(v: object) -> bool:
    return not isinstance(v, list | tuple) and bool(pd.isna(v))


# -- export ---------------------------------------------------------------------------------


def to_records(gdf: gpd.GeoDataFrame, layer: str) -> list[dict]:
    """Rows of a stations/sites frame as plain dicts (amenities as a list, no NaN)."""
    columns = STATION_COLUMNS if layer == "stations" else SITE_COLUMNS
    out = []
    for rec in pd.DataFrame(gdf[list(columns)]).to_dict("records"):
        rec = {k: (None if _isna(v) else v) for k, v in rec.items()}
        for k in ("capacity", "service_minutes"):
            if rec.get(k) is not None:
                rec[k] = int(rec[k])
        if "amenities" in rec:
            rec["amenities"] = [a for a in (rec["amenities"] or "").split(";") if a]
        out.append(rec)
    return out


def write_table(
    gdf: gpd.GeoDataFrame,
    path: str | Path,
    layer: str,
    headers: str = "en",
    *,
    crs: str = "wgs84",
    sheet_rows: list[dict] | None = None,
) -> int:
    """Write a stations/sites frame to ``path`` (format from the extension), atomically.

    Parameters
    ----------
    gdf : GeoDataFrame
        Normalised layer as returned by the store.
    path : str or Path
        Destination; ``.csv`` (UTF-8 with BOM so Excel reads Chinese), ``.xlsx``,
        ``.geojson`` or ``.gpkg``.
    layer : str
        ``stations`` or ``sites`` (the GeoPackage layer name too).
    headers : str
        ``en`` (canonical names) or ``zh`` (Chinese headers) for CSV/XLSX.
    crs : str
        The CRS of a CSV/XLSX file's coordinates (``wgs84``, ``gcj02``, ``bd09``), converted
        here and named in the lon/lat headers (``经度(GCJ02)``). GeoJSON and GeoPackage are
        always WGS84.
    sheet_rows : list of dict, optional
        The CSV/XLSX rows as people read them (:func:`geoservice.store.catalog.export_file`
        gives Chinese values), one per row of ``gdf``, keyed by canonical column, lon/lat
        in WGS84; default :func:`to_records`.

    Returns
    -------
    int
        Number of rows written.

    Raises
    ------
    ValueError
        Unknown ``headers`` or ``crs``, or a CRS other than WGS84 for GeoJSON/GeoPackage.
    """
    path = Path(path)
    fmt = detect_format(path)
    if headers not in ("en", "zh"):
        msg = f"表头应为 en 或 zh / headers must be 'en' or 'zh', not {excerpt(headers)}"
        raise ValueError(msg)
    crs = _crs.normalize_crs(crs)
    if crs != "wgs84" and fmt in ("geojson", "gpkg"):
        msg = (
            f"GeoJSON 和 GeoPackage 文件的坐标一律为 WGS84，{CRS_LABELS[crs]} 只能导出为 "
            f".csv 或 .xlsx / GeoJSON and GeoPackage files are always WGS84; export "
            f"{CRS_LABELS[crs]} coordinates as .csv or .xlsx"
        )
        raise ValueError(msg)
    records = to_records(gdf, layer)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp{path.suffix}")
    try:
        if fmt == "gpkg":
            pyogrio.write_dataframe(gdf, tmp, layer=layer, driver="GPKG")
        elif fmt == "geojson":
            tmp.write_text(json.dumps(_feature_collection(records), ensure_ascii=False, indent=1))
        else:
            rows = _in_crs(records if sheet_rows is None else sheet_rows, crs)
            names = (
                list(rows[0])
                if rows
                else list(STATION_COLUMNS if layer == "stations" else SITE_COLUMNS)
            )
            head = [sheet_header(c, headers, crs) for c in names]
            body = [[_flat(r[c]) for c in names] for r in rows]
            if fmt == "csv":
                _write_csv(tmp, head, body)
            else:
                _write_xlsx(tmp, layer, head, body)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return len(records)


def _in_crs(rows: list[dict], crs: str) -> list[dict]:
    """The rows with their WGS84 lon/lat converted to ``crs`` (a missing one stays None)."""
    if crs == "wgs84" or not rows:
        return rows
    lon = np.array([np.nan if r["lon"] is None else r["lon"] for r in rows], dtype=float)
    lat = np.array([np.nan if r["lat"] is None else r["lat"] for r in rows], dtype=float)
    x, y = _crs.from_wgs84(lon, lat, crs)
    return [
        {**r, "lon": None if np.isnan(a) else float(a), "lat": None if np.isnan(b) else float(b)}
        for r, a, b in zip(rows, np.atleast_1d(x), np.atleast_1d(y), strict=True)
    ]


def _write_csv(path: Path, head: list[str], body: list[list]) -> None:
    """CSV in UTF-8 with BOM (so Excel reads Chinese); text a spreadsheet would run as a
    formula gets a leading ``'`` (:func:`geoservice.escape.spreadsheet_cell`), which
    :func:`read_table` removes again."""
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(head)
        writer.writerows([escape.spreadsheet_cell(v) for v in row] for row in body)


def _write_xlsx(path: Path, layer: str, head: list[str], body: list[list]) -> None:
    """XLSX where every text is a text cell, never a formula: openpyxl would store a
    string starting with ``=`` as a formula, so the type is set explicitly (and the
    quote-prefix style keeps Excel from turning it into one when the cell is edited).
    Characters XML cannot carry are written as OOXML ``_xHHHH_`` escapes, which
    :func:`read_table` decodes. (Not openpyxl's write-only mode: it writes no <dimension>,
    and openpyxl then parses the whole sheet an extra time on every read.)"""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = layer
    ws.append(head)
    for row in body:
        ws.append([_text_cell(ws, v) if isinstance(v, str) else v for v in row])
    wb.save(path)


def _text_cell(ws: Worksheet, value: str) -> object:
    from openpyxl.cell import Cell
    from openpyxl.cell.cell import ERROR_CODES

    formula = value.startswith(escape.FORMULA_TRIGGERS)
    value = _xstring_escape(value)
    if not formula and value not in ERROR_CODES:  # "#N/A" would become an error cell
        return value
    cell = Cell(ws, value=value)
    cell.data_type = "s"
    cell.quotePrefix = formula
    return cell


def _flat(v: object) -> object:
    if isinstance(v, list):
        return ";".join(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    return "" if v is None else v


def record_feature(rec: Mapping[str, Any]) -> dict:
    """A GeoJSON Feature for a record with ``id``, ``lon``, ``lat`` (null geometry when the
    coordinates are missing); all fields become properties."""
    geom = None
    if rec.get("lon") is not None and rec.get("lat") is not None:
        geom = {"type": "Point", "coordinates": [rec["lon"], rec["lat"]]}
    return {"type": "Feature", "id": rec["id"], "geometry": geom, "properties": rec}


def _feature_collection(records: list[dict]) -> dict:
    return {"type": "FeatureCollection", "features": [record_feature(r) for r in records]}


#: Amenity labels users may write in spreadsheets → vocabulary key.
AMENITY_ALIASES: dict[str, str] = {label: key for key, label in AMENITIES.items()}
AMENITY_ALIASES.update(
    {
        "饮水": "drinking_water",
        "饮用水": "drinking_water",
        "开水": "hot_water",
        "热水": "hot_water",
        "热饭": "microwave",
        "加热": "microwave",
        "充电": "charging",
        "手机充电": "charging",
        "厕所": "toilet",
        "如厕": "toilet",
        "卫生间": "toilet",
        "休息": "rest_area",
        "座椅": "rest_area",
        "休息区": "rest_area",
        "暖气": "heating",
        "取暖": "heating",
        "空调": "cooling",
        "纳凉": "cooling",
        "降温": "cooling",
        "药箱": "first_aid",
        "急救": "first_aid",
        "医药箱": "first_aid",
        "应急药箱": "first_aid",
        "维修": "repair_kit",
        "打气筒": "repair_kit",
        "维修工具": "repair_kit",
        "wifi": "wifi",
        "wi-fi": "wifi",
        "无线网": "wifi",
        "无线网络": "wifi",
    }
)
