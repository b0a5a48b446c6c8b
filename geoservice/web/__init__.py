"""The Flask adapter: an app factory, blueprints and CLI commands over the library.

Nothing here computes anything the library cannot: an API route hands the request to one
:mod:`geoservice.service` function, a page asks :mod:`geoservice.maps` for its map, and the
engines are held here, one per app, rebuilt when the active network changes.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import orjson
from flask import Flask, Response, current_app, g
from flask.json.provider import DefaultJSONProvider
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from geoservice import district, holidays, maps
from geoservice.coverage import CoverageEngine, CoverageProvider
from geoservice.coverage import engine as coverage_engine
from geoservice.nearest import DEFAULT_MEMORY_BUDGET, K_LABELS, EngineProvider, NearestEngine
from geoservice.network import NetworkLibrary
from geoservice.store import Store, open_store
from geoservice.tours import planner as tour
from geoservice.tours import vrp
from geoservice.tours.saved import ANONYMOUS_TTL, MAX_ANONYMOUS, TourStore
from geoservice.web import answers, auth

STORE_KEY = "geoservice.store"
ENGINE_KEY = "geoservice.engine"
PLANNER_KEY = "geoservice.planner"
COVERAGE_KEY = "geoservice.coverage"
#: The shipped data: the seed of a new instance's store, and its road network.
DATA_DIR = Path(__file__).resolve().parent.parent.parent / "data"
DEFAULT_GPKG = DATA_DIR / "miyun.gpkg"
DEFAULT_NETWORK = DATA_DIR / "network" / "miyun_schematic.osm.bz2"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Create the geoservice Flask app.

    Parameters
    ----------
    config : dict, optional
        Overrides, e.g. ``{"TESTING": True, "STORE_PATH": "/tmp/x.gpkg"}``. Otherwise the
        instance folder's ``config.py`` and ``GEOSERVICE_*`` environment variables apply.

    Configuration keys
    ------------------
    STORE_PATH
        Live GeoPackage (default ``<instance>/geoservice.gpkg``), seeded from ``SEED_PATH``
        (default the shipped ``data/miyun.gpkg``) on first start.
    STORE_URL
        A PostGIS database to keep the store in instead (``postgresql://user:password@host/
        dbname``; env ``GEOSERVICE_STORE_URL``), shared by every process and host that names
        it and seeded from ``SEED_PATH`` when it has no store yet. When set it wins over
        ``STORE_PATH``, whose folder (the instance folder by default) still holds the files
        kept beside the store (answers, uploads, the jobs' databases); the staff tables and
        the saved tours go into the same database. See docs/operations.md, "PostGIS store".
    NETWORK_DIR
        Imported road networks and the per-mode caches (default ``<instance>/networks``).
    NETWORK_DEFAULT
        The network used until one is imported (default: the shipped schematic network).
    RATELIMIT_NEAREST, RATELIMIT_BATCH
        Per-client limits of ``/api/nearest`` (default ``600 per minute``: 100 phones
        behind one carrier address each asking every 10 s, at most about 1/15 of what one
        web process answers in the load bench) and ``/api/nearest/batch`` (``30 per
        minute``: about 5 % of one process). ``RATELIMIT_ENABLED = False`` switches
        limiting off. The counters are per web process unless ``RATELIMIT_STORAGE_URI``
        names a shared store (``redis://…``); see docs/operations.md, "Rate limits".
    ENGINE_MEMORY_BUDGET
        Most memory the routing engine's labels may take (default 4 GiB): bytes or a size
        such as ``"4GB"``, ``"512MB"``. A network whose labels (one station filter's) would
        exceed it is not switched to, and the last good one keeps answering (flagged
        ``stale``); within it, the labels of up to 16 station filters per mode are kept.
    ROUTING_LABELS
        The nearest stations each road node keeps (default 4): questions for that many
        are answered from them, more by a search of their own.
    RATELIMIT_COVERAGE, RATELIMIT_SUGGEST
        Per-client limits of ``/api/coverage`` (default ``120 per minute``: a page view asks
        for a few answers, most of them cached) and ``/api/coverage/suggest`` (``10 per
        minute``: each new question costs seconds of solver time).
    COVERAGE_CACHE_BYTES, ANSWERS_DIR
        Budget of the cached coverage and suggestion answers (default 64 MB), kept as files
        in ``ANSWERS_DIR`` (default ``answers`` beside ``STORE_PATH``) shared by all processes; see
        :mod:`geoservice.web.answers`.
    COVERAGE_ENGINE_CACHE_BYTES
        Budget of the coverage engine's own caches, which grow with the distinct questions
        asked (tilings and their polygons, envelopes; default 256 MB; see
        :class:`~geoservice.coverage.engine.CoverageEngine`). Beyond it the least recently
        used are made again when next needed.
    TILES
        The basemaps every map offers, the first shown (a list, or comma-separated:
        ``"roads,amap,tianditu"``): ``"roads"`` (default; also ``""``) the major roads of
        the routing network, served by the app itself, no tile request to any server;
        ``"osm"``; ``"amap"`` (高德, GCJ-02); ``"tianditu"`` (天地图, needs
        ``TIANDITU_KEY``); ``"URL-template|attribution"``, with the prefix ``gcj02:`` for
        GCJ-02 tiles. While GCJ-02 tiles are shown, every overlay is displayed shifted to
        GCJ-02 and clicks are turned back into WGS84 (in China only); stored data stays
        WGS84. A bad value stops the app at start (:func:`geoservice.maps.basemaps`). The
        pages' Content-Security-Policy allows images from exactly these tile servers (see
        :mod:`geoservice.web.security`).
    TIANDITU_KEY
        The 天地图 key (from https://console.tianditu.gov.cn) that ``"tianditu"`` needs.
    ADMIN_DB
        The staff database: accounts, API tokens, the audit log, worker reports (default
        ``admin.sqlite`` beside ``STORE_PATH``, i.e. ``<instance>/admin.sqlite``; tables of
        their own in the PostgreSQL database when ``STORE_URL`` is set). It also keeps the
        key that signs the session cookies unless ``SECRET_KEY`` is set.
    SESSION_COOKIE_SECURE, PROXY_COUNT
        Session cookies are always HttpOnly and SameSite=Lax, and Secure over HTTPS; set
        ``SESSION_COOKIE_SECURE = True`` to require it, and ``PROXY_COUNT`` to the number of
        reverse proxies in front (their ``X-Forwarded-*`` headers are then trusted).
    ROUTING_WAIT_SECONDS
        How long a routing answer (``/api/nearest``, the batch, the network) waits for the
        road networks while they load at start or rebuild after an import: default 0, a 503
        with ``Retry-After`` at once (``None``: until they are ready, as the tests do).
    LOG_FORMAT
        ``python app.py`` logs ``json`` lines (default) or ``text``, each with the request
        id (:mod:`geoservice.web.logs`); one access line per request, never its query.
    RATELIMIT_LOGIN
        Per-client limit of login attempts (default ``10 per minute``); besides, five
        failures in a row lock an account for 15 minutes.
    UPLOAD_DIR
        Files uploaded in the back office, kept for an hour until they are imported
        (default ``uploads`` beside ``STORE_PATH``, i.e. ``<instance>/uploads``).
    RATELIMIT_REPORTS
        Per-client limit of workers' reports, ``POST /api/stations/<id>/reports`` (default
        ``10 per hour``); besides, one client may have at most 3 open reports on a station.
    TOURS_DIR
        Saved caravan tour plans (default ``<instance>/tours``; the table ``tours`` of the
        PostgreSQL database when ``STORE_URL`` is set). A plan saved by a staff
        user (bearer token or signed in) is theirs and kept; anonymous plans are kept for
        ``TOURS_ANONYMOUS_HOURS`` (default 24), at most ``TOURS_ANONYMOUS_MAX`` (default
        200) of them, the oldest removed first (:mod:`geoservice.tours.saved`).
    TOURS_ITERATIONS, TOURS_SECONDS
        The tour search's bound in iterations (default 2,000: the same plan on any
        machine) and its wall-clock safety net in seconds (default 60).
    JOBS_MODE, JOBS_BROKER, JOBS_DB
        Tour plans, coverage answers not cached yet and site suggestions run as jobs off
        the request path (:mod:`geoservice.web.jobs`): ``"queue"`` (default) puts them on
        Huey's queue, in SQLite (``JOBS_BROKER = ""``, ``jobs-queue.sqlite`` beside ``STORE_PATH``)
        or Redis (``"redis://localhost:6379/0"``), for the workers ``python app.py``
        starts (or ``flask jobs worker``); ``"inline"`` runs each in the request or
        command that asks (the CLI's and the unit tests' mode: no cap). The jobs' states
        are kept in ``JOBS_DB`` (default ``jobs.sqlite`` beside ``STORE_PATH``).
    JOBS_QUEUE_MAX, JOBS_PER_CLIENT
        Most jobs waiting at once (default 8): one more is a 503 with ``Retry-After``; and
        most jobs one client may have queued or running (default 3, ``None``: no bound):
        one more is a 429, so that no client fills the queue that everyone shares.
    JOBS_WORKERS, JOBS_NICE
        Job worker processes (default 1: the other core answers the web) and their CPU
        niceness (default 10: a busy worker never slows ``/api/nearest``).
    JOB_SECONDS_TOURS, JOB_SECONDS_COVERAGE
        The wall-clock cap of one job, estimates included (defaults 120 and 60 s): at the
        cap its process is killed and the job is ``cancelled`` with a 503 error.
    RATELIMIT_JOBS
        Per-client limit of ``GET /api/jobs/<id>`` (default ``240 per minute``: a page
        looks once a second).
    RATELIMIT_TOURS
        Per-client limit of ``POST /api/tours`` (default ``20 per minute``).
    """
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        STORE_PATH=None,
        STORE_URL=None,
        SEED_PATH=str(DEFAULT_GPKG),
        NETWORK_DIR=None,
        NETWORK_DEFAULT=str(DEFAULT_NETWORK),
        TILES=maps.ROADS,
        TIANDITU_KEY=None,
        ENGINE_MEMORY_BUDGET=DEFAULT_MEMORY_BUDGET,
        ROUTING_LABELS=K_LABELS,
        RATELIMIT_ENABLED=True,
        RATELIMIT_NEAREST="600 per minute",
        RATELIMIT_BATCH="30 per minute",
        TOURS_DIR=None,
        TOURS_ANONYMOUS_HOURS=ANONYMOUS_TTL.total_seconds() / 3600,
        TOURS_ANONYMOUS_MAX=MAX_ANONYMOUS,
        TOURS_ITERATIONS=tour.SEARCH.iterations,
        TOURS_SECONDS=tour.SEARCH.seconds,
        JOBS_MODE="queue",
        JOBS_BROKER="",
        JOBS_DB=None,
        JOBS_QUEUE_MAX=8,
        JOBS_PER_CLIENT=3,
        JOBS_WORKERS=1,
        JOBS_NICE=10,
        JOB_SECONDS_TOURS=120,
        JOB_SECONDS_COVERAGE=60,
        RATELIMIT_JOBS="240 per minute",
        RATELIMIT_TOURS="20 per minute",
        RATELIMIT_COVERAGE="120 per minute",
        RATELIMIT_SUGGEST="10 per minute",
        COVERAGE_CACHE_BYTES=answers.DEFAULT_MAX_BYTES,
        ANSWERS_DIR=None,
        COVERAGE_ENGINE_CACHE_BYTES=coverage_engine.DEFAULT_CACHE_BYTES,
        RATELIMIT_STORAGE_URI="memory://",
        RATELIMIT_HEADERS_ENABLED=True,
        JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=32 * 1024 * 1024,
        ADMIN_DB=None,
        SECRET_KEY=None,
        SESSION_COOKIE_SECURE=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=8 * 3600,  # a working day on one page
        PROXY_COUNT=0,
        RATELIMIT_LOGIN="10 per minute",
        LOG_FORMAT="json",
        ROUTING_WAIT_SECONDS=0,
        RATELIMIT_REPORTS="10 per hour",
    )
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("GEOSERVICE")
    if config:
        app.config.from_mapping(config)
    app.json = _JSONProvider(app)
    # A bad basemap setting stops the app here, not on the first page.
    _basemaps(app.config["TILES"], app.config["TIANDITU_KEY"])
    if not app.config["STORE_PATH"]:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        app.config["STORE_PATH"] = os.path.join(app.instance_path, "geoservice.gpkg")
    if not app.config["NETWORK_DIR"]:
        app.config["NETWORK_DIR"] = os.path.join(app.instance_path, "networks")
    # Accounts, the audit log and worker reports: their own database beside the store (or
    # their own tables in the store's PostgreSQL database), so that a login or a report
    # never changes the store's revision (web/auth.py).
    staff = auth.new_staff(
        app.config.get("STORE_URL")
        or app.config["ADMIN_DB"]
        or str(Path(app.config["STORE_PATH"]).parent / "admin.sqlite")
    )
    app.extensions[auth.STAFF_KEY] = staff
    store = open_store(
        app.config["STORE_URL"] or app.config["STORE_PATH"],
        seed=app.config["SEED_PATH"],
        journal=staff.journal,
    )
    app.extensions[STORE_KEY] = store
    # The district profile (district.current: read again when the store changes, e.g.
    # after `flask district set`) clips imported networks and names the default depot.
    library = NetworkLibrary(
        Path(app.config["NETWORK_DIR"]),
        Path(app.config["NETWORK_DEFAULT"]),
        clip=lambda: district.current(store).boundary,
    )
    app.extensions[ENGINE_KEY] = EngineProvider(
        library, store, budget=app.config["ENGINE_MEMORY_BUDGET"], k=app.config["ROUTING_LABELS"]
    )
    # Every engine is built on first use from the library's one copy of the networks, and
    # again when the active network changes (geoservice.network.library.Watched).
    app.extensions[COVERAGE_KEY] = CoverageProvider(
        library, store, cache_bytes=int(app.config["COVERAGE_ENGINE_CACHE_BYTES"])
    )
    app.extensions[answers.ANSWERS_KEY] = answers.AnswerCache(
        app.config["ANSWERS_DIR"] or Path(app.config["STORE_PATH"]).parent / "answers",
        app.config["COVERAGE_CACHE_BYTES"],
    )
    holidays.configure(app.config.get("HOLIDAYS_DIR") or Path(app.instance_path) / "holidays")
    app.extensions[PLANNER_KEY] = _planner(app, store, library)

    from geoservice.web import (
        admin,
        api,
        cli,
        http_errors,
        i18n,
        jobs,
        logs,
        ogc,
        pages,
        security,
    )

    app.register_blueprint(api.bp)
    app.register_blueprint(api.probes)
    app.register_blueprint(pages.bp)
    app.register_blueprint(ogc.bp)
    auth.init_app(app)
    admin.init_app(app)
    # The API checks CSRF itself, for page sessions only: a bearer token is not a cookie.
    auth.csrf.exempt(api.bp)
    # App-wide, so that every page and answer added later has the headers and the JSON
    # errors under /api without doing anything (see security.py for what a page must do).
    security.init_app(app)
    # The request's language (lang=, the cookie, Accept-Language): pages, exports, errors.
    i18n.init_app(app)
    http_errors.init_app(app)
    logs.init_app(app)
    cli.register(app)
    jobs.init_app(app)
    _limit(app)
    return app


class _JSONProvider(DefaultJSONProvider):
    """Answers as written: Chinese as it is (not ``\\u`` escapes), keys in their order.

    JSON answers are written by orjson: the routes' coordinates made Python's encoder a
    quarter of a nearest answer's time. What orjson does not write itself (dates, data
    classes, ``__html__``) goes through Flask's own conversion, so the text is the same
    as Python's encoder's except for non-finite numbers (``null``, valid JSON, instead of
    ``NaN``). Pretty-printed answers (debug mode) keep Python's encoder.
    """

    ensure_ascii = False
    sort_keys = False

    def response(self, *args: Any, **kwargs: Any) -> Response:
        if self.compact is False or (self.compact is None and self._app.debug):
            return cast(Response, super().response(*args, **kwargs))
        body = orjson.dumps(
            self._prepare_response_obj(args, kwargs), default=self.default, option=_ORJSON
        )
        return Response(body, mimetype=self.mimetype)


#: Python's encoder's text: a newline after the document (as Flask writes), keys that are
#: not strings accepted, dates and data classes through Flask's ``default``; numpy arrays
#: (a route's coordinates) as nested lists.
_ORJSON = (
    orjson.OPT_APPEND_NEWLINE
    | orjson.OPT_NON_STR_KEYS
    | orjson.OPT_SERIALIZE_NUMPY
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def _limit(app: Flask) -> None:
    """Rate-limit the routing, planning and coverage endpoints and workers' reports per
    client (each app has its own limiter). Coverage answers are cached, but every new
    question costs CPU seconds; a report costs staff time.

    The limiter puts ``Retry-After`` (its window's reset, up to a minute) on every answer of
    a limited endpoint. That is what a 429 means; any other answer keeps the app's own (a
    job's polling second, a loading network's few seconds) or has none. Flask calls the
    after-request hooks last-registered first: the one registered after the limiter notes
    the app's value before the limiter's hook runs, the one registered before puts it back.
    """
    app.after_request(_own_retry_after)
    limiter = Limiter(get_remote_address, app=app)
    app.after_request(_note_retry_after)
    for endpoint, key in (
        ("api.nearest", "RATELIMIT_NEAREST"),
        ("api.nearest_batch", "RATELIMIT_BATCH"),
        *_TOURS_LIMITS,
        ("api.coverage", "RATELIMIT_COVERAGE"),
        ("api.coverage_suggest", "RATELIMIT_SUGGEST"),
        ("api.station_reports", "RATELIMIT_REPORTS"),
        ("api.job", "RATELIMIT_JOBS"),
    ):
        # Any view, sync or async: the limiter's decorator returns what it is given.
        view: Callable[..., Any] = app.view_functions[endpoint]
        app.view_functions[endpoint] = limiter.limit(app.config[key])(view)
    # Only the login attempts, not the page that shows the form.
    login: Callable[..., Any] = app.view_functions["auth.login"]
    app.view_functions["auth.login"] = limiter.limit(
        app.config["RATELIMIT_LOGIN"], methods=["POST"]
    )(login)
    app.extensions["geoservice.limiter"] = limiter


def _note_retry_after(response: Response) -> Response:
    g.own_retry_after = response.headers.get("Retry-After")
    return response


def _own_retry_after(response: Response) -> Response:
    if response.status_code == 429 or "own_retry_after" not in g:
        return response
    own = g.pop("own_retry_after")
    if own is None:
        response.headers.pop("Retry-After", None)
    else:
        response.headers["Retry-After"] = own
    return response


def get_store() -> Store:
    """The store of the current app."""
    return current_app.extensions[STORE_KEY]


def get_engine() -> NearestEngine:
    """The nearest-station engine of the current app (loads the networks on first use)."""
    return current_app.extensions[ENGINE_KEY].get()


def routing_engine() -> NearestEngine:
    """The nearest-station engine for an answer: at once while the road networks are ready,
    else a 503 with ``Retry-After`` after at most ``ROUTING_WAIT_SECONDS`` (default 0) while
    they load or rebuild in the background, so that no request holds a thread meanwhile."""
    wait = current_app.config["ROUTING_WAIT_SECONDS"]
    return current_app.extensions[ENGINE_KEY].get_within(wait)


def get_coverage() -> CoverageEngine:
    """The coverage engine of the current app (built on first use, from the active network;
    rebuilt when it changes)."""
    return current_app.extensions[COVERAGE_KEY].get()


def engine_ready() -> bool:
    """Whether the routing engine of the active network is built (never builds one: the
    readiness probe must not load networks on a request thread)."""
    return current_app.extensions[ENGINE_KEY].ready()


def get_library() -> NetworkLibrary:
    """The road-network library of the current app."""
    return current_app.extensions[ENGINE_KEY].library


def get_basemaps() -> tuple[maps.Basemap, ...]:
    """The basemaps the current app's maps offer (its ``TILES``), the one shown first first."""
    return _basemaps(current_app.config["TILES"], current_app.config.get("TIANDITU_KEY"))


def _basemaps(tiles: object, tianditu_key: str | None) -> tuple[maps.Basemap, ...]:
    # A list setting is made hashable for the cache.
    return _parsed_basemaps(tuple(tiles) if isinstance(tiles, list) else tiles, tianditu_key)


@functools.lru_cache(maxsize=16)
def _parsed_basemaps(tiles: str | tuple | None, tianditu_key: str | None) -> tuple:
    return maps.basemaps(tiles, tianditu_key)


def get_district() -> district.District:
    """The district profile of the current app's store (its words, CRS, map frame), read
    again whenever the store changes (``flask district set``)."""
    return district.current(get_store())


# -- caravan tours ------------------------------------------------------------------------------

#: Rate-limited tour endpoints and their configuration keys.
_TOURS_LIMITS = (("api.tours_plan", "RATELIMIT_TOURS"),)


def _tours_location(app: Flask) -> Path | str:
    """The saved plans' folder, or the PostgreSQL database of ``STORE_URL``."""
    url: str | None = app.config.get("STORE_URL")
    return url or Path(app.config["TOURS_DIR"] or Path(app.instance_path) / "tours")


def _planner(app: Flask, store: Store, library: NetworkLibrary) -> tour.Planner:
    """The app's tour planner: its plan folder, China's working days, the search bounds."""
    iterations = int(app.config["TOURS_ITERATIONS"])
    budget = vrp.Budget(
        iterations=iterations,
        no_improvement=min(tour.SEARCH.no_improvement or iterations, iterations),
        seconds=float(app.config["TOURS_SECONDS"]),
        seed=tour.SEARCH.seed,
    )
    return tour.Planner(
        store,
        library,
        _tour_store(app),
        calendar=holidays.CurrentCalendar(),
        budget=budget,
        depot_town=lambda: district.current(store).depot_town,
    )


def _tour_store(app: Flask) -> TourStore:
    return TourStore(
        _tours_location(app),
        max_anonymous=int(app.config["TOURS_ANONYMOUS_MAX"]),
        anonymous_ttl=dt.timedelta(hours=float(app.config["TOURS_ANONYMOUS_HOURS"])),
    )


def get_planner() -> tour.Planner:
    """The caravan tour planner of the current app (what the API and the CLI call)."""
    planner = current_app.extensions[PLANNER_KEY]
    if planner.tours.location != _tours_location(current_app):  # set after create_app
        planner.tours = _tour_store(current_app)
    return planner


def get_tour_store() -> TourStore:
    """The saved tour plans of the current app (``TOURS_DIR``, default ``<instance>/tours``)."""
    return get_planner().tours
