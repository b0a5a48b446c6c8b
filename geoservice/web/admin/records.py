"""Back office part: stations and sites — list, search, add, edit, move, delete, restore.

Pages (``/admin/stations``, ``/admin/sites`` and under them):

* the list (``admin.stations``, ``admin.sites``): search by name, id or address, filters
  (town, kind, open now — :meth:`geoservice.model.Station.record`, the one open rule —
  and source), 50 rows a page; each row shows its version and whether the user may edit
  it (:meth:`geoservice.admin.User.may_edit`). ``?view=deleted`` lists the deleted
  records (:meth:`geoservice.admin.Journal.deleted`) with a restore button;
* the form (``…/new``, ``…/<id>``): every field of the import under its Chinese header
  (:data:`geoservice.store.tables.ZH_HEADERS`), a Leaflet map on which the position is set
  by a click or by dragging the marker, and a box for coordinates pasted from Amap (GCJ-02)
  or Baidu (BD-09), converted on the server (the record's ``crs``);
* a confirmation page before a (soft) delete; restore is a button.

Every change goes through :mod:`geoservice.store.records` as the logged-in user, by
``page`` (:func:`~geoservice.web.admin.as_page`): the import's rules and words, the audit
log, the version check, and the store's revision, which makes the change count in every
answer at once. A refused form is shown again with what the user typed and each problem
next to its field, a stale version with a link to reload; both with status 200 (the page
says what is wrong, and a browser would log any 4xx page as a console error). A town the
user may not edit (which the pages never offer) is refused with 403.
"""

from __future__ import annotations

import functools
import json
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import shapely
from flask import Response, abort, flash, jsonify, redirect, request, url_for
from werkzeug.datastructures import MultiDict

from geoservice import crs as _crs
from geoservice import district as _district
from geoservice import escape, hours, maps
from geoservice.admin import User
from geoservice.admin.audit import ACTIONS, VIAS, Entry, LogFilter
from geoservice.errors import (
    AccessError,
    HoursError,
    ParameterError,
    RecordError,
    RevertError,
    VersionConflictError,
)
from geoservice.model import (
    AMENITIES,
    COORD_SOURCES,
    SITE_KINDS,
    SOURCES,
    STATION_KINDS,
    Station,
)
from geoservice.store import catalog, records
from geoservice.store import tables as _io
from geoservice.store.changes import VERSION, version_of
from geoservice.web import get_basemaps, get_store
from geoservice.web.admin import as_page, bp, page, staff_required, user
from geoservice.web.auth import get_staff

#: The layers kept here, in the URL as they are named in the store.
LAYERS = ("stations", "sites")
#: Rows on one page of a list.
PER_PAGE = 50
#: Most characters of a search (longer text is cut).
SEARCH_MAX = 100
#: Most characters read from the coordinate box.
PASTE_MAX = 200
#: How a record of each layer is called, and where a saved change counts at once.
NOUNS = {"stations": "驿站", "sites": "村（社区）或保护点"}
COUNTS_IN = {
    "stations": "最近驿站查询、覆盖分析和大篷车路线",
    "sites": "大篷车路线规划",
}
#: Where a record comes from (:data:`geoservice.model.SOURCES`), in Chinese.
SOURCE_LABELS = {
    "sample": "示例数据",
    "import": "文件导入",
    "official": "官方名录",
    "manual": "手工录入",
}
#: How a site's coordinate was obtained (:data:`geoservice.model.COORD_SOURCES`).
COORD_SOURCE_LABELS = {
    "geonames": "GeoNames 地名库",
    "sample": "示例数据",
    "import": "文件导入",
    "missing": "暂无坐标",
    "manual": "手工标注",
}
#: The coordinate systems of the paste box (:data:`geoservice.crs.CRS_NAMES`).
CRS_LABELS = {
    "gcj02": "高德、腾讯地图（GCJ-02）",
    "bd09": "百度地图（BD-09）",
    "wgs84": "GPS、天地图、奥维（WGS84）",
}
# Numbers in pasted text: "116.397428,39.90923", "116.39 39.90", "经度116.39 纬度39.90".
_NUMBER_RE = re.compile(r"[-+]?\d+(?:\.\d+)?")
# The boundary drawn on the form's map: simplified to ~100 m, a few tens of kB.
_OUTLINE_TOLERANCE = 0.001
# Columns of the list's search per layer.
_SEARCHED = {
    "stations": ("name", "id", "address"),
    "sites": ("name", "id", "official_name", "code"),
}
# Error columns shown at another field of the form.
_ERROR_AT = {"lat": "lon", "crs": "paste", "town": "town_code", "geometry": "lon"}
#: What a column is called on the pages: the import's Chinese header, and the form's own.
COLUMN_LABELS = {**_io.ZH_HEADERS, "geometry": "位置", "paste": "粘贴坐标", "crs": "坐标系"}
# The form's error summary names the position block for lon and lat.
_ERROR_LABELS = {**COLUMN_LABELS, "lon": "位置"}


# -- fields ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One input of the record form: the import's column ``name`` and how it is entered."""

    name: str
    widget: str = "text"  # text, select, checkboxes, number, date, tel, hours
    options: tuple[tuple[str, str], ...] = ()
    hint: str = ""
    maxlength: int = _io.MAX_TEXT_CHARS
    required: bool = False
    numeric: tuple[int, int] | None = None

    @property
    def label(self) -> str:
        """The import's Chinese header of the column."""
        return _io.ZH_HEADERS.get(self.name, self.name)


def _options(labels: Mapping[str, str], keys: tuple[str, ...] | None = None) -> tuple:
    return tuple((k, labels.get(k, k)) for k in (keys or tuple(labels)))


_NAME = Field("name", maxlength=_io.MAX_NAME_CHARS, required=True)
_SOURCE = Field("source", "select", _options(SOURCE_LABELS, SOURCES))
_TOWN = Field("town_code", "select")  # options: the district's towns, per request
#: The form's fields per layer, in order (the position — lon, lat — has its own block).
FORM_FIELDS: dict[str, tuple[Field, ...]] = {
    "stations": (
        _NAME,
        Field("kind", "select", _options(STATION_KINDS)),
        _TOWN,
        Field("address"),
        Field(
            "opening_hours",
            "hours",
            hint="可写中文，如「周一至周五 8:00-17:30」「每天 7点-20点」「24小时」，"
            "保存为 OSM 格式（如 Mo-Fr 08:00-17:30；全天开放为 24/7）",
            required=True,
        ),
        Field("amenities", "checkboxes", _options(AMENITIES)),
        Field("phone", "tel", maxlength=40),
        Field("host_org"),
        Field("capacity", "number", numeric=(0, 10000)),
        Field("verified_on", "date"),
        _SOURCE,
    ),
    "sites": (
        _NAME,
        Field("kind", "select", _options(SITE_KINDS)),
        Field("code", hint="12 位统计用区划代码（保护点可不填）", maxlength=12),
        Field("official_name"),
        _TOWN,
        Field(
            "service_minutes",
            "number",
            hint="大篷车在此停留的分钟数；不填按类型默认（村 60、社区 45、保护点 30）",
            numeric=(0, 24 * 60),
        ),
        Field("coord_source", "select", _options(COORD_SOURCE_LABELS, COORD_SOURCES)),
        _SOURCE,
    ),
}
_ID_FIELD = Field("id", hint="留空则自动编号（如 WS105）", maxlength=40)


def _text(value: object) -> str:
    """A stored value as form text ("" for none; 4.0 → "4")."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _stored_values(layer: str, record_id: str) -> tuple[dict[str, Any], int]:
    """The record's fields as form values (amenities a list) and its version.

    Raises
    ------
    ParameterError
        404 when there is no such record.
    """
    hit = catalog.record_row(get_store().read(layer), layer, record_id)
    rec = _io.to_records(hit, layer)[0]
    values: dict[str, Any] = {k: _text(v) for k, v in rec.items() if k != "amenities"}
    if layer == "stations":
        values["amenities"] = list(rec.get("amenities") or [])
    return values, version_of(hit[VERSION].iloc[0] if VERSION in hit else None)


def _posted_values(layer: str, form: MultiDict[str, str]) -> dict[str, Any]:
    """What the user typed, as form values (to save, or to show again)."""
    values: dict[str, Any] = {k: form.get(k, "") for k in records.FIELDS[layer]}
    if layer == "stations":
        values["amenities"] = form.getlist("amenities")
    values["paste"] = form.get("paste", "")[:PASTE_MAX]
    values["crs"] = form.get("crs", "gcj02")
    return values


def parse_paste(text: str) -> tuple[str, str]:
    """Longitude and latitude from coordinates pasted from a map (``116.39,39.90``).

    Full-width digits and punctuation are read as ASCII; the two numbers may be separated
    by a comma, a space or words (``经度116.39 纬度39.90``). The numbers themselves are
    checked later, by the import's rules.

    Raises
    ------
    RecordError
        Unless the text holds exactly two numbers (column ``paste``).
    """
    numbers = _NUMBER_RE.findall(unicodedata.normalize("NFKC", text[:PASTE_MAX]))
    if len(numbers) != 2:
        message = (
            "请粘贴两个数字：经度,纬度（如 116.843,40.376）/ paste two numbers: lon,lat "
            "(such as 116.843,40.376)"
        )
        raise RecordError([{"column": "paste", "message": message}])
    return numbers[0], numbers[1]


def _moved(values: Mapping[str, Any], stored: Mapping[str, Any]) -> bool:
    """Whether the form's lon/lat differ from the stored ones (or cannot be compared)."""
    a = (values.get("lon", ""), values.get("lat", ""))
    b = (stored.get("lon", ""), stored.get("lat", ""))
    try:
        return any(
            not (x.strip() == y == "" or abs(float(x) - float(y)) < 1e-9)
            for x, y in zip(a, b, strict=True)
        )
    except ValueError:
        return True


def record_body(
    layer: str, values: Mapping[str, Any], stored: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The body for :func:`geoservice.store.records.create` (``stored`` None) or ``patch``.

    The position is sent when the record is new, when it moved, or from the paste box with
    its ``crs`` (which then wins over lon/lat: the server converts it). A site placed for
    the first time stops being ``coord_source`` "missing".
    """
    body: dict[str, Any] = {}
    for key in records.FIELDS[layer]:
        if key in ("lon", "lat", "id"):
            continue
        body[key] = values.get(key, "")
    if stored is None and str(values.get("id", "")).strip():
        body["id"] = str(values["id"]).strip()
    if str(values.get("paste", "")).strip():
        body["lon"], body["lat"] = parse_paste(str(values["paste"]))
        body["crs"] = values.get("crs") or "wgs84"
    elif stored is None or _moved(values, stored):
        body["lon"], body["lat"] = values.get("lon", ""), values.get("lat", "")
    placed = any(str(body.get(k, "")).strip() for k in ("lon", "lat"))
    if layer == "sites" and placed and body.get("coord_source") == "missing":
        body["coord_source"] = "manual"
    return body


def _errors(errors: list[dict[str, str]]) -> dict[str, list[str]]:
    """Messages by the form field they belong to (lat's go with lon, …)."""
    out: dict[str, list[str]] = {}
    for e in errors:
        out.setdefault(_ERROR_AT.get(e["column"], e["column"]), []).append(e["message"])
    return out


# -- the list -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    """What a list page shows: search, filters, page, or the deleted records."""

    q: str = ""
    town: str = ""
    kind: str = ""
    source: str = ""
    open_now: bool = False
    page: int = 1
    deleted: bool = False

    def args(self, **change: Any) -> dict[str, Any]:
        """The query arguments of this listing (with ``change``), defaults left out."""
        this = replace(self, **change)
        out: dict[str, Any] = {
            "q": this.q,
            "town": this.town,
            "kind": this.kind,
            "source": this.source,
            "open": "1" if this.open_now else "",
            "page": this.page if this.page > 1 else "",
            "view": "deleted" if this.deleted else "",
        }
        return {k: v for k, v in out.items() if v}

    @property
    def filtered(self) -> bool:
        """Whether anything narrows the list."""
        return bool(self.q or self.town or self.kind or self.source or self.open_now)


def _listing(layer: str, args: Mapping[str, str], towns: Mapping[str, str]) -> Listing:
    """The listing asked for; unknown filter values are dropped, a bad page is page 1."""
    kinds = STATION_KINDS if layer == "stations" else SITE_KINDS
    page_text = args.get("page", "1")
    page_no = int(page_text) if page_text.isdigit() and len(page_text) < 7 else 1
    return Listing(
        q=" ".join(args.get("q", "")[:SEARCH_MAX].split()),
        town=args.get("town", "") if args.get("town", "") in towns else "",
        kind=args.get("kind", "") if args.get("kind", "") in kinds else "",
        source=args.get("source", "") if args.get("source", "") in SOURCES else "",
        open_now=layer == "stations" and args.get("open") == "1",
        page=max(1, page_no),
        deleted=args.get("view") == "deleted",
    )


def _search(frame: pd.DataFrame, layer: str, q: str) -> pd.Series:
    """Rows whose name, id or address (sites: official name, code) contain every word of
    ``q``, ignoring case and full-width forms."""
    folded = {c: frame[c].fillna("").astype(str).map(_fold) for c in _SEARCHED[layer]}
    mask = pd.Series(True, index=frame.index)
    for word in _fold(q).split():
        hit = pd.Series(False, index=frame.index)
        for column in folded.values():
            hit |= column.str.contains(word, regex=False)
        mask &= hit
    return mask


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _rows(layer: str, listing: Listing, who: User) -> tuple[list[dict[str, Any]], int]:
    """The rows of one page of the list, and how many match in all."""
    store = get_store()
    names = catalog.town_names(store)
    gdf = catalog.filter_layer(
        store.read(layer),
        kinds=[listing.kind] if listing.kind else None,
        towns=[listing.town] if listing.town else None,
    )
    if listing.source:
        gdf = gdf.loc[gdf["source"] == listing.source]
    if listing.q:
        gdf = gdf.loc[_search(gdf, layer, listing.q)]
    at = hours.as_local(None)
    if listing.open_now:  # the one open rule, row by row (cached per expression and minute)
        is_open = [Station.from_row(r).record(at, names)["open_now"] for r in _plain(gdf)]
        gdf = gdf.loc[np.array(is_open, dtype=bool)]
    total = len(gdf)
    start = (listing.page - 1) * PER_PAGE
    shown = gdf.iloc[start : start + PER_PAGE]
    versions = shown[VERSION].tolist() if VERSION in shown else [None] * len(shown)
    kinds = STATION_KINDS if layer == "stations" else SITE_KINDS
    rows = []
    for rec, raw, version in zip(
        _io.to_records(shown, layer), _plain(shown), versions, strict=True
    ):
        town = str(rec["town_code"] or "")
        row: dict[str, Any] = {
            **rec,
            "version": version_of(version),
            "town": names.get(town, ""),
            "kind_label": kinds.get(rec["kind"], rec["kind"]),
            "source_label": SOURCE_LABELS.get(rec["source"], rec["source"]),
            "editable": who.may_edit(town),
        }
        if layer == "stations":
            status = Station.from_row(raw).record(at, names)
            row.update(open_now=status["open_now"], status=status["status"])
        rows.append(row)
    return rows, total


def _plain(gdf: pd.DataFrame) -> list[dict[str, Any]]:
    return pd.DataFrame(gdf.drop(columns="geometry", errors="ignore")).to_dict("records")


def _deleted_rows(layer: str, listing: Listing, who: User) -> list[dict[str, Any]]:
    """The layer's deleted records (newest first), searched by ``listing.q``."""
    names = catalog.town_names(get_store())
    rows = []
    for entry in get_staff().journal.deleted(layer):
        before = entry.before or {}
        town = str(before.get("town_code") or "")
        rows.append(
            {
                "id": entry.record_id,
                "name": entry.name,
                "address": str(before.get("address") or before.get("official_name") or ""),
                "town": names.get(town, ""),
                "at": entry.at,
                "user": entry.user,
                "via": VIAS.get(entry.via, entry.via),
                "editable": who.may_edit(town),
            }
        )
    words = _fold(listing.q).split()
    return [
        r
        for r in rows
        if all(any(w in _fold(str(r[c])) for c in ("id", "name", "address")) for w in words)
    ]


def _list(layer: str) -> Response:
    who = user()
    towns = catalog.town_names(get_store())
    listing = _listing(layer, request.args, towns)
    context: dict[str, Any] = {
        "layer": layer,
        "noun": NOUNS[layer],
        "section": layer,
        "listing": listing,
        "towns": towns,
        "kinds": STATION_KINDS if layer == "stations" else SITE_KINDS,
        "sources": SOURCE_LABELS,
        "endpoint": f"admin.{layer}",
    }
    if listing.deleted:
        return page(
            "admin/records_deleted.html", **context, rows=_deleted_rows(layer, listing, who)
        )
    rows, total = _rows(layer, listing, who)
    pages = max(1, math.ceil(total / PER_PAGE))
    if listing.page > pages:
        listing = replace(listing, page=pages)
        rows, total = _rows(layer, listing, who)
    context["listing"] = listing
    return page("admin/records_list.html", **context, rows=rows, total=total, pages=pages)


@bp.get("/stations")
@staff_required
def stations() -> Response:
    """The stations: search, filters, pages; ``?view=deleted`` the deleted ones."""
    return _list("stations")


@bp.get("/sites")
@staff_required
def sites() -> Response:
    """Villages, communities and reservoir sites, as :func:`stations`."""
    return _list("sites")


# -- the form ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _outline(boundary: shapely.Geometry | None) -> dict | None:
    """The district boundary as GeoJSON for the form's map, simplified."""
    if boundary is None:
        return None
    return json.loads(shapely.to_geojson(boundary.simplify(_OUTLINE_TOLERANCE)))


def _map_config(layer: str, record_id: str | None) -> dict[str, Any]:
    """What the form's script needs: the district's frame and outline, the basemap, where
    to ask for roads, neighbours and previews."""
    district = _district.current(get_store())
    west, south, east, north = district.bounds
    tiles = maps.tile_layer(get_basemaps())
    neighbours = url_for("api.stations") if layer == "stations" else None
    return {
        "layer": layer,
        "record_id": record_id,
        "bounds": [[south, west], [north, east]],
        "outline": _outline(district.boundary),
        "outline_label": district.boundary_label,
        "town_seats": _seats(),
        "tiles": None if tiles is None else {"url": tiles[0], "attribution": tiles[1]},
        "roads_url": url_for("api.network_roads"),
        "neighbours_url": neighbours,
        "hours_url": url_for("admin.preview_hours"),
        "position_url": url_for("admin.preview_position"),
        "name_max": maps.NAME_DISPLAY_MAX,
    }


def _seats() -> dict[str, list[float]]:
    """Town code → [lat, lon] of its seat, where known: where the map of a new record
    starts once its town is chosen."""
    towns = get_store().read("towns")
    return {
        str(code): [round(g.y, 6), round(g.x, 6)]
        for code, g in zip(towns["code"], towns.geometry, strict=True)
        if g is not None and not g.is_empty
    }


def _town_options(who: User, current: str) -> list[tuple[str, str]]:
    """The towns a record may be put in: a town editor's own (and the record's current
    one, so that the form shows it), everyone else's all, with "none"."""
    towns = catalog.town_names(get_store())
    if who.role == "town_editor":
        keep = [c for c in towns if c in who.towns or c == current]
        return [(c, towns[c]) for c in keep]
    return [("", "（未指定）"), *towns.items()]


def _history(layer: str, record_id: str) -> list[Entry]:
    entries, _ = get_staff().journal.entries(LogFilter(layer=layer, record_id=record_id), limit=5)
    return entries


def _form_page(
    layer: str,
    values: Mapping[str, Any],
    *,
    record_id: str | None = None,
    version: int | None = None,
    errors: Mapping[str, list[str]] | None = None,
    status: int = 200,
    **context: Any,
) -> Response:
    who = user()
    town = str(values.get("town_code") or "")
    editable = who.may_edit(town) if record_id is not None else True
    hours_text = str(values.get("opening_hours") or "")
    try:
        osm = hours.convert(hours_text)[0] if hours_text.strip() else ""
    except HoursError:
        osm = ""
    fields = FORM_FIELDS[layer] if record_id is not None else (_ID_FIELD, *FORM_FIELDS[layer])
    return page(
        "admin/record_form.html",
        status=status,
        layer=layer,
        noun=NOUNS[layer],
        section=layer,
        fields=fields,
        values=values,
        record_id=record_id,
        version=version,
        errors=errors or {},
        editable=editable,
        towns=_town_options(who, town),
        my_towns=[catalog.town_names(get_store()).get(c, c) for c in who.towns],
        error_labels=_ERROR_LABELS,
        crs_labels=CRS_LABELS,
        hours_osm=osm,
        hours_zh=hours.format_zh(osm) if osm else "",
        # Values as stored (a page opened, not a form sent back with problems).
        as_stored=request.method == "GET" and record_id is not None,
        history=_history(layer, record_id) if record_id is not None else [],
        actions=ACTIONS,
        vias=VIAS,
        map_config=_map_config(layer, record_id),
        counts_in=COUNTS_IN[layer],
        **context,
    )


def _new_values(layer: str, who: User) -> dict[str, Any]:
    values: dict[str, Any] = dict.fromkeys(records.FIELDS[layer], "")
    values.update(source="manual", crs="gcj02", paste="")
    if layer == "stations":
        values.update(kind="warm_station", amenities=[], opening_hours="")
    else:
        values.update(kind="village", coord_source="manual")
    if who.role == "town_editor" and who.towns:
        values["town_code"] = who.towns[0]
    return values


def _saved(layer: str, record_id: str, verb: str, hours_before: str = "") -> Response:
    """After a save: the notice that it counts at once, and the record's page."""
    values, version = _stored_values(layer, record_id)
    flash(
        f"已{verb}{NOUNS[layer]} {record_id}（版本 {version}），并已计入{COUNTS_IN[layer]}。",
        "ok",
    )
    osm = str(values.get("opening_hours") or "")
    if layer == "stations" and hours_before and osm != " ".join(hours_before.split()):
        flash(f"开放时间已按 OSM 格式保存为「{osm}」。", "info")
    return _redirect("admin.record_edit", layer=layer, record_id=record_id)


def _redirect(endpoint: str, **args: Any) -> Response:
    """See the page ``endpoint`` next (after a POST: a reload does not post again)."""
    return redirect(url_for(endpoint, **args))  # type: ignore[return-value]


def _expected_version() -> int | None:
    """The version the posted form was based on (None when it names none)."""
    text = request.form.get("version", "")
    return int(text) if text.isdigit() and len(text) < 12 else None


# The layer part of the pages' URLs: /admin/stations/…, /admin/sites/….
_LAYER = f"<any({', '.join(LAYERS)}):layer>"


@bp.route(f"/{_LAYER}/new", methods=["GET", "POST"])
@staff_required
def record_new(layer: str) -> Response:
    """A new station or site."""
    who = user()
    if request.method == "GET":
        return _form_page(layer, _new_values(layer, who))
    values = _posted_values(layer, request.form)
    allow_duplicate = request.form.get("allow_duplicate") == "1"
    try:
        body = record_body(layer, values, None)
        with as_page():
            rid = records.create(
                get_store(), layer, body, may_edit=who.may_edit, allow_duplicate=allow_duplicate
            )
    except RecordError as exc:
        duplicate = any(
            "重复" in e["message"] for e in exc.errors if e["column"] in ("name", "lon")
        )
        return _form_page(layer, values, errors=_errors(exc.errors), duplicate=duplicate)
    except AccessError as exc:
        return _form_page(layer, values, errors={"town_code": [exc.zh]}, status=exc.status)
    return _saved(layer, rid, "新增", str(values.get("opening_hours") or ""))


def _conflict(layer: str, record_id: str) -> dict[str, Any]:
    """What the stale-version message says: the version now and the change that made it."""
    try:
        _, now = _stored_values(layer, record_id)
    except ParameterError:
        return {"conflict": {"version": None, "entry": None}}
    entries = _history(layer, record_id)
    return {"conflict": {"version": now, "entry": entries[0] if entries else None}}


@bp.route(f"/{_LAYER}/<record_id>", methods=["GET", "POST"])
@staff_required
def record_edit(layer: str, record_id: str) -> Response:
    """A station or site: its form (read-only for a user who may not edit it)."""
    try:
        stored, version = _stored_values(layer, record_id)
    except ParameterError:
        if get_staff().journal.last_delete(layer, record_id) is None:
            raise
        flash(f"{NOUNS[layer]} {record_id} 已删除，可在下面恢复。", "info")
        return _redirect(f"admin.{layer}", view="deleted", q=record_id)
    if request.method == "GET":
        return _form_page(
            layer, {**stored, "paste": "", "crs": "gcj02"}, record_id=record_id, version=version
        )
    who = user()
    values = _posted_values(layer, request.form)
    expect = _expected_version()
    problem: dict[str, Any]
    try:
        body = record_body(layer, values, stored)
        with as_page():
            records.patch(get_store(), layer, record_id, body, may_edit=who.may_edit, expect=expect)
    except RecordError as exc:
        problem = {"errors": _errors(exc.errors)}
    except VersionConflictError:
        problem = _conflict(layer, record_id)
    except AccessError as exc:
        problem = {"errors": {"town_code": [exc.zh]}, "status": exc.status}
    else:
        return _saved(layer, record_id, "保存", str(values.get("opening_hours") or ""))
    return _form_page(layer, values, record_id=record_id, version=expect, **problem)


@bp.route(f"/{_LAYER}/<record_id>/delete", methods=["GET", "POST"])
@staff_required
def record_delete(layer: str, record_id: str) -> Response:
    """Delete a record, after a confirmation page (soft: it can be restored)."""
    who = user()
    stored, version = _stored_values(layer, record_id)
    if request.method == "GET":
        if not who.may_edit(str(stored.get("town_code") or "")):
            abort(403)  # a POST is refused by records.delete itself
        return page(
            "admin/records_delete.html",
            layer=layer,
            noun=NOUNS[layer],
            section=layer,
            record=stored,
            record_id=record_id,
            version=version,
            town=catalog.town_names(get_store()).get(str(stored.get("town_code") or ""), ""),
        )
    try:
        with as_page():
            records.delete(
                get_store(), layer, record_id, may_edit=who.may_edit, expect=_expected_version()
            )
    except VersionConflictError as exc:
        flash(f"未删除：{exc.zh}。请查看最新内容后再决定。", "error")
        return _redirect("admin.record_edit", layer=layer, record_id=record_id)
    name = maps.clip(stored.get("name"), maps.NAME_DISPLAY_MAX)
    flash(
        f"已删除{NOUNS[layer]} {record_id}「{name}」，它不再出现在任何查询中；"
        "可在「已删除」中恢复。",
        "ok",
    )
    return _redirect(f"admin.{layer}", view="deleted")


@bp.post(f"/{_LAYER}/<record_id>/restore")
@staff_required
def record_restore(layer: str, record_id: str) -> Response:
    """Bring a deleted record back under its id."""
    who = user()
    try:
        with as_page():
            records.restore(
                get_store(), get_staff().journal, layer, record_id, may_edit=who.may_edit
            )
    except AccessError:
        raise
    except (RevertError, ParameterError) as exc:
        flash(f"未恢复：{exc.zh}", "error")
        return _redirect(f"admin.{layer}", view="deleted")
    return _saved(layer, record_id, "恢复")


# -- previews for the form's script --------------------------------------------------------------


@bp.get("/preview/hours")
@staff_required
def preview_hours() -> Response:
    """Opening hours as typed → the OSM value stored and its Chinese reading (JSON;
    ``ok`` false with the import's message when they cannot be read)."""
    text = request.args.get("text", "")[: hours.MAX_CHARS * 2]
    if not text.strip():
        return jsonify({"ok": False, "empty": True, "message": ""})
    try:
        osm, changed = hours.convert(text)
    except HoursError as exc:
        return jsonify({"ok": False, "empty": False, "message": str(exc)})
    return jsonify({"ok": True, "osm": osm, "changed": changed, "zh": hours.format_zh(osm)})


@bp.get("/preview/position")
@staff_required
def preview_position() -> Response:
    """Pasted coordinates in ``crs`` → WGS84 (JSON), as the save will convert them, and
    whether the point lies in the district."""
    try:
        lon_text, lat_text = parse_paste(request.args.get("text", ""))
        crs = _crs.normalize_crs(request.args.get("crs", "wgs84")[:20])
        lon, lat = (float(v) for v in _crs.to_wgs84(float(lon_text), float(lat_text), crs))
    except RecordError as exc:
        return jsonify({"ok": False, "message": exc.errors[0]["message"]})
    except ValueError:
        return jsonify({"ok": False, "message": "未知坐标系 / unknown coordinate system"})
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return jsonify({"ok": False, "message": "坐标超出范围 / coordinates out of range"})
    district = _district.current(get_store())
    inside = district.boundary is None or bool(shapely.contains_xy(district.boundary, lon, lat))
    return jsonify(
        {
            "ok": True,
            "lon": round(lon, 7),
            "lat": round(lat, 7),
            "inside": inside,
            "district": district.name,
        }
    )


# -- shared by the back office's templates --------------------------------------------------------


# A stored UTC moment as 北京时间 (``{{ at|beijing }}``, ``{{ at|beijing(seconds=True) }}``).
bp.add_app_template_filter(hours.beijing, "beijing")


@bp.app_template_filter("data_value")
def data_value(value: object, limit: int | None = None) -> maps.Html:
    """A data value for HTML text or an attribute, whole (or cut to ``limit`` characters):
    :func:`geoservice.escape.html`, which is inert in scripts too."""
    return maps.Html(escape.html(value if limit is None else maps.clip(value, limit)))


@bp.app_template_filter("data_text")
def data_text(value: object) -> maps.Html:
    """A data value as display text: cut, escaped, bidi-isolated (:func:`maps.text`)."""
    return maps.text(value)


@bp.app_template_filter("data_name")
def data_name(value: object) -> maps.Html:
    """A record's name as display text (:func:`maps.name`)."""
    return maps.name(value)


@bp.app_template_filter("column_label")
def column_label(column: str) -> str:
    """A field's Chinese name (the import's header)."""
    return COLUMN_LABELS.get(column, column)
