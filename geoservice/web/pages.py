"""HTML pages: the district map at ``/``, the nearest-station finder at ``/nearest``, the
caravan tour planner at ``/caravan`` and the coverage analysis at ``/coverage``.

Pages are folium maps rendered once per store revision (`_cached_page`) and sent with a
fresh CSP nonce on their scripts each time (:class:`geoservice.web.security.NoncedPage`).
Data reaches them only through :mod:`geoservice.maps`' escaping helpers; their own code
lives in ``static/<page>.js`` (no inline handlers). See :mod:`geoservice.web.security`.

Every page takes its words from the district profile (:func:`geoservice.web.get_district`:
titles, the header, the maps' layer names) and says so when the road network lies outside
the district (`_outside_banner`, 路网不在本区范围内). A district without towns gets no town
layer, list or figures.

The three tool pages are built alike by `_tool_page`: a folium map with the offline basemap,
the page's panel template (``templates/<page>_panel.html``, whose title row with the links to
the other pages comes from ``templates/_page.html``), the shared ``static/common.css`` and
``static/common.js``, then the page's own stylesheet and script.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask_babel import gettext as _

from geoservice import escape, maps
from geoservice.admin.reports import PROBLEMS
from geoservice.coverage import siting
from geoservice.district import OUTSIDE_NETWORK
from geoservice.errors import NetworkError, OsmError
from geoservice.i18n import N_
from geoservice.model import AMENITIES, SITE_KINDS, STATION_KINDS
from geoservice.network import places
from geoservice.tours import export as tour_export
from geoservice.tours import planner as tour

if TYPE_CHECKING:  # folium is imported where a map is drawn, not at start
    import folium
from geoservice.web import get_basemaps, get_district, get_library, get_store, security
from geoservice.web.auth import get_staff
from geoservice.web.i18n import current_lang, js_catalog, lang_switch

bp = Blueprint("pages", __name__)

#: The last rendered page per endpoint and language, with the key it was rendered for.
_pages: dict[str, tuple[tuple, security.NoncedPage]] = {}
_pages_lock = threading.Lock()


def _cached_page(extra: tuple, render: Callable[[], str]) -> Response:
    """Serve the current endpoint's page, rendering it only when the store, the basemap
    setting, the URL, the road network or ``extra`` changed since the last render.

    The page is kept without nonces; each response puts its own on the page's scripts.
    One page is kept per language.
    """
    store = get_store()
    lang = current_lang()
    key = (
        store.location(),
        store.revision(),
        current_app.config["TILES"],
        request.path,
        _network_token(),
        *extra,
    )
    assert request.endpoint is not None  # pages call this from their view: routed
    slot = f"{request.endpoint}:{lang}"
    with _pages_lock:
        hit = _pages.get(slot)
    if hit is None or hit[0] != key:
        hit = (key, security.NoncedPage(render()))
        with _pages_lock:
            _pages[slot] = hit
    return security.page_response(hit[1])


def _network_token() -> str:
    """The active road network (pages say when it lies outside the district); "" when no
    network file can be found: the page still loads."""
    try:
        return get_library().token()
    except NetworkError:
        return ""


@bp.app_context_processor
def _district_words() -> dict:
    """Every template (the error page too) may name the district: ``district`` is the
    profile, None when it cannot be read."""
    try:
        return {"district": get_district()}
    except Exception:  # the error page of whatever broke the store must still render
        return {"district": None}


def _outside() -> tuple[str, str] | None:
    """路网不在本区范围内 (zh, en) when the active road network lies wholly outside the
    district (an extract from elsewhere, kept whole); None otherwise. Every page says it:
    the home page in `_outside_banner`, the tool pages in their title bar
    (``templates/_page.html`` titlerow)."""
    try:
        outside = get_library().outside_district()
    except (NetworkError, OsmError):
        outside = False
    return OUTSIDE_NETWORK if outside else None


def _outside_banner() -> maps.Html:
    """The home page's banner across the top when the network lies outside the district
    (on a phone a bar above the map: static/home.css)."""
    words = _outside()
    if words is None:
        return maps.Html("")
    zh, en = words
    if current_lang() == "en":
        zh, en = en, zh
    return maps.Html(
        '<div class="geoservice-outside" role="alert" style="position:fixed;top:0;left:50%;'
        "transform:translateX(-50%);z-index:1100;background:#b42318;color:#fff;"
        'border-radius:0 0 6px 6px;padding:4px 12px;font-size:13px;font-weight:bold">'
        '{}<small lang="{}" style="font-weight:normal"> · {}</small></div>'
    ).format(zh, "zh-Hans" if current_lang() == "en" else "en", en)


def _header() -> maps.Html:
    """The home page's title box with the links to the other pages (laid out by
    ``static/home.css``: over the map on a desktop, a bar above it on a phone)."""
    return maps.Html(
        '<div class="geoservice-header"><b class="geoservice-title">{} · {}</b>'
        '<nav class="geoservice-links" aria-label="{}">'
        '<a href="{}">{}</a><a href="{}">{}</a><a href="{}">{}</a>'
        '<a class="geoservice-data" href="{}">GeoJSON</a>{}</nav></div>'
    ).format(
        get_district().org,
        _("暖心驿站与职工之家"),
        _("其他页面"),
        url_for("pages.nearest"),
        _("找最近驿站"),
        url_for("pages.caravan"),
        _("大篷车路线"),
        url_for("pages.coverage"),
        _("覆盖分析"),
        url_for("api.stations"),
        lang_switch(),
    )


def _map_options() -> dict:
    """What every page's map gets: the basemaps to offer, the vendored assets and the URL
    of the offline basemap of major roads."""
    return {
        "tiles": get_basemaps(),
        "asset_url": url_for("static", filename="vendor").rstrip("/"),
        "roads_url": url_for("api.network_roads"),
    }


#: The pages in the order of every tool page's links (the page itself left out).
_PAGES = (
    ("pages.index", N_("全区地图")),
    ("pages.nearest", N_("找最近驿站")),
    ("pages.caravan", N_("大篷车路线")),
    ("pages.coverage", N_("覆盖分析")),
)


def _assets(names: tuple[str, ...]) -> maps.Html:
    """The stylesheets ``static/base.css`` and ``static/<name>.css`` (of the names that have
    one), the scripts' words in the page's language (`js_catalog`), then the deferred scripts
    ``static/i18n.js`` and ``static/<name>.js`` of ``names``, in order (deferred scripts run
    in this order once folium's inline script has created the map)."""
    names = ("i18n", *names)  # t() of every script (static/i18n.js) first
    base = url_for("static", filename="").rstrip("/")
    folder = Path(current_app.static_folder or "")
    sheets = [
        maps.Html('<link rel="stylesheet" href="{}/{}.css">\n').format(base, n)
        for n in ("base", *names)  # the service's tokens first
        if (folder / f"{n}.css").is_file()
    ]
    scripts = [maps.Html('<script src="{}/{}.js" defer></script>\n').format(base, n) for n in names]
    # The scripts' words in the page's language, for common.js t().
    return maps.Html("").join([*sheets, js_catalog(names), maps.Html("\n"), *scripts])


def _tool_page(
    name: str,
    build: Callable[..., folium.Map],
    title: str,
    *,
    shared: tuple[str, ...] = (),
    **context: object,
) -> str:
    """Render a tool page: the map ``build`` makes, with the panel template
    ``<name>_panel.html`` injected into its body.

    Parameters
    ----------
    name
        The page: its template, stylesheet and script are ``<name>_panel.html``,
        ``static/<name>.css`` and ``static/<name>.js``.
    build
        Makes the map from the store and `_map_options`.
    title
        The page title (text), followed by the organisation's name.
    shared
        Further parts of ``static`` the page uses (``reports``: the workers' reports),
        loaded after ``common`` and before the page's own.
    **context
        The template's own values; it also gets ``links``, (URL, label) of the other pages.

    Returns
    -------
    str
        The page, without nonces (see `_cached_page`).
    """
    lang = current_lang()
    m = build(get_store(), **_map_options(), lang=lang)
    links = [
        (url_for(endpoint), _(label)) for endpoint, label in _PAGES if endpoint != request.endpoint
    ]
    outside = _outside()
    if outside and lang == "en":
        outside = (outside[1], outside[0])
    panel = render_template(f"{name}_panel.html", links=links, outside=outside, **context)
    # An autoescaping template: its output is markup.
    page = maps.render(
        m,
        title=f"{_(title)} · {get_district().org}",
        header=maps.Html(panel),
        icon=url_for("static", filename="favicon.svg"),
        lang=lang,
    )
    # After folium's own CSS, so the pages' rules win over Bootstrap's; the shared sheet
    # and script before the page's own. Scripts are deferred: they run in this order once
    # folium's inline script has created the map.
    assets = _assets(("crs", "common", *shared, name)) + maps.Html("</head>")
    return page.replace("</head>", str(assets), 1)


@bp.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for /favicon.ico whatever the page says."""
    return current_app.send_static_file("favicon.svg")


@bp.get("/")
def index() -> Response:
    """The district map: boundary, water, stations by kind, sites, layer control.

    Rendered once per store revision and minute (open-now badges change with time), and
    whenever the open workers' reports change (each popup counts its station's).
    """
    reports = get_staff().reports.open_counts()

    def render() -> str:
        lang = current_lang()
        m = maps.overview_map(
            get_store(), **_map_options(), sites=_site_positions(), reports=reports, lang=lang
        )
        page = maps.render(
            m,
            title=_("{district}暖心驿站地图").format(district=get_district().name),
            header=_outside_banner() + _header() + _report_config(),
            icon=url_for("static", filename="favicon.svg"),
            lang=lang,
        )
        assets = _assets(("crs", "home", "reports")) + maps.Html("</head>")
        return page.replace("</head>", str(assets), 1)

    return _cached_page((int(time.time() // 60), tuple(sorted(reports.items()))), render)


def _site_positions():
    """Sites with positions derived from the active network (None: the store's own, when
    the network cannot be loaded — the page must still show)."""
    try:
        return places.site_positions(get_store(), get_library())
    except (NetworkError, OsmError):
        return None


# -- workers' reports --------------------------------------------------------------------------

#: Stands for the station's id in the reports URL handed to ``static/reports.js``.
REPORT_ID = "__station__"


def _report_config() -> maps.Html:
    """What ``static/reports.js`` needs, as a JSON data block (``#report-config``): where a
    station's reports are posted (``id`` standing for the station's id) and the problems
    with their labels."""
    config = {
        "url": url_for("api.station_reports", station_id=REPORT_ID),
        "id": REPORT_ID,
        "problems": [[key, _(label)] for key, label in PROBLEMS.items()],
    }
    # escape.js: JSON that cannot end its <script> element.
    return maps.Html('<script type="application/json" id="report-config">{}</script>').format(
        maps.Html(escape.js(config))
    )


# -- /nearest ----------------------------------------------------------------------------

#: Travel modes in the order of the page's switch, with the labels riders use ("电动车",
#: not the network's formal "电动自行车").
NEAREST_MODES = (("walk", N_("步行")), ("bike", N_("电动车")), ("drive", N_("驾车")))
#: Riders are the biggest group of outdoor workers, so e-bike is the first-visit default.
NEAREST_DEFAULT_MODE = "bike"
#: Amenity chips, the ones most asked for first (all of them: the row scrolls sideways).
NEAREST_CHIPS = (
    "hot_water",
    "microwave",
    "charging",
    "toilet",
    "heating",
    "cooling",
    "drinking_water",
    "rest_area",
    "first_aid",
    "repair_kit",
    "wifi",
)


#: The notices a tool page shows from its first load: (code, kind, title, detail).
SAMPLE_STATIONS_NOTICE = (
    "sample_stations",
    "sample",
    N_("示例数据"),
    N_("驿站为演示用样例，并非总工会正式名录。"),
)
SCHEMATIC_NETWORK_NOTICE = (
    "schematic_network",
    "warn",
    N_("示意路网"),
    N_(
        "道路为根据行政区划生成的示意网络，非真实道路，时间仅供参考。"
        "Schematic network: roads are generated, not real; times are indicative only."
    ),
)


def _page_notices() -> list[tuple[str, str, str, str]]:
    """What holds for every answer of the page, said before the first search: sample
    stations, a schematic road network (a network outside the district: the title bar); in
    the request's language."""
    found = []
    stations = get_store().stations()
    if len(stations) and (stations["source"] == "sample").any():
        found.append(SAMPLE_STATIONS_NOTICE)
    try:
        schematic = bool(get_library().places().attrs.get("schematic"))
    except (NetworkError, OsmError):  # the page must still show
        schematic = False
    if schematic:
        found.append(SCHEMATIC_NETWORK_NOTICE)
    return [(code, kind, _(title), _(detail)) for code, kind, title, detail in found]


def _nearest_page() -> str:
    """Render ``/nearest``: the folium map with the panel template injected."""
    return _tool_page(
        "nearest",
        maps.nearest_map,
        N_("找最近的暖心驿站"),
        shared=("reports",),
        report_config=_report_config(),
        config={
            "api": url_for("api.nearest"),
            # For the notice of a point outside the district.
            "district": get_district().name,
            "k": 3,
            "default_mode": NEAREST_DEFAULT_MODE,
            # The page's language's words for what answers name in Chinese.
            "mode_labels": {key: _(label) for key, label in NEAREST_MODES},
            "amenity_labels": {key: _(label) for key, label in AMENITIES.items()},
            # Display lengths, so that cards cut names as the server's pages do.
            "name_max": maps.NAME_DISPLAY_MAX,
            "text_max": maps.TEXT_DISPLAY_MAX,
        },
        notices=_page_notices(),
        modes=[(key, _(label)) for key, label in NEAREST_MODES],
        default_mode=NEAREST_DEFAULT_MODE,
        amenities=[(key, _(AMENITIES[key])) for key in NEAREST_CHIPS],
    )


@bp.get("/nearest")
def nearest() -> Response:
    """Find the nearest open warm station by travel time from one's location or a tap.

    The page itself is static per store revision (open-now and routes come from
    ``/api/nearest``), so it is rendered once per revision and basemap setting.
    """
    return _cached_page((), _nearest_page)


# -- /caravan ----------------------------------------------------------------------------

#: Kinds in the order of the page's filter chips, with their map colours; the site kinds
#: (what the caravan mostly visits) are shown first and on by default.
CARAVAN_KIND_COLOURS = {
    "reservoir_site": maps.SITE_COLORS["reservoir_site"],
    "village": maps.SITE_COLORS["village"],
    "community": maps.SITE_COLORS["community"],
    "warm_station": "#d63e2a",
    "worker_home": "#38aadd",
    "public_worker_home": "#72b026",
    "caravan_base": "#7b3fa0",
}
#: The plan's default number of days on the page.
CARAVAN_DEFAULT_DAYS = 3


def _caravan_config() -> dict:
    """What the page needs besides the map: the stops to choose from, the towns, the
    default depot and the planner's defaults and limits (sent as JSON, escaped)."""
    store = get_store()
    stops = tour.candidates(store, get_library())
    # The page shows names, never more (the API has them whole): cut them as pages do.
    for s in stops:
        s["name"] = maps.clip(s["name"], maps.NAME_DISPLAY_MAX)
        s["town"] = maps.clip(s["town"], maps.NAME_DISPLAY_MAX)
    located = [s for s in stops if s["lon"] is not None]
    unlocated: dict[str, int] = {}
    for s in stops:
        if s["lon"] is None:
            unlocated[s["kind"]] = unlocated.get(s["kind"], 0) + 1
    towns = store.read("towns")
    base = tour.default_depot(stops, get_district().depot_town)
    depot = stops[base]["id"] if base is not None else None
    labels = {**SITE_KINDS, **STATION_KINDS}
    return {
        "api": {"tours": url_for("api.tours"), "plan": url_for("api.tours_plan")},
        "stops": located,
        "unlocated": unlocated,
        "towns": [
            [c, maps.clip(n, maps.NAME_DISPLAY_MAX)]
            for c, n in zip(towns["code"], towns["name"], strict=True)
        ],
        "kinds": [[k, _(labels[k]), colour] for k, colour in CARAVAN_KIND_COLOURS.items()],
        "default_kinds": list(SITE_KINDS),
        "default_depot": depot,
        "defaults": {
            "days": CARAVAN_DEFAULT_DAYS,
            "day_start": tour.DAY_START,
            "day_end": tour.DAY_END,
            "lunch_minutes": tour.LUNCH_MINUTES,
            "lunch_window": [tour.hhmm(tour.LUNCH_EARLIEST), tour.hhmm(tour.LUNCH_LATEST)],
            "station_service_minutes": tour.STATION_SERVICE_MINUTES,
        },
        "limits": {
            "days": tour.MAX_DAYS,
            "stops": tour.MAX_STOPS,
            "service_minutes": tour.MAX_SERVICE_MINUTES,
            "lunch_minutes": 180,
            "priorities": len(tour.PRIORITIES),
        },
        "day_colours": list(tour_export.DAY_COLOURS),
        "day_dashes": list(tour_export.DAY_DASHES),
        "name_max": maps.NAME_DISPLAY_MAX,
        "text_max": maps.TEXT_DISPLAY_MAX,
    }


def _caravan_page() -> str:
    """Render ``/caravan``: the folium map with the planner's panel injected."""
    return _tool_page(
        "caravan",
        maps.caravan_map,
        N_("大篷车巡回路线规划"),
        config=_caravan_config(),
        defaults={"days": CARAVAN_DEFAULT_DAYS, "max_days": tour.MAX_DAYS},
    )


@bp.get("/caravan")
def caravan() -> Response:
    """Plan the volunteer caravan's multi-day tour: pick stops on the map or from a list,
    set the days and hours, plan, and read or download the day-by-day schedule.

    Rendered once per store revision, basemap setting and road network (positions of
    villages may come from the network); plans come from ``/api/tours``.
    """
    return _cached_page((), _caravan_page)


# -- /coverage -----------------------------------------------------------------------------

#: The thresholds (minutes) the page offers per mode and the one it shows first. The view
#: asks for every offered threshold up to the chosen one, drawn in graduated colours.
COVERAGE_MINUTES = {"walk": (5, 10, 15), "bike": (5, 10, 15), "drive": (5, 10, 15)}
COVERAGE_DEFAULT_MINUTES = {"walk": 15, "bike": 10, "drive": 10}
#: The ACFTU standard is a walk: the page opens on it.
COVERAGE_DEFAULT_MODE = "walk"
#: The chosen time the page proposes first: the night, when gaps show.
COVERAGE_NIGHT = "02:00"
#: How many new sites the page offers to suggest, and the first choice.
COVERAGE_N = (1, 2, 3, 5, 10, 20)
COVERAGE_N_DEFAULT = 5


def _coverage_page() -> str:
    """Render ``/coverage``: the folium map with the panel template injected."""
    from geoservice.coverage import publish  # folium's: imported where a map is drawn

    modes = [
        {
            "key": key,
            "label": _(label),
            "minutes": list(COVERAGE_MINUTES[key]),
            "default": COVERAGE_DEFAULT_MINUTES[key],
        }
        for key, label in NEAREST_MODES
    ]
    return _tool_page(
        "coverage",
        maps.coverage_map,
        N_("暖心驿站覆盖分析"),
        config={
            "api": url_for("api.coverage"),
            "suggest_api": url_for("api.coverage_suggest"),
            "modes": modes,
            "default_mode": COVERAGE_DEFAULT_MODE,
            "night": COVERAGE_NIGHT,
            "kinds": [[k, _(v)] for k, v in STATION_KINDS.items() if k != "caravan_base"],
            "default_kinds": ["warm_station"],
            "n_default": COVERAGE_N_DEFAULT,
            # The published site's colours, so that both maps read alike.
            "colors": {
                "areas": list(publish.AREA_COLORS),
                "cross": publish.CROSS_COLOR,
                "uncovered": publish.UNCOVERED_COLOR,
                "site": publish.SITE_COLOR,
                "station": "#d63e2a",
                "village": "#b35806",
            },
            "name_max": maps.NAME_DISPLAY_MAX,
            "text_max": maps.TEXT_DISPLAY_MAX,
        },
        modes=[(key, _(label)) for key, label in NEAREST_MODES],
        n_options=COVERAGE_N,
        n_default=COVERAGE_N_DEFAULT,
        objectives=[(key, _(label)) for key, label in siting.OBJECTIVES.items()],
        night=COVERAGE_NIGHT,
        # A district without towns has no per-town table.
        has_towns=len(get_store().read("towns")) > 0,
    )


@bp.get("/coverage")
def coverage() -> Response:
    """Coverage of the roads by the stations against the ACFTU standard: areas by travel
    time, cross-coverage, catchments, gaps, figures per town and suggested new sites.

    The page is static per store revision (everything it shows comes from
    ``/api/coverage`` and ``/api/coverage/suggest``).
    """
    return _cached_page((), _coverage_page)
