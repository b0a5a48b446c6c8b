"""The request layer: every API operation as a framework-free function over plain data.

The pattern (as pygeoapi separates its API core from the Flask/Starlette adapters), which
every endpoint follows, those of today and those to come (``/api/tours``,
``/api/coverage``):

1. **The web adapter** (:mod:`geoservice.web.api`) turns an HTTP request into plain data —
   the query string as a mapping name → list of strings
   (``request.args.to_dict(flat=False)``), path parameters as strings, a body as its raw
   bytes with its ``Content-Type`` — calls one function here and sends the dict it returns
   as JSON. It maps exceptions to status codes and nothing else:
   :class:`~geoservice.errors.ParameterError` → its ``status`` (400, 404, 413, 415, 422),
   ``NetworkError``/``OsmError`` → 503.
2. **A function here** reads *every* parameter through :mod:`geoservice.params`
   (:func:`~geoservice.params.arg` for a scalar, :func:`~geoservice.params.arg_list` for a
   repeatable list, :func:`~geoservice.params.json_body` for a body, then ``number``,
   ``integer``, ``choice``, ``flag``, ``names``, ``time``, ``points`` …), calls the domain
   module (:mod:`~geoservice.store.catalog`, :mod:`~geoservice.nearest`; later ``tours``,
   ``coverage``) with typed values, and shapes the JSON answer. No Flask here, no parsing
   in the adapter, no ad-hoc ``int()``/``float()`` anywhere.
3. **The OpenAPI description** (:mod:`geoservice.web.openapi`) documents the operation's
   parameters with the schema the parser accepts and its answer with a full response
   schema; ``tests/test_schemathesis.py`` then fuzzes it with no further code.

A new endpoint therefore adds: one function here (``def tours(store, engine, args)``), one
three-line route in ``web/api.py``, one path in ``web/openapi.py``.

Expensive answers (coverage, suggested sites) are parsed first (:func:`coverage_request`,
:func:`suggest_request`) so that the web layer can key its answer cache and ``ETag`` on the
*parsed* parameters (``minutes=15,5`` and ``minutes=5&minutes=15`` are one answer), and are
computed only on a miss (:func:`coverage`, :func:`coverage_suggest`).
"""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from geoservice import crs, navigation
from geoservice import params as p
from geoservice.coverage import LAYERS, CoverageEngine, CoverageQuery, siting
from geoservice.errors import NetworkError, OsmError, ParameterError, TourNotFoundError, excerpt
from geoservice.model import AMENITIES, STATION_KINDS
from geoservice.nearest import K_MAX, NearestEngine
from geoservice.network import MODE_LABELS, NetworkLibrary, places
from geoservice.store import Store, catalog
from geoservice.tours import export as tour_export
from geoservice.tours.planner import Planner
from geoservice.tours.saved import TourStore

__all__ = [
    "BATCH_BODY_MAX",
    "BATCH_KEYS",
    "BATCH_MAX",
    "COVERAGE_BUFFERS",
    "COVERAGE_DEFAULT_LAYERS",
    "COVERAGE_LAYERS",
    "TOURS_BODY_MAX",
    "TOURS_PAGE_MAX",
    "TOUR_FORMATS",
    "TOUR_KEYS",
    "Args",
    "CoverageRequest",
    "TourFile",
    "answer_key",
    "coverage",
    "coverage_request",
    "coverage_suggest",
    "health",
    "nearest",
    "nearest_batch",
    "network",
    "roads",
    "sites",
    "station",
    "stations",
    "suggest_request",
    "tour",
    "tour_file",
    "tour_plan",
    "tours",
    "towns",
]

#: Query parameters as the web layer hands them over: name → every value given.
Args = Mapping[str, Sequence[str]]

#: Most origins in one batch request.
BATCH_MAX = 10_000
#: Largest batch body: 10,000 pretty-printed full-precision origins take ≈ 0.6 MB.
BATCH_BODY_MAX = 4 * 1024 * 1024
#: The keys a batch body may have.
BATCH_KEYS = ("origins", "mode", "crs", "kind", "amenity", "open_at", "open")


# -- catalogue -------------------------------------------------------------------------------


def stations(store: Store, args: Args) -> dict:
    """``GET /api/stations``: stations filtered by ``kind``, ``town``, ``amenity``, with
    open status at ``open_at``."""
    return catalog.stations_geojson(
        store,
        kind=p.arg_list(args, "kind"),
        town=p.arg_list(args, "town"),
        amenity=p.arg_list(args, "amenity"),
        at=p.time(p.arg(args, "open_at")),
    )


def station(store: Store, station_id: str, args: Args) -> dict:
    """``GET /api/stations/<station_id>``: one station (404 when unknown)."""
    at = p.time(p.arg(args, "open_at"))
    return catalog.station_feature(store, station_id, at=at)


def sites(store: Store, args: Args, library: NetworkLibrary | None = None) -> dict:
    """``GET /api/sites``: sites filtered by ``kind`` and ``town``; ``located=1`` keeps
    those with a position — stored, or derived from the active network's place nodes
    (``coord_source`` "schematic"/"osm"; the store's own when the network is unusable)."""
    kind = p.arg_list(args, "kind")
    town = p.arg_list(args, "town")
    located = p.flag(p.arg(args, "located"), "located", False)
    positions = None
    if library is not None:
        try:
            positions = places.site_positions(store, library)
        except (NetworkError, OsmError):
            positions = None  # the sites are still listed, with stored coordinates only
    return catalog.sites_geojson(store, kind=kind, town=town, located=located, positions=positions)


def towns(store: Store) -> dict:
    """``GET /api/towns``."""
    return catalog.towns_geojson(store)


def health(store: Store) -> dict:
    """``GET /api/health``: store location, revision and counts."""
    return {
        "status": "ok",
        "store": store.location(),
        "revision": store.revision(),
        "stations": len(store.stations()),
        "sites": len(store.sites()),
    }


# -- routing ---------------------------------------------------------------------------------


def nearest(engine: NearestEngine, args: Args) -> dict:
    """``GET /api/nearest``: the ``k`` nearest matching stations from ``lon``/``lat``.

    Parameters: ``lon``, ``lat`` (required), ``crs`` (wgs84|gcj02|bd09), ``mode``
    (walk|bike|drive), ``k`` (1–20), ``kind``, ``amenity``, ``open_at``, ``open`` (only
    stations open then; default 1). The answer adds, to the engine's, the input point as
    sent and navigation links per result.
    """
    lon = p.number(p.arg(args, "lon"), "lon", -180, 180)
    lat = p.number(p.arg(args, "lat"), "lat", -90, 90)
    source_crs = p.coordinate_system(p.arg(args, "crs"))
    mode = p.choice(p.arg(args, "mode"), "mode", MODE_LABELS, default="walk")
    k = p.integer(p.arg(args, "k"), "k", 1, K_MAX, default=3)
    open_only = p.flag(p.arg(args, "open"), "open", True)
    at = p.time(p.arg(args, "open_at"))
    kinds = p.names(p.arg_list(args, "kind"), "kind", STATION_KINDS)
    amenities = p.names(p.arg_list(args, "amenity"), "amenity", AMENITIES)
    wlon, wlat = (float(v) for v in crs.to_wgs84(lon, lat, source_crs))
    answer = engine.nearest(
        lon=wlon,
        lat=wlat,
        mode=mode,
        k=k,
        kinds=kinds,
        amenities=amenities,
        at=at,
        open_only=open_only,
    )
    answer["origin"]["input"] = {"lon": lon, "lat": lat, "crs": source_crs}
    for r in answer["results"]:
        r["navigation"] = navigation.links(r["lon"], r["lat"], r["name"], mode, (wlon, wlat))
    return answer


def nearest_batch(engine: NearestEngine, body: bytes, content_type: str | None) -> dict:
    """``POST /api/nearest/batch``: each origin's nearest matching station and travel time.

    Body (JSON object; unknown keys are refused): ``origins`` ``[[lon, lat], …]``
    (1–`BATCH_MAX`), ``mode``, ``crs``, ``kind``, ``amenity`` (lists or comma-separated
    strings), ``open_at``, ``open`` (boolean).
    """
    doc = p.json_body(body, content_type, max_bytes=BATCH_BODY_MAX, allowed=BATCH_KEYS)
    xy = p.points(doc.get("origins"), "origins", max_items=BATCH_MAX)
    mode = p.choice(doc.get("mode"), "mode", MODE_LABELS, default="walk")
    source_crs = p.coordinate_system(doc.get("crs"))
    kinds = p.names(doc.get("kind"), "kind", STATION_KINDS)
    amenities = p.names(doc.get("amenity"), "amenity", AMENITIES)
    at = p.time(doc.get("open_at"))
    open_only = p.flag(doc.get("open"), "open", True)
    lon, lat = crs.to_wgs84(xy[:, 0], xy[:, 1], source_crs)
    out = engine.batch(
        lon=np.atleast_1d(lon),
        lat=np.atleast_1d(lat),
        mode=mode,
        kinds=kinds,
        amenities=amenities,
        at=at,
        open_only=open_only,
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
    return {
        "network": engine.networks[mode].describe(),
        "count": len(results),
        "reached": len(finite),
        "median_travel_time_s": round(float(np.median(finite)), 1) if len(finite) else None,
        "reason": out["reason"],
        "results": results,
    }


def network(engine: NearestEngine, library: NetworkLibrary) -> dict:
    """``GET /api/network``: the active road network per mode."""
    return {
        "source": library.active_source().name,
        "modes": {m: net.describe() for m, net in engine.networks.items()},
    }


def roads(engine: NearestEngine) -> dict:
    """``GET /api/network/roads``: major roads of the drive network (the offline basemap)."""
    net = engine.networks.get("drive") or next(iter(engine.networks.values()))
    return net.major_roads()


# -- caravan tours ---------------------------------------------------------------------------

#: Largest tour request body: 300 stops with a service time, a window and a priority each
#: take ≈ 60 kB.
TOURS_BODY_MAX = 512 * 1024
#: The keys a tour request may have (see :func:`geoservice.tours.planner.parse_request`).
TOUR_KEYS = (
    "depot",
    "stops",
    "days",
    "start_date",
    "skip_days_off",
    "day_start",
    "day_end",
    "lunch_minutes",
    "service_minutes",
    "time_windows",
    "optional",
)
#: Most plans one page of ``GET /api/tours`` lists.
TOURS_PAGE_MAX = 100
#: Files a saved plan is served as (``/api/tours/<id>.<format>``).
TOUR_FORMATS = ("gpx", "csv", "xlsx", "geojson", "html")


@dataclass(frozen=True)
class TourFile:
    """A saved plan as a file: its bytes, media type and ``Content-Disposition``."""

    data: bytes
    media_type: str
    disposition: str


def tour_plan(planner: Planner, body: bytes, content_type: str | None) -> dict:
    """``POST /api/tours``: plan a multi-day caravan tour and save it.

    Body (JSON object; unknown keys are refused): ``stops`` (ids, kinds or towns; at most
    300 stops), ``depot``, ``days`` (1–31), ``start_date``, ``skip_days_off``,
    ``day_start``, ``day_end``, ``lunch_minutes``, ``service_minutes``, ``time_windows``,
    ``optional`` (see :func:`geoservice.tours.planner.parse_request`).

    Returns
    -------
    dict
        The saved plan ``{"id", "created", "request", "result"}``.
    """
    doc = p.json_body(body, content_type, max_bytes=TOURS_BODY_MAX, allowed=TOUR_KEYS)
    return planner.plan(doc)


def tours(tours_: TourStore, args: Args) -> dict:
    """``GET /api/tours``: saved plans, newest first, ``limit`` (1–100, default 20) at a
    time from ``offset``."""
    limit = p.integer(p.arg(args, "limit"), "limit", 1, TOURS_PAGE_MAX, default=20)
    offset = p.integer(p.arg(args, "offset"), "offset", 0, 10**6, default=0)
    total = len(tours_.ids())
    plans = tours_.list(limit, offset)
    following = offset + limit
    return {
        "plans": plans,
        "count": len(plans),
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_offset": following if following < total else None,
    }


def tour(tours_: TourStore, tour_id: str) -> dict:
    """``GET /api/tours/<tour_id>``: a saved plan (404 when there is none)."""
    try:
        return tours_.get(tour_id)
    except TourNotFoundError:
        err = ParameterError(
            "tour_id",
            f"没有编号为 {excerpt(tour_id)} 的巡回方案",
            f"no saved tour plan {excerpt(tour_id)}",
            status=404,
        )
        raise err from None


def tour_file(
    tours_: TourStore, tour_id: str, fmt: str, org: str = tour_export.DEFAULT_ORG
) -> TourFile:
    """``GET /api/tours/<tour_id>.<format>``: a saved plan as GPX, CSV, XLSX, GeoJSON or
    the printable HTML schedule, naming ``org`` (the district profile's organisation).

    The HTML schedule is sent ``inline`` (to print from the browser), the others as
    attachments; both name the file in ASCII and, by RFC 5987, in Chinese.
    """
    fmt = p.choice(fmt, "format", TOUR_FORMATS)
    saved = tour(tours_, tour_id)
    ascii_name, utf8_name = tour_export.filenames(saved, fmt)
    kind = "inline" if fmt == "html" else "attachment"
    quoted = urllib.parse.quote(utf8_name, safe="")
    return TourFile(
        data=tour_export.export(saved, fmt, org),
        media_type=tour_export.MEDIA_TYPES[fmt],
        disposition=f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quoted}",
    )


# -- coverage --------------------------------------------------------------------------------

#: The layers of ``GET /api/coverage`` (:meth:`geoservice.coverage.Coverage.layer`), with the
#: Chinese names the ``layer``/``layers`` parameters accept too.
COVERAGE_LAYERS: dict[str, str] = {
    "areas": "覆盖范围",
    "cross": "双站覆盖",
    "catchments": "服务范围",
    "uncovered": "未覆盖道路",
    "stations": "计入站点",
}
#: Layers sent beside the main one when ``layers`` is not given (catchments are heavy and
#: optional on the page: asked for with ``layer=catchments``).
COVERAGE_DEFAULT_LAYERS = ("cross", "uncovered", "stations")
#: ``layers=none``: the main layer and the figures only.
_NO_LAYERS = "none"
#: The polygon buffers the API offers. Each buffer size has its own cache of dissolved road
#: buffers in the engine (tens of MB on the Miyun network), so the API keeps to a few.
COVERAGE_BUFFERS = (25.0, 50.0, 100.0, 200.0)
#: Geometry is simplified by this much (metres) for transfer unless ``simplify_m`` says
#: otherwise (0: exact); figures are always computed on the exact geometry.
SIMPLIFY_DEFAULT_M = 5.0
SIMPLIFY_MAX_M = 50.0
#: Decimals of the coordinates sent (1e-5° ≈ 1 m).
COVERAGE_DECIMALS = 5


@dataclass(frozen=True)
class CoverageRequest:
    """The parsed parameters of ``GET /api/coverage``.

    Attributes
    ----------
    query : CoverageQuery
        What to compute (``mode``, ``minutes``, ``kind``, ``amenity``, ``open_at``,
        ``buffer_m``).
    layer : str
        The layer sent as the answer's ``features`` (default ``areas``).
    layers : tuple of str
        Further layers sent under ``layers``.
    simplify_m : float
        Simplification of the geometry sent, in metres (0: exact).
    """

    query: CoverageQuery
    layer: str = "areas"
    layers: tuple[str, ...] = COVERAGE_DEFAULT_LAYERS
    simplify_m: float = SIMPLIFY_DEFAULT_M

    def to_dict(self) -> dict:
        """JSON-ready parameters (canonical: equal for requests with the same answer)."""
        return {
            **self.query.to_dict(),
            "layer": self.layer,
            "layers": list(self.layers),
            "simplify_m": self.simplify_m,
        }


def answer_key(operation: str, parameters: Mapping[str, object]) -> str:
    """Canonical text of a parsed request, for caching its answer: ``operation`` and the
    parsed parameters (``to_dict()`` of the request), keys sorted."""
    return operation + ":" + json.dumps(parameters, sort_keys=True, ensure_ascii=False)


def coverage_request(args: Args) -> CoverageRequest:
    """Parse the parameters of ``GET /api/coverage``.

    Parameters: ``mode``, ``minutes`` (one or more thresholds, comma-separated or
    repeated), ``kind``, ``amenity``, ``open_at`` (count only the stations open then;
    absent: every matching station, the planning view), ``buffer_m`` (one of
    `COVERAGE_BUFFERS`), ``layer`` (the layer of ``features``, default ``areas``),
    ``layers`` (further layers, default `COVERAGE_DEFAULT_LAYERS`; ``none`` for none),
    ``simplify_m`` (0–`SIMPLIFY_MAX_M`, default `SIMPLIFY_DEFAULT_M`).

    Raises
    ------
    ParameterError
    """
    query = CoverageQuery.parse(
        {
            "mode": p.arg(args, "mode"),
            "minutes": p.arg_list(args, "minutes"),
            "kind": p.arg_list(args, "kind"),
            "amenity": p.arg_list(args, "amenity"),
            "open_at": p.arg(args, "open_at"),
            "buffer_m": p.arg(args, "buffer_m"),
        }
    )
    if query.buffer_m not in COVERAGE_BUFFERS:
        name = "buffer_m"
        shown = "、".join(f"{b:g}" for b in COVERAGE_BUFFERS)
        raise ParameterError(
            name,
            f"buffer_m 只能取 {shown} 米之一，而不是 {query.buffer_m:g}",
            f"buffer_m must be one of {', '.join(f'{b:g}' for b in COVERAGE_BUFFERS)} "
            f"metres, not {query.buffer_m:g}",
        )
    layer = p.choice(p.arg(args, "layer"), "layer", COVERAGE_LAYERS, default="areas")
    vocab = {**COVERAGE_LAYERS, _NO_LAYERS: "不要其他图层"}
    chosen = p.names(p.arg_list(args, "layers"), "layers", vocab)
    if chosen is None:
        extra = COVERAGE_DEFAULT_LAYERS
    elif _NO_LAYERS in chosen:
        if len(chosen) > 1:
            name = "layers"
            raise ParameterError(
                name,
                "layers=none 不能与其他图层同时给出",
                "layers=none cannot be combined with layer names",
            )
        extra = ()
    else:
        extra = tuple(chosen)
    simplify_m = p.number(
        p.arg(args, "simplify_m"), "simplify_m", 0, SIMPLIFY_MAX_M, default=SIMPLIFY_DEFAULT_M
    )
    return CoverageRequest(
        query=query,
        layer=layer,
        layers=tuple(x for x in LAYERS if x in extra and x != layer),
        simplify_m=simplify_m,
    )


def coverage(engine: CoverageEngine, request: CoverageRequest) -> dict:
    """``GET /api/coverage``: a GeoJSON FeatureCollection of ``request.layer`` (by default
    the coverage areas, one polygon per threshold, largest first) with the figures.

    Foreign members: ``layer`` (which layer ``features`` holds), ``layers`` (the further
    layers asked for, each a FeatureCollection), ``coverage`` (the figures:
    :meth:`geoservice.coverage.Coverage.to_dict`), ``revision`` (the store revision they
    are computed from) and ``simplify_m``. Geometry is simplified by ``simplify_m`` and its
    coordinates rounded to `COVERAGE_DECIMALS` decimals for transfer.
    """
    revision = engine.store.revision()
    cov = engine.compute(request.query)
    light = {"tolerance_m": request.simplify_m, "decimals": COVERAGE_DECIMALS}
    main = cov.layer(request.layer, **light)
    return {
        "type": "FeatureCollection",
        "layer": request.layer,
        "features": main["features"],
        "layers": {name: cov.layer(name, **light) for name in request.layers},
        "coverage": cov.to_dict(),
        "revision": revision,
        "simplify_m": request.simplify_m,
    }


def suggest_request(args: Args) -> siting.SitingQuery:
    """Parse the parameters of ``GET /api/coverage/suggest``: ``n`` (1–50, default 10),
    ``objective`` (``roads`` or ``villages``), ``mode``, ``minutes`` (one threshold, default
    the mode's largest), ``kind``, ``amenity``, ``open_at``.

    Raises
    ------
    ParameterError
    """
    return siting.SitingQuery.parse(
        {
            "n": p.arg(args, "n"),
            "objective": p.arg(args, "objective"),
            "mode": p.arg(args, "mode"),
            "minutes": p.arg_list(args, "minutes"),
            "kind": p.arg_list(args, "kind"),
            "amenity": p.arg_list(args, "amenity"),
            "open_at": p.arg(args, "open_at"),
        }
    )


def coverage_suggest(engine: CoverageEngine, query: siting.SitingQuery) -> dict:
    """``GET /api/coverage/suggest``: the suggested sites as a GeoJSON FeatureCollection
    of points, with the whole answer (before/after, set covering, solver and greedy
    baseline) as ``siting`` and the store ``revision``."""
    revision = engine.store.revision()
    answer = siting.suggest(engine, query).to_geojson()
    for part in ("solver", "greedy"):
        # A bound HiGHS could not establish is no JSON number.
        for key, value in answer["siting"][part].items():
            if isinstance(value, float) and not math.isfinite(value):
                answer["siting"][part][key] = None
    return {**answer, "revision": revision}
