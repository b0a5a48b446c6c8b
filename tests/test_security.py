"""Hostile data on every page, the Content-Security-Policy, security headers, API errors.

One app (module scope) holds stations and sites imported through the real import path
with names from a hostile list, plus a 10 kB name written straight into the store (as
QGIS could) and hostile boundary, reservoir and town names. Every page route of the app
is found by itself and scanned; ``/``, ``/nearest`` and ``/caravan`` (a tour planned over
the hostile stations) are opened in headless Chromium.
"""

from __future__ import annotations

import csv
import json
import re
from html.parser import HTMLParser

import pandas as pd
import pytest
from conftest import (
    ARTIFACTS,
    PageWatch,
    launch_chromium,
    login_as,
    make_app,
    needs_chromium,
    serving,
    watched_page,
)
from conftest import HOSTILE_NAMES as HOSTILE
from conftest import stations_frame as make_stations
from jinja2.utils import htmlsafe_json_dumps
from test_caravan_page import planned_by_page

from geoservice import escape, maps
from geoservice.errors import error_body
from geoservice.store import catalog
from geoservice.web import STORE_KEY, security

#: A name far beyond the import limit, written into the store directly.
LONG_NAME = "超长站名" + "驿" * 10_000
#: Where the hostile stations stand: a row along the streets of tests/data/gulou_small.osm.
ORIGIN = (116.8340, 40.3700)
SITE_NAMES = HOSTILE[:5]
#: Phones: the import accepts only the first; the others are written into the store.
PHONES = ["010-6904 1234转8001", "javascript:alert(1)", '"><b>1</b>']


def _station_point(i: int) -> tuple[float, float]:
    return (round(116.8310 + 0.0006 * i, 7), 40.3700)


def _site_point(i: int) -> tuple[float, float]:
    return (round(116.8310 + 0.0006 * i, 7), 40.3740)


def _write_csv(path, header, rows) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_ALL)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    app = make_app(tmp)
    store = app.extensions[STORE_KEY]
    stations_csv = tmp / "stations.csv"
    _write_csv(
        stations_csv,
        ["name", "lon", "lat", "opening_hours", "address", "phone", "amenities"],
        [
            (name, *_station_point(i), "24/7", HOSTILE[-1 - i], PHONES[0], "hot_water;wifi")
            for i, name in enumerate(HOSTILE)
        ],
    )
    # The hostile file becomes the whole list, so that markers do not overlap sample ones.
    catalog.import_file(store, "stations", stations_csv, catalog.ImportOptions(mode="replace"))
    sites_csv = tmp / "sites.csv"
    _write_csv(
        sites_csv,
        ["name", "kind", "lon", "lat"],
        [(name, "reservoir_site", *_site_point(i)) for i, name in enumerate(SITE_NAMES)],
    )
    catalog.import_file(store, "sites", sites_csv)
    long_row = make_stations([_station_point(len(HOSTILE))], names=[LONG_NAME]).assign(
        id="LONG1", amenities="hot_water;wifi", phone=""
    )
    store.update("stations", lambda g: (pd.concat([g, long_row], ignore_index=True), None))

    def phones(g):
        order = g["name"].map({name: i for i, name in enumerate(HOSTILE)})
        return g.assign(phone=[PHONES[int(i) % 3] if i == i else "" for i in order]), None

    store.update("stations", phones)
    for layer in ("boundary", "reservoir", "towns"):
        store.update(layer, lambda g: (g.assign(name=HOSTILE[4] + " " + g["name"]), None))
    return app


@pytest.fixture(scope="module")
def stored(hostile_app):
    """The hostile stations as stored: id → name."""
    frame = hostile_app.extensions[STORE_KEY].stations()
    return dict(zip(frame["id"], frame["name"], strict=True))


@pytest.fixture(scope="module")
def hostile_client(hostile_app):
    return hostile_app.test_client()


def test_hostile_names_are_stored_unchanged(stored, hostile_app):
    assert sorted(stored.values()) == sorted([*HOSTILE, LONG_NAME])
    sites = hostile_app.extensions[STORE_KEY].sites()
    assert set(SITE_NAMES) <= set(sites["name"])


# -- scanning every page ----------------------------------------------------------------


class _Scan(HTMLParser):
    """Tags, attributes and script contents of a page, as a browser tokenises them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[list] = []
        self.handlers: list[tuple[str, str]] = []
        self.urls: list[str] = []
        self._script: list | None = None

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key.startswith("on"):
                self.handlers.append((tag, key))
            if key in ("href", "src", "action", "formaction", "xlink:href") and value:
                self.urls.append(value)
        if tag == "script":
            self._script = [dict(attrs), ""]
            self.scripts.append(self._script)

    def handle_data(self, data):
        if self._script is not None:
            self._script[1] += data

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None


def _forbidden_forms(value: str) -> set[str]:
    """How ``value`` would appear in a page if it skipped escape.html."""
    if escape.html(value) == value:
        return set()
    forms = {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        str(htmlsafe_json_dumps(value))[1:-1],
    }
    return {f for f in forms if len(f) >= 4}


def _policy_nonce(response) -> str:
    policy = response.headers["Content-Security-Policy"]
    match = re.search(r"script-src 'self' 'nonce-([A-Za-z0-9_-]{16,})';", policy)
    assert match, policy
    return match.group(1)


def _page_paths(app) -> list[str]:
    """Every GET route without arguments outside /api and /static: the app's pages (not
    the probes /healthz and /readyz, JSON for the load balancer: tests/test_health.py)."""
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods
        and not rule.arguments
        and rule.endpoint != "static"
        and not rule.endpoint.startswith("probes.")
        and not rule.rule.startswith(("/api", "/static"))
    )


def test_every_page_keeps_hostile_data_as_text(hostile_app, hostile_client):
    paths = _page_paths(hostile_app)
    assert {"/", "/nearest"} <= set(paths)
    # The back office's pages too: logged in as an admin.
    login_as(hostile_app, hostile_client, "admin")
    forbidden = {f for name in [*HOSTILE, *PHONES] for f in _forbidden_forms(name)}
    pages = 0
    for path in [*paths, "/no-such-page"]:
        r = hostile_client.get(path, follow_redirects=True)  # /admin/ → its first page
        # A name reaching a Jinja template unescaped would be evaluated: "{{ config.items()
        # }}" then fails the page (branca renders map scripts twice, as templates).
        assert r.status_code == (404 if path == "/no-such-page" else 200), path
        if r.mimetype != "text/html":
            continue
        pages += 1
        html = r.get_data(as_text=True)
        nonce = _policy_nonce(r)
        scan = _Scan()
        scan.feed(html)
        scan.close()
        # Every script is one the app wrote, with this response's nonce; nothing else.
        assert len(re.findall(r"<script", html, re.IGNORECASE)) == len(scan.scripts), path
        assert all(attrs.get("nonce") == nonce for attrs, _ in scan.scripts), path
        assert scan.handlers == [], path
        assert all(
            not u.strip().lower().startswith(("javascript:", "data:", "vbscript:"))
            for u in scan.urls
        ), path
        # Outside JSON data blocks (checked to be JSON that cannot close its element), no
        # hostile value appears in any form that skipped escape.html.
        rest = html
        for attrs, body in scan.scripts:
            if attrs.get("type") == "application/json":
                json.loads(body)
                assert "<" not in body
                rest = rest.replace(body, "")
        leaked = sorted(f for f in forbidden if f in rest)
        assert leaked == [], (path, leaked)
        # The 10 kB name is cut for display; the page stays small.
        assert "驿" * 100 not in html, path
        assert len(r.data) < 2_000_000, path
    assert pages >= 3  # /, /nearest and the HTML 404 page


def test_pages_show_names_escaped_cut_and_isolated(hostile_client, stored):
    html = hostile_client.get("/").get_data(as_text=True)
    for name in stored.values():
        shown = escape.html(maps.clip(name, maps.NAME_DISPLAY_MAX))
        assert f'<b class="popup-name"><bdi>{shown}</bdi></b>' in html, name[:30]
    assert maps.clip(LONG_NAME, maps.NAME_DISPLAY_MAX).endswith("…")
    # The API keeps the full value.
    r = hostile_client.get("/api/stations/LONG1")
    assert r.get_json()["properties"]["name"] == LONG_NAME


# -- display helpers ----------------------------------------------------------------------


def test_clip_counts_characters_and_marks_the_cut():
    assert maps.clip("驿站", 2) == "驿站"
    assert maps.clip("驿站A", 2) == "驿…"
    assert len(maps.clip("x" * 10_000, maps.NAME_DISPLAY_MAX)) == maps.NAME_DISPLAY_MAX
    assert maps.clip(None) == ""
    assert maps.clip("😀" * 5, 3) == "😀😀…"  # code points, as nearest.js counts them


def test_html_escapes_whatever_is_combined_with_it():
    evil = "`${x}</b>"
    assert maps.Html("<b>{}</b>").format(evil) == f"<b>{escape.html(evil)}</b>"
    assert maps.Html("<br>").join([evil, maps.Html("<i>ok</i>")]) == (
        f"{escape.html(evil)}<br><i>ok</i>"
    )
    assert maps.Html("<p>") + evil == f"<p>{escape.html(evil)}"
    assert maps.text("\u202eabc") == "<bdi>\u202eabc</bdi>"
    # Plain strings given to the helpers are data, Html is markup.
    assert maps.tooltip("<b>x</b>").text == "<bdi>&lt;b&gt;x&lt;/b&gt;</bdi>"
    assert maps.tooltip(maps.Html("<b>x</b>")).text == "<b>x</b>"
    assert maps.layer_name("<i>", 3) == "<bdi>&lt;i&gt;</bdi>（3）"


@pytest.mark.parametrize(
    ("phone", "href"),
    [
        ("010-6904 1234转8001", "tel:01069041234"),
        ("+86 138 0000 0000", "tel:+8613800000000"),
        ("javascript:alert(1)", None),
        ("请咨询驿站", None),
        ("", None),
        (None, None),
    ],
)
def test_tel_links_carry_digits_only(phone, href):
    assert maps.tel_href(phone) == href


@pytest.mark.parametrize(
    ("tiles", "origin"),
    [
        ("", None),
        (None, None),
        ("osm", "https://tile.openstreetmap.org"),
        ("https://{s}.tiles.example.org/{z}/{x}/{y}.png|© x", "https://*.tiles.example.org"),
        ("http://tiles.local:8080/{z}/{x}/{y}.png", "http://tiles.local:8080"),
        ("https://a{s}.b.example.org/{z}/{x}/{y}.png", "https://*.b.example.org"),
        ("/tiles/{z}/{x}/{y}.png", None),  # the app's own origin: 'self'
        ("javascript:alert(1)//{z}", None),
        ("https://{s}/{z}/{x}/{y}.png", None),
    ],
)
def test_tile_origin(tiles, origin):
    assert maps.tile_origin(tiles) == origin


# -- headers and the nonce -----------------------------------------------------------------

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


@pytest.mark.parametrize(
    "path", ["/", "/nearest", "/api/stations", "/api/openapi.json", "/static/nearest.js"]
)
def test_security_headers_everywhere(hostile_client, path):
    r = hostile_client.get(path)
    assert r.status_code == 200
    for key, value in COMMON.items():
        assert r.headers[key] == value
    assert "geolocation=(self)" in r.headers["Permissions-Policy"]
    assert "camera=()" in r.headers["Permissions-Policy"]
    policy = r.headers["Content-Security-Policy"]
    if r.mimetype == "text/html":
        nonce = _policy_nonce(r)
        assert policy == (
            f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; "
            "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
            "frame-ancestors 'none'"
        )
        assert "unsafe-eval" not in policy
    else:
        assert policy == security.OTHER_POLICY


def test_cached_page_gets_a_fresh_nonce_per_response(hostile_client):
    first = hostile_client.get("/")
    second = hostile_client.get("/")
    a, b = _policy_nonce(first), _policy_nonce(second)
    assert a != b
    html_a, html_b = first.get_data(as_text=True), second.get_data(as_text=True)
    assert html_a.count(f'nonce="{a}"') == len(re.findall("<script", html_a)) >= 3
    # The same cached page otherwise, nonce for nonce.
    assert html_a.replace(a, "N") == html_b.replace(b, "N")


def test_tile_server_may_serve_images(hostile_app, hostile_client):
    hostile_app.config["TILES"] = "https://{s}.tiles.example.org/{z}/{x}/{y}.png|© 例"
    try:
        r = hostile_client.get("/")
        assert (
            "img-src 'self' data: https://*.tiles.example.org;"
            in (r.headers["Content-Security-Policy"])
        )
        assert "tiles.example.org" in r.get_data(as_text=True)
    finally:
        hostile_app.config["TILES"] = ""
    assert "example.org" not in hostile_client.get("/").headers["Content-Security-Policy"]


def test_nonces_go_on_script_tags_only():
    page = security.NoncedPage(
        '<p title="&lt;script">&lt;script&gt; nonce N</p>\n<script>x()</script>'
        '<script src="/a.js"></script><SCRIPT type="application/json">{}</SCRIPT>'
    )
    assert page.scripts == 3
    out = page.render("abc_-1")
    assert out.count('nonce="abc_-1"') == 3
    assert out.startswith('<p title="&lt;script">&lt;script&gt; nonce N</p>')
    with pytest.raises(ValueError, match="not a nonce"):
        page.render('x" onload="y')


# -- error answers -------------------------------------------------------------------------


def test_api_errors_are_json_elsewhere_html(hostile_client):
    r = hostile_client.get("/api/no-such-thing")
    assert r.status_code == 404
    assert r.mimetype == "application/json"
    assert r.get_json() == error_body(404, "找不到该地址", "not found")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    r = hostile_client.put("/api/stations")
    assert r.status_code == 405
    assert r.get_json() == error_body(405, "该地址不支持此请求方法", "method not allowed")
    assert "GET" in r.headers["Allow"]
    r = hostile_client.delete("/api/nearest/batch")
    assert (r.status_code, r.get_json()["status"]) == (405, 405)
    assert hostile_client.get("/api").get_json()["status"] == 404
    # The API's own errors: the same body.
    r = hostile_client.get("/api/stations/NOPE")
    assert r.status_code == 404
    assert "NOPE" in r.get_json()["error"]
    # Elsewhere: a bilingual HTML page under the same policy.
    for method, path, code in (("get", "/no-such-page", 404), ("post", "/", 405)):
        r = getattr(hostile_client, method)(path)
        assert r.status_code == code
        assert r.mimetype == "text/html"
        html = r.get_data(as_text=True)
        assert str(code) in html
        assert ("找不到该地址" if code == 404 else "不支持此请求方法") in html
        assert "<script" not in html
        assert "nonce-" in r.headers["Content-Security-Policy"]


def test_500_answers_generically_and_logs_the_traceback(app, monkeypatch, caplog):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    store = app.extensions[STORE_KEY]

    def broken(layer):
        msg = f"secret detail /srv/geoservice/{layer}.gpkg"
        raise RuntimeError(msg)

    monkeypatch.setattr(store, "read", broken)
    client = app.test_client()
    for path in ("/api/towns", "/api/stations"):
        r = client.get(path)
        assert r.status_code == 500
        assert r.get_json() == error_body(
            500, "服务器内部错误，请稍后再试", "internal server error, please try again later"
        )
        assert "secret" not in r.get_data(as_text=True)
        assert r.headers["X-Frame-Options"] == "DENY"
    r = client.get("/")
    assert r.status_code == 500
    assert r.mimetype == "text/html"
    body = r.get_data(as_text=True)
    assert "服务器内部错误" in body
    assert "secret" not in body
    assert "Traceback" not in body
    logged = "\n".join(rec.getMessage() + str(rec.exc_info) for rec in caplog.records)
    assert "secret detail" in logged


# -- in the browser -----------------------------------------------------------------------

# Elements with inline handlers, links that are not http(s)/tel/same-page, and text nodes
# holding a bidi control that no isolating element (bdi, [dir]) encloses.
AUDIT_DOM = r"""() => {
    const handlers = [...document.querySelectorAll("*")]
        .filter((el) => [...el.attributes].some((a) => a.name.startsWith("on")))
        .map((el) => el.outerHTML.slice(0, 80));
    const links = [...document.querySelectorAll("a[href]")].map((a) => a.href)
        .filter((h) => !/^(https?:|tel:)/.test(h));
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const loose = [];
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const el = n.parentElement;
        if (/[\u202a-\u202e\u2066-\u2069]/.test(n.data) && !["SCRIPT", "STYLE"].includes(el.tagName)
            && !el.closest("bdi, [dir]")) loose.push(n.data.slice(0, 40));
    }
    return {handlers, links, loose, csp: window.__csp};
}"""


class _Watch(PageWatch):
    """The page watch plus dialogs (an ``alert`` that ran) and the DOM audit."""

    def __init__(self, page, origin: str, api: str | None = None) -> None:
        super().__init__(page, origin, api)
        self.dialogs: list[str] = []

        def dialog(d):
            self.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", dialog)

    def check(self, page, *, expected_status: tuple[int, ...] = ()) -> None:
        audit = page.evaluate(AUDIT_DOM)
        assert audit["handlers"] == []
        assert audit["links"] == []
        assert audit["loose"] == []
        assert self.dialogs == []
        super().check(page, expected_status=expected_status)  # also the CSP violations


@pytest.fixture(scope="module")
def chromium():
    """One Chromium for this module's pages."""
    with launch_chromium() as b:
        yield b


@pytest.fixture(scope="module")
def live(hostile_app):
    with serving(hostile_app) as url:
        yield url


@pytest.mark.slow
@needs_chromium
def test_home_page_markers_show_hostile_names_as_text(live, chromium, stored, hostile_app):
    context, page, watch = watched_page(
        chromium, live, watch=_Watch, viewport={"width": 1280, "height": 860}, locale="zh-CN"
    )
    page.goto(live + "/", wait_until="networkidle")
    page.wait_for_selector(".leaflet-marker-icon")
    frame = hostile_app.extensions[STORE_KEY].stations().set_index("id")
    sites = hostile_app.extensions[STORE_KEY].sites()
    sites = sites.loc[sites["name"].isin(SITE_NAMES)]
    targets = [("marker", frame.loc[i, "lat"], frame.loc[i, "lon"], n) for i, n in stored.items()]
    targets += [("circle", r.lat, r.lon, r.name) for r in sites.itertuples()]
    for kind, lat, lon, name in targets:
        expected = maps.clip(name, maps.NAME_DISPLAY_MAX)
        point = page.evaluate(
            """([kind, lat, lon]) => {
                const map = Object.values(window).find((v) => v instanceof L.Map);
                map.closePopup();
                map.setView([lat, lon], 18, {animate: false});
                const near = (l) => l.getLatLng && Math.abs(l.getLatLng().lat - lat) < 1e-6
                    && Math.abs(l.getLatLng().lng - lon) < 1e-6;
                const layer = Object.values(window).find((v) => v instanceof
                    (kind === "marker" ? L.Marker : L.CircleMarker) && near(v));
                const box = map.getContainer().getBoundingClientRect();
                const p = map.latLngToContainerPoint([lat, lon]);
                if (kind === "marker") {
                    const r = layer._icon.getBoundingClientRect();
                    return {x: r.left + r.width / 2, y: r.top + r.height / 2};
                }
                return {x: box.left + p.x, y: box.top + p.y};
            }""",
            [kind, float(lat), float(lon)],
        )
        page.mouse.move(point["x"], point["y"])
        tip = page.locator(".leaflet-tooltip bdi").last
        tip.wait_for()
        assert tip.evaluate("n => n.textContent") == expected
        page.mouse.click(point["x"], point["y"])
        # The newest popup (a closed one fades out for 200 ms before it is removed).
        shown = page.locator(".leaflet-popup-content .popup-name").last
        shown.wait_for()
        assert shown.evaluate("n => n.textContent") == expected
        page.mouse.move(5, 5)
        watch.check(page)
    # The layer control's names (with counts) are text too.
    control = page.locator(".leaflet-control-layers").evaluate("n => n.textContent")
    assert f"暖心驿站（{len(stored)}）" in control
    assert f"水库保护点（{20 + len(SITE_NAMES)}）" in control
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "security_index_popup.png"))
    watch.check(page)
    context.close()


@pytest.mark.slow
@needs_chromium
def test_nearest_cards_show_hostile_names_as_text(live, chromium, stored):
    context, page, watch = watched_page(
        chromium,
        live,
        watch=_Watch,
        viewport={"width": 390, "height": 844},
        has_touch=True,
        is_mobile=True,
        locale="zh-CN",
        geolocation={"longitude": ORIGIN[0], "latitude": ORIGIN[1]},
    )
    context.grant_permissions(["geolocation"], origin=live)
    # The page asks for 3 stations; ask the real server for all of them at once.
    page.route(
        "**/api/nearest?*",
        lambda route: route.continue_(url=route.request.url.replace("k=3", "k=20")),
    )
    page.goto(live + "/nearest", wait_until="networkidle")
    page.wait_for_function("() => document.body.classList.contains('nearest-ready')")
    # The stations' map tooltips (GeoJSON labels written with innerHTML by folium).
    labels = page.evaluate(
        """() => {
            const out = [];
            for (const geo of Object.values(window).filter((v) => v instanceof L.GeoJSON)) {
                if (!geo.getTooltip()) continue;
                geo.eachLayer((l) => {
                    // As a hover does: the layer's mouseover reaches the group's tooltip.
                    const at = l.getLatLng ? l.getLatLng() : l.getBounds().getCenter();
                    l.fire("mouseover", {latlng: at}, true);
                    out.push(geo.getTooltip().getElement().querySelector("bdi").textContent);
                    l.fire("mouseout", {latlng: at}, true);
                });
            }
            return out;
        }"""
    )
    assert {maps.clip(n, maps.NAME_DISPLAY_MAX) for n in stored.values()} <= set(labels)
    page.get_by_role("button", name="定位我").tap()
    page.wait_for_function(
        f"() => document.querySelectorAll('.result-card').length === {len(stored)}"
    )
    cards = page.locator(".result-card")
    for i in range(cards.count()):
        card = cards.nth(i)
        sid = card.get_attribute("data-station-id")
        expected = maps.clip(stored[sid], maps.NAME_DISPLAY_MAX)
        assert card.locator(".card-name").evaluate("n => n.textContent") == expected
        assert card.locator(".card-name").get_attribute("dir") == "auto"
        label = card.locator(".nav-amap").get_attribute("aria-label")
        assert label == f"高德导航到 \u2068{expected}\u2069"
        assert card.locator(".nav-amap").get_attribute("href").startswith("https://")
        card.locator(".card-name").tap()
        page.wait_for_selector(f".result-card:nth-child({i + 1}).is-selected")
    tels = page.eval_on_selector_all("a[href^='tel:']", "as => as.map((a) => a.href)")
    assert set(tels) == {"tel:01069041234"}
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "security_nearest_cards.png"))
    watch.check(page)
    context.close()


@pytest.mark.slow
@needs_chromium
def test_caravan_shows_hostile_names_as_text(live, chromium, stored, hostile_app):
    context, page, watch = watched_page(
        chromium,
        live,
        watch=_Watch,
        viewport={"width": 1180, "height": 820},
        has_touch=True,
        locale="zh-CN",
    )
    page.set_default_timeout(10_000)
    page.goto(live + "/caravan", wait_until="networkidle")
    page.wait_for_function("() => document.body.classList.contains('caravan-ready')")
    shown = {sid: maps.clip(name, maps.NAME_DISPLAY_MAX) for sid, name in stored.items()}
    # No caravan base: the first station is the depot, every other one a stop to pick.
    depot = page.locator("#cv-depot").input_value()
    assert (
        page.locator("#cv-depot option:checked")
        .evaluate("n => n.textContent")
        .startswith(shown[depot])
    )
    options = page.eval_on_selector_all("#cv-depot option", "os => os.map((o) => o.textContent)")
    assert all(any(o.startswith(name) for o in options) for name in shown.values())
    page.locator(".cv-chip[data-kind=reservoir_site]").tap()  # off: only the stations
    page.locator(".cv-chip[data-kind=warm_station]").tap()
    names = page.eval_on_selector_all(
        ".cv-item:not([hidden]) .cv-item-name", "ns => ns.map((n) => n.textContent)"
    )
    assert sorted(names) == sorted(n for sid, n in shown.items() if sid != depot)
    titles = page.eval_on_selector_all(".cv-marker", "ms => ms.map((m) => m.title)")
    assert {f"\u2068{n}\u2069" for sid, n in shown.items() if sid != depot} <= set(titles)
    page.locator("#cv-select-shown").tap()
    with page.expect_response(lambda r: r.url.endswith("/api/tours")) as resp:
        page.locator("#cv-plan-btn").tap()
    if resp.value.status == 422:  # stations off the small network's reach: drop, replan
        page.get_by_role("button", name="取消选择这些站点").tap()
        with page.expect_response(lambda r: r.url.endswith("/api/tours")) as resp:
            page.locator("#cv-plan-btn").tap()
    plan = planned_by_page(page, resp.value)
    page.wait_for_selector(".cv-day")
    served = [s for d in plan["result"]["days"] for s in d["stops"]]
    assert len(served) >= 5
    places = page.eval_on_selector_all(
        ".cv-row-stop .cv-place-name", "ns => ns.map((n) => n.textContent)"
    )
    assert places == [shown[s["id"]] for s in served]
    assert all(
        page.locator(".cv-place-name").nth(i).get_attribute("dir") == "auto"
        for i in range(page.locator(".cv-place-name").count())
    )
    labels = page.eval_on_selector_all(".cv-nav-amap", "as => as.map((a) => a.ariaLabel)")
    assert f"高德导航到 \u2068{shown[served[0]['id']]}\u2069" in labels
    badges = page.eval_on_selector_all(".cv-stop", "ms => ms.map((m) => m.title)")
    assert any(shown[served[0]["id"]] in b for b in badges)
    assert page.evaluate("() => window.pwned") is None
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "security_caravan.png"))
    watch.check(page, expected_status=(422,))  # a refused plan: Chromium reports its 422
    context.close()


@pytest.mark.slow
def test_coverage_page_shows_hostile_names_as_text(live, chromium, stored):
    """Station names (tooltips of the counted stations and their catchments) and town names
    (table, gaps, suggested sites) come from the API and reach the page as text only."""
    context, page, watch = watched_page(
        chromium, live, watch=_Watch, viewport={"width": 1280, "height": 860}, locale="zh-CN"
    )
    page.goto(live + "/coverage?mode=walk&minutes=5", wait_until="networkidle")
    page.wait_for_function("() => document.body.dataset.state === 'ready'")
    page.check("input[data-layer=catchments]")
    page.wait_for_function(
        "() => { let k = 0; window.geoserviceMap.eachLayer((l) => {"
        " if (l.options.className === 'cov-catchment') k++; }); return k > 0; }"
    )
    # Open every station's and catchment's tooltip, as a hover does, and read its title.
    titles = page.evaluate(
        """() => {
            const out = {station: [], catchment: []};
            window.geoserviceMap.eachLayer((l) => {
                const kind = {"cov-station": "station", "cov-catchment": "catchment"}[
                    l.options.className];
                if (!kind || !l.getTooltip()) return;
                l.openTooltip(l.getLatLng ? l.getLatLng() : l.getBounds().getCenter());
                out[kind].push(l.getTooltip().getElement().querySelector("strong").textContent);
                l.closeTooltip();
            });
            return out;
        }"""
    )
    expected = {maps.clip(n, maps.NAME_DISPLAY_MAX) for n in stored.values()}
    assert set(titles["station"]) == expected
    assert set(titles["catchment"]) <= expected
    assert titles["catchment"]
    # Town names (hostile) in the table, the gaps and the suggested sites.
    page.get_by_role("tab", name="各乡镇").click()
    towns = page.locator("#cov-table-body .cov-town").all_text_contents()
    assert any(t.startswith(HOSTILE[4]) for t in towns)
    page.get_by_role("tab", name="建议站址").click()
    page.select_option("#cov-n", "1")
    page.get_by_role("button", name="建议新站址").click()
    page.wait_for_selector("#cov-suggest-out .cov-suggest-summary")
    page.get_by_role("tab", name="概况").click()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "security_coverage.png"))
    watch.check(page)
    context.close()
