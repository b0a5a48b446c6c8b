"""Back office part: the audit log (``/admin/log``), for every member of staff.

Every change of a station or site, newest first: who made it, when (北京时间), by which
path (后台页面, 写入接口, 命令行), the record and the fields it changed; filtered by record,
user, path, action, layer and dates (:class:`LogQuery`, read by the one parameter parser);
one change's before and after (``/admin/log/<id>``); the filtered log as CSV
(``/admin/log.csv``, :meth:`~geoservice.admin.audit.Journal.to_csv`); and the revert of one
change (:func:`geoservice.store.records.revert`, as the logged-in user by ``page``), which
is itself a change of the log.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import shapely
from flask import Response, flash, redirect, request, send_file, url_for

from geoservice import hours, maps
from geoservice import params as p
from geoservice.admin.audit import ACTIONS, SYSTEM_USER, VIAS, Entry, LogFilter
from geoservice.errors import ParameterError
from geoservice.hours import TZ
from geoservice.model import AMENITIES, SITE_KINDS, STATION_KINDS
from geoservice.store import catalog, records
from geoservice.store.tables import ZH_HEADERS
from geoservice.web import get_store
from geoservice.web.admin import as_page, bp, page, staff_required, user
from geoservice.web.auth import get_staff

#: The layers of the log, as the back office names them.
LAYER_LABELS = {"stations": "驿站", "sites": "村与保护点"}
#: Entries on one page of the log.
PAGE_SIZE = 50
#: Most characters of a search field (a record id, a user name).
MAX_SEARCH_CHARS = 64
#: The label of a record's point (the store's geometry) in a change's table.
_GEOMETRY_LABEL = "位置"
_KIND_LABELS = {**STATION_KINDS, **SITE_KINDS}
_DAY = dt.timedelta(days=1)
# What errors name.
_UNTIL = "until"


@dataclass(frozen=True)
class LogQuery:
    """What part of the log a page (or its CSV) shows: the query of ``/admin/log``."""

    record: str | None = p.param(p.read_text(MAX_SEARCH_CHARS), "record id (exact)", default=None)
    user: str | None = p.param(p.read_text(MAX_SEARCH_CHARS), "user name (exact)", default=None)
    via: str | None = p.param(p.read_choice(VIAS), "page, api or cli", default=None)
    action: str | None = p.param(
        p.read_choice(ACTIONS), "create, update, delete or restore", default=None
    )
    layer: str | None = p.param(p.read_choice(LAYER_LABELS), "stations or sites", default=None)
    since: dt.date | None = p.param(p.read_day(), "first day (北京时间)", default=None)
    until: dt.date | None = p.param(p.read_day(), "last day (北京时间), included", default=None)
    page: int = p.param(p.read_integer(1, 10**6), "page number", default=1)

    def __post_init__(self) -> None:
        if self.since and self.until and self.since > self.until:
            zh = f"结束日期 {self.until} 早于开始日期 {self.since}"
            en = f"until ({self.until}) is before since ({self.since})"
            raise ParameterError(_UNTIL, zh, en)

    def where(self) -> LogFilter:
        """The journal's filter: the days as UTC bounds of Beijing days (``until``
        included)."""
        return LogFilter(
            layer=self.layer,
            record_id=self.record,
            user=self.user,
            via=self.via,
            action=self.action,
            since=_utc_midnight(self.since) if self.since else None,
            until=_utc_midnight(self.until + _DAY) if self.until else None,
        )

    def args(self, **changed: object) -> dict[str, str]:
        """The query as URL arguments (for the pages' links), with ``changed`` replaced."""
        values = {
            "record": self.record,
            "user": self.user,
            "via": self.via,
            "action": self.action,
            "layer": self.layer,
            "since": self.since,
            "until": self.until,
            "page": None if self.page == 1 else self.page,
            **changed,
        }
        return {k: str(v) for k, v in values.items() if v is not None}


def _utc_midnight(day: dt.date) -> str:
    """The start of a Beijing day as the log stores moments (UTC ISO, to the second)."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=TZ)
    return start.astimezone(dt.UTC).isoformat()


# -- what a change shows ----------------------------------------------------------------------


def _field_order(layer: str) -> dict[str, int]:
    columns = records.FIELDS.get(layer, ())
    return {c: n for n, c in enumerate((*columns, "geometry"))}


def field_label(field: str) -> str:
    """A field's Chinese label: the export's header (``ZH_HEADERS``), 位置 for the point."""
    return _GEOMETRY_LABEL if field == "geometry" else ZH_HEADERS.get(field, field)


def _fields(entry: Entry) -> list[str]:
    """The fields the change set or altered, in the layer's column order."""
    order = _field_order(entry.layer)
    return sorted(entry.fields, key=lambda f: (order.get(f, len(order)), f))


def _point(wkt: str) -> str:
    try:
        geom = shapely.from_wkt(wkt)
    except shapely.errors.ShapelyError:
        return wkt
    if isinstance(geom, shapely.Point) and not geom.is_empty:
        return f"经度 {geom.x:.6f}，纬度 {geom.y:.6f}"
    return geom.geom_type


def shown(field: str, value: object, towns: Mapping[str, str]) -> str:
    """A stored value as staff read it: the point as coordinates, kinds, towns and
    amenities by their Chinese names (the key beside them); "" for no value."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value)
    if field == "geometry":
        return _point(text)
    if field == "kind" and text in _KIND_LABELS:
        return f"{_KIND_LABELS[text]}（{text}）"
    if field == "town_code" and text in towns:
        return f"{towns[text]}（{text}）"
    if field == "amenities":
        return "、".join(AMENITIES.get(a, a) for a in text.split(";") if a)
    return text


@dataclass(frozen=True)
class _Row:
    """One change as a line of the log."""

    entry: Entry
    at: str
    via: str
    layer: str
    action: str
    fields: str
    reverted_by: int | None


def _row(entry: Entry, reverted: Mapping[int, int]) -> _Row:
    return _Row(
        entry=entry,
        at=hours.beijing(entry.at, seconds=True),
        via=VIAS.get(entry.via, entry.via),
        layer=LAYER_LABELS.get(entry.layer, entry.layer),
        action=ACTIONS.get(entry.action, entry.action),
        fields="、".join(field_label(f) for f in _fields(entry)),
        reverted_by=reverted.get(entry.id),
    )


def _diff(entry: Entry, towns: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(label, before, after) of each field the change set or altered."""
    before, after = entry.before or {}, entry.after or {}
    return [
        (field_label(f), shown(f, before.get(f), towns), shown(f, after.get(f), towns))
        for f in _fields(entry)
    ]


def _towns_of(entry: Entry) -> list[str]:
    """The towns a revert of ``entry`` touches (the record's before and after)."""
    return [
        str(side.get("town_code") or "") for side in (entry.before, entry.after) if side is not None
    ]


# -- pages ------------------------------------------------------------------------------------


def _query() -> LogQuery:
    return p.parse_query(LogQuery, request.args.to_dict(flat=False))


def _user_names() -> list[str]:
    """The names the user filter suggests: every account, and the system user."""
    return [u.name for u in get_staff().accounts.all()] + [SYSTEM_USER]


@bp.get("/log")
@staff_required
def log() -> Response:
    """The audit log: every change, newest first, filtered and paged."""
    context: dict[str, Any] = {
        "section": "log",
        "form": request.args,
        "vias": VIAS,
        "actions": ACTIONS,
        "layers": LAYER_LABELS,
        "user_names": _user_names(),
        "name": maps.name,
        "text": maps.text,
        "esc": maps.Html.escape,
    }
    try:
        query = _query()
    except ParameterError as exc:
        return page("admin/log.html", status=exc.status, error=exc, rows=[], total=0, **context)
    journal = get_staff().journal
    offset = (query.page - 1) * PAGE_SIZE
    entries, total = journal.entries(query.where(), limit=PAGE_SIZE, offset=offset)
    reverted = journal.reverted(e.id for e in entries)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    return page(
        "admin/log.html",
        query=query,
        rows=[_row(e, reverted) for e in entries],
        total=total,
        pages=pages,
        first=offset + 1,
        **context,
    )


@bp.get("/log.csv")
@staff_required
def log_csv() -> Response:
    """The filtered log as CSV (UTF-8 with BOM for Excel, formulas neutralised)."""
    query = _query()  # a bad filter: the app's 400 page
    text = get_staff().journal.to_csv(query.where())
    stamp = dt.datetime.now(TZ).strftime("%Y%m%d-%H%M")
    response = send_file(
        io.BytesIO(text.encode("utf-8")),
        mimetype="text/csv",
        as_attachment=True,
        download_name=f"audit-log-{stamp}.csv",
        max_age=0,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _change_page(change_id: int, error: ParameterError | None = None) -> Response:
    journal = get_staff().journal
    entry = journal.get(change_id)  # 404 page for an unknown change
    later = journal.later(entry)
    reverted_by = journal.reverted([entry.id]).get(entry.id)
    me = user()
    return page(
        "admin/log_change.html",
        status=error.status if error else 200,
        section="log",
        error=error,
        row=_row(entry, {entry.id: reverted_by} if reverted_by else {}),
        entry=entry,
        diff=_diff(entry, catalog.town_names(get_store())),
        later=later,
        later_at=hours.beijing(later.at, seconds=True) if later else "",
        may_revert=all(me.may_edit(t) for t in _towns_of(entry)),
        name=maps.name,
        text=maps.text,
    )


@bp.get("/log/<int:change_id>")
@staff_required
def log_change(change_id: int) -> Response:
    """One change: who, when, how, and the fields before and after; its revert."""
    return _change_page(change_id)


@bp.post("/log/<int:change_id>/revert")
@staff_required
def log_revert(change_id: int) -> Response:
    """Revert one change (a form post: CSRF-checked); a refusal is shown on its page."""
    journal = get_staff().journal
    try:
        with as_page():
            records.revert(get_store(), journal, change_id, may_edit=user().may_edit)
    except ParameterError as exc:  # RevertError 404/409, AccessError 403, RecordError 422
        return _change_page(change_id, exc)
    done = journal.reverted([change_id]).get(change_id)
    recorded = f"（撤销本身记为修改 #{done}）" if done else "（记录已是修改前的内容）"
    flash(f"已撤销修改 #{change_id}{recorded}", "ok")
    return redirect(url_for("admin.log_change", change_id=change_id))  # type: ignore[return-value]
