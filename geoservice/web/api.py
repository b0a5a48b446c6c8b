"""JSON API under ``/api``: the HTTP adapter of :mod:`geoservice.service`.

Each route hands the request over as plain data (query arguments as name → list of values,
the raw body and its content type) to one function of :mod:`geoservice.service`, which
parses every parameter, and sends back the dict it returns. Exceptions map to status codes
with one JSON error body (:func:`geoservice.errors.error_body`):
:class:`~geoservice.errors.ParameterError` → its status (400/404/413/415/422; a
:class:`~geoservice.errors.TourError` adds ``stops`` and ``days_needed``), a network that
cannot be loaded, tours planned at the concurrency limit (with ``Retry-After``) or a plan that
cannot be saved → 503, HTTP errors raised by Werkzeug or the rate limiter (413, 429, …) →
their status with a bilingual message. Nothing a client sends gives a 500.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from geoservice import __version__, service
from geoservice.errors import (
    NetworkError,
    OsmError,
    ParameterError,
    StoreError,
    TourBusyError,
    error_body,
)
from geoservice.store import catalog
from geoservice.web import (
    answers,
    get_coverage,
    get_district,
    get_engine,
    get_library,
    get_planner,
    get_store,
    get_tour_store,
)
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


#: Bilingual reasons for HTTP errors raised outside the request layer.
_HTTP_REASONS = {
    400: ("请求有误", "bad request"),
    404: ("未找到", "not found"),
    405: ("不支持该请求方法", "method not allowed"),
    413: ("请求体过大", "request body too large"),
    415: ("不支持的请求体类型", "unsupported media type"),
    429: ("请求过于频繁，请稍后再试", "too many requests, please retry later"),
}


def _args() -> dict[str, list[str]]:
    return request.args.to_dict(flat=False)


@bp.errorhandler(ParameterError)
def _parameter_error(exc: ParameterError):
    return jsonify(exc.to_dict()), exc.status


@bp.errorhandler(NetworkError)
@bp.errorhandler(OsmError)
def _network_unavailable(exc: Exception):
    # The service still answers everything else; routing needs a usable network.
    zh = "路网不可用，暂时无法计算路线"
    en = f"road network unavailable: {exc}"
    return jsonify(error_body(503, zh, en)), 503


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    code = exc.code or 500
    zh, en = _HTTP_REASONS.get(code, ("请求失败", exc.name.lower()))
    if code == 413:
        limit = request.max_content_length
        if limit:
            zh += f"（上限 {limit:,} 字节）"
            en += f" (limit {limit:,} bytes)"
    elif code == 429 and exc.description:
        en += f": {exc.description}"
    parameter = "body" if code in (413, 415) else None
    response = jsonify(error_body(code, zh, en, parameter))
    response.status_code = code
    headers = dict(exc.get_headers())
    for name in ("Allow", "Retry-After"):
        if name in headers:
            response.headers[name] = headers[name]
    return response


@bp.get("/stations")
def stations():
    """Stations as GeoJSON (filters ``kind``, ``town``, ``amenity``; ``open_at``)."""
    return jsonify(service.stations(get_store(), _args()))


@bp.get("/stations/<id:station_id>")
def station(station_id: str):
    """One station as a GeoJSON Feature (404 when unknown)."""
    return jsonify(service.station(get_store(), station_id, _args()))


@bp.get("/sites")
def sites():
    """Villages, communities and reservoir sites as GeoJSON (``kind``, ``town``,
    ``located``)."""
    return jsonify(service.sites(get_store(), _args(), get_library()))


@bp.get("/towns")
def towns():
    """The 21 towns/subdistricts with seat points where known."""
    return jsonify(service.towns(get_store()))


@bp.get("/health")
def health():
    """Store location, revision and layer counts."""
    return jsonify(service.health(get_store()))


@bp.get("/nearest")
def nearest():
    """Nearest matching stations by road travel time from a point, with routes."""
    return jsonify(service.nearest(get_engine(), _args()))


@bp.post("/nearest/batch")
def nearest_batch():
    """Nearest matching station and travel time for up to 10,000 origins."""
    # Refuse an oversized body from its Content-Length, before reading it (413).
    limit = request.max_content_length
    request.max_content_length = min(limit or service.BATCH_BODY_MAX, service.BATCH_BODY_MAX)
    body = request.get_data(cache=False)
    return jsonify(service.nearest_batch(get_engine(), body, request.content_type))


@bp.get("/network")
def network_info():
    """The active road network per mode (schematic or not, size, source)."""
    return jsonify(service.network(get_engine(), get_library()))


@bp.get("/network/roads")
def network_roads():
    """Major roads of the drive network as GeoJSON (the offline basemap of the pages)."""
    response = jsonify(service.roads(get_engine()))
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
    return answers.send(key, lambda: service.coverage(get_coverage(), req))


@bp.get("/coverage/suggest")
def coverage_suggest():
    """Suggested new station sites (maximal covering), set covering, greedy baseline."""
    query = service.suggest_request(_args())
    key = service.answer_key("suggest", query.to_dict())
    return answers.send(key, lambda: service.coverage_suggest(get_coverage(), query))


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


@bp.errorhandler(TourBusyError)
def _tours_busy(exc: TourBusyError):
    response = jsonify(error_body(503, exc.zh, exc.en))
    response.status_code = 503
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


@bp.errorhandler(StoreError)
def _store_unavailable(exc: StoreError):
    # A plan that cannot be saved (disk full, permissions): the detail names files, so it
    # goes to the log only.
    current_app.logger.error("store error: %s", exc)
    zh, en = "数据暂时无法保存或读取，请稍后再试", "storage unavailable, try again later"
    return jsonify(error_body(503, zh, en)), 503


@bp.post("/tours")
def tours_plan():
    """Plan a multi-day caravan tour, save it, and answer it (201 with its Location)."""
    limit = request.max_content_length
    request.max_content_length = min(limit or service.TOURS_BODY_MAX, service.TOURS_BODY_MAX)
    saved = service.tour_plan(get_planner(), request.get_data(cache=False), request.content_type)
    return jsonify(saved), 201, {"Location": url_for("api.tour", tour_id=saved["id"])}


@bp.get("/tours")
def tours():
    """Saved tour plans, newest first (``limit``, ``offset``)."""
    return jsonify(service.tours(get_tour_store(), _args()))


@bp.get("/tours/<tour_id>.<tourformat:format>")
def tour_file(tour_id: str, format: str):
    """A saved plan as GPX, CSV, XLSX, GeoJSON or a printable HTML schedule."""
    f = service.tour_file(get_tour_store(), tour_id, format, get_district().org)
    response = Response(f.data, content_type=f.media_type)
    response.headers["Content-Disposition"] = f.disposition
    if format == "html":
        response.headers["Content-Security-Policy"] = SCHEDULE_POLICY
    return response


@bp.get("/tours/<id:tour_id>")
def tour(tour_id: str):
    """One saved tour plan (404 when unknown)."""
    return jsonify(service.tour(get_tour_store(), tour_id))
