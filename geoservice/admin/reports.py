"""Worker reports: a problem with a station, told by whoever stands in front of it.

An outdoor worker taps "反馈问题" on a station's card (``/nearest``) or popup (the maps) and
then one of four problems (:data:`PROBLEMS`), with an optional note; no account is needed.
A report never changes the data by itself: it waits in the queue of ``/admin/reports``
until staff confirm it — the correction it calls for (hot water struck from the amenities,
new opening hours, new coordinates, any other field) is written with
:func:`geoservice.store.records.patch` as the staff member, so it lands in the audit log —
or dismiss it. Station answers carry how many reports are open (:meth:`Reports.open_counts`).

Reports live in the staff database (``instance/admin.sqlite``, or the table ``reports`` in
PostgreSQL with ``STORE_URL``), never in the store's layers: a report must not change the
store's revision. The client's address is kept only as a salted
hash (HMAC-SHA256 with a secret of the database), which is enough to cap how many open
reports one phone may have on one station (:data:`PER_CLIENT`); the API's rate limit
(``RATELIMIT_REPORTS``) caps how many it may send at all.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import types
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from geoservice import hours
from geoservice import params as p
from geoservice.admin.db import StaffDatabase, now, secret
from geoservice.errors import AccessError, ParameterError, RecordError, excerpt
from geoservice.i18n import N_
from geoservice.model import STATION_COLUMNS, Station

if TYPE_CHECKING:
    from geoservice.admin.accounts import User
    from geoservice.admin.audit import Journal
    from geoservice.store import Store

#: The problems a worker can report, with the words the buttons show.
PROBLEMS: dict[str, str] = {
    "closed": N_("该开时没开"),
    "no_hot_water": N_("没有热水"),
    "moved": N_("位置不对"),
    "other": N_("其他"),
}
#: A report's states.
STATUSES: dict[str, str] = {
    "open": N_("待核实"),
    "confirmed": N_("已确认"),
    "dismissed": N_("已驳回"),
}
#: The two lists of the queue: the open reports, and those handled.
VIEWS: dict[str, tuple[str, ...]] = {"open": ("open",), "handled": ("confirmed", "dismissed")}
#: Longest note of a worker (and reason of a staff member), in characters.
NOTE_MAX = 500
#: Most open reports one client may have on one station: one phone cannot flood a station.
PER_CLIENT = 3
#: Most reports one page of the queue lists.
MAX_PAGE = 200
#: What a worker reads once the report is filed.
THANKS = "谢谢您的反馈！工作人员核实后会尽快处理。"
#: The fields an "other" report may correct one at a time (the id never changes).
EDITABLE = tuple(c for c in STATION_COLUMNS if c != "id")
#: Longest value staff enter in a correction (each field has its own rules besides).
ENTRY_MAX = 1000
#: Coordinate pairs as they are pasted from Amap, Baidu or a GPS app: "116.84, 40.37".
_PAIR = re.compile(r"[\s,，;；]+")
# What errors name.
_REPORT, _NOTE, _PROBLEM, _STATION = "report", "note", "problem", "station_id"
_TOWN_CODE, _HOURS, _LON, _FIELD, _CRS = "town_code", "opening_hours", "lon", "field", "crs"


@dataclass(frozen=True)
class Report:
    """One worker report (the client's hash is never handed out)."""

    id: int
    at: str
    station_id: str
    problem: str
    note: str
    status: str
    handled_by: str | None = None
    handled_at: str | None = None
    change_id: int | None = None
    resolution: str = ""

    @property
    def problem_label(self) -> str:
        """The problem in Chinese."""
        return PROBLEMS.get(self.problem, self.problem)

    @property
    def status_label(self) -> str:
        """The state in Chinese."""
        return STATUSES.get(self.status, self.status)

    @property
    def is_open(self) -> bool:
        """Whether staff have still to confirm or dismiss it."""
        return self.status == "open"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "id": self.id,
            "at": self.at,
            "station_id": self.station_id,
            "problem": self.problem,
            "problem_label": self.problem_label,
            "note": self.note,
            "status": self.status,
            "status_label": self.status_label,
            "handled_by": self.handled_by,
            "handled_at": self.handled_at,
            "change_id": self.change_id,
            "resolution": self.resolution,
        }


def _report(row: Any) -> Report:
    return Report(
        id=row["id"],
        at=row["at"],
        station_id=row["station_id"],
        problem=row["problem"],
        note=row["note"],
        status=row["status"],
        handled_by=row["handled_by"],
        handled_at=row["handled_at"],
        change_id=row["change_id"],
        resolution=row["resolution"],
    )


# -- checks ------------------------------------------------------------------------------------


def check_problem(raw: object, name: str = _PROBLEM) -> str:
    """The problem's key (its Chinese label is accepted too); 400 otherwise."""
    return p.choice(raw, name, PROBLEMS)


def check_note(raw: object, name: str = _NOTE) -> str:
    """A note as kept: text of at most :data:`NOTE_MAX` characters, stripped, without
    control characters (a line break included: the note is one line); "" for none.

    Raises
    ------
    ParameterError
        400 for another type, a longer text or a control character.
    """
    if raw is None:
        return ""
    text = p.text(raw, name, max_chars=NOTE_MAX, default="")
    # The identifier rule: no C0/C1 control character, DEL or lone surrogate.
    return p.identifier(text, name) if text else ""


def _station(store: Store, station_id: str) -> Station | None:
    # isin: exact (== drops trailing NULs through numpy).
    return stations_of(store, [station_id]).get(station_id)


def _allowed(user: User, station: Station | None) -> None:
    """The one permission rule (:meth:`User.may_edit`) on the station's town; a station
    deleted since is the editors' (a town editor cannot tell whose it was)."""
    town = station.town_code if station is not None else ""
    if not user.may_edit(town):
        shown = excerpt(town or "（无）")
        zh = f"无权处理乡镇 {shown} 的站点反馈"
        en = f"you may not handle reports on stations of town {shown}"
        raise AccessError(_TOWN_CODE, zh, en, status=403)


def _record_error(column: str, zh: str, en: str) -> RecordError:
    return RecordError([{"column": column, "message": f"{zh} / {en}"}])


def _entry(form: Mapping[str, str], key: str) -> str:
    """One value staff entered, stripped; the import checks it by its own rules, this only
    bounds its size."""
    value = (form.get(key) or "").strip()
    if len(value) > ENTRY_MAX:
        zh = f"「{key}」过长（{len(value)} 字符，上限 {ENTRY_MAX}）"
        en = f"{key} is too long ({len(value)} characters, limit {ENTRY_MAX})"
        raise _record_error(key, zh, en)
    return value


def correction(report: Report, station: Station, form: Mapping[str, str]) -> dict[str, Any]:
    """The record edit that confirming ``report`` makes, from what staff entered.

    Parameters
    ----------
    report
        The report (its problem decides the edit).
    station
        The station as stored now.
    form
        What staff entered: ``opening_hours`` (closed), ``coords`` "lon, lat" and ``crs``
        (moved: the coordinate system must be chosen, a wrong guess moves a station by
        hundreds of metres), ``field`` and ``value`` (other; both optional).

    Returns
    -------
    dict
        A body for :func:`geoservice.store.records.patch` (the import's column names and
        rules); empty when nothing is to change (no hot water listed any more, an "other"
        report confirmed with a note only).

    Raises
    ------
    RecordError
        422 naming the missing or unreadable entry.
    """
    if report.problem == "no_hot_water":
        if "hot_water" not in station.amenities:
            return {}
        return {"amenities": [a for a in station.amenities if a != "hot_water"]}
    if report.problem == "closed":
        hours = _entry(form, _HOURS)
        if not hours:
            zh, en = "请填写更正后的开放时间", "enter the corrected opening hours"
            raise _record_error(_HOURS, zh, en)
        return {_HOURS: hours}
    if report.problem == "moved":
        return _moved(form)
    field = _entry(form, _FIELD)
    if not field:
        return {}
    if field not in EDITABLE:
        zh, en = f"不能修改字段 {excerpt(field)}", f"field {excerpt(field)} cannot be edited"
        raise _record_error(_FIELD, zh, en)
    return {field: _entry(form, "value")}


def _moved(form: Mapping[str, str]) -> dict[str, Any]:
    parts = [x for x in _PAIR.split(_entry(form, "coords")) if x]
    if len(parts) != 2:
        zh = "请填写更正后的坐标「经度, 纬度」，如 116.84, 40.37"
        en = "enter the corrected coordinates as 'lon, lat', e.g. 116.84, 40.37"
        raise _record_error(_LON, zh, en)
    crs = _entry(form, _CRS)
    if not crs:
        zh = "请选择坐标来自哪里（高德、百度或 GPS），以免换算错误"
        en = "choose where the coordinates come from (Amap, Baidu or GPS)"
        raise _record_error(_CRS, zh, en)
    return {"lon": parts[0], "lat": parts[1], _CRS: crs}


def stations_of(store: Store, ids: Collection[str]) -> dict[str, Station]:
    """The stations with these ids, by id (those deleted since left out)."""
    gdf = store.stations()
    return {st.id: st for st in Station.from_frame(gdf.loc[gdf["id"].isin(list(ids))])}


# -- the reports -------------------------------------------------------------------------------


class Reports:
    """The worker reports of one staff database.

    Parameters
    ----------
    db : Database or PgDatabase
    """

    def __init__(self, db: StaffDatabase) -> None:
        self.db = db
        self._salt: bytes | None = None
        # Per thread: the open counts, and the reader connection and data_version they were
        # read at.
        self._local = threading.local()

    # -- filing ------------------------------------------------------------------------------
    def file(
        self, station_id: str, problem: str, note: str, client: str, *, store: Store
    ) -> Report:
        """File a worker's report; the store is only read.

        Parameters
        ----------
        station_id
            The station (it must exist).
        problem
            A key of :data:`PROBLEMS` (or its Chinese label).
        note
            Optional words of the worker (:func:`check_note`).
        client
            The client's address: kept only as a salted hash.
        store
            Where the station is looked up.

        Raises
        ------
        ParameterError
            400 for a bad problem or note, 404 for an unknown station, 409 when this client
            has :data:`PER_CLIENT` open reports on the station already.
        """
        problem = check_problem(problem)
        note = check_note(note)
        sid = p.identifier(station_id, _STATION)
        if _station(store, sid) is None:
            shown = excerpt(sid)
            zh, en = f"没有编号为 {shown} 的站点", f"no station with id {shown}"
            raise ParameterError(_STATION, zh, en, status=404)
        digest = self._client(client)
        with self.db.connect() as con:
            mine = con.execute(
                "SELECT count(*) FROM reports WHERE status = 'open' AND station_id = ?"
                " AND client = ?",
                (sid, digest),
            ).fetchone()[0]
            if mine >= PER_CLIENT:
                zh = f"您对该站点已有 {mine} 条反馈待核实，工作人员处理后才能再提交"
                en = (
                    f"you have {mine} reports on this station waiting already; "
                    "more can be sent once staff have handled them"
                )
                raise ParameterError(None, zh, en, status=409)
            row = con.execute(
                "INSERT INTO reports(at, station_id, problem, note, client) VALUES (?, ?, ?, ?, ?)"
                " RETURNING *",
                (now(), sid, problem, note, digest),
            ).fetchone()
        return _report(row)

    def _client(self, address: str) -> str:
        if self._salt is None:
            self._salt = secret(self.db, "report_salt").encode()
        return hmac.new(self._salt, address.encode("utf-8", "replace"), hashlib.sha256).hexdigest()

    # -- reading -----------------------------------------------------------------------------
    def get(self, report_id: int) -> Report:
        """One report (404 ParameterError when there is none)."""
        with self.db.connect() as con:
            row = con.execute("SELECT * FROM reports WHERE id = ?", (report_id,)).fetchone()
        if row is None:
            zh, en = f"没有编号为 {report_id} 的反馈", f"no report {report_id}"
            raise ParameterError(_REPORT, zh, en, status=404)
        return _report(row)

    def list(
        self, status: str = "open", *, limit: int = 50, offset: int = 0
    ) -> tuple[list[Report], int]:
        """The reports of a view of :data:`VIEWS` (``open``, ``handled``) or of one state,
        newest first, and how many there are in all."""
        states = VIEWS.get(status) or (status,)
        marks = ", ".join("?" * len(states))
        limit = max(1, min(limit, MAX_PAGE))
        with self.db.connect() as con:
            total = con.execute(
                f"SELECT count(*) FROM reports WHERE status IN ({marks})", states
            ).fetchone()[0]
            rows = con.execute(
                f"SELECT * FROM reports WHERE status IN ({marks}) ORDER BY id DESC"
                " LIMIT ? OFFSET ?",
                (*states, limit, max(0, offset)),
            ).fetchall()
        return [_report(r) for r in rows], int(total)

    def open_counts(self) -> Mapping[str, int]:
        """Station id → number of open reports (stations without any left out).

        Asked on every station answer (``/api/nearest`` included), so it is read on a
        connection of this thread kept open (:meth:`Database.reader`) and cached until the
        database changed (:meth:`Database.data_version` differs after any other
        connection's commit, in this process or another): a few microseconds when nothing
        changed (PostgreSQL: one round trip), one indexed query otherwise.
        """
        local = self._local
        con = self.db.reader()
        version = self.db.data_version(con)
        if getattr(local, "version", None) != (con, version):
            rows = con.execute(
                "SELECT station_id, count(*) FROM reports WHERE status = 'open' GROUP BY station_id"
            ).fetchall()
            local.counts = types.MappingProxyType({str(s): int(n) for s, n in rows})
            local.version = (con, version)
        counts: Mapping[str, int] = local.counts
        return counts

    # -- handling ----------------------------------------------------------------------------
    def _pending(self, report_id: int) -> Report:
        report = self.get(report_id)
        if not report.is_open:
            zh = (
                f"反馈 #{report.id} 已由 {report.handled_by} 于 {hours.beijing(report.handled_at)}"
                f"（北京时间）{report.status_label}"
            )
            en = f"report #{report.id} was {report.status} by {report.handled_by} already"
            raise ParameterError(_REPORT, zh, en, status=409)
        return report

    def _close(
        self, report: Report, user: User, status: str, resolution: str, change_id: int | None
    ) -> Report:
        with self.db.connect() as con:
            row = con.execute(
                "UPDATE reports SET status = ?, handled_by = ?, handled_at = ?, change_id = ?,"
                " resolution = ? WHERE id = ? AND status = 'open' RETURNING *",
                (status, user.name, now(), change_id, resolution, report.id),
            ).fetchone()
        if row is None:  # handled by someone else in the meantime
            return self._pending(report.id)
        return _report(row)

    def confirm(
        self,
        report_id: int,
        user: User,
        change_id: int | None = None,
        note: str = "",
        *,
        store: Store,
    ) -> Report:
        """Mark a report confirmed by ``user``, naming the audit log's change that corrected
        the station (None when nothing needed changing).

        Raises
        ------
        ParameterError
            404 for an unknown report, 409 when it was handled already, 400 for a bad note.
        AccessError
            403 when the station is of a town the user may not edit.
        """
        note = check_note(note)
        report = self._pending(report_id)
        _allowed(user, _station(store, report.station_id))
        return self._close(report, user, "confirmed", note, change_id)

    def dismiss(self, report_id: int, user: User, reason: str = "", *, store: Store) -> Report:
        """Mark a report dismissed by ``user``, with an optional reason; nothing changes.

        Raises
        ------
        ParameterError, AccessError
            As for :meth:`confirm`.
        """
        reason = check_note(reason, "reason")
        report = self._pending(report_id)
        _allowed(user, _station(store, report.station_id))
        return self._close(report, user, "dismissed", reason, None)

    def confirm_edit(
        self,
        report_id: int,
        user: User,
        form: Mapping[str, str],
        *,
        store: Store,
        journal: Journal,
    ) -> Report:
        """Confirm a report and correct its station as staff entered (:func:`correction`).

        The edit goes through :func:`geoservice.store.records.patch` with the user's
        permission, and so to the audit log, attributed to whoever is acting (the caller
        wraps this in :func:`geoservice.admin.audit.acting`); the report then names that
        change. ``form["note"]`` is kept with the report.

        Raises
        ------
        RecordError
            422: what staff entered does not pass the import's rules (nothing changed).
        ParameterError, AccessError
            As for :meth:`confirm`; 404 when a correction is asked for a station that no
            longer exists.
        """
        from geoservice.store import records  # the store's edits need the audit log's module

        note = check_note(form.get("note"))
        report = self._pending(report_id)
        station = _station(store, report.station_id)
        _allowed(user, station)
        body: dict[str, Any] = {}
        if station is not None:
            body = correction(report, station, form)
        elif report.problem != "other" or form.get("field"):
            shown = excerpt(report.station_id)
            zh = f"站点 {shown} 已不存在，无法更正；请驳回该反馈"
            en = f"station {shown} no longer exists; dismiss the report"
            raise ParameterError(_STATION, zh, en, status=404)
        change_id = None
        if body:
            before = records.version(store, "stations", report.station_id)
            records.patch(store, "stations", report.station_id, body, may_edit=user.may_edit)
            change_id = _change(journal, report.station_id, before)
        return self._close(report, user, "confirmed", note, change_id)


def _change(journal: Journal, station_id: str, before: int) -> int | None:
    """The audit log's entry of the edit that took the station from version ``before`` to
    the next (None when the edit changed nothing, so that no version was given)."""
    from geoservice.admin.audit import LogFilter

    entries, _ = journal.entries(LogFilter(layer="stations", record_id=station_id), limit=20)
    for entry in entries:
        if (entry.after or {}).get("version") == before + 1:
            return entry.id
    return None
