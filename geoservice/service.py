"""The request layer: every API operation as a framework-free function over plain data.

The pattern (as pygeoapi separates its API core from the Flask/Starlette adapters), which
every endpoint follows (catalogue, nearest, tours, coverage):

1. **The web adapter** (:mod:`geoservice.web.api`) turns an HTTP request into plain data —
   the query string as a mapping name → list of strings
   (``request.args.to_dict(flat=False)``), path parameters as strings, a body as its raw
   bytes with its ``Content-Type`` — calls one function here and sends the dict it returns
   as JSON. It maps exceptions to status codes and nothing else:
   :class:`~geoservice.errors.ParameterError` → its ``status`` (400, 404, 413, 415, 422),
   ``NetworkError``/``OsmError`` → 503, all in :mod:`geoservice.web.http_errors`.
2. **A function here** reads the operation's parameters once, through its *declaration*:
   a frozen dataclass whose fields say how each parameter is read
   (:func:`geoservice.params.param` over ``number``, ``integer``, ``choice``, ``flag``,
   ``names``, ``time``, ``points`` …), read by :func:`~geoservice.params.parse_query` (a
   query string), :func:`~geoservice.params.parse_body` (a JSON body; unknown keys refused)
   or :func:`~geoservice.params.parse_values` (the CLI). It calls the domain module
   (:mod:`~geoservice.store.catalog`, :mod:`~geoservice.nearest`, the tour planner,
   coverage) with the typed values, which are never parsed again, and shapes the JSON
   answer. No Flask here, no parsing in the adapter, no ad-hoc ``int()``/``float()``
   anywhere.
3. **The OpenAPI description** (:mod:`geoservice.web.openapi`) generates the operation's
   parameters and request body from the same declaration, and its answer's schema from the
   answer's type in :mod:`geoservice.responses` (which the function here returns);
   ``tests/test_schemathesis.py`` then fuzzes it with no further code.

A new endpoint therefore adds: one declaration and one function here, the ``TypedDict`` of
its answer in ``responses.py``, one three-line route in ``web/api.py`` and one path in
``web/openapi.py`` naming both.

Expensive answers (coverage, suggested sites) are parsed first (:func:`coverage_request`,
:func:`suggest_request`) so that the web layer can key its answer cache and ``ETag`` on the
*parsed* parameters (``minutes=15,5`` and ``minutes=5&minutes=15`` are one answer), and are
computed only on a miss (:func:`coverage`, :func:`coverage_suggest`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from geoservice import crs, filters, navigation
from geoservice import params as p
from geoservice.admin.reports import NOTE_MAX, PROBLEMS, THANKS, check_note
from geoservice.coverage import LAYERS, CoverageEngine, CoverageQuery, siting
from geoservice.errors import (
    NetworkError,
    OsmError,
    ParameterError,
    TourNotFoundError,
    error_body,
    excerpt,
)
from geoservice.i18n import DEFAULT_LANG
from geoservice.model import SITE_KINDS
from geoservice.nearest import K_MAX, NearestEngine
from geoservice.network import NetworkLibrary, places
from geoservice.store import Store, catalog, records
from geoservice.tours import export as tour_export
from geoservice.tours import saved
from geoservice.tours.request import TourRequest
from geoservice.tours.saved import TourStore

if TYPE_CHECKING:
    from geoservice.admin import User
    from geoservice.admin.audit import Journal
    from geoservice.admin.reports import Reports
    from geoservice.responses import (
        BatchAnswer,
        BatchResult,
        ErrorBody,
        Health,
        NetworkInfo,
        Probe,
        ReportReceipt,
        TourList,
    )

__all__ = [
    "BATCH_BODY_MAX",
    "BATCH_MAX",
    "COVERAGE_BUFFERS",
    "COVERAGE_DEFAULT_LAYERS",
    "COVERAGE_LAYERS",
    "TOURS_BODY_MAX",
    "TOURS_PAGE_MAX",
    "TOUR_FORMATS",
    "Args",
    "CoverageRequest",
    "ReportBody",
    "TourFile",
    "alive",
    "answer_key",
    "coverage",
    "coverage_request",
    "coverage_suggest",
    "health",
    "nearest",
    "nearest_batch",
    "network",
    "readiness",
    "report_file",
    "roads",
    "sites",
    "station",
    "stations",
    "suggest_request",
    "tour",
    "tour_file",
    "tour_request",
    "tour_viewer",
    "tours",
    "towns",
]

#: Query parameters as the web layer hands them over: name → every value given.
Args = Mapping[str, Sequence[str]]

#: Most origins in one batch request.
BATCH_MAX = 10_000
#: Largest batch body: 10,000 pretty-printed full-precision origins take ≈ 0.6 MB.
BATCH_BODY_MAX = 4 * 1024 * 1024


# -- catalogue -------------------------------------------------------------------------------

_TOWN_NOTE = "codes, Chinese names (full or short) or pinyin, comma-separated or repeated"


def _towns() -> Any:
    """``town``: town spellings, resolved against the store's towns."""
    return p.param(
        p.read_names(), f"towns: {_TOWN_NOTE}", default=None, example=["鼓楼街道"], name="town"
    )


@dataclass(frozen=True)
class StationsQuery:
    """``GET /api/stations``: station filters and the moment of the open status."""

    kinds: tuple[str, ...] | None = filters.kinds(note="")
    towns: tuple[str, ...] | None = _towns()
    amenities: tuple[str, ...] | None = filters.amenities()
    at: dt.datetime | None = filters.open_at()


def _path_id(raw: object, name: str, default: object) -> str:
    # A path segment as routed, matched against the stored ids exactly (control
    # characters refused: see params.identifier).
    return p.identifier(raw, name)


@dataclass(frozen=True)
class StationQuery:
    """``GET /api/stations/<station_id>``."""

    station_id: str = p.param(
        p.read_with(_path_id, {"type": "string", "minLength": 1}),
        "the station's id",
        example="WS001",
        location="path",
    )
    at: dt.datetime | None = filters.open_at()


@dataclass(frozen=True)
class SitesQuery:
    """``GET /api/sites``: site filters; ``located`` keeps those with a position."""

    kinds: tuple[str, ...] | None = p.param(
        p.read_names(SITE_KINDS),
        f"site kinds; {filters.LIST_NOTE}",
        default=None,
        example=["village"],
        name="kind",
    )
    towns: tuple[str, ...] | None = _towns()
    located: bool = p.param(
        p.read_flag(), "1: only sites with coordinates", default=False, example="1"
    )


#: Station id → open worker reports (:meth:`geoservice.admin.reports.Reports.open_counts`).
OpenReports = Mapping[str, int]


def _with_reports(records: Iterable[dict], open_reports: OpenReports | None) -> None:
    """Give each station record its ``open_reports`` (0 when none); None: leave them."""
    if open_reports is None:
        return
    for rec in records:
        rec["open_reports"] = open_reports.get(rec["id"], 0)


def stations(store: Store, args: Args, open_reports: OpenReports | None = None) -> dict:
    """``GET /api/stations``: stations filtered by ``kind``, ``town``, ``amenity``, with
    open status at ``open_at`` (and their ``open_reports``, when given)."""
    q = p.parse_query(StationsQuery, args)
    answer = catalog.stations_geojson(
        store, kinds=q.kinds, towns=q.towns, amenities=q.amenities, at=q.at
    )
    _with_reports((f["properties"] for f in answer["features"]), open_reports)
    return answer


def station(
    store: Store, station_id: str, args: Args, open_reports: OpenReports | None = None
) -> dict:
    """``GET /api/stations/<station_id>``: one station (404 when unknown)."""
    q = p.parse_query(StationQuery, {**args, "station_id": [station_id]})
    feature = catalog.station_feature(store, q.station_id, at=q.at)
    _with_reports([feature["properties"]], open_reports)
    return feature


def sites(store: Store, args: Args, library: NetworkLibrary | None = None) -> dict:
    """``GET /api/sites``: sites filtered by ``kind`` and ``town``; ``located=1`` keeps
    those with a position — stored, or derived from the active network's place nodes
    (``coord_source`` "schematic"/"osm"; the store's own when the network is unusable)."""
    q = p.parse_query(SitesQuery, args)
    positions = None
    if library is not None:
        try:
            positions = places.site_positions(store, library)
        except (NetworkError, OsmError):
            positions = None  # the sites are still listed, with stored coordinates only
    return catalog.sites_geojson(
        store, kinds=q.kinds, towns=q.towns, located=q.located, positions=positions
    )


# -- writes (the staff's write API) ---------------------------------------------------------

#: Largest body of one record (the longest record is a few KB).
RECORD_BODY_MAX = 64 * 1024
_FEATURE: dict[str, Callable[[Store, str], dict]] = {
    "stations": catalog.station_feature,
    "sites": catalog.site_feature,
}


def if_match(header: str | None) -> int | None:
    """The version an ``If-Match`` header names (``"3"``, ``W/"3"``); None for no header or
    ``*``.

    Raises
    ------
    ParameterError
        400 for anything else.
    """
    if header is None or header.strip() == "*":
        return None
    tag = header.strip().removeprefix("W/").strip('"')
    if not tag.isdigit() or len(tag) > 12:
        parameter = "If-Match"
        raise ParameterError(
            parameter,
            f'If-Match 应为记录的 ETag（如 "3"），而不是 {excerpt(header)}',
            f'If-Match must be the record\'s ETag (such as "3"), not {excerpt(header)}',
        )
    return int(tag)


def record(store: Store, layer: str, record_id: str) -> dict:
    """One station or site as its GeoJSON Feature, with ``version`` (its ETag)."""
    return _FEATURE[layer](store, p.identifier(record_id, "id"))


def record_create(
    store: Store, layer: str, body: bytes, content_type: str | None, may_edit: records.MayEdit
) -> dict:
    """``POST /api/stations`` (``/api/sites``): add a record; the new record's Feature."""
    fields = p.json_body(body, content_type, max_bytes=RECORD_BODY_MAX)
    return record(store, layer, records.create(store, layer, fields, may_edit=may_edit))


def record_patch(
    store: Store,
    layer: str,
    record_id: str,
    body: bytes,
    content_type: str | None,
    *,
    may_edit: records.MayEdit,
    expect: int | None,
) -> dict:
    """``PATCH /api/stations/<id>``: change the fields sent; the record's Feature."""
    rid = p.identifier(record_id, "id")
    fields = p.json_body(body, content_type, max_bytes=RECORD_BODY_MAX)
    records.patch(store, layer, rid, fields, may_edit=may_edit, expect=expect)
    return record(store, layer, rid)


def record_delete(
    store: Store, layer: str, record_id: str, *, may_edit: records.MayEdit, expect: int | None
) -> None:
    """``DELETE /api/stations/<id>``: soft delete (restorable)."""
    records.delete(store, layer, p.identifier(record_id, "id"), may_edit=may_edit, expect=expect)


def record_restore(
    store: Store, journal: Journal, layer: str, record_id: str, may_edit: records.MayEdit
) -> dict:
    """``POST /api/stations/<id>/restore``: bring a deleted record back; its Feature."""
    rid = p.identifier(record_id, "id")
    records.restore(store, journal, layer, rid, may_edit=may_edit)
    return record(store, layer, rid)


def towns(store: Store) -> dict:
    """``GET /api/towns``."""
    return catalog.towns_geojson(store)


def health(store: Store) -> Health:
    """``GET /api/health``: store revision and counts (not where the store is: a path on
    the server is no reader's business)."""
    return {
        "status": "ok",
        "revision": store.revision(),
        "stations": len(store.stations()),
        "sites": len(store.sites()),
    }


#: Seconds after which ``/readyz`` is worth asking again while the networks load.
READY_RETRY_S = 5


def alive() -> Probe:
    """``GET /healthz``: the process answers."""
    return {"status": "alive"}


def readiness(ready: bool) -> tuple[bool, Probe | ErrorBody]:
    """``GET /readyz``: ``(True, {"status": "ready"})`` once the routing engine of the
    active network is built, else ``(False, the 503 error body)``."""
    if ready:
        return True, {"status": "ready"}
    zh, en = "路网正在加载，请稍后再试", "the road networks are still loading; retry shortly"
    return False, error_body(503, zh, en)


# -- routing ---------------------------------------------------------------------------------


def _crs() -> Any:
    return p.param(
        p.read_crs(),
        "CRS of lon/lat: wgs84 (GPS), gcj02 (Amap/Tencent) or bd09 (Baidu); "
        "aliases amap, tencent, baidu",
        default="wgs84",
        example="wgs84",
    )


@dataclass(frozen=True)
class NearestQuery:
    """``GET /api/nearest``: a point, how to travel and which stations count.

    ``lon``/``lat`` are in ``crs``; ``stations`` the station filters (``kind``, ``amenity``,
    ``open_at``, ``open``), handed to the engine as they are.
    """

    lon: float = p.param(p.read_number(-180, 180), "longitude", example=116.842)
    lat: float = p.param(p.read_number(-90, 90), "latitude", example=40.379)
    crs: str = _crs()
    mode: str = filters.mode(example="bike")
    k: int = p.param(p.read_integer(1, K_MAX), "how many stations", default=3, example=3)
    stations: filters.StationFilter = p.nested(default_factory=filters.StationFilter)


@dataclass(frozen=True)
class BatchQuery:
    """``POST /api/nearest/batch``: origins (in ``crs``), mode and station filters."""

    origins: np.ndarray = p.param(
        p.read_points(BATCH_MAX), f"[[lon, lat], …], 1–{BATCH_MAX:,} origins", location="body"
    )
    mode: str = filters.mode()
    crs: str = _crs()
    stations: filters.StationFilter = p.nested(default_factory=filters.StationFilter)


def nearest(engine: NearestEngine, args: Args, open_reports: OpenReports | None = None) -> dict:
    """``GET /api/nearest``: the ``k`` nearest matching stations from ``lon``/``lat``.

    Parameters: :class:`NearestQuery`. The answer adds, to the engine's, the input point as
    sent, navigation links per result and (when given) each station's ``open_reports``.
    """
    q = p.parse_query(NearestQuery, args)
    wlon, wlat = (float(v) for v in crs.to_wgs84(q.lon, q.lat, q.crs))
    answer = engine.nearest(wlon, wlat, mode=q.mode, k=q.k, stations=q.stations)
    answer["origin"]["input"] = {"lon": q.lon, "lat": q.lat, "crs": q.crs}
    for r in answer["results"]:
        r["navigation"] = navigation.links(r["lon"], r["lat"], r["name"], q.mode, (wlon, wlat))
    _with_reports(answer["results"], open_reports)
    return answer


def nearest_batch(engine: NearestEngine, body: bytes, content_type: str | None) -> BatchAnswer:
    """``POST /api/nearest/batch``: each origin's nearest matching station and travel time.

    Body: a JSON object :class:`BatchQuery` (unknown keys are refused); ``kind`` and
    ``amenity`` are lists or comma-separated strings, ``open`` a boolean.
    """
    q = p.parse_body(BatchQuery, body, content_type, max_bytes=BATCH_BODY_MAX)
    lon, lat = crs.to_wgs84(q.origins[:, 0], q.origins[:, 1], q.crs)
    out = engine.batch(np.atleast_1d(lon), np.atleast_1d(lat), mode=q.mode, stations=q.stations)
    times = out["travel_time_s"]
    results: list[BatchResult] = [
        {
            "station_id": sid,
            "travel_time_s": round(float(t), 1) if np.isfinite(t) else None,
            "snap_distance_m": round(float(d), 1),
        }
        for sid, t, d in zip(out["station_id"], times, out["snap_distance_m"], strict=True)
    ]
    finite = times[np.isfinite(times)]
    return {
        "network": engine.networks[q.mode].describe(),
        "count": len(results),
        "reached": len(finite),
        "median_travel_time_s": round(float(np.median(finite)), 1) if len(finite) else None,
        "reason": out["reason"],
        "results": results,
    }


def network(engine: NearestEngine, library: NetworkLibrary) -> NetworkInfo:
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


def tour_request(body: bytes, content_type: str | None) -> TourRequest:
    """The body of ``POST /api/tours``: a JSON object :class:`~geoservice.tours.request.TourRequest`
    (unknown keys are refused), parsed before anything is queued, so that a bad body is a
    400 at once. The plan is made by a job (:mod:`geoservice.jobs`).

    Raises
    ------
    ParameterError
    """
    return p.parse_body(TourRequest, body, content_type, max_bytes=TOURS_BODY_MAX)


@dataclass(frozen=True)
class ToursPage:
    """``GET /api/tours``: one page of saved plans."""

    limit: int = p.param(
        p.read_integer(1, TOURS_PAGE_MAX),
        f"plans per page (1–{TOURS_PAGE_MAX}, default 20)",
        default=20,
        example=20,
    )
    offset: int = p.param(
        p.read_integer(0, 10**6),
        "plans to skip (next_offset of the previous page)",
        default=0,
        example=0,
    )


def tour_viewer(user: User | None) -> saved.Viewer:
    """Who reads the saved plans: anonymous, a signed-in user, or an admin (sees all)."""
    if user is None or user.disabled:
        return saved.ANONYMOUS
    return saved.Viewer(user.name, sees_all=user.is_admin)


def tours(tours_: TourStore, args: Args, viewer: saved.Viewer = saved.ANONYMOUS) -> TourList:
    """``GET /api/tours``: the saved plans ``viewer`` may see (none when anonymous; see
    :class:`~geoservice.tours.saved.Viewer`), newest first, ``limit`` (1–100, default 20)
    at a time from ``offset``."""
    page = p.parse_query(ToursPage, args)
    limit, offset = page.limit, page.offset
    visible = tours_.visible(viewer)
    total = len(visible)
    plans = visible[offset : offset + limit]
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
        return tours_.get(p.identifier(tour_id, "tour_id"))
    except TourNotFoundError:
        err = ParameterError(
            "tour_id",
            f"没有编号为 {excerpt(tour_id)} 的巡回方案",
            f"no saved tour plan {excerpt(tour_id)}",
            status=404,
        )
        raise err from None


#: A saved plan's id.
TOUR_ID_SCHEMA = {"type": "string", "pattern": saved.ID_PATTERN}


@dataclass(frozen=True)
class TourFileQuery:
    """``GET /api/tours/<tour_id>.<format>`` (``tour_id`` alone: ``GET /api/tours/<tour_id>``)."""

    tour_id: str = p.param(
        p.read_with(_path_id, TOUR_ID_SCHEMA),
        "the plan's id (YYYYMMDD-HHMMSS-xxxxxx)",
        example="20260302-091500-a1b2c3",
        location="path",
    )
    format: str = p.param(
        p.read_choice(TOUR_FORMATS),
        "gpx, csv, xlsx, geojson or html",
        example="gpx",
        location="path",
        schema={"enum": list(TOUR_FORMATS)},
    )


def tour_file(
    tours_: TourStore,
    tour_id: str,
    fmt: str,
    org: str = tour_export.DEFAULT_ORG,
    lang: str = DEFAULT_LANG,
) -> TourFile:
    """``GET /api/tours/<tour_id>.<format>``: a saved plan as GPX, CSV, XLSX, GeoJSON or
    the printable HTML schedule, naming ``org`` (the district profile's organisation); the
    schedules (CSV, XLSX, HTML) in ``lang`` (the request's language).

    The HTML schedule is sent ``inline`` (to print from the browser), the others as
    attachments; both name the file in ASCII and, by RFC 5987, in Chinese.
    """
    q = p.parse_values(TourFileQuery, {"tour_id": tour_id, "format": fmt})
    fmt = q.format
    saved = tour(tours_, q.tour_id)
    ascii_name, utf8_name = tour_export.filenames(saved, fmt)
    kind = "inline" if fmt == "html" else "attachment"
    quoted = urllib.parse.quote(utf8_name, safe="")
    return TourFile(
        data=tour_export.export(saved, fmt, org, lang),
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
    """The parameters of ``GET /api/coverage`` (a request declaration).

    Attributes
    ----------
    query : CoverageQuery
        What to compute (``mode``, ``minutes``, ``kind``, ``amenity``, ``open_at``,
        ``buffer_m``; the buffer one of `COVERAGE_BUFFERS`).
    layer : str
        The layer sent as the answer's ``features`` (default ``areas``).
    layers : tuple of str
        Further layers sent under ``layers`` (``none``: none), in the order of
        :data:`geoservice.coverage.LAYERS`, without ``layer``.
    simplify_m : float
        Simplification of the geometry sent, in metres (0: exact).
    """

    query: CoverageQuery = p.nested(
        override=[
            p.narrowed(
                CoverageQuery, "buffer_m", schema={"type": "number", "enum": list(COVERAGE_BUFFERS)}
            )
        ]
    )
    layer: str = p.param(
        p.read_choice(COVERAGE_LAYERS),
        f"the layer of `features`: {', '.join(COVERAGE_LAYERS)} (default areas)",
        default="areas",
        example="areas",
    )
    layers: tuple[str, ...] = p.param(
        p.read_names({**COVERAGE_LAYERS, _NO_LAYERS: "不要其他图层"}),
        f"further layers under `layers` ({', '.join(COVERAGE_LAYERS)}; none for none); "
        f"default {','.join(COVERAGE_DEFAULT_LAYERS)}",
        default=COVERAGE_DEFAULT_LAYERS,
        example=list(COVERAGE_DEFAULT_LAYERS),
        schema={
            "type": "array",
            "maxItems": len(COVERAGE_LAYERS),
            "items": {"enum": [*COVERAGE_LAYERS, _NO_LAYERS]},
        },
    )
    simplify_m: float = p.param(
        p.read_number(0, SIMPLIFY_MAX_M),
        "geometry simplified by this many metres for transfer (0: exact; "
        f"default {SIMPLIFY_DEFAULT_M:g}); coordinates have 5 decimals",
        default=SIMPLIFY_DEFAULT_M,
        example=SIMPLIFY_DEFAULT_M,
    )

    def __post_init__(self) -> None:
        if self.query.buffer_m not in COVERAGE_BUFFERS:
            name = "buffer_m"
            shown = "、".join(f"{b:g}" for b in COVERAGE_BUFFERS)
            raise ParameterError(
                name,
                f"buffer_m 只能取 {shown} 米之一，而不是 {self.query.buffer_m:g}",
                f"buffer_m must be one of {', '.join(f'{b:g}' for b in COVERAGE_BUFFERS)} "
                f"metres, not {self.query.buffer_m:g}",
            )
        if _NO_LAYERS in self.layers and len(self.layers) > 1:
            name = "layers"
            raise ParameterError(
                name,
                "layers=none 不能与其他图层同时给出",
                "layers=none cannot be combined with layer names",
            )
        extra = tuple(x for x in LAYERS if x in self.layers and x != self.layer)
        object.__setattr__(self, "layers", extra)

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
    """Parse the parameters of ``GET /api/coverage`` (:class:`CoverageRequest`).

    Raises
    ------
    ParameterError
    """
    return p.parse_query(CoverageRequest, args)


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

    def light(name: str) -> dict:
        return cov.layer(name, tolerance_m=request.simplify_m, decimals=COVERAGE_DECIMALS)

    return {
        "type": "FeatureCollection",
        "layer": request.layer,
        "features": light(request.layer)["features"],
        "layers": {name: light(name) for name in request.layers},
        "coverage": cov.to_dict(),
        "revision": revision,
        "simplify_m": request.simplify_m,
    }


def suggest_request(args: Args) -> siting.SitingQuery:
    """Parse the parameters of ``GET /api/coverage/suggest``
    (:class:`~geoservice.coverage.siting.SitingQuery`).

    Raises
    ------
    ParameterError
    """
    return p.parse_query(siting.SitingQuery, args)


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


# -- worker reports --------------------------------------------------------------------------

#: Largest report body: a 500-character note written as \u escapes takes 3 kB.
REPORT_BODY_MAX = 8 * 1024


def _note(raw: object, name: str, default: object) -> str:
    return check_note(raw, name)


@dataclass(frozen=True)
class ReportBody:
    """``POST /api/stations/<station_id>/reports``: what is wrong, and an optional note."""

    problem: str = p.param(
        p.read_choice(PROBLEMS),
        "closed (closed when it should be open), no_hot_water, moved (not where the map "
        "says) or other",
        example="no_hot_water",
        location="body",
        schema={"enum": list(PROBLEMS)},
    )
    note: str = p.param(
        p.read_with(_note, {"type": "string", "maxLength": NOTE_MAX}),
        f"optional words of the worker: one line of at most {NOTE_MAX} characters, no "
        "control characters",
        default="",
        example="饮水机坏了",
        location="body",
    )


def report_file(
    store: Store,
    reports: Reports,
    station_id: str,
    body: bytes,
    content_type: str | None,
    client: str,
) -> ReportReceipt:
    """``POST /api/stations/<station_id>/reports``: file a worker's report (no account).

    The report waits for staff in ``/admin/reports``; nothing changes until they confirm it.
    ``client`` (the address) is kept only as a salted hash, to cap one client's open
    reports on one station (:data:`geoservice.admin.reports.PER_CLIENT`).
    """
    q = p.parse_body(ReportBody, body, content_type, max_bytes=REPORT_BODY_MAX)
    report = reports.file(station_id, q.problem, q.note, client, store=store)
    return {
        "id": report.id,
        "station_id": report.station_id,
        "problem": report.problem,
        "problem_label": report.problem_label,
        "status": "open",
        "open_reports": reports.open_counts().get(report.station_id, 0),
        "message": THANKS,
    }
