"""JSON API: ``/api/stations``, ``/api/sites``, ``/api/towns``, ``/api/health``.

Every bad parameter is a 400 with ``{"error": ..., "parameter": ...}``; unknown ids are 404;
nothing a client sends gives a 500.
"""

from __future__ import annotations

import math
from typing import NoReturn

import numpy as np
from flask import Blueprint, abort, jsonify, request
from werkzeug.exceptions import HTTPException

from geoservice import __version__, catalog, crs, navigation
from geoservice import hours as _hours
from geoservice.nearest import K_MAX, NearestError
from geoservice.network import MODES, NetworkError
from geoservice.osm import OsmError
from geoservice.web import get_engine, get_library, get_store
from geoservice.web.openapi import spec as openapi_spec

BATCH_MAX = 10_000

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


@bp.errorhandler(NearestError)
def _nearest_error(exc: NearestError):
    # 400 for a bad parameter, 422 for a point too far from any road.
    return jsonify(error=str(exc), parameter=exc.parameter), exc.status


@bp.errorhandler(NetworkError)
@bp.errorhandler(OsmError)
def _network_unavailable(exc: Exception):
    # The service still answers everything else; routing needs a usable network.
    return jsonify(error=f"路网不可用 / road network unavailable: {exc}"), 503


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


# -- nearest ---------------------------------------------------------------------------------


def _bad(parameter: str, message: str) -> NoReturn:
    """Reject a request parameter (400 with the parameter's name)."""
    raise BadParameterError(parameter, message)


def _number(raw, name: str, lo: float, hi: float) -> float:
    if raw is None or str(raw).strip() == "":
        _bad(name, f"{name} is required")
    try:
        x = float(raw)
    except (TypeError, ValueError):
        _bad(name, f"{name} must be a number, not {raw!r}")
    if not math.isfinite(x):
        _bad(name, f"{name} must be a finite number, not {raw!r}")
    if not lo <= x <= hi:
        _bad(name, f"{name} must be between {lo} and {hi}, not {x}")
    return x


def _choice(raw, name: str, allowed, default: str) -> str:
    value = (raw or default).strip().lower()
    if value not in allowed:
        _bad(name, f"{name} must be one of {', '.join(allowed)}, not {raw!r}")
    return value


def _crs_param(raw) -> str:
    try:
        return crs.normalize_crs(raw or "wgs84")
    except (ValueError, TypeError) as exc:
        _bad("crs", str(exc))


def _flag(raw, name: str, default: bool) -> bool:
    if raw is None or raw == "":
        return default
    value = str(raw).strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    _bad(name, f"{name} must be 1/0 or true/false, not {raw!r}")


@bp.get("/nearest")
def nearest():
    """Nearest matching stations by road travel time from a point, with routes.

    Parameters: ``lon``, ``lat`` (required), ``crs`` (wgs84|gcj02|bd09), ``mode``
    (walk|bike|drive), ``k`` (1–20), ``kind``, ``amenity``, ``open_at``, ``open`` (1: only
    stations open then, the default).
    """
    args = request.args
    lon = _number(args.get("lon"), "lon", -180, 180)
    lat = _number(args.get("lat"), "lat", -90, 90)
    source_crs = _crs_param(args.get("crs"))
    mode = _choice(args.get("mode"), "mode", MODES, "walk")
    k_raw = args.get("k") or "3"
    if not k_raw.strip().isdigit():
        _bad("k", f"k must be a whole number 1–{K_MAX}, not {k_raw!r}")
    k = int(k_raw)
    if not 1 <= k <= K_MAX:
        _bad("k", f"k must be between 1 and {K_MAX}, not {k}")
    open_only = _flag(args.get("open"), "open", True)
    at = _time_param()
    wlon, wlat = crs.to_wgs84(lon, lat, source_crs)
    answer = get_engine().nearest(
        lon=float(wlon),
        lat=float(wlat),
        mode=mode,
        k=k,
        kinds=_list_param("kind"),
        amenities=_list_param("amenity"),
        at=at,
        open_only=open_only,
    )
    answer["origin"]["input"] = {"lon": lon, "lat": lat, "crs": source_crs}
    for r in answer["results"]:
        r["navigation"] = navigation.links(r["lon"], r["lat"], r["name"], mode, (wlon, wlat))
    return jsonify(answer)


@bp.post("/nearest/batch")
def nearest_batch():
    """Nearest matching station and travel time for up to 10,000 origins.

    Body (JSON): ``{"origins": [[lon, lat], ...], "mode": "walk", "crs": "wgs84",
    "kind": [...], "amenity": [...], "open_at": "...", "open": true}``.
    """
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        _bad("body", "send a JSON object with an 'origins' list")
    origins = body.get("origins")
    if not isinstance(origins, list) or not origins:
        _bad("origins", "origins must be a non-empty list of [lon, lat]")
    if len(origins) > BATCH_MAX:
        _bad("origins", f"at most {BATCH_MAX} origins per request")
    try:
        xy = np.array(origins, dtype=float)
    except (TypeError, ValueError):
        _bad("origins", "every origin must be [lon, lat] numbers")
    if xy.ndim != 2 or xy.shape[1] != 2:
        _bad("origins", "every origin must be a [lon, lat] pair")
    bad = np.flatnonzero(
        ~np.isfinite(xy).all(axis=1) | (np.abs(xy[:, 0]) > 180) | (np.abs(xy[:, 1]) > 90)
    )
    if len(bad):
        _bad("origins", f"origin {int(bad[0])} is not a valid lon/lat: {origins[int(bad[0])]!r}")
    source_crs = _crs_param(body.get("crs"))
    mode = _choice(body.get("mode"), "mode", MODES, "walk")
    at = None
    if body.get("open_at"):
        try:
            at = _hours.parse_time(str(body["open_at"]))
        except ValueError as exc:
            _bad("open_at", str(exc))
    lon, lat = crs.to_wgs84(xy[:, 0], xy[:, 1], source_crs)

    def _names(key):
        value = body.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, list):
            _bad(key, f"{key} must be a list or comma-separated string")
        return [str(v).strip() for v in value if str(v).strip()]

    engine = get_engine()
    out = engine.batch(
        lon=np.atleast_1d(lon),
        lat=np.atleast_1d(lat),
        mode=mode,
        kinds=_names("kind"),
        amenities=_names("amenity"),
        at=at,
        open_only=_flag(body.get("open"), "open", True),
    )
    times = out["travel_time_s"]
    results = [
        {
            "station_id": sid,
            "travel_time_s": round(float(t), 1) if np.isfinite(t) else None,
            "snap_distance_m": round(float(d), 1),
        }
        for sid, t, d in zip(out["station_id"], times, out["snap_distance_m"], strict=True)
    ]
    finite = times[np.isfinite(times)]
    return jsonify(
        network=engine.networks[mode].describe(),
        count=len(results),
        reached=len(finite),
        median_travel_time_s=round(float(np.median(finite)), 1) if len(finite) else None,
        reason=out["reason"],
        results=results,
    )


@bp.get("/network/roads")
def network_roads():
    """Major roads of the drive network as GeoJSON (the offline basemap of the pages)."""
    engine = get_engine()
    net = engine.networks.get("drive") or next(iter(engine.networks.values()))
    response = jsonify(net.major_roads())
    response.cache_control.max_age = 3600
    response.cache_control.public = True
    return response


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 description of this API."""
    return jsonify(openapi_spec(__version__))


@bp.get("/network")
def network_info():
    """The active road network per mode (schematic or not, size, source)."""
    engine = get_engine()
    return jsonify(
        source=get_library().active_source().name,
        modes={m: net.describe() for m, net in engine.networks.items()},
    )
