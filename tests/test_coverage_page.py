"""The ``/coverage`` page: HTML served offline, and the whole flow in headless Chromium.

The browser tests run against a live server routing on the small real-format extract
``tests/data/gulou_small.osm`` with the grid stations (one of them closed at night), so
that every coverage answer takes milliseconds.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import (
    ARTIFACTS,
    CSP_WATCH,
    GRID_STATIONS,
    needs_chromium,
    offline_page,
    serving,
    stations_frame,
    watched_page,
)

from geoservice.web import STORE_KEY

#: Every test here drives a browser: seconds each.
pytestmark = pytest.mark.slow

#: Two warm stations (counted by default) and three worker homes; the warm station T02
#: opens on weekday daytimes only, so the night view counts one station, and the grid has
#: gaps at every threshold.
KINDS = ["warm_station", "worker_home", "warm_station", "worker_home", "worker_home"]
HOURS = ["24/7", "24/7", "Mo-Fr 08:00-18:00", "24/7", "24/7"]
NAMES = ["<b>西路</b>驿站", "北街职工之家", "东路驿站（白天）", "中路职工之家", "服务路职工之家"]


# -- HTML ---------------------------------------------------------------------------------


def test_coverage_page_is_offline_zh_with_controls(client):
    html, links = offline_page(client, "/coverage", "暖心驿站覆盖分析 · 密云区总工会")
    assert {"/static/coverage.js", "/static/coverage.css"} <= set(links)
    for text in ("步行", "电动车", "驾车", "全部站点", "现在开放", "指定时间", "夜间 02:00"):
        assert text in html, text
    for text in ("概况", "各乡镇", "建议站址", "建议新站址", "近似", "未覆盖道路", "双站覆盖"):
        assert text in html, text
    config = json.loads(re.search(r'id="coverage-config">(.*?)</script>', html).group(1))
    assert config["api"] == "/api/coverage"
    assert config["suggest_api"] == "/api/coverage/suggest"
    assert [m["key"] for m in config["modes"]] == ["walk", "bike", "drive"]
    assert config["modes"][0]["minutes"] == [5, 10, 15]
    assert config["modes"][0]["default"] == 15
    # Every station drawn grey under the coverage; the map is published for the script.
    assert "全部站点" in html
    assert html.index("L.map(") < html.index("window.geoserviceMap =")


def test_home_and_nearest_pages_link_to_coverage(client):
    for path in ("/", "/nearest"):
        html = client.get(path).get_data(as_text=True)
        assert 'href="/coverage"' in html, path
        assert "覆盖分析" in html, path


# -- browser ------------------------------------------------------------------------------


@pytest.fixture
def live_server(grid_app):
    grid_app.extensions[STORE_KEY].update(
        "stations",
        lambda g: (stations_frame(GRID_STATIONS, kinds=KINDS, hours=HOURS, names=NAMES), None),
    )
    with serving(grid_app) as url:
        yield url


def _open(browser, origin: str, path: str = "/coverage", **kwargs):
    context, page, watch = watched_page(browser, origin, "/api/coverage", locale="zh-CN", **kwargs)
    page.goto(origin + path, wait_until="networkidle")
    _ready(page)
    return context, page, watch


def _ready(page) -> None:
    page.wait_for_function("() => document.body.dataset.state === 'ready'", timeout=20000)


def _switch(page, name: str, value: str) -> None:
    """Choose a radio option and wait for the new view (the page marks itself loading
    within the change event, and ready only once the latest view is shown)."""
    page.check(f"input[name={name}][value='{value}']")
    _ready(page)


def _layers(page, class_name: str) -> int:
    """Leaflet layers on the map whose className includes ``class_name`` (SVG or canvas)."""
    return page.evaluate(
        """(name) => {
            let n = 0;
            window.geoserviceMap.eachLayer((l) => {
                if (String(l.options && l.options.className || "").split(" ").includes(name)) n++;
            });
            return n;
        }""",
        class_name,
    )


def _query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@needs_chromium
def test_desktop_flow_modes_thresholds_times_table_and_sites(live_server, browser):
    context, page, watch = _open(browser, live_server, viewport={"width": 1280, "height": 860})
    assert page.title() == "暖心驿站覆盖分析 · 密云区总工会"
    # The ACFTU view first: a walk, 15 minutes, all stations; graduated 5/10/15 polygons.
    assert page.locator("input[name=cov-mode][value=walk]").is_checked()
    assert page.locator("input[name=cov-minutes][value='15']").is_checked()
    assert _query(watch.api[-1])["minutes"] == "5,10,15"
    assert "open_at" not in _query(watch.api[-1])
    assert page.locator("path.cov-area").count() == 3
    assert _layers(page, "cov-station") == 2
    assert "计入 2 个站点" in page.locator("#cov-status").inner_text()
    values = page.locator(".cov-figure-value").all_inner_texts()
    assert re.fullmatch(r"\d+\.\d%", values[0]), values
    assert page.locator(".cov-step").count() == 3
    assert page.locator(".cov-legend").count() == 1

    # The per-town table (approximate), sortable, the district last.
    page.get_by_role("tab", name="各乡镇").click()
    assert "近似" in page.locator("#cov-table-caption").inner_text()
    rows = page.locator("#cov-table-body tr")
    assert rows.count() >= 1
    assert page.locator("#cov-table-foot .cov-district").inner_text().startswith("全区")
    page.get_by_role("button", name="覆盖率").click()
    assert page.locator("th[aria-sort]").count() == 1
    shares = [
        float(t.rstrip("%"))
        for t in page.locator("#cov-table-body td:nth-child(3)").all_inner_texts()
        if t != "—"
    ]
    assert shares == sorted(shares, reverse=True)

    # Drive: its own thresholds (10 first); then 5 minutes alone.
    _switch(page, "cov-mode", "drive")
    assert page.locator("input[name=cov-minutes]").count() == 3
    assert page.locator("input[name=cov-minutes][value='10']").is_checked()
    assert _query(watch.api[-1])["mode"] == "drive"
    assert page.locator("path.cov-area").count() == 2
    _switch(page, "cov-minutes", "5")
    assert _query(watch.api[-1])["minutes"] == "5"
    assert page.locator("path.cov-area").count() == 1
    assert "mode=drive" in page.url

    # A chosen time: 02:00 counts only the stations open then (the night gaps).
    _switch(page, "cov-mode", "walk")
    _switch(page, "cov-time", "at")
    page.fill("#cov-at-date", "2026-11-25")
    page.locator("#cov-at-date").dispatch_event("change")
    _ready(page)
    page.get_by_role("button", name="夜间 02:00").click()
    _ready(page)
    assert "2026-11-25 02:00" in page.locator("#cov-status").inner_text()
    assert _query(watch.api[-1])["open_at"] == "2026-11-25T02:00"
    assert _layers(page, "cov-station") == 1
    assert "计入 1 个站点" in page.locator("#cov-status").inner_text()
    _switch(page, "cov-time", "now")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d", _query(watch.api[-1])["open_at"])

    # Worker homes counted too (the kind chips); at least one kind stays chosen.
    _switch(page, "cov-time", "all")
    page.get_by_role("tab", name="概况").click()
    page.get_by_label("职工之家", exact=True).check()
    _ready(page)
    assert _query(watch.api[-1])["kind"] == "warm_station,worker_home"
    assert _layers(page, "cov-station") == len(GRID_STATIONS)
    page.get_by_label("暖心驿站", exact=True).uncheck()
    _ready(page)
    page.get_by_label("职工之家", exact=True).click()  # the last one: stays on
    assert page.get_by_label("职工之家", exact=True).is_checked()
    page.get_by_label("暖心驿站", exact=True).check()
    _ready(page)
    page.get_by_label("职工之家", exact=True).uncheck()
    _ready(page)
    assert _query(watch.api[-1])["kind"] == "warm_station"

    # Catchments on demand: one layer request, one line group per station.
    page.check("input[data-layer=catchments]")
    page.wait_for_function(
        "(n) => { let k = 0; window.geoserviceMap.eachLayer((l) => {"
        " if (l.options.className === 'cov-catchment') k++; }); return k === n; }",
        arg=2,
    )
    assert _query(watch.api[-1])["layer"] == "catchments"
    page.uncheck("input[data-layer=uncovered]")
    assert _layers(page, "cov-gap") == 0

    # Suggested sites for the 5-minute walk, where the grid has gaps.
    page.check("input[data-layer=uncovered]")
    _switch(page, "cov-minutes", "5")
    gaps = page.locator("#cov-gaps .cov-item")
    assert gaps.count() >= 1
    gaps.first.locator("button").click()
    page.get_by_role("tab", name="建议站址").click()
    page.select_option("#cov-n", "2")
    page.get_by_role("button", name="建议新站址").click()
    page.wait_for_selector(".cov-sites .cov-item", timeout=20000)
    q = _query(watch.api[-1])
    assert (q["n"], q["minutes"], q["objective"]) == ("2", "5", "roads")
    sites = page.locator(".cov-sites .cov-item").count()
    assert 1 <= sites <= 2
    assert page.locator(".cov-site-badge").count() == sites
    summary = page.locator(".cov-suggest-summary").inner_text()
    assert "道路覆盖率" in summary
    assert "→" in summary
    assert "贪心" in page.locator("#cov-suggest-out").inner_text()
    # A new view makes the suggestion stale: it is cleared.
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "coverage_desktop.png"))
    _switch(page, "cov-minutes", "10")
    assert page.locator(".cov-site-badge").count() == 0
    # Data reach the page as text only.
    assert page.locator("#cov-table-body b, .leaflet-tooltip b").count() == 0
    watch.check(page)
    context.close()


@needs_chromium
def test_phone_and_tablet_layouts(live_server, browser):
    phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
    context, page, watch = _open(browser, live_server, **phone)
    # Controls on top, the map, the sheet: nothing overflows the screen sideways.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    bar = page.locator("#cov-bar").bounding_box()
    sheet = page.locator("#cov-sheet").bounding_box()
    box = page.evaluate(
        "() => { const r = window.geoserviceMap.getContainer().getBoundingClientRect();"
        " return {top: r.top, height: r.height}; }"
    )
    assert bar["y"] + bar["height"] <= box["top"] + 1
    assert box["top"] + box["height"] <= sheet["y"] + 1
    assert box["height"] > 200
    for option in page.locator(".cov-opt span").all():
        assert option.bounding_box()["height"] >= 36  # touch targets
    page.get_by_role("tab", name="各乡镇").tap()
    assert page.locator("#cov-panel-towns").is_visible()
    assert page.locator("#cov-table-body tr").count() >= 1
    page.screenshot(path=str(ARTIFACTS / "coverage_phone_towns.png"))
    # The sheet folds away for a bigger map.
    page.locator("#cov-handle").tap()
    assert not page.locator("#cov-panel-towns").is_visible()
    page.wait_for_timeout(300)
    assert (
        page.evaluate("() => window.geoserviceMap.getContainer().getBoundingClientRect().height")
        > box["height"]
    )
    page.locator("#cov-handle").tap()
    page.get_by_role("tab", name="概况").tap()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "coverage_phone.png"))
    watch.check(page)
    context.close()

    tablet = {"viewport": {"width": 768, "height": 1024}, "is_mobile": True, "has_touch": True}
    context, page, watch = _open(browser, live_server, **tablet)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 768
    assert page.locator(".cov-figure-grid .cov-figure").count() == 6
    page.screenshot(path=str(ARTIFACTS / "coverage_tablet.png"))
    watch.check(page)
    context.close()


@needs_chromium
def test_errors_are_shown_in_chinese(live_server, browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1024, "height": 768})
    context.add_init_script(CSP_WATCH)
    page = context.new_page()
    body = {
        "error": "路网不可用，暂时无法计算路线 / road network unavailable",
        "message_zh": "路网不可用，暂时无法计算路线",
        "message_en": "road network unavailable",
        "parameter": None,
        "status": 503,
    }
    answer = {"status": 503, "content_type": "application/json", "body": json.dumps(body)}
    page.route("**/api/coverage?*", lambda route: route.fulfill(**answer))
    page.goto(live_server + "/coverage", wait_until="networkidle")
    page.wait_for_function("() => document.body.dataset.state === 'error'")
    assert "路网暂不可用" in page.locator("#cov-notices").inner_text()
    assert "未能计算覆盖" in page.locator("#cov-status").inner_text()
    page.unroute("**/api/coverage?*")
    page.route("**/api/coverage?*", lambda route: route.abort())
    page.check("input[name=cov-mode][value=bike]")
    page.wait_for_function(
        "() => document.querySelector('#cov-notices').textContent.includes('网络错误')"
    )
    # An unusable time is refused in the page, with a Chinese hint.
    page.unroute("**/api/coverage?*")
    page.check("input[name=cov-time][value=at]")
    _ready(page)
    page.fill("#cov-at-date", "")
    page.locator("#cov-at-date").dispatch_event("change")
    assert "请选择完整的日期和时间" in page.locator("#cov-notices").inner_text()
    context.close()
