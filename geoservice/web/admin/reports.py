"""Back office part: the queue of workers' reports (``/admin/reports``).

Open reports newest first, each with its station, problem, note and time (北京时间), and
the two actions: **confirm**, which makes the correction the problem calls for
(:func:`geoservice.admin.reports.correction`: hot water struck from the amenities, the
opening hours or the coordinates staff enter, any other field) through
:func:`geoservice.store.records.patch` as the logged-in user by ``page`` — so it lands in
the audit log — and marks the report confirmed with that change; and **dismiss**, with an
optional reason. Handled reports are listed under 已处理. Every staff member sees every
report; a town editor can act only on its towns' stations (the page hides the others'
actions, and the core refuses them with 403).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Response, current_app, flash, redirect, request, url_for

from geoservice import params as p
from geoservice.admin.reports import EDITABLE, PROBLEMS, STATUSES, VIEWS, Report
from geoservice.admin.reports import stations_of as _stations_of
from geoservice.errors import ParameterError
from geoservice.model import Station
from geoservice.store import catalog
from geoservice.store.tables import ZH_HEADERS
from geoservice.web import get_store
from geoservice.web.admin import as_page, bp, page, staff_required, user
from geoservice.web.auth import get_staff

#: Reports one page of the queue lists.
PAGE = 50
#: The coordinate systems staff may paste corrected coordinates in.
CRS_CHOICES = (
    ("gcj02", "高德、腾讯（GCJ-02）"),
    ("bd09", "百度（BD-09）"),
    ("wgs84", "GPS（WGS84）"),
)
#: The station's edit page, when the records part of the back office has one.
_EDIT = "admin.station_edit"


@dataclass(frozen=True)
class _Row:
    """A report as the queue shows it: with its station (None once deleted), the town's
    name and whether the user may act on it."""

    report: Report
    station: Station | None
    town: str
    may_act: bool


def _rows(reports: list[Report]) -> list[_Row]:
    store = get_store()
    stations = _stations_of(store, {r.station_id for r in reports})
    towns = catalog.town_names(store)
    me = user()
    rows = []
    for r in reports:
        st = stations.get(r.station_id)
        code = st.town_code if st is not None else ""
        rows.append(_Row(r, st, towns.get(code, code), me.may_edit(code)))
    return rows


def _queue(
    *, failed: int | None = None, error: ParameterError | None = None, status: int = 200
) -> Response:
    """The queue page; ``failed``/``error``: the report whose action was refused, and why
    (shown at the report, with what was entered)."""
    view = request.args.get("status", "open")
    view = view if view in VIEWS else "open"
    offset = p.integer(request.args.get("offset"), "offset", 0, 10**6, default=0)
    reports = get_staff().reports
    listed, total = reports.list(view, limit=PAGE, offset=offset)
    other = "handled" if view == "open" else "open"
    edit = _EDIT in current_app.view_functions
    return page(
        "admin/reports.html",
        status=status,
        section="reports",
        view=view,
        rows=_rows(listed),
        total=total,
        totals={view: total, other: reports.list(other, limit=1)[1]},
        offset=offset,
        page_size=PAGE,
        problems=PROBLEMS,
        statuses=STATUSES,
        crs_choices=CRS_CHOICES,
        fields=[(f, ZH_HEADERS.get(f, f)) for f in EDITABLE],
        edit_endpoint=_EDIT if edit else None,
        log_endpoint="admin.log" if "admin.log" in current_app.view_functions else None,
        failed=failed,
        error=error,
        entered=request.form if failed is not None else {},
    )


@bp.get("/reports")
@staff_required
def reports() -> Response:
    """Workers' reports: the open ones (``status=open``) or those handled
    (``status=handled``), newest first."""
    return _queue()


@bp.post("/reports/<int:report_id>/confirm")
@staff_required
def report_confirm(report_id: int) -> Response:
    """Confirm a report: correct the station as entered (through the audit log)."""
    staff = get_staff()
    try:
        with as_page():
            done = staff.reports.confirm_edit(
                report_id, user(), request.form, store=get_store(), journal=staff.journal
            )
    except ParameterError as exc:  # RecordError (422), AccessError (403), 404, 409
        return _queue(failed=report_id, error=exc, status=exc.status)
    if done.change_id is not None:
        flash(f"已确认反馈 #{done.id}，并更正了站点（修改记录 #{done.change_id}）", "ok")
    else:
        flash(f"已确认反馈 #{done.id}（站点无需修改）", "ok")
    return redirect(url_for("admin.reports"))  # type: ignore[return-value]


@bp.post("/reports/<int:report_id>/dismiss")
@staff_required
def report_dismiss(report_id: int) -> Response:
    """Dismiss a report (nothing changes), with an optional reason."""
    try:
        done = get_staff().reports.dismiss(
            report_id, user(), request.form.get("reason", ""), store=get_store()
        )
    except ParameterError as exc:
        return _queue(failed=report_id, error=exc, status=exc.status)
    flash(f"已驳回反馈 #{done.id}", "ok")
    return redirect(url_for("admin.reports"))  # type: ignore[return-value]
