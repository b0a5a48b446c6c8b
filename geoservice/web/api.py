"""JSON API under ``/api``: the HTTP adapter of :mod:`geoservice.service`.

Each route hands the request over as plain data (query arguments as name → list of values,
the raw body and its content type) to one function of :mod:`geoservice.service`, which
parses every parameter, and sends back the dict it returns. Exceptions are answered, app-wide,
by :mod:`geoservice.web.http_errors` with the one JSON error body
(:func:`geoservice.errors.error_body`): :class:`~geoservice.errors.ParameterError` → its
status, an unusable network or store and tours planned at the concurrency limit → 503, HTTP
errors raised by Werkzeug or the rate limiter (413, 429, …) → their status. Nothing a client
sends gives a 500.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, url_for
from werkzeug.routing import BaseConverter

from geoservice import __version__, service
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


def _args() -> dict[str, list[str]]:
    return request.args.to_dict(flat=False)


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
    """The district's towns and subdistricts, with seat points where known."""
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
