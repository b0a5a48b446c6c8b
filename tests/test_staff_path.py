"""The staff's whole path in one real browser (Chromium, phone size), as the issue asks:
log in and add a station by clicking the map; see it as the nearest station from a point
beside it; move it, delete it and restore it; see the four changes in the audit log and
revert one; a worker files a report on /nearest, and staff confirm it in /admin. Any
console error, page error or CSP violation fails the test."""

from __future__ import annotations

import re

import pytest
from conftest import GRID_STATIONS, STAFF_PASSWORD, needs_chromium, serving, watched_page

from geoservice.web import STORE_KEY
from geoservice.web.auth import STAFF_KEY

pytestmark = [pytest.mark.slow, needs_chromium]

PHONE = {"width": 390, "height": 844}
GULOU = "110118001"  # 鼓楼街道, where the test network lies


@pytest.fixture
def app(grid_app):
    grid_app.extensions[STAFF_KEY].accounts.create("staff1", "editor", STAFF_PASSWORD)
    return grid_app


def _stored(app, rid):
    return app.extensions[STORE_KEY].stations().set_index("id").loc[rid]


def _nearest_card(page, origin, context, lon, lat):
    context.set_geolocation({"longitude": lon, "latitude": lat})
    page.goto(origin + "/nearest", wait_until="networkidle")
    page.wait_for_function("() => document.body.classList.contains('nearest-ready')")
    page.get_by_role("button", name="定位我").tap()
    page.wait_for_selector(".result-card", timeout=10000)
    return page.locator(".result-card").first


def test_the_staff_path_end_to_end(app, browser):
    journal = app.extensions[STAFF_KEY].journal
    reports = app.extensions[STAFF_KEY].reports
    with serving(app) as origin:
        context, page, watch = watched_page(
            browser, origin, viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN"
        )
        context.grant_permissions(["geolocation"], origin=origin)

        # 1. Log in and add a station by clicking the map.
        page.goto(origin + "/admin/stations/new")
        page.fill("#name", "staff1")
        page.fill("#password", STAFF_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/admin/stations/new")
        page.fill("#name", "端到端驿站")
        page.select_option("#town_code", GULOU)
        page.fill("#opening_hours", "24/7")
        page.check("input[name=amenities][value=hot_water]")
        page.locator("#record-map").scroll_into_view_if_needed()
        page.wait_for_selector("path.road", state="attached")
        box = page.locator("#record-map").bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        page.wait_for_selector(".leaflet-marker-icon")
        page.click("#record-save")
        page.wait_for_url(re.compile(r".*/admin/stations/WS\d+$"))
        rid = page.url.rsplit("/", 1)[1]
        added = _stored(app, rid)

        # 2. It is the nearest station from a point beside it, at once.
        card = _nearest_card(page, origin, context, added["lon"] + 0.0002, added["lat"])
        assert card.get_attribute("data-station-id") == rid
        assert "端到端驿站" in card.inner_text()

        # 3. Move it (coordinates pasted from Amap), delete it, restore it.
        page.goto(origin + f"/admin/stations/{rid}")
        page.locator("#f-paste summary").click()
        page.select_option("#crs", "gcj02")
        page.fill("#paste", "116.8361, 40.3719")
        page.click("#record-save")
        page.wait_for_selector(".notice.ok")
        moved = _stored(app, rid)
        assert (moved["lon"], moved["lat"]) != (added["lon"], added["lat"])
        page.click("a.danger-link")
        page.get_by_role("button", name="确认删除").click()
        page.wait_for_url("**/admin/stations*")
        assert rid not in set(app.extensions[STORE_KEY].stations()["id"])
        page.goto(origin + "/admin/stations?view=deleted")
        page.locator(f"form[action$='/{rid}/restore'] button").click()
        page.wait_for_selector(".notice.ok")
        assert _stored(app, rid)["name"] == "端到端驿站"

        # 4. The four changes in the audit log; revert the last (the restore).
        page.goto(origin + f"/admin/log?record={rid}")
        rows = page.locator(".log-table tbody tr")
        assert rows.count() == 4
        text = page.locator(".log-table").inner_text()
        for action in ("新增", "修改", "删除", "恢复"):
            assert action in text, action
        last = journal.entries()[0][0]
        assert (last.action, last.user, last.via) == ("restore", "staff1", "page")
        page.goto(origin + f"/admin/log/{last.id}")
        page.click(".log-revert summary")
        page.click(".log-revert button[type=submit]")
        page.wait_for_selector(".notice.ok")
        assert rid not in set(app.extensions[STORE_KEY].stations()["id"])
        assert journal.entries()[0][0].reverts == last.id

        # 5. A worker reports a problem on /nearest in two taps; staff confirm it.
        card = _nearest_card(page, origin, context, *GRID_STATIONS[0])
        station_id = card.get_attribute("data-station-id")
        card.get_by_role("button", name="反馈问题").tap()
        with page.expect_response(lambda r: r.url.endswith("/reports")) as sent:
            card.locator(".report-problem", has_text="没有热水").tap()
        assert sent.value.status == 201
        card.locator(".report-thanks").wait_for()
        (report,), _ = reports.list("open")
        page.goto(origin + "/admin/reports")
        with page.expect_navigation():
            page.locator(f"#report-{report.id}").get_by_role("button", name="确认并更正").tap()
        assert f"已确认反馈 #{report.id}" in page.locator(".notice").inner_text()
        assert reports.get(report.id).status == "confirmed"
        assert "hot_water" not in _stored(app, station_id)["amenities"].split(";")
        assert journal.entries()[0][0].via == "page"
        watch.check(page)
        context.close()
