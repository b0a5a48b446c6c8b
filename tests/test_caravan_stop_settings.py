"""A stop's own settings on ``/caravan``: service minutes and a time window per stop, in
headless Chromium.

The page runs against a live server on the small 鼓楼 extract with the planner tests'
stations (see tests/test_caravan_page.py): the base BASE and the reachable stations S1–S8
(S2 with a hostile name). A plan there takes a fraction of a second.
"""

from __future__ import annotations

import json

import pytest
from conftest import ARTIFACTS, make_app, needs_chromium, plan_tour, serving
from test_caravan_page import PHONE, TABLET, _item, _open, _selected, planned_by_page
from test_tour_export import HOSTILE, _frame

from geoservice import maps

#: Every test here drives a browser: seconds each.
pytestmark = pytest.mark.slow

GULOU = "110118001"
STOPS = ["S1", "S2", "S3", "S4"]
#: S3's own settings: a window that makes the caravan wait, and minutes of its own.
WINDOW = ("14:00", "15:30")
OWN_MINUTES = 40
UNIFORM = 25


@pytest.fixture(scope="module")
def stops_app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("caravan_stops")
    return make_app(tmp, stations=_frame(), TOURS_ITERATIONS=300, RATELIMIT_ENABLED=False)


@pytest.fixture(scope="module")
def live(stops_app):
    with serving(stops_app) as url:
        yield url


def _minutes(clock: str) -> int:
    h, m = clock.split(":")
    return int(h) * 60 + int(m)


def _pick(page, ids) -> None:
    """Show the stations, open 鼓楼街道 and tick ``ids``."""
    page.locator(".cv-chip[data-kind=warm_station]").tap()
    page.locator(f'.cv-town[data-town="{GULOU}"] .cv-town-toggle').tap()
    for sid in ids:
        _item(page, sid).locator(".cv-item-main").tap()
    assert _selected(page) == sorted(ids)


def _edit(page, sid: str, service: str | None = None, window=None):
    """Open ``sid``'s own settings and type into them; the editor."""
    box = _item(page, sid).locator(".cv-edit")
    if not box.is_visible():
        _item(page, sid).locator(".cv-item-edit").tap()
    if service is not None:
        box.locator(".cv-edit-service").fill(service)
    if window is not None:
        box.locator(".cv-edit-from").fill(window[0])
        box.locator(".cv-edit-to").fill(window[1])
    return box


def _posts(page) -> list:
    sent: list = []
    page.on(
        "request",
        lambda r: sent.append(r) if r.method == "POST" and r.url.endswith("/api/tours") else None,
    )
    return sent


@needs_chromium
def test_a_stops_window_and_minutes_are_sent_and_honoured(live, browser):
    context, page, watch = _open(browser, live, TABLET)
    _pick(page, STOPS)
    # No stop has settings of its own: no marks, the default minutes shown.
    assert page.locator(".cv-item.has-custom").count() == 0
    s3 = _item(page, "S3")
    assert s3.locator(".cv-item-service").inner_text() == "约 30 分钟"
    box = _edit(page, "S3", str(OWN_MINUTES), WINDOW)
    assert "30 分钟（驿站默认）" in box.locator(".cv-edit-help").inner_text()
    box.locator(".cv-edit-done").tap()
    assert not box.is_visible()
    # The list marks the stop and says what it has.
    assert "has-custom" in s3.get_attribute("class")
    tags = s3.locator(".cv-tag-custom").all_inner_texts()
    assert tags == [f"单独 {OWN_MINUTES} 分钟", f"时段 {WINDOW[0]}–{WINDOW[1]}"]
    assert page.locator(".cv-item.has-custom").count() == 1
    assert "单独设置 1 个" in page.locator("#cv-selection").inner_text()
    # The uniform minutes for the others: the editors' default follows it.
    page.locator("#cv-tab-settings").tap()
    page.locator("input[name=service][value=uniform]").check()
    page.locator("#cv-service").fill(str(UNIFORM))
    page.locator("#cv-days").fill("1")
    assert _item(page, "S1").locator(".cv-item-service").inner_text() == f"约 {UNIFORM} 分钟"

    with page.expect_response(lambda r: r.url.endswith("/api/tours")) as resp:
        page.locator("#cv-plan-btn").tap()
    saved = planned_by_page(page, resp.value)
    sent = json.loads(resp.value.request.post_data)
    # An object once a stop has its own minutes: the uniform ones for every other stop.
    assert sent["service_minutes"] == {"S1": UNIFORM, "S2": UNIFORM, "S3": OWN_MINUTES,
                                       "S4": UNIFORM}  # fmt: skip
    assert sent["time_windows"] == {"S3": f"{WINDOW[0]}-{WINDOW[1]}"}
    assert saved["request"]["time_windows"] == {"S3": list(WINDOW)}
    stops = {s["id"]: s for d in saved["result"]["days"] for s in d["stops"]}
    assert sorted(stops) == STOPS
    visit = stops["S3"]
    assert _minutes(WINDOW[0]) <= _minutes(visit["start"])
    assert _minutes(visit["end"]) <= _minutes(WINDOW[1])
    assert _minutes(visit["end"]) - _minutes(visit["start"]) == OWN_MINUTES
    assert all(s["service_min"] == UNIFORM for sid, s in stops.items() if sid != "S3")

    # The schedule shows the visit in its window, marked as set for this stop.
    page.wait_for_selector(".cv-day")
    day = saved["result"]["days"][0]
    row = page.locator(f'.cv-day[data-day="1"] tr[data-seq="{visit["seq"]}"]')
    assert row.locator(".cv-tag-window").inner_text() == f"到访时段 {WINDOW[0]}–{WINDOW[1]}"
    assert row.locator(".cv-tag-custom").inner_text() == f"单独设定 {OWN_MINUTES} 分钟"
    assert f"{visit['start']}–{visit['end']}" in row.locator(".cv-time").inner_text()
    assert page.locator(".cv-tag-window").count() == 1
    assert len(day["stops"]) == len(STOPS)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "caravan_stops_tablet_plan.png"))
    # Changing a setting after planning says the plan no longer answers the page.
    page.locator("#cv-tab-stops").tap()
    _edit(page, "S1", window=("09:00", "10:00"))
    assert "已修改，需重新规划" in page.locator("#cv-selection").inner_text()
    page.screenshot(path=str(ARTIFACTS / "caravan_stops_tablet_edit.png"))
    # Escape folds the fields away and keeps what was typed.
    page.keyboard.press("Escape")
    assert not _item(page, "S1").locator(".cv-edit").is_visible()
    assert page.locator(".cv-item.has-custom").count() == 2
    watch.check(page)
    context.close()


@needs_chromium
def test_bad_settings_are_named_in_chinese_and_nothing_is_sent(live, browser):
    context, page, watch = _open(browser, live, TABLET)
    posts = _posts(page)
    _pick(page, ["S1", "S2"])
    shown = maps.clip(HOSTILE, maps.NAME_DISPLAY_MAX)
    cases = [  # (minutes, window, the field marked, the message)
        (None, ("11:00", "10:00"), "to", "结束时刻应晚于开始时刻"),
        (None, ("07:00", "09:00"), "from", "工作时间 08:30–17:30 之内"),
        (None, ("09:00", ""), "to", "请同时填写"),
        (None, ("09:00", "09:20"), "to", "放不下 30 分钟的服务"),
        ("60", ("09:00", "09:50"), "to", "放不下 1 小时的服务"),
        ("800", None, "service", "0–720 分钟的整数"),
    ]
    for service, window, field, message in cases:
        box = _edit(page, "S2", service, window)
        page.locator("#cv-plan-btn").tap()
        error = box.locator(".cv-edit-error")
        assert message in error.inner_text(), (service, window)
        assert box.locator(f".cv-edit-{field}").get_attribute("aria-invalid") == "true"
        # The notice names the stop, its hostile name as text.
        title = page.locator("#cv-stop-notices .notice-error strong").inner_text()
        assert title.startswith(f"请先修改站点“{shown}”的单独设置")
        assert message in title
        assert page.locator("#cv-tab-stops").get_attribute("aria-selected") == "true"
        if field == "from":
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "caravan_stops_tablet_error.png"))
        # "清除单独设置" empties the fields and their marks.
        box.locator(".cv-edit-clear").tap()
        assert box.locator(f".cv-edit-{field}").get_attribute("aria-invalid") is None
        assert "has-custom" not in _item(page, "S2").get_attribute("class")
    assert posts == []
    assert page.evaluate("() => window.pwned") is None

    # An answer of the API naming one stop's setting opens that stop's fields.
    box = _edit(page, "S1", window=("09:00", "10:00"))
    box.locator(".cv-edit-done").tap()
    answer = {
        "error": "time_windows.S1 的结束时刻应晚于开始时刻 / time_windows.S1 must end after …",
        "message_zh": "time_windows.S1 的结束时刻应晚于开始时刻",
        "message_en": "time_windows.S1 must end after it starts",
        "parameter": "time_windows.S1",
    }
    page.route(
        "**/api/tours",
        lambda route: route.fulfill(
            status=400, content_type="application/json", body=json.dumps(answer)
        ),
    )
    page.locator("#cv-plan-btn").tap()
    box = _item(page, "S1").locator(".cv-edit")
    box.wait_for()
    assert box.locator(".cv-edit-from").get_attribute("aria-invalid") == "true"
    assert answer["message_zh"] in box.locator(".cv-edit-error").inner_text()
    assert page.locator("#cv-tab-stops").get_attribute("aria-selected") == "true"
    assert "站S1" in page.locator("#cv-stop-notices .notice-error").inner_text()
    page.unroute("**/api/tours")

    # A window the caravan cannot reach in time: the API's 422 lists the stop, and the
    # page offers its settings for change.
    _edit(page, "S1", "1", ("08:30", "08:31")).locator(".cv-edit-done").tap()
    with page.expect_response(lambda r: r.url.endswith("/api/tours")) as resp:
        page.locator("#cv-plan-btn").tap()
    assert resp.value.status == 422
    assert [s["reason_code"] for s in resp.value.json()["stops"]] == ["does_not_fit"]
    refused = page.locator("#cv-plan-notices .notice-error")
    refused.get_by_role("button", name="修改本站单独设置").tap()
    assert page.locator("#cv-tab-stops").get_attribute("aria-selected") == "true"
    assert _item(page, "S1").locator(".cv-edit").is_visible()
    assert len(posts) == 2
    watch.check(page, expected_status=(400, 422))
    context.close()


@needs_chromium
def test_a_reopened_plan_gives_back_its_stops_settings(live, browser, stops_app):
    body = {
        "stops": STOPS,
        "days": 1,
        "service_minutes": {"S1": UNIFORM, "S2": UNIFORM, "S3": OWN_MINUTES, "S4": UNIFORM},
        "time_windows": {"S3": f"{WINDOW[0]}-{WINDOW[1]}", "S4": "09:00-11:00"},
    }
    saved = plan_tour(stops_app.test_client(), body).get_json()
    context, page, watch = _open(browser, live, PHONE, f"/caravan#plan={saved['id']}")
    page.wait_for_selector(".cv-day")
    assert page.locator(".cv-tag-window").count() == 2
    assert page.locator(".cv-row-stop .cv-tag-custom").all_inner_texts() == [
        f"单独设定 {OWN_MINUTES} 分钟"
    ]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".cv-tag-custom").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "caravan_stops_phone_plan.png"))

    page.get_by_role("button", name="按此方案的设置修改后重新规划").tap()
    assert _selected(page) == STOPS
    # Minutes for every stop: the common ones are the uniform minutes, S3 keeps its own.
    assert page.locator("input[name=service][value=uniform]").is_checked()
    assert page.locator("#cv-service").input_value() == str(UNIFORM)
    # "只看已选": the selected stops alone, their towns open.
    page.locator("#cv-only-selected").tap()
    shown = page.eval_on_selector_all(
        ".cv-item:not([hidden])", "ls => ls.filter((l) => l.offsetParent).map((l) => l.dataset.id)"
    )
    assert sorted(shown) == STOPS
    marked = page.eval_on_selector_all(".cv-item.has-custom", "ls => ls.map((l) => l.dataset.id)")
    assert sorted(marked) == ["S3", "S4"]
    box = _edit(page, "S3")
    assert box.locator(".cv-edit-service").input_value() == str(OWN_MINUTES)
    assert box.locator(".cv-edit-from").input_value() == WINDOW[0]
    assert box.locator(".cv-edit-to").input_value() == WINDOW[1]
    box4 = _edit(page, "S4")
    assert box4.locator(".cv-edit-service").input_value() == ""
    assert box4.locator(".cv-edit-service").get_attribute("placeholder") == str(UNIFORM)
    assert (
        box4.locator(".cv-edit-from").input_value(),
        box4.locator(".cv-edit-to").input_value(),
    ) == ("09:00", "11:00")
    assert "已修改" not in page.locator("#cv-selection").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _item(page, "S3").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "caravan_stops_phone_edit.png"))

    # Planned again, the page asks exactly what the saved plan answered.
    with page.expect_response(lambda r: r.url.endswith("/api/tours")) as resp:
        page.locator("#cv-plan-btn").tap()
    again = json.loads(resp.value.request.post_data)
    assert again["service_minutes"] == body["service_minutes"]
    assert again["time_windows"] == body["time_windows"]
    # The same request as the saved plan's.
    assert planned_by_page(page, resp.value)["request"] == saved["request"]
    watch.check(page)
    context.close()


@needs_chromium
def test_a_plan_made_with_selectors_reopens_with_what_they_selected(live, browser, stops_app):
    """Selectors add up (S1, then every warm station; optional ones too): a plan made on
    the API or the CLI with them reopens on the page with the same stops, the optional
    ones with their priority, and is planned again with the same stops."""
    body = {"stops": ["S1", "S2"], "optional": {"S2": 1, "warm_station": 4}, "days": 2}
    saved = plan_tour(stops_app.test_client(), body).get_json()
    context, page, watch = _open(browser, live, TABLET, f"/caravan#plan={saved['id']}")
    page.wait_for_selector(".cv-day")
    page.get_by_role("button", name="按此方案的设置修改后重新规划").tap()
    grid = [f"S{i}" for i in range(1, 9)]
    assert _selected(page) == grid
    with page.expect_response(lambda r: r.url.endswith("/api/tours")) as resp:
        page.locator("#cv-plan-btn").tap()
    planned_by_page(page, resp.value)
    sent = json.loads(resp.value.request.post_data)
    assert sorted(sent["stops"]) == grid
    # The first selector to name a stop gives its priority, as on the server.
    assert sent["optional"] == dict.fromkeys(grid, 4) | {"S2": 1}
    watch.check(page)
    context.close()
