"""The answers of the JSON API, declared once as types.

Every object the API answers is a :class:`~typing.TypedDict` here. The functions that build
the answers return these types (``Station.record``, ``Network.describe``,
``errors.error_body``, the tour plan's parts, …), so mypy checks their keys and values; the
OpenAPI response schemas are generated from the same classes
(:mod:`geoservice.web.jsonschema`), so ``tests/test_schemathesis.py`` checks the answers
against them. How to read them:

* a nested ``TypedDict`` is a component schema named after the class; its docstring is the
  component's description; objects are closed (no key beyond those declared);
* ``NotRequired[...]`` marks a key that may be absent, ``X | None`` a value that may be null;
* ``Literal[...]`` is a constant the code writes literally (``"Feature"``, ``"ok"``);
* ``Annotated[T, Schema(...)]`` says what a Python type cannot: a description, bounds,
  a pattern or format, and the vocabularies the code guarantees (``Schema(enum=MODES)``,
  taken from where the vocabulary is defined; the code carries such values as ``str``,
  and a ``Literal`` built from a vocabulary at run time would be invisible to mypy).
  Stored vocabularies (a station's ``kind``) are plain strings with a description: the
  store may be edited outside the app.

Framework-free; the core imports it for annotations only (``if TYPE_CHECKING:``), since
the limits and vocabularies below come from the modules that build the answers.
"""

# No `from __future__ import annotations`: TypedDict reads NotRequired from evaluated
# annotations (Python 3.11 misses it in string annotations).

from collections.abc import Collection
from dataclasses import dataclass
from typing import Annotated, Literal, NotRequired, TypedDict

from geoservice import params
from geoservice.admin.reports import PER_CLIENT, PROBLEMS
from geoservice.coverage import MAX_GAP_FEATURES, MAX_MINUTES, MAX_THRESHOLDS, NOTICES, siting
from geoservice.errors import EXCERPT_CHARS
from geoservice.model import AMENITIES, SITE_KINDS, STATION_KINDS
from geoservice.nearest import K_MAX, MAX_SNAP_M
from geoservice.network import MODES
from geoservice.network.places import SCHEMATIC_LABEL
from geoservice.service import BATCH_MAX, COVERAGE_LAYERS, SIMPLIFY_MAX_M, TOURS_PAGE_MAX
from geoservice.tours import planner as tour
from geoservice.tours import saved


@dataclass(frozen=True)
class Schema:
    """JSON Schema keywords for what a Python type cannot say, used as
    ``Annotated[T, Schema(...)]``; None leaves a keyword out.

    ``component`` publishes the annotated type as a named component schema (referenced by
    ``$ref``), as a ``TypedDict`` is under its class name.
    """

    description: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    min_items: int | None = None
    max_items: int | None = None
    pattern: str | None = None
    format: str | None = None
    enum: Collection[object] | None = None
    const: str | int | None = None
    example: object = None
    component: str | None = None

    def __post_init__(self) -> None:
        if self.enum is not None:  # a tuple: Annotated metadata is hashed
            object.__setattr__(self, "enum", tuple(self.enum))


# -- values ------------------------------------------------------------------------------------

Count = Annotated[int, Schema(minimum=0)]
NonNegative = Annotated[float, Schema(minimum=0)]
Km = NonNegative
#: A share of a total, null when the total is 0.
Share = Annotated[float | None, Schema(minimum=0, maximum=1)]
DateTime = Annotated[str, Schema(format="date-time")]
Date = Annotated[str, Schema(format="date", pattern=params.DAY_SCHEMA["pattern"])]
#: A clock time of a tour day (24:00 is the end of the day).
Clock = Annotated[str, Schema(pattern=params.CLOCK_SCHEMA["pattern"], example="08:30")]
TourId = Annotated[str, Schema(pattern=saved.ID_PATTERN)]
Color = Annotated[str, Schema(pattern="^#[0-9a-f]{6}$")]
Minutes = Annotated[float, Schema(exclusive_minimum=0, maximum=MAX_MINUTES)]
Mode = Annotated[str, Schema(enum=MODES)]
Crs = Annotated[str, Schema(enum=params.CRS_LABELS)]
Amenity = Annotated[str, Schema(enum=AMENITIES)]
StationKind = Annotated[str, Schema(enum=STATION_KINDS)]
Priority = Annotated[int, Schema(minimum=min(tour.PRIORITIES), maximum=max(tour.PRIORITIES))]
Lon = Annotated[float, Schema(minimum=-180, maximum=180)]
Lat = Annotated[float, Schema(minimum=-90, maximum=90)]


# -- GeoJSON geometry ---------------------------------------------------------------------------

Position = Annotated[tuple[Lon, Lat], Schema(component="Position")]
Line = Annotated[list[Position], Schema(min_items=2)]
Ring = Annotated[list[Position], Schema(min_items=4)]


class Point(TypedDict):
    type: Literal["Point"]
    coordinates: Position


class LineString(TypedDict):
    type: Literal["LineString"]
    coordinates: Line


class MultiLineString(TypedDict):
    type: Literal["MultiLineString"]
    coordinates: list[Line]


class Polygon(TypedDict):
    type: Literal["Polygon"]
    coordinates: list[Ring]


class MultiPolygon(TypedDict):
    type: Literal["MultiPolygon"]
    coordinates: list[list[Ring]]


class LonLat(TypedDict):
    lon: Lon
    lat: Lat


# -- networks --------------------------------------------------------------------------------


class NetworkSummary(TypedDict):
    """One mode's road network (``Network.describe``)."""

    mode: Mode
    mode_label: str
    schematic: Annotated[bool, Schema(description="true: a generated network, not a survey")]
    source: str
    nodes: Count
    edges: Count
    outside_district: Annotated[
        bool, Schema(description="true: 路网不在本区范围内, an extract from outside the district")
    ]


class NetworkInfo(TypedDict):
    """The active road network per mode."""

    source: Annotated[str, Schema(description="file name of the active network")]
    modes: dict[Mode, NetworkSummary]


class RoadProperties(TypedDict):
    highway: str


class RoadFeature(TypedDict):
    type: Literal["Feature"]
    properties: RoadProperties
    geometry: MultiLineString


class RoadCollection(TypedDict):
    """Major roads, one MultiLineString per road class (the offline basemap)."""

    type: Literal["FeatureCollection"]
    schematic: bool
    features: list[RoadFeature]


class Navigation(TypedDict):
    """Links that open turn-by-turn navigation."""

    amap: Annotated[str, Schema(format="uri", description="Amap (GCJ-02) link")]
    # Not format uri: Baidu's documented `latlng:…|name:…` keeps a bare `|`.
    baidu: Annotated[str, Schema(pattern="^https://", description="Baidu (BD-09) link")]


# -- stations, sites, towns ---------------------------------------------------------------------


class StationFields(TypedDict):
    """A station's stored fields (``Station.to_dict``)."""

    id: str
    name: str
    kind: Annotated[str, Schema(description=f"stored kind: {', '.join(STATION_KINDS)}")]
    lon: float | None
    lat: float | None
    address: str
    town_code: str
    opening_hours: Annotated[str, Schema(description="stored OSM opening_hours")]
    amenities: list[Amenity]
    phone: str
    host_org: str
    capacity: int | None
    verified_on: Annotated[str | None, Schema(format="date")]
    source: Annotated[str, Schema(description="sample, import, official or manual")]


class OpenStatusFields(TypedDict):
    """A station's open status (``hours.OpenStatus.to_dict``)."""

    open_now: bool
    status: Annotated[str, Schema(description="Chinese open status, e.g. 营业中 · 18:00 关闭")]
    hours_zh: str
    hours_valid: Annotated[bool, Schema(description="false: the stored hours are unreadable")]
    next_open: Annotated[str | None, Schema(format="date-time")]


class StationRecord(StationFields, OpenStatusFields):
    """The one station record (``Station.record``)."""

    kind_label: str
    town: Annotated[str, Schema(description="Chinese name of town_code ('' if unknown)")]
    amenity_labels: list[Annotated[str, Schema(enum=tuple(AMENITIES.values()))]]
    version: NotRequired[
        Annotated[int, Schema(minimum=1, description="the record's version (one record only)")]
    ]
    open_reports: NotRequired[
        Annotated[
            int,
            Schema(
                minimum=0,
                description="workers' reports on the station that staff have yet to confirm "
                "or dismiss (0 when none); in the answers of /api/stations, "
                "/api/stations/{station_id} and /api/nearest",
            ),
        ]
    ]


class StationFeature(TypedDict):
    type: Literal["Feature"]
    id: str
    geometry: Point | None
    properties: StationRecord


class _Catalogue(TypedDict):
    type: Literal["FeatureCollection"]
    count: Count
    sources: list[str]
    sample: Annotated[bool, Schema(description="true when any record is sample data")]


class StationCollection(_Catalogue):
    """Stations as GeoJSON, with their open status."""

    features: list[StationFeature]
    evaluated_at: Annotated[DateTime, Schema(description="moment of open_now/status")]


class SiteRecord(TypedDict):
    """A village, community or reservoir site as stored, with its labels."""

    id: str
    name: str | None
    kind: Annotated[str | None, Schema(description=f"stored kind: {', '.join(SITE_KINDS)}")]
    code: str | None
    lon: float | None
    lat: float | None
    town_code: str | None
    service_minutes: int | None
    official_name: str | None
    coord_source: Annotated[
        str | None,
        Schema(
            description="missing: no coordinate is known; schematic/osm: a position derived at "
            "run time from the road network's place nodes (never stored)"
        ),
    ]
    coord_note: Annotated[
        str, Schema(description=f"{SCHEMATIC_LABEL} for schematic positions, else empty")
    ]
    source: str | None
    kind_label: str | None
    town: str
    version: NotRequired[
        Annotated[int, Schema(minimum=1, description="the record's version (one record only)")]
    ]


class SiteFeature(TypedDict):
    type: Literal["Feature"]
    id: str
    geometry: Point | None
    properties: SiteRecord


class SiteCollection(_Catalogue):
    """Sites as GeoJSON."""

    features: list[SiteFeature]


class TownRecord(TypedDict):
    code: Annotated[str, Schema(description="NBS code")]
    name: str
    kind: str
    seat_name_en: str
    coord_source: str


class TownFeature(TypedDict):
    type: Literal["Feature"]
    id: str
    geometry: Point | None
    properties: TownRecord


class TownCollection(TypedDict):
    """The towns and subdistricts, with their seats where known."""

    type: Literal["FeatureCollection"]
    features: list[TownFeature]
    count: Count


class Health(TypedDict):
    """Store revision and counts."""

    status: Literal["ok"]
    revision: str
    stations: Count
    sites: Count


class Probe(TypedDict):
    """``/healthz`` and ``/readyz`` when the answer is yes."""

    status: Literal["alive", "ready"]


class ReportReceipt(TypedDict):
    """A worker's report, filed: it waits for staff, who confirm or dismiss it."""

    id: Annotated[int, Schema(minimum=1)]
    station_id: str
    problem: Annotated[str, Schema(enum=tuple(PROBLEMS))]
    problem_label: Annotated[str, Schema(enum=tuple(PROBLEMS.values()))]
    status: Literal["open"]
    open_reports: Annotated[
        int,
        Schema(
            minimum=1,
            description=f"the station's open reports, this one included (one client may "
            f"have at most {PER_CLIENT} open on a station)",
        ),
    ]
    message: Annotated[str, Schema(description="a thank-you in Chinese, to show the worker")]


class ErrorBody(TypedDict):
    """Every error answer (``errors.error_body``)."""

    error: Annotated[
        str,
        Schema(
            description=f"中文 / English (English first when English is asked for); input "
            f"is echoed as an excerpt of at most {EXCERPT_CHARS} characters"
        ),
    ]
    message: Annotated[
        str,
        Schema(
            description="the reason in the request's language alone (Chinese by default; "
            "English for lang=en or Accept-Language: en)"
        ),
    ]
    message_zh: str
    message_en: str
    parameter: Annotated[
        str | None, Schema(description="the parameter at fault (origins[3], body, …), or null")
    ]
    status: Annotated[int, Schema(minimum=400, maximum=599)]


# -- the nearest station ------------------------------------------------------------------------


class InputPoint(LonLat):
    """The origin as sent."""

    crs: Crs


class NearestOrigin(LonLat):
    """WGS84 origin, its point on the nearest road, and as sent."""

    snapped: LonLat
    snap_distance_m: Annotated[float, Schema(minimum=0, maximum=MAX_SNAP_M)]
    outside_district: bool
    input: InputPoint


class NearestResult(StationRecord):
    """A station record with the trip to it."""

    travel_time_s: Annotated[
        float,
        Schema(description="on the roads plus the ways to/from them (4.5 km/h; drive 15 km/h)"),
    ]
    travel_time_min: Count
    network_time_s: Annotated[float, Schema(description="on the roads only")]
    network_distance_m: float
    straight_distance_m: float
    station_snap_distance_m: float
    route: LineString
    navigation: Navigation


class Stale(TypedDict):
    """Why an older network answers (the memory budget refused the newer one's labels)."""

    reason: str
    causes: list[Annotated[str, Schema(enum=("network",))]]
    stations_served: Count


class NearestAnswer(TypedDict):
    """The k nearest matching stations by road travel time."""

    origin: NearestOrigin
    network: NetworkSummary
    evaluated_at: DateTime
    mode: Mode
    results: Annotated[list[NearestResult], Schema(max_items=K_MAX)]
    reason: Annotated[str, Schema(description="why results are empty ('' otherwise)")]
    stale: Annotated[
        Stale | None,
        Schema(
            description="null when the answer uses the current stations and network; "
            "otherwise why older routing data answers (memory budget)"
        ),
    ]


class BatchResult(TypedDict):
    station_id: str | None
    travel_time_s: Annotated[
        float | None, Schema(description="null: no station, or origin > 2 km from roads")
    ]
    snap_distance_m: NonNegative


class BatchAnswer(TypedDict):
    """One result per origin, in order."""

    network: NetworkSummary
    count: Count
    reached: Count
    median_travel_time_s: float | None
    reason: str
    results: Annotated[list[BatchResult], Schema(max_items=BATCH_MAX)]


# -- caravan tours ------------------------------------------------------------------------------

StoredKind = Annotated[str, Schema(description="stored kind (site or station kind)")]
CoordSource = Annotated[
    str, Schema(description=f"schematic/osm: derived from the road network ({SCHEMATIC_LABEL})")
]
PositionNote = Annotated[
    str, Schema(const=SCHEMATIC_LABEL, description="only for schematic positions")
]


class TourPlace(TypedDict):
    """A stop or the base (``Stop.describe``)."""

    id: str
    name: str
    kind: StoredKind
    kind_label: str
    town_code: str
    town: str
    lon: float | None
    lat: float | None
    coord_source: CoordSource
    position_note: NotRequired[PositionNote]


class TourDepot(TourPlace):
    navigation: Navigation


class TourStop(TourPlace):
    """A visit: where, when (arrival, service start and end), the leg to it."""

    seq: Annotated[int, Schema(minimum=1)]
    arrival: Clock
    start: Clock
    end: Clock
    arrival_s: Count
    start_s: Count
    end_s: Count
    wait_min: float
    service_min: float
    window: Annotated[list[Clock], Schema(min_items=2, max_items=2)] | None
    optional: bool
    priority: Priority | None
    leg_distance_m: float
    leg_drive_min: float
    navigation: Navigation


class TourLeg(TypedDict):
    from_id: str
    from_name: str
    to_id: str
    to_name: str
    depart: Clock
    arrive: Clock
    distance_m: float
    drive_s: Count
    drive_min: float


class TourLunch(TypedDict):
    """Where and when the lunch break is taken: at the base before leaving (start), after a
    stop's service (stop), back at the base after a stop (depot), or at the base after
    returning (end)."""

    place: Annotated[str, Schema(enum=tour.LUNCH_PLACES)]
    place_label: str
    id: str
    name: str
    after_seq: Annotated[int | None, Schema(minimum=1)]
    start: Clock
    end: Clock
    start_s: Count
    end_s: Count
    minutes: float


class TourTotals(TypedDict):
    stops: Count
    distance_m: float
    distance_km: float
    drive_s: Count
    drive_min: float
    service_s: Count
    service_min: float
    wait_min: float
    lunch_min: float
    working_min: float


class TourRouteProperties(TypedDict):
    day: int
    date: Date | None


class TourRoute(TypedDict):
    """The day's drive along the roads, base to base."""

    type: Literal["Feature"]
    properties: TourRouteProperties
    geometry: LineString


# "return" is a keyword: this part of a day is declared in the functional syntax.
_TourDayReturn = TypedDict("_TourDayReturn", {"return": Clock})


class TourDay(_TourDayReturn):
    """One day of a plan: its schedule, legs, lunch, totals and route."""

    day: Annotated[int, Schema(minimum=1)]
    date: Date | None
    weekday: Annotated[str | None, Schema(description="周一 … 周日")]
    depart: Clock
    finish: Annotated[Clock, Schema(description="return, or the end of a lunch after it")]
    depart_s: Count
    return_s: Count
    finish_s: Count
    stops: Annotated[list[TourStop], Schema(min_items=1)]
    lunch: TourLunch | None
    legs: Annotated[list[TourLeg], Schema(min_items=2)]
    totals: TourTotals
    route: TourRoute


class TourUnserved(TypedDict):
    """A stop left out of a plan (or refused by a 422), and why; an unknown id has only
    ``id``, ``name``, ``reason_code`` and ``reason``."""

    id: str
    name: str
    kind: NotRequired[StoredKind]
    kind_label: NotRequired[str]
    town_code: NotRequired[str]
    town: NotRequired[str]
    lon: NotRequired[float | None]
    lat: NotRequired[float | None]
    coord_source: NotRequired[CoordSource]
    position_note: NotRequired[PositionNote]
    reason_code: Annotated[str, Schema(enum=tour.REASONS)]
    reason: Annotated[str, Schema(description="中文 / English")]
    optional: NotRequired[bool]
    priority: NotRequired[int | None]


class TourNotice(TypedDict):
    code: str
    zh: str
    en: str


class TourParameters(TypedDict):
    days: Annotated[int, Schema(minimum=1, maximum=tour.MAX_DAYS)]
    start_date: Date | None
    skip_days_off: bool
    day_start: Clock
    day_end: Clock
    lunch_minutes: Count
    lunch_window: Annotated[list[Clock], Schema(min_items=2, max_items=2)]
    access_kmh: float


class TourSummary(TypedDict):
    days_used: Count
    days_available: Count
    stops_requested: Count
    stops_served: Count
    optional_served: Count
    distance_km: float
    drive_hours: float
    service_hours: float
    schematic_positions: Annotated[Count, Schema(description=f"stops served at {SCHEMATIC_LABEL}")]


class TourSearch(TypedDict):
    seed: int
    iterations: Count
    max_iterations: NotRequired[int | None]
    stopped_by: Annotated[str, Schema(enum=("iterations", "no_improvement", "time_limit", "empty"))]
    reproducible: Annotated[
        bool, Schema(description="false: the wall-clock safety net stopped the search")
    ]


class TourSchedule(TypedDict):
    """The planned days with what they were planned for (``tours.planner._result``)."""

    version: Literal[1]
    network: NetworkSummary
    schematic: Annotated[bool, Schema(description="planned on a generated network: indicative")]
    depot: TourDepot
    parameters: TourParameters
    days: Annotated[list[TourDay], Schema(max_items=tour.MAX_DAYS)]
    summary: TourSummary


class TourResult(TourSchedule):
    """The plan: days, stops, legs, what was left out and why."""

    notices: Annotated[
        list[TourNotice],
        Schema(description="what the plan could not take into account (e.g. unknown holidays)"),
    ]
    unserved: list[TourUnserved]
    search: TourSearch


class TourRequestEcho(TypedDict):
    """The request as parsed (what the plan was made for)."""

    depot: str
    stops: list[str]
    days: int
    start_date: Date | None
    skip_days_off: bool
    day_start: Clock
    day_end: Clock
    lunch_minutes: Count
    service_minutes: Count | dict[str, Count]
    time_windows: dict[str, list[Clock]]
    optional: dict[str, Priority]


class TourPlan(TypedDict):
    """A saved plan."""

    id: TourId
    created: DateTime
    request: TourRequestEcho
    result: TourResult


class TourListing(TypedDict):
    """A saved plan in the listing."""

    id: TourId
    created: DateTime
    owner: Annotated[
        str | None,
        Schema(description="the user who saved it; null: anonymous (kept 24 hours)"),
    ]
    depot: str
    start_date: Date | None
    days_used: Count
    days_available: Count
    stops_served: Count
    unserved: Count
    distance_km: float
    drive_hours: float
    schematic: bool


class TourList(TypedDict):
    """A page of saved plans, newest first."""

    plans: Annotated[list[TourListing], Schema(max_items=TOURS_PAGE_MAX)]
    count: Count
    total: Count
    limit: Annotated[int, Schema(minimum=1, maximum=TOURS_PAGE_MAX)]
    offset: Count
    next_offset: Annotated[int | None, Schema(minimum=1)]


class RecordProblem(TypedDict):
    """One problem of a record, in the import's words."""

    column: str
    message: Annotated[str, Schema(description="中文 / English")]


class RecordErrorBody(ErrorBody):
    """An error of the write API; a 422 lists every problem of the record (``errors``)."""

    errors: NotRequired[list[RecordProblem]]


class TourErrorBody(ErrorBody):
    """An error; a 422 also lists the stops at fault (``stops``) or estimates the days
    needed (``days_needed``)."""

    stops: NotRequired[
        Annotated[list[TourUnserved], Schema(description="the stops at fault (422)")]
    ]
    days_needed: NotRequired[
        Annotated[
            int | None,
            Schema(
                minimum=1,
                description="when the mandatory stops do not fit: about how many days they need",
            ),
        ]
    ]


# -- jobs (tour plans, coverage answers off the request path) -----------------------------------


class JobProgress(TypedDict):
    """How far a job is: its step and the count within it."""

    step: Annotated[
        str,
        Schema(description="matrix, solve, schedule (tours); tables, areas (coverage); '' queued"),
    ]
    done: Annotated[int, Schema(minimum=0)]
    total: Annotated[int, Schema(minimum=0)]
    fraction: Annotated[float, Schema(minimum=0, maximum=1)]


class JobResult(TypedDict, total=False):
    """Where a finished job's answer is (and a plan's id)."""

    href: Annotated[str, Schema(description="the answer: a saved plan, or the coverage URL")]
    tour_id: str


class JobBody(TypedDict):
    """A job that runs off the request path (``GET /api/jobs/<id>``)."""

    id: str
    kind: Literal["tours", "coverage", "suggest"]
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    progress: JobProgress
    queue_position: Annotated[int | None, Schema(description="jobs ahead of it, while queued")]
    cap_seconds: Annotated[float, Schema(description="the wall-clock limit it is stopped at")]
    elapsed_seconds: float | None
    created: str
    started: str | None
    finished: str | None
    result: JobResult | None
    error: Annotated[
        ErrorBody | TourErrorBody | None,
        Schema(
            description="why it failed or was cancelled (at its cap: 503): the error the "
            "request would have answered (a tour's 422 with its stops and days_needed)"
        ),
    ]


# -- coverage -----------------------------------------------------------------------------------


class AllRoads(TypedDict):
    """The same over the whole network (motorways and paths included)."""

    covered_km: Km
    covered_share: Share
    cross_km: Km


class CoverageThreshold(TypedDict):
    minutes: Minutes
    covered_km: Annotated[Km, Schema(description="people roads reached within the threshold")]
    covered_share: Share
    cross_km: Annotated[Km, Schema(description="people roads reached by ≥ 2 stations")]
    cross_share: Share
    area_km2: Annotated[float | None, Schema(minimum=0)]
    villages_covered: Count
    villages_share: Share
    all_roads: AllRoads


class _Figures(TypedDict):
    road_km: Annotated[
        Km,
        Schema(
            description="roads where people live and work (no motorways; paths only in settlements)"
        ),
    ]
    all_road_km: Km
    villages: Annotated[Count, Schema(description="located villages/communities on the network")]
    villages_schematic: Annotated[Count, Schema(description="of which with a schematic position")]
    acftu_km: Annotated[Km, Schema(description="people roads within 1 km network distance")]
    acftu_share: Annotated[Share, Schema(description="the ACFTU figure (1 km service radius)")]
    thresholds: Annotated[list[CoverageThreshold], Schema(min_items=1, max_items=MAX_THRESHOLDS)]
    approximate: bool


class CoverageFigures(_Figures):
    """District figures (exact)."""


class CoverageTown(_Figures):
    """Per-town figures: approximate (近似), each road belongs to the town of the nearest
    located village, community or town seat."""

    code: str
    name: str


class CoverageQueryEcho(TypedDict):
    """The coverage parameters as parsed (``CoverageQuery.to_dict``)."""

    mode: Mode
    mode_label: str
    minutes: Annotated[list[Minutes], Schema(min_items=1, max_items=MAX_THRESHOLDS)]
    kind: list[StationKind]
    amenity: list[Amenity]
    open_at: Annotated[str | None, Schema(format="date-time")]
    buffer_m: Annotated[float, Schema(exclusive_minimum=0)]


class Notice(TypedDict):
    """Caveats the figures carry (schematic network, sample data, approximate towns,
    schematic village positions)."""

    code: Annotated[str, Schema(enum=NOTICES)]
    zh: str
    en: str


class UncoveredVillage(TypedDict):
    id: str
    name: str
    kind: str
    kind_label: str
    town: str
    town_code: str
    lon: Lon
    lat: Lat
    schematic: Annotated[bool, Schema(description="position derived from a schematic network")]
    travel_time_s: Annotated[float | None, Schema(description="to the nearest counted station")]
    travel_time_min: Annotated[int | None, Schema(minimum=0)]
    nearest_station_id: str | None
    nearest_station: str | None


class CoverageGap(TypedDict):
    """Uncovered people roads beyond the largest threshold: one road in one town."""

    rank: Annotated[int, Schema(minimum=1, maximum=MAX_GAP_FEATURES)]
    length_km: Km
    town: Annotated[str, Schema(description="approximate (近似)")]
    town_code: str
    road: Annotated[
        str, Schema(description="the road's name, or its class in plain words (无名乡村道路)")
    ]
    road_named: Annotated[bool, Schema(description="false: `road` is the road's class")]
    summary: Annotated[
        str, Schema(description="in plain words: 镇 路：超过 15 分钟可达的道路 1.2 公里")
    ]
    nearest_station_min: Annotated[float | None, Schema(description="null: no station reaches it")]
    pieces: Count


class CoverageStations(TypedDict):
    count: Annotated[Count, Schema(description="stations counted")]
    excluded_far_from_roads: Count
    sample: bool


class CoverageReport(TypedDict):
    """The figures (``Coverage.to_dict``)."""

    query: CoverageQueryEcho
    network: NetworkSummary
    stations: CoverageStations
    district: CoverageFigures
    towns: list[CoverageTown]
    uncovered_villages: list[UncoveredVillage]
    gaps: Annotated[list[CoverageGap], Schema(max_items=MAX_GAP_FEATURES)]
    notices: list[Notice]


class CoverageAreaProperties(TypedDict):
    minutes: Minutes
    label: str
    area_km2: float | None


class CoverageAreaFeature(TypedDict):
    type: Literal["Feature"]
    geometry: Polygon | MultiPolygon | None
    properties: CoverageAreaProperties


class CatchmentProperties(TypedDict):
    station_id: str
    name: str
    color: Color
    road_km: Km
    people_road_km: Km


class CatchmentFeature(TypedDict):
    type: Literal["Feature"]
    geometry: MultiLineString | LineString | None
    properties: CatchmentProperties


class GapFeature(TypedDict):
    type: Literal["Feature"]
    geometry: MultiLineString | LineString | None
    properties: CoverageGap


class CoverageStationProperties(TypedDict):
    id: str
    name: str
    kind: str
    kind_label: str
    opening_hours: str
    color: Color
    snap_distance_m: NonNegative
    sample: bool


class CoverageStationFeature(TypedDict):
    type: Literal["Feature"]
    geometry: Point
    properties: CoverageStationProperties


class CoverageAreaCollection(TypedDict):
    type: Literal["FeatureCollection"]
    features: list[CoverageAreaFeature]


class CatchmentCollection(TypedDict):
    type: Literal["FeatureCollection"]
    features: list[CatchmentFeature]


class GapCollection(TypedDict):
    type: Literal["FeatureCollection"]
    features: list[GapFeature]


class CoverageStationCollection(TypedDict):
    type: Literal["FeatureCollection"]
    features: list[CoverageStationFeature]


class CoverageLayers(TypedDict, total=False):
    """The further layers asked for."""

    areas: CoverageAreaCollection
    cross: CoverageAreaCollection
    catchments: CatchmentCollection
    uncovered: GapCollection
    stations: CoverageStationCollection


class CoverageAnswer(TypedDict):
    """A GeoJSON FeatureCollection of `layer` with foreign members."""

    type: Literal["FeatureCollection"]
    layer: Annotated[str, Schema(enum=COVERAGE_LAYERS)]
    features: list[CoverageAreaFeature | CatchmentFeature | GapFeature | CoverageStationFeature]
    layers: CoverageLayers
    coverage: CoverageReport
    revision: Annotated[str, Schema(description="store revision the answer is computed from")]
    simplify_m: Annotated[float, Schema(minimum=0, maximum=SIMPLIFY_MAX_M)]


# -- suggested sites ---------------------------------------------------------------------------


class CoverageSummary(TypedDict):
    covered_km: Km
    covered_share: Share
    road_km: Km
    villages_covered: Count
    villages: Count
    villages_share: Share


class SuggestedSiteProperties(TypedDict):
    rank: Annotated[int, Schema(minimum=1)]
    node: Annotated[Count, Schema(description="network node of the site")]
    town: Annotated[str, Schema(description="approximate (近似)")]
    town_code: str
    added_road_km: Annotated[float, Schema(description="exact marginal gain, in order of rank")]
    added_villages: int
    covered_km_after: Km
    covered_share_after: Share
    villages_covered_after: Count
    villages_share_after: Share
    model_gain: Annotated[float, Schema(description="marginal gain in the model's own measure")]


class SuggestedSite(SuggestedSiteProperties):
    lon: Lon
    lat: Lat


class SuggestedSiteFeature(TypedDict):
    type: Literal["Feature"]
    geometry: Point
    properties: SuggestedSiteProperties


class SitingQueryEcho(CoverageQueryEcho):
    """The siting parameters as parsed (``SitingQuery.to_dict``)."""

    n: Annotated[int, Schema(minimum=1, maximum=siting.N_MAX)]
    objective: Annotated[str, Schema(enum=siting.OBJECTIVES)]


class SetCover(TypedDict):
    villages: Count
    uncovered: Count
    coverable: Count
    not_coverable: Count
    stations_needed: Annotated[
        Count, Schema(description="new stations to cover every located village")
    ]
    optimal: bool
    status: str
    nodes: list[Count]
    note_zh: str


class SolverInfo(TypedDict):
    solver: str
    status: str
    objective: float | None
    bound: float | None
    gap: float | None
    seconds: float
    candidates: Count
    candidates_used: Count
    demand_points: Count
    demand_rows: Count
    nonzeros: Count
    prepare_seconds: float


class GreedyInfo(TypedDict):
    """The greedy baseline on the same model."""

    sites: Count
    objective: float | None
    seconds: float
    nodes: list[Count]


class SitingAnswer(TypedDict):
    """The whole siting answer (``Siting.to_dict``)."""

    query: SitingQueryEcho
    network: NetworkSummary
    before: CoverageSummary
    after: CoverageSummary
    sites: Annotated[list[SuggestedSite], Schema(max_items=siting.N_MAX)]
    set_cover: SetCover
    solver: SolverInfo
    greedy: GreedyInfo
    notices: list[Notice]


class SuggestAnswer(TypedDict):
    """The suggested sites as GeoJSON points with the whole answer."""

    type: Literal["FeatureCollection"]
    features: Annotated[list[SuggestedSiteFeature], Schema(max_items=siting.N_MAX)]
    siting: SitingAnswer
    revision: str
