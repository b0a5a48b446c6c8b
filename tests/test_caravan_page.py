"""The ``/caravan`` page: HTML served offline, and planning a tour in headless Chromium.

The browser test runs against a live server on the small real-format extract
``tests/data/gulou_small.osm`` with the planner tests' stations on its streets
(tests/test_tour.py): the base (BASE, the default depot), eight reachable stations S1–S8,
one on an isolated road (U1), one on a motorway without access (M1), one far from every
road (F1). A plan takes a fraction of a second there.
"""

from __future__ import annotations

import json
import re
import urllib.parse

import pytest
from conftest import (
    ARTIFACTS,
    STAFF_PASSWORD,
    make_app,
    needs_chromium,
    offline_page,
    plan_tour,
    serving,
    watched_page,
)
from test_tour_export import HOSTILE, _frame

from geoservice import maps
from geoservice.tours import export as tour_export
from geoservice.web.auth import STAFF_KEY

#: Every test here drives a browser: seconds each.
pytestmark = pytest.mark.slow

TABLET = {"width": 1180, "height": 820}  # a 10.9-inch tablet, landscape
TABLET_UPRIGHT = {"width": 820, "height": 1180}
PHONE = {"width": 390, "height": 844}
GRID = {"lon": 116.8324, "lat": 40.3700}


@pytest.fixture(scope="module")
def caravan_app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("caravan")
    app = make_app(tmp, stations=_frame(), TOURS_ITERATIONS=300, RATELIMIT_ENABLED=False)
    app.extensions[STAFF_KEY].accounts.create("planner", "editor", STAFF_PASSWORD)
    return app


def _config(html: str) -> dict:
    return json.loads(re.search(r'id="caravan-config">(.*?)</script>', html, re.S).group(1))


# -- HTML ----------------------------------------------------------------------------------


def test_caravan_page_is_offline_zh_with_its_config(caravan_app):
    client = caravan_app.test_client()
    html, links = offline_page(client, "/caravan", "大篷车巡回路线规划 · 密云区总工会")
    assert {"/static/caravan.js", "/static/caravan.css"} <= set(links)
    for text in ("选站点", "设置", "方案", "已保存", "规划路线", "全选筛选结果", "出发基地",
                 "跳过周末和法定节假日", "午餐时长", "全区地图", "找最近驿站"):  # fmt: skip
        assert text in html, text
    assert "window.geoserviceMap" in html
    config = _config(html)
    assert config["api"] == {"tours": "/api/tours", "plan": "/api/tours"}
    assert config["default_depot"] == "BASE"
    ids = {s["id"] for s in config["stops"]}
    # Every located site and station, nothing without a position.
    assert {"BASE", "S1", "U1", "F1"} <= ids
    assert sum(1 for s in config["stops"] if s["kind"] == "reservoir_site") == 20
    assert config["unlocated"] == {"community": 99, "village": 330}
    assert all(s["lon"] is not None for s in config["stops"])
    assert config["day_colours"] == list(tour_export.DAY_COLOURS)
    # Names are cut for display, as on every page (the API has them whole).
    assert next(s["name"] for s in config["stops"] if s["id"] == "S2") == maps.clip(
        HOSTILE, maps.NAME_DISPLAY_MAX
    )


def test_home_and_nearest_link_to_caravan(caravan_app):
    client = caravan_app.test_client()
    for path in ("/", "/nearest"):
        html = client.get(path).get_data(as_text=True)
        assert 'href="/caravan"' in html, path
        assert "大篷车路线" in html, path


# -- browser -------------------------------------------------------------------------------


def _open(browser, origin: str, viewport: dict, path: str = "/caravan"):
    context, page, watch = watched_page(
        browser, origin, viewport=viewport, has_touch=True, locale="zh-CN", device_scale_factor=1
    )
    page.set_default_timeout(10_000)
    page.goto(origin + path, wait_until="networkidle")
    page.wait_for_function("() => document.body.classList.contains('caravan-ready')")
    return context, page, watch


def _settle(page) -> None:
    page.wait_for_function("() => !window.geoserviceMap._animatingZoom")
    page.wait_for_timeout(300)


def _item(page, stop_id: str):
    return page.locator(f'.cv-item[data-id="{stop_id}"]')


def planned_by_page(page, posted) -> dict:
    """The plan a page's ``POST /api/tours`` saved: the post answers 202 with its job (done
    at once: the test apps run jobs inline), whose result is the plan, read here as the page
    reads it."""
    assert posted.status == 202, posted.text()
    job = posted.json()
    assert posted.headers["location"] == f"/api/jobs/{job['id']}"
    assert (job["kind"], job["state"]) == ("tours", "done"), job
    plan = page.request.get(urllib.parse.urljoin(posted.url, job["result"]["href"]))
    assert plan.status == 200
    return plan.json()


def _selected(page) -> list[str]:
    """Ids of the stops ticked in the list, sorted."""
    return sorted(
        page.eval_on_selector_all(
            ".cv-item.is-selected", "items => items.map((li) => li.dataset.id)"
        )
    )


@pytest.fixture(scope="module")
def live(caravan_app):
    with serving(caravan_app) as url:
        yield url


@needs_chromium
def test_plan_a_tour_on_a_tablet(live, browser, caravan_app):
    context, page, watch = _open(browser, live, TABLET)
    assert page.title() == "大篷车巡回路线规划 · 密云区总工会"
    # Every control a finger uses is at least 44 px tall.
    small = page.evaluate(
        """() => [...document.querySelectorAll(
                '.cv-tab, .cv-chip, .cv-btn, .cv-plan-btn, .cv-town-toggle, .cv-item-main')]
            .filter((e) => e.offsetParent && e.getBoundingClientRect().height < 44)
            .map((e) => e.className + ' ' + e.textContent.trim().slice(0, 20))"""
    )
    assert small == []

    # From the list: stations are off by default; show them, open 鼓楼街道, tick S1–S3.
    page.locator(".cv-chip[data-kind=warm_station]").tap()
    page.locator(".cv-chip[data-kind=worker_home]").tap()
    town = page.locator('.cv-town[data-town="110118001"]')
    town.locator(".cv-town-toggle").tap()
    for sid in ("S1", "S2", "S3"):
        _item(page, sid).locator(".cv-item-main").tap()
    assert _selected(page) == ["S1", "S2", "S3"]
    # The hostile name is shown as text.
    assert _item(page, "S2").locator(".cv-item-name").evaluate("n => n.textContent") == (
        maps.clip(HOSTILE, maps.NAME_DISPLAY_MAX)
    )
    # "Select all in town" takes every shown stop of the town, the unreachable ones too.
    town.locator(".cv-town-all").tap()
    chosen = set(_selected(page))
    assert {f"S{i}" for i in range(1, 9)} | {"U1", "M1", "F1"} <= chosen
    assert "BASE" not in chosen  # the depot is not a stop
    assert page.locator("#cv-badge").inner_text() == str(len(chosen))

    # Planning them: the named stops that cannot be served are a 422 listing them.
    with page.expect_response(lambda r: r.url.endswith("/api/tours")) as resp:
        page.locator("#cv-plan-btn").tap()
    assert resp.value.status == 422
    error = page.locator("#cv-plan-notices .notice-error")
    error.wait_for()
    assert "无法安排" in error.inner_text()
    reasons = error.locator(".cv-problem-list li").all_inner_texts()
    assert any("U1" in r and "没有道路连通" in r for r in reasons)
    assert any("F1" in r and "超过 2 km" in r for r in reasons)
    error.get_by_role("button", name="取消选择这些站点").tap()
    assert set(_selected(page)) == {f"S{i}" for i in range(1, 9)}

    # On the map: tap S8's marker to drop it, and again to take it back.
    page.evaluate(
        "([lat, lon]) => window.geoserviceMap.setView([lat, lon], 17, {animate: false})",
        [GRID["lat"], GRID["lon"]],
    )
    marker = page.locator('.cv-marker[title="\u2068站S8\u2069"]')
    marker.tap()
    page.wait_for_selector('.cv-item[data-id="S8"]:not(.is-selected)', state="attached")
    assert "is-selected" not in marker.get_attribute("class")
    page.locator('.cv-marker[title="\u2068站S8\u2069"]').tap()
    page.wait_for_selector('.cv-item.is-selected[data-id="S8"]', state="attached")
    assert page.locator('.cv-marker.is-selected[title="\u2068站S8\u2069"]').count() == 1
    # S4 optional with priority 1.
    page.locator("#cv-tab-stops").tap()
    _item(page, "S4").locator(".cv-prio").select_option("1")

    # Settings: one day of 200-minute visits is too much: a 422 with the days needed.
    page.locator("#cv-tab-settings").tap()
    page.locator("#cv-days").fill("1")
    page.locator("input[name=service][value=uniform]").check()
    page.locator("#cv-service").fill("100")
    page.locator("#cv-start-date").fill("2026-09-30")
    with page.expect_response(lambda r: r.url.endswith("/api/tours")) as resp:
        page.locator("#cv-plan-btn").tap()
    assert resp.value.status == 422
    needed = resp.value.json()["days_needed"]
    shortage = page.locator("#cv-plan-notices .notice-error")
    shortage.wait_for()
    assert f"大约需要 {needed} 天" in shortage.inner_text()
    with page.expect_response(lambda r: r.url.endswith("/api/tours")) as resp:
        shortage.get_by_role("button", name=f"改为 {needed} 天并重新规划").tap()
    saved = planned_by_page(page, resp.value)
    sent = json.loads(resp.value.request.post_data)
    assert sent["days"] == needed
    assert sent["optional"] == {"S4": 1}
    assert sent["service_minutes"] == 100
    assert sent["stops"] == [f"S{i}" for i in range(1, 9)]
    result = saved["result"]
    days = result["days"]
    assert len(days) >= 2

    # The plan: a coloured route per day, numbered stops, the schedule, dates from the
    # holiday calendar (National Day skipped).
    page.wait_for_selector(".cv-day")
    assert page.locator(".cv-day").count() == len(days)
    colours = page.eval_on_selector_all(
        "path.cv-route", "ps => ps.map((p) => p.getAttribute('stroke'))"
    )
    assert colours == [tour_export.day_style(d["day"])["colour"] for d in days]
    assert len(set(colours)) == len(days)
    served = [s for d in days for s in d["stops"]]
    for d in days:
        badges = page.locator(f".cv-stop-day-{d['day']} .cv-stop-badge").all_inner_texts()
        assert badges == [str(s["seq"]) for s in d["stops"]]
        rows = page.locator(f'.cv-day[data-day="{d["day"]}"] tbody tr.cv-row-stop')
        assert rows.count() == len(d["stops"])
        first = rows.first.inner_text()
        assert d["stops"][0]["arrival"] in first
        assert "高德" in first
        assert "百度" in first
    assert page.locator(".cv-stop").count() == len(served)
    titles = page.locator(".cv-day-title").all_inner_texts()
    assert titles[0].startswith("第 1 天 · 2026-09-30")
    assert "2026-10-08" in titles[1]
    assert page.locator(".cv-row-lunch").count() == len(days)
    nav = page.locator(".cv-nav-amap").first
    assert nav.get_attribute("href").startswith("https://uri.amap.com/navigation")
    assert "noopener" in nav.get_attribute("rel")
    assert page.evaluate("location.hash") == f"#plan={saved['id']}"
    # Tapping a day's header shows that day alone on the map.
    page.locator('.cv-day[data-day="2"] .cv-day-head').tap()
    opacities = page.eval_on_selector_all(
        "path.cv-route", "ps => ps.map((p) => +p.getAttribute('stroke-opacity'))"
    )
    assert opacities[1] > 0.9
    assert all(o < 0.5 for i, o in enumerate(opacities) if i != 1)
    page.locator('.cv-day[data-day="2"] .cv-day-head').tap()  # all days again
    _settle(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "caravan_tablet.png"))

    # Every download works and is what it says.
    links = page.eval_on_selector_all(".cv-download", "as => as.map((a) => a.href)")
    assert [link.rsplit(".", 1)[1] for link in links] == ["gpx", "csv", "xlsx", "geojson", "html"]
    for link in links:
        got = page.request.get(link)
        fmt = link.rsplit(".", 1)[1]
        assert got.status == 200, link
        assert got.headers["content-type"] == tour_export.MEDIA_TYPES[fmt]
        assert saved["id"] in got.headers["content-disposition"]
    # The printable schedule opens in the browser and satisfies its own policy.
    with context.expect_page() as popup:
        page.locator(".cv-download-html").tap()
    schedule = popup.value
    schedule.wait_for_load_state()
    assert schedule.title().startswith("大篷车巡回计划")
    assert schedule.locator("section.day").count() == len(days)
    assert schedule.evaluate("window.__csp") == []
    schedule.close()

    # The saved plans are listed to staff only (issue 14: every plan was public): none to
    # this anonymous reader; logged in, the new one is listed first and reopens.
    page.locator("#cv-tab-saved").tap()
    page.wait_for_function(
        "() => document.querySelector('#cv-saved-status').textContent.includes('还没有可查看')"
    )
    assert page.locator(".cv-saved-item").count() == 0
    page.goto(live + "/login?next=/caravan")
    page.fill("#name", "planner")
    page.fill("#password", STAFF_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/caravan")
    page.wait_for_function("() => document.body.classList.contains('caravan-ready')")
    page.locator("#cv-tab-saved").tap()
    page.wait_for_selector(".cv-saved-item")
    first = page.locator(".cv-saved-item").first
    assert first.get_attribute("data-plan") == saved["id"]
    assert "2026-09-30 起" in first.inner_text()
    first.tap()
    page.wait_for_selector(".cv-day")
    assert page.locator("#cv-tab-plan").get_attribute("aria-selected") == "true"
    assert page.locator("path.cv-route").count() == len(days)

    watch.check(page, expected_status=(422,))
    context.close()


@needs_chromium
def test_a_saved_plan_on_an_upright_tablet_and_a_phone(live, browser, caravan_app):
    client = caravan_app.test_client()
    body = {"stops": [f"S{i}" for i in range(1, 9)], "days": 3, "service_minutes": 100,
            "start_date": "2026-03-02"}  # fmt: skip
    saved = plan_tour(client, body).get_json()
    for name, viewport in (("caravan_tablet_upright", TABLET_UPRIGHT), ("caravan_phone", PHONE)):
        context, page, watch = _open(browser, live, viewport, f"/caravan#plan={saved['id']}")
        page.wait_for_selector(".cv-day")
        assert page.locator("path.cv-route").count() == len(saved["result"]["days"])
        # The map and the panel share the screen; neither is squeezed away.
        box = page.locator(".folium-map").bounding_box()
        panel = page.locator(".cv-panel").bounding_box()
        assert box["height"] >= 0.3 * viewport["height"]
        assert panel["height"] >= 0.4 * viewport["height"]
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        _settle(page)
        # The map shows the whole plan: every numbered stop lies inside it.
        for stop in page.locator(".cv-stop").all():
            s = stop.bounding_box()
            assert box["x"] <= s["x"]
            assert s["x"] + s["width"] <= box["x"] + box["width"]
            assert box["y"] <= s["y"]
            assert s["y"] + s["height"] <= box["y"] + box["height"]
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
        # Its settings back into the page, to change and plan again.
        page.get_by_role("button", name="按此方案的设置修改后重新规划").tap()
        assert page.locator("#cv-tab-stops").get_attribute("aria-selected") == "true"
        assert _selected(page) == body["stops"]
        assert page.locator("#cv-days").input_value() == "3"
        assert page.locator("#cv-start-date").input_value() == "2026-03-02"
        assert page.locator("#cv-service").input_value() == "100"
        page.locator('.cv-town[data-town="110118001"] .cv-town-toggle').tap()
        page.screenshot(path=str(ARTIFACTS / f"{name}_stops.png"))
        watch.check(page)
        context.close()
