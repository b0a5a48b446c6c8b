"""JSON API under ``/api``: the HTTP adapter of :mod:`geoservice.service`.

Each route hands the request over as plain data (query arguments as name → list of values,
the raw body and its content type) to one function of :mod:`geoservice.service`, which
parses every parameter, and sends back the dict it returns. Exceptions are answered, app-wide,
by :mod:`geoservice.web.http_errors` with the one JSON error body
(:func:`geoservice.errors.error_body`): :class:`~geoservice.errors.ParameterError` → its
status, an unusable network or store and a full job queue → 503, HTTP
errors raised by Werkzeug or the rate limiter (413, 429, …) → their status. Nothing a client
sends gives a 500.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from flask import Blueprint, Response, jsonify, request, url_for
from werkzeug.routing import BaseConverter

from geoservice import __version__, service
from geoservice.admin import User
from geoservice.store import catalog
from geoservice.web import (
    answers,
    auth,
    engine_ready,
    get_district,
    get_library,
    get_store,
    get_tour_store,
    jobs,
    routing_engine,
)
from geoservice.web.i18n import current_lang
from geoservice.web.openapi import spec as openapi_spec

bp = Blueprint("api", __name__, url_prefix="/api")


class _IdConverter(BaseConverter):
    """Any path tail, slashes and newlines included: every unknown id gets this API's JSON
    404 rather than a routing miss."""

    regex = r"(?s:.+)"
    part_isolating = False


@bp.record_once
def _register_converter(state) -> None:
    # Before the routes below are added (deferred in declaration order).
    state.app.url_map.converters["id"] = _IdConverter


def _args() -> dict[str, list[str]]:
    return request.args.to_dict(flat=False)


@bp.get("/stations")
def stations():
    """Stations as GeoJSON (filters ``kind``, ``town``, ``amenity``; ``open_at``)."""
    return jsonify(service.stations(get_store(), _args(), _open_reports()))


@bp.get("/stations/<id:station_id>")
def station(station_id: str):
    """One station as a GeoJSON Feature (404 when unknown), its version as the ETag."""
    feature = service.station(get_store(), station_id, _args(), _open_reports())
    return _tagged(jsonify(feature), feature)


# -- writes: stations and sites ---------------------------------------------------------------
# Each takes the user from a bearer token or the page session (web/auth.py), attributes the
# store write to it (the audit log) and lets the one permission rule decide (User.may_edit).


class _RecordConverter(BaseConverter):
    """A record id followed by a sub-path (``/restore``, ``/reports``): no slash in it."""

    regex = r"[^/]+"


@bp.record_once
def _register_record_converter(state) -> None:
    state.app.url_map.converters["record"] = _RecordConverter


def _tagged(response: Response, feature: dict, status: int = 200) -> Response:
    response.status_code = status
    response.set_etag(str(feature["properties"]["version"]))
    return response


def _create(layer: str) -> Response:
    user = auth.api_user()
    with auth.acting_as(user, "api"):
        feature = service.record_create(
            get_store(), layer, request.get_data(cache=False), request.content_type, user.may_edit
        )
    rid = feature["properties"]["id"]
    response = _tagged(jsonify(feature), feature, 201)
    response.headers["Location"] = url_for(f"api.{_ONE[layer]}", **{_ID[layer]: rid})
    return response


def _patch(layer: str, record_id: str) -> Response:
    user = auth.api_user()
    expect = service.if_match(request.headers.get("If-Match"))
    with auth.acting_as(user, "api"):
        feature = service.record_patch(
            get_store(),
            layer,
            record_id,
            request.get_data(cache=False),
            request.content_type,
            may_edit=user.may_edit,
            expect=expect,
        )
    return _tagged(jsonify(feature), feature)


def _delete(layer: str, record_id: str) -> Response:
    user = auth.api_user()
    expect = service.if_match(request.headers.get("If-Match"))
    with auth.acting_as(user, "api"):
        service.record_delete(get_store(), layer, record_id, may_edit=user.may_edit, expect=expect)
    return Response(status=204)


def _restore(layer: str, record_id: str) -> Response:
    user = auth.api_user()
    with auth.acting_as(user, "api"):
        feature = service.record_restore(
            get_store(), auth.get_staff().journal, layer, record_id, user.may_edit
        )
    return _tagged(jsonify(feature), feature)


_ONE = {"stations": "station", "sites": "site"}
_ID = {"stations": "station_id", "sites": "site_id"}


@bp.post("/stations")
def station_create():
    """Add a station (a token or a staff session); 201 with its Location and ETag."""
    return _create("stations")


@bp.patch("/stations/<id:station_id>")
def station_patch(station_id: str):
    """Change the fields sent (``If-Match``: the version it is based on)."""
    return _patch("stations", station_id)


@bp.delete("/stations/<id:station_id>")
def station_delete(station_id: str):
    """Delete a station (soft: ``POST …/restore`` brings it back)."""
    return _delete("stations", station_id)


@bp.post("/stations/<record:station_id>/restore")
def station_restore(station_id: str):
    """Bring a deleted station back."""
    return _restore("stations", station_id)


@bp.get("/sites/<id:site_id>")
def site(site_id: str):
    """One village, community or reservoir site (404 when unknown), ETag its version."""
    feature = service.record(get_store(), "sites", site_id)
    return _tagged(jsonify(feature), feature)


@bp.post("/sites")
def site_create():
    """Add a site; 201 with its Location and ETag."""
    return _create("sites")


@bp.patch("/sites/<id:site_id>")
def site_patch(site_id: str):
    """Change the fields sent (``If-Match``: the version it is based on)."""
    return _patch("sites", site_id)


@bp.delete("/sites/<id:site_id>")
def site_delete(site_id: str):
    """Delete a site (soft: ``POST …/restore`` brings it back)."""
    return _delete("sites", site_id)


@bp.post("/sites/<record:site_id>/restore")
def site_restore(site_id: str):
    """Bring a deleted site back."""
    return _restore("sites", site_id)


@bp.get("/sites")
def sites():
    """Villages, communities and reservoir sites as GeoJSON (``kind``, ``town``,
    ``located``)."""
    return jsonify(service.sites(get_store(), _args(), get_library()))


@bp.get("/towns")
def towns():
    """The district's towns and subdistricts, with seat points where known."""
    return jsonify(service.towns(get_store()))


@bp.get("/health")
def health():
    """Store revision and layer counts."""
    return jsonify(service.health(get_store()))


# -- probes, beside the API: /healthz (alive) and /readyz (the networks loaded) ---------------

probes = Blueprint("probes", __name__)


@probes.get("/healthz")
def healthz():
    """Alive: the process answers (nothing is read)."""
    return jsonify(service.alive())


@probes.get("/readyz")
def readyz():
    """Ready once the routing engine of the active network is built (in the background at
    start, see app.py); 503 with Retry-After until then. Only checks; never loads."""
    ready, body = service.readiness(engine_ready())
    if ready:
        return jsonify(body)
    return jsonify(body), 503, {"Retry-After": str(service.READY_RETRY_S)}


@bp.get("/nearest")
def nearest():
    """Nearest matching stations by road travel time from a point, with routes."""
    return jsonify(service.nearest(routing_engine(), _args(), _open_reports()))


@bp.post("/nearest/batch")
def nearest_batch():
    """Nearest matching station and travel time for up to 10,000 origins."""
    # Refuse an oversized body from its Content-Length, before reading it (413).
    limit = request.max_content_length
    request.max_content_length = min(limit or service.BATCH_BODY_MAX, service.BATCH_BODY_MAX)
    body = request.get_data(cache=False)
    return jsonify(service.nearest_batch(routing_engine(), body, request.content_type))


@bp.get("/network")
def network_info():
    """The active road network per mode (schematic or not, size, source)."""
    return jsonify(service.network(routing_engine(), get_library()))


@bp.get("/network/roads")
def network_roads():
    """Major roads of the drive network as GeoJSON (the offline basemap of the pages)."""
    response = jsonify(service.roads(routing_engine()))
    response.cache_control.max_age = 3600
    response.cache_control.public = True
    return response


# -- coverage -----------------------------------------------------------------------------
# Parsed first (a bad parameter is a 400 before anything is computed), then answered from
# the answer cache when the same question was asked for this store revision and network
# (ETag, 304, gzip: see geoservice.web.answers).


@bp.get("/coverage")
def coverage():
    """Coverage areas by threshold, cross-coverage, catchments, uncovered roads, figures."""
    req = service.coverage_request(_args())
    key = service.answer_key("coverage", req.to_dict())
    return answers.send(key, functools.partial(jobs.answer_job, "coverage"))


@bp.get("/coverage/suggest")
def coverage_suggest():
    """Suggested new station sites (maximal covering), set covering, greedy baseline."""
    query = service.suggest_request(_args())
    key = service.answer_key("suggest", query.to_dict())
    return answers.send(key, functools.partial(jobs.answer_job, "suggest"))


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 description of this API."""
    return jsonify(
        openapi_spec(__version__, catalog.town_names(get_store()), district=get_district())
    )


# -- caravan tours ------------------------------------------------------------------------------


class _TourFormatConverter(BaseConverter):
    """The files a saved plan is served as: ``/api/tours/<id>.gpx``, ``.csv``, …"""

    regex = "|".join(service.TOUR_FORMATS)


@bp.record_once
def _register_tour_converter(state) -> None:
    # Before the tour routes below are added (deferred in declaration order).
    state.app.url_map.converters["tourformat"] = _TourFormatConverter


#: The printable schedule has no script and loads nothing: the policy allows nothing else.
SCHEDULE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


@bp.post("/tours")
def tours_plan():
    """Plan a multi-day caravan tour off the request path: 202 with the job's Location
    (``/api/jobs/<id>``), whose result links to the saved plan."""
    limit = request.max_content_length
    request.max_content_length = min(limit or service.TOURS_BODY_MAX, service.TOURS_BODY_MAX)
    user = _tour_user()
    job = jobs.tour_job(
        request.get_data(cache=False),
        request.content_type,
        owner=None if user is None else user.name,
    )
    return jobs.job_answer(job)


# -- jobs ---------------------------------------------------------------------------------------
# Tour plans, coverage answers not cached yet and site suggestions run as jobs in worker
# processes (geoservice.jobs); their requests answer 202 with the job to follow here.


@bp.get("/jobs/<id:job_id>")
def job(job_id: str):
    """A job's state, progress and, when done, the link to its result."""
    return jsonify(jobs.job_body(jobs.get_jobs().board.get(job_id)))


@bp.delete("/jobs/<id:job_id>")
def job_cancel(job_id: str):
    """Cancel a queued or running job (the job as it is then; a running one stops within a
    second)."""
    board = jobs.get_jobs().board
    found = board.get(job_id)
    jobs.may_cancel(found)
    return jsonify(jobs.job_body(jobs.get_jobs().cancel(found.id)))


@bp.get("/tours")
def tours():
    """The saved tour plans the reader may see, newest first (``limit``, ``offset``)."""
    return jsonify(service.tours(get_tour_store(), _args(), service.tour_viewer(_tour_user())))


def _tour_user() -> User | None:
    """Who plans or lists tours: the user of a bearer token (an invalid one is a 401, as
    for the writes) or of the page session; None: anonymous.

    The session needs no CSRF token here: its cookie is SameSite=Lax, so a cross-site post
    arrives anonymous, and a forged one could at worst keep a plan under the user's name.
    """
    if request.headers.get("Authorization"):
        return auth.api_user()
    return auth.session_user()


@bp.get("/tours/<tour_id>.<tourformat:format>")
def tour_file(tour_id: str, format: str):
    """A saved plan as GPX, CSV, XLSX, GeoJSON or a printable HTML schedule."""
    f = service.tour_file(get_tour_store(), tour_id, format, get_district().org, current_lang())
    response = Response(f.data, content_type=f.media_type)
    response.headers["Content-Disposition"] = f.disposition
    if format == "html":
        response.headers["Content-Security-Policy"] = SCHEDULE_POLICY
    return response


@bp.get("/tours/<id:tour_id>")
def tour(tour_id: str):
    """One saved tour plan (404 when unknown)."""
    return jsonify(service.tour(get_tour_store(), tour_id))


# -- worker reports -----------------------------------------------------------------------------
# Anonymous (a worker has no account), rate-limited per client (RATELIMIT_REPORTS), kept in
# the staff database: a report changes no station and not the store's revision.


def _open_reports() -> Mapping[str, int]:
    """Station id → open reports, for the station answers (cached: microseconds)."""
    return auth.get_staff().reports.open_counts()


@bp.post("/stations/<record:station_id>/reports")
def station_reports(station_id: str):
    """File a worker's report on a station: 201 with its id and a thank-you."""
    limit = request.max_content_length
    request.max_content_length = min(limit or service.REPORT_BODY_MAX, service.REPORT_BODY_MAX)
    receipt = service.report_file(
        get_store(),
        auth.get_staff().reports,
        station_id,
        request.get_data(cache=False),
        request.content_type,
        client=request.remote_addr or "",
    )
    return jsonify(receipt), 201
