"""Read and write station/site tables: CSV, XLSX, GeoJSON and GeoPackage.

Reading gives a :class:`Table`: raw cell values under canonical column names, the header
each column had in the file (so errors name the user's own column) and the row number a
user sees (spreadsheet row, GeoJSON feature or GeoPackage feature id). Validation lives in
:mod:`geoservice.validate`; nothing here interprets cell values beyond the file format.
"""

from __future__ import annotations

import csv
import datetime as dt
import io as _io
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import openpyxl
import pandas as pd
import pyogrio

from geoservice.errors import FileFormatError
from geoservice.model import AMENITIES, CRS_STORAGE, SITE_COLUMNS, STATION_COLUMNS

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

#: Chinese headers used by ``export --headers zh`` (each is also an accepted alias).
ZH_HEADERS: dict[str, str] = {
    "id": "编号",
    "name": "名称",
    "kind": "类型",
    "lon": "经度",
    "lat": "纬度",
    "address": "地址",
    "town_code": "乡镇代码",
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
    """

    frame: pd.DataFrame
    headers: dict[str, str]
    rows: list[int]
    row_label: str = "row"
    ignored: list[str] = field(default_factory=list)


def detect_format(path: str | Path) -> str:
    """Return ``csv``, ``xlsx``, ``geojson`` or ``gpkg`` from the file extension."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        msg = f"unsupported file type {suffix or '(none)'!r}; use .csv, .xlsx, .geojson or .gpkg"
        raise FileFormatError(msg)
    return FORMATS[suffix]


def canonical_column(header: object) -> str | None:
    """Map a header (Chinese or English, any case) to its canonical column, or None."""
    key = str(header).strip().lstrip("\ufeff").replace(" ", "").lower()
    return _ALIAS_TO_COLUMN.get(key)


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
        msg = f"file not found: {path}"
        raise FileFormatError(msg)
    reader = {"csv": _read_csv, "xlsx": _read_xlsx, "geojson": _read_geojson, "gpkg": _read_gpkg}
    return reader[fmt](path, layer)


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
            msg = f"columns {headers[c]!r} and {h!r} both mean {c!r}; keep one"
            raise FileFormatError(msg)
        else:
            columns[c] = i
            headers[c] = str(h).strip().lstrip("\ufeff")
    data = {c: [rec[i] if i < len(rec) else None for rec in records] for c, i in columns.items()}
    frame = pd.DataFrame(data, dtype=object, index=range(len(records)))
    return Table(frame, headers, rows, row_label, ignored)


def _decode(raw: bytes, path: Path) -> str:
    # Excel on Chinese Windows saves CSV as GBK; everything else is UTF-8 (maybe with BOM).
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    msg = f"{path.name}: cannot decode as UTF-8 or GBK/GB18030 text"
    raise FileFormatError(msg)


def _read_csv(path: Path, _layer: str | None) -> Table:
    text = _decode(path.read_bytes(), path)
    try:
        lines = list(csv.reader(_io.StringIO(text, newline="")))
    except csv.Error as exc:
        msg = f"{path.name}: not a valid CSV file: {exc}"
        raise FileFormatError(msg) from exc
    if not lines:
        msg = f"{path.name}: the file is empty"
        raise FileFormatError(msg)
    header, body = lines[0], lines[1:]
    keep = [(i + 2, r) for i, r in enumerate(body) if any(c.strip() for c in r)]
    return _build(header, [r for _, r in keep], [n for n, _ in keep])


def _read_xlsx(path: Path, layer: str | None) -> Table:
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken file
        msg = f"{path.name}: not a readable .xlsx workbook: {exc}"
        raise FileFormatError(msg) from exc
    try:
        if layer and layer not in wb.sheetnames:
            msg = f"{path.name}: no sheet {layer!r}; sheets: {', '.join(wb.sheetnames)}"
            raise FileFormatError(msg)
        ws = wb[layer] if layer else wb.worksheets[0]
        it = ws.iter_rows(values_only=True)
        header = list(next(it, None) or [])
        if not header:
            msg = f"{path.name}: sheet {ws.title!r} is empty"
            raise FileFormatError(msg)
        rows, records = [], []
        for n, rec in enumerate(it, start=2):
            if any(v is not None and str(v).strip() != "" for v in rec):
                rows.append(n)
                records.append(list(rec))
    finally:
        wb.close()
    return _build(header, records, rows)


def _read_geojson(path: Path, _layer: str | None) -> Table:
    try:
        doc = json.loads(_decode(path.read_bytes(), path))
    except json.JSONDecodeError as exc:
        msg = f"{path.name}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        raise FileFormatError(msg) from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        msg = f"{path.name}: expected a GeoJSON FeatureCollection"
        raise FileFormatError(msg)
    features = doc.get("features")
    if not isinstance(features, list):
        msg = f"{path.name}: 'features' must be a list"
        raise FileFormatError(msg)
    records: list[dict] = []
    for f in features:
        props = dict(f.get("properties") or {}) if isinstance(f, dict) else {}
        props = _with_geometry(props, f.get("geometry") if isinstance(f, dict) else None)
        if isinstance(f, dict) and "id" in f and "id" not in props:
            props["id"] = f["id"]
        records.append(props)
    return _from_records(records, list(range(1, len(records) + 1)), "feature")


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


def _from_records(records: list[dict], rows: list[int], row_label: str) -> Table:
    header: list[str] = []
    for rec in records:
        header.extend(k for k in rec if k not in header)
    body = [[_cell(rec.get(h)) for h in header] for rec in records]
    return _build(header, body, rows, row_label)


def _cell(value: object) -> object:
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return value


def _read_gpkg(path: Path, layer: str | None) -> Table:
    try:
        layers = [name for name, _ in pyogrio.list_layers(path)]
    except pyogrio.errors.DataSourceError as exc:
        msg = f"{path.name}: not a readable GeoPackage: {exc}"
        raise FileFormatError(msg) from exc
    if layer is None:
        layer = next(
            (n for n in ("stations", "sites") if n in layers), layers[0] if layers else None
        )
    if layer not in layers:
        msg = f"{path.name}: no layer {layer!r}; layers: {', '.join(layers)}"
        raise FileFormatError(msg)
    gdf = gpd.read_file(path, layer=layer, engine="pyogrio", fid_as_index=True)
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
    return _from_records(records, [int(i) for i in gdf.index], "feature")


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


def write_table(gdf: gpd.GeoDataFrame, path: str | Path, layer: str, headers: str = "en") -> int:
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

    Returns
    -------
    int
        Number of rows written.
    """
    path = Path(path)
    fmt = detect_format(path)
    if headers not in ("en", "zh"):
        msg = f"headers must be 'en' or 'zh', not {headers!r}"
        raise ValueError(msg)
    records = to_records(gdf, layer)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp{path.suffix}")
    try:
        if fmt == "gpkg":
            pyogrio.write_dataframe(gdf, tmp, layer=layer, driver="GPKG")
        elif fmt == "geojson":
            tmp.write_text(json.dumps(_feature_collection(records), ensure_ascii=False, indent=1))
        else:
            names = (
                list(records[0])
                if records
                else list(STATION_COLUMNS if layer == "stations" else SITE_COLUMNS)
            )
            head = [ZH_HEADERS.get(c, c) if headers == "zh" else c for c in names]
            body = [[_flat(r[c]) for c in names] for r in records]
            if fmt == "csv":
                with open(tmp, "w", encoding="utf-8-sig", newline="") as f:
                    csv.writer(f).writerows([head, *body])
            else:
                wb = openpyxl.Workbook()
                ws = wb.active
                ws.title = layer
                ws.append(head)
                for row in body:
                    ws.append(row)
                wb.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return len(records)


def _flat(v: object) -> object:
    if isinstance(v, list):
        return ";".join(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    return "" if v is None else v


def record_feature(rec: dict) -> dict:
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
