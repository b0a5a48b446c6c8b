"""JSON API: ``/api/stations``, ``/api/sites``, ``/api/towns``, ``/api/health``.

Every bad parameter is a 400 with ``{"error": ..., "parameter": ...}``; unknown ids are 404;
nothing a client sends gives a 500.
"""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request
from werkzeug.exceptions import HTTPException

from geoservice import catalog
from geoservice import hours as _hours
from geoservice.web import get_store

bp = Blueprint("api", __name__, url_prefix="/api")


class BadParameterError(Exception):
    """A query parameter is invalid."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.message = message


@bp.errorhandler(BadParameterError)
def _bad_parameter(exc: BadParameterError):
    return jsonify(error=exc.message, parameter=exc.parameter), 400


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return jsonify(error=exc.description, status=exc.code), exc.code


def _list_param(name: str) -> list[str] | None:
    values = [v for raw in request.args.getlist(name) for v in raw.split(",") if v.strip()]
    return [v.strip() for v in values] or None


def _time_param(name: str = "open_at"):
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return _hours.parse_time(raw)
    except ValueError as exc:
        raise BadParameterError(name, str(exc)) from exc


def _query(fn, **kwargs):
    try:
        return fn(get_store(), **kwargs)
    except catalog.QueryError as exc:
        raise BadParameterError(exc.parameter, str(exc)) from exc


@bp.get("/stations")
def stations():
    """Stations as GeoJSON, filtered by ``kind``, ``town``, ``amenity`` (all repeatable or
    comma-separated; amenities are all required), with open-now evaluated at ``open_at``."""
    doc = _query(
        catalog.stations_geojson,
        kind=_list_param("kind"),
        town=_list_param("town"),
        amenity=_list_param("amenity"),
        at=_time_param(),
    )
    return jsonify(doc)


@bp.get("/stations/<station_id>")
def station(station_id: str):
    """One station as a GeoJSON Feature."""
    doc = _query(catalog.stations_geojson, at=_time_param())
    for f in doc["features"]:
        if f["id"] == station_id:
            return jsonify(f)
    abort(404, description=f"no station with id {station_id!r}")
    return None


@bp.get("/sites")
def sites():
    """Sites (villages, communities, reservoir sites) as GeoJSON, filtered by ``kind`` and
    ``town``; ``located=1`` keeps only those with coordinates."""
    located = request.args.get("located", "")
    if located not in ("", "0", "1", "true", "false"):
        msg = "located"
        raise BadParameterError(msg, "located must be 1/0 or true/false")
    doc = _query(
        catalog.sites_geojson,
        kind=_list_param("kind"),
        town=_list_param("town"),
        located=located in ("1", "true"),
    )
    return jsonify(doc)


@bp.get("/towns")
def towns():
    """The 21 towns/subdistricts with seat points where known."""
    return jsonify(catalog.towns_geojson(get_store()))


@bp.get("/health")
def health():
    """Store location, revision and layer counts."""
    store = get_store()
    return jsonify(
        status="ok",
        store=store.location(),
        revision=store.revision(),
        stations=len(store.stations()),
        sites=len(store.sites()),
    )
