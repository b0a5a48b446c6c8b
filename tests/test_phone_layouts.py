"""Every page on a phone in a real headless Chromium: no two controls overlap, nothing runs
past the screen's width, no console error; notices show before the first search."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import ARTIFACTS, STAFF_PASSWORD, needs_chromium, serving, watched_page
from test_coverage import toy_engine

from geoservice.coverage import publish
from geoservice.network.library import NetworkLibrary

#: Every test here drives a browser: seconds each.
pytestmark = [needs_chromium, pytest.mark.slow]

PHONES = [(390, 844), (360, 740)]

#: What counts as a control: what one taps or reads over the map.
CONTROLS = ", ".join(
    [
        "a[href]",
        "button",
        "input:not([type=hidden])",
        "select",
        "textarea",
        "summary",
        ".leaflet-control",
        ".geoservice-legend",
        ".geoservice-notice",
        ".geoservice-header",
        ".geoservice-outside",
        ".geoservice-schematic-note",
        ".page-titlerow",
        "[role=alert]",
        "[role=status]",
    ]
)

#: The visible part of every control (clipped by the scrolling boxes it lies in), the
#: pairs that overlap (one inside the other is fine) and the controls past the width.
LAYOUT = """(selector) => {
  const W = window.innerWidth, H = window.innerHeight;
  const name = (e) => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "")
    + (typeof e.className === "string" && e.className ? "." + e.className.trim()
      .split(/\\s+/).slice(0, 2).join(".") : "")
    + " «" + (e.innerText || e.value || e.title || "").trim().slice(0, 20) + "»";
  function shown(e) {
    for (let p = e; p && p !== document.documentElement; p = p.parentElement) {
      const s = getComputedStyle(p);
      if (s.display === "none" || s.visibility === "hidden" || Number(s.opacity) === 0) {
        return false;
      }
    }
    return true;
  }
  function visible(e) {
    const r = e.getBoundingClientRect();
    let box = {l: r.left, t: r.top, r: r.right, b: r.bottom};
    for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
      const s = getComputedStyle(p);
      const q = p.getBoundingClientRect();
      if (s.overflowX !== "visible") {
        box.l = Math.max(box.l, q.left);
        box.r = Math.min(box.r, q.right);
      }
      if (s.overflowY !== "visible") {
        box.t = Math.max(box.t, q.top);
        box.b = Math.min(box.b, q.bottom);
      }
    }
    return box;
  }
  const items = [];
  for (const e of document.querySelectorAll(selector)) {
    if (!shown(e)) continue;
    const box = visible(e);
    if (box.r - box.l < 1 || box.b - box.t < 1) continue;
    if (box.b <= 0 || box.t >= H) continue;  // scrolled out of the page's view
    items.push({e, box});
  }
  const overlaps = [], wide = [];
  for (const {e, box} of items) {
    if (box.l < -1 || box.r > W + 1) {
      wide.push(name(e) + " " + Math.round(box.l) + ".." + Math.round(box.r));
    }
  }
  for (let i = 0; i < items.length; i++) {
    for (let j = i + 1; j < items.length; j++) {
      const a = items[i], b = items[j];
      if (a.e.contains(b.e) || b.e.contains(a.e)) continue;
      const w = Math.min(a.box.r, b.box.r) - Math.max(a.box.l, b.box.l);
      const h = Math.min(a.box.b, b.box.b) - Math.max(a.box.t, b.box.t);
      if (w > 1 && h > 1) overlaps.push(name(a.e) + " ∩ " + name(b.e));
    }
  }
  const scroll = document.documentElement.scrollWidth > W + 1
    ? ["page " + document.documentElement.scrollWidth + " wide"] : [];
  return {count: items.length, overlaps, wide: wide.concat(scroll)};
}"""


def assert_phone_layout(page, where: str) -> None:
    """No two visible controls of ``page`` intersect (nesting allowed), none runs past the
    viewport's width and the page does not scroll sideways."""
    found = page.evaluate(LAYOUT, CONTROLS)
    assert found["count"] > 0, where
    assert found["overlaps"] == [], where + ":\n" + "\n".join(found["overlaps"])
    assert found["wide"] == [], where + ":\n" + "\n".join(found["wide"])


def test_layout_checker_sees_an_overlap(browser):
    """The checker itself: two buttons on top of each other are an overlap, a link inside
    a box is not, a box wider than the screen runs past it."""
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.set_content(
        '<div class="geoservice-legend" style="position:fixed;top:0;left:0;width:200px">'
        '<a href="#">in</a></div>'
        '<button style="position:fixed;top:100px;left:0">一</button>'
        '<button style="position:fixed;top:105px;left:5px">二</button>'
        '<div class="geoservice-notice" style="position:absolute;top:300px;width:500px">宽</div>'
    )
    found = page.evaluate(LAYOUT, CONTROLS)
    assert len(found["overlaps"]) == 1
    assert "一" in found["overlaps"][0]
    assert any("宽" in w for w in found["wide"])
    page.close()


@pytest.fixture
def live(app):
    with serving(app) as url:
        yield url


def _settled(page) -> None:
    page.wait_for_selector(".leaflet-container", timeout=15000)
    page.wait_for_timeout(400)  # the map's own scripts lay the controls out


@pytest.mark.parametrize("size", PHONES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_public_pages_on_phones(live, browser, size):
    width, height = size
    context, page, watch = watched_page(
        browser, live, viewport={"width": width, "height": height}, is_mobile=True, has_touch=True
    )
    for path in ("/", "/nearest", "/caravan", "/coverage"):
        page.goto(live + path, wait_until="networkidle")
        _settled(page)
        assert_phone_layout(page, f"{path} at {width}×{height}")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"phone{path.replace('/', '_')}_{width}.png"))
    watch.check(page)
    context.close()


def test_outside_network_banner_on_phones(app, live, browser, monkeypatch):
    """A road network outside the district puts a banner over every page: on a phone it
    overlaps none of the page's controls."""
    monkeypatch.setattr(NetworkLibrary, "outside_district", lambda self: True)
    ARTIFACTS.mkdir(exist_ok=True)
    context, page, watch = watched_page(
        browser, live, viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
    )
    for path in ("/", "/nearest", "/caravan", "/coverage"):
        page.goto(live + path, wait_until="networkidle")
        _settled(page)
        assert page.locator(".geoservice-outside").is_visible(), path
        assert_phone_layout(page, f"{path} with the network outside the district")
        page.screenshot(path=str(ARTIFACTS / f"phone_outside{path.replace('/', '_')}.png"))
    watch.check(page)
    context.close()


@pytest.mark.parametrize("size", PHONES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_home_schematic_note_clear_of_the_legend(live, browser, size):
    """With a schematic road network the map's note (bottom left) and the legend (bottom
    right) both show, apart."""
    width, height = size
    context, page, watch = watched_page(
        browser, live, viewport={"width": width, "height": height}, is_mobile=True, has_touch=True
    )
    body = '{"type": "FeatureCollection", "schematic": true, "features": []}'
    page.route(
        "**/api/network/roads",
        lambda route: route.fulfill(status=200, content_type="application/json", body=body),
    )
    page.goto(live + "/", wait_until="networkidle")
    page.locator(".geoservice-schematic-note").wait_for(timeout=10000)
    _settled(page)
    assert page.locator(".geoservice-legend summary").is_visible()
    assert_phone_layout(page, f"/ with a schematic network at {width}×{height}")
    watch.check(page)
    context.close()


def test_nearest_notices_before_the_first_search(live, browser):
    """Sample data is said on /nearest's first load: open on a desktop, folded to a
    tappable summary on a phone; a search does not say it twice."""
    context, page, watch = watched_page(
        browser, live, viewport={"width": 1280, "height": 860}, locale="zh-CN"
    )
    page.goto(live + "/nearest", wait_until="networkidle")
    box = page.locator("#nearest-page-notices")
    assert box.get_attribute("open") is not None
    assert page.locator("#nearest-page-notices [data-notice=sample_stations]").is_visible()
    assert "示例数据" in box.inner_text()
    # A search (whatever it finds: at Beijing night the open-only default finds none here).
    with page.expect_response(lambda r: "/api/nearest?" in r.url, timeout=15000):
        page.evaluate(
            "() => window.geoserviceMap.fire('click', {latlng: L.latLng(40.377, 116.845)})"
        )
    page.wait_for_function("() => !document.body.classList.contains('is-busy')")
    assert "示例数据" not in page.locator("#nearest-notices").inner_text()
    watch.check(page)
    context.close()
    context, page, watch = watched_page(
        browser,
        live,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
    )
    page.goto(live + "/nearest", wait_until="networkidle")
    box = page.locator("#nearest-page-notices")
    page.wait_for_function("() => !document.getElementById('nearest-page-notices').open")
    summary = box.locator("summary")
    assert summary.is_visible()
    assert "示例数据" in summary.inner_text()
    assert not page.locator("#nearest-page-notices [data-notice=sample_stations]").is_visible()
    summary.tap()
    assert page.locator("#nearest-page-notices [data-notice=sample_stations]").is_visible()
    watch.check(page)
    context.close()


def test_home_legend_lists_only_what_is_drawn(live, browser):
    """The test store has stations of every kind and located reservoir sites, but no
    located village or community: the legend names the four kinds and 水库保护点 only."""
    context, page, watch = watched_page(
        browser, live, viewport={"width": 1280, "height": 860}, locale="zh-CN"
    )
    page.goto(live + "/", wait_until="networkidle")
    legend = page.locator(".geoservice-legend").inner_text()
    for label in ("暖心驿站", "职工之家", "公共区域职工之家", "大篷车基地", "水库保护点"):
        assert label in legend
    assert "村" not in legend
    assert "社区" not in legend
    # On a phone it starts folded, with the notice, to their summaries.
    watch.check(page)
    context.close()
    context, page, watch = watched_page(
        browser, live, viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
    )
    page.goto(live + "/", wait_until="networkidle")
    page.wait_for_function(
        "() => [...document.querySelectorAll('details.geoservice-fold')].every(d => !d.open)"
    )
    assert page.locator("details.geoservice-fold").count() == 2
    watch.check(page)
    context.close()


@pytest.mark.parametrize("size", PHONES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_back_office_on_phones(app, live, browser, size):
    width, height = size
    app.extensions["geoservice.staff"].accounts.create("phone-admin", "admin", STAFF_PASSWORD, ())
    context, page, watch = watched_page(
        browser, live, viewport={"width": width, "height": height}, is_mobile=True, has_touch=True
    )
    page.goto(live + "/login", wait_until="networkidle")
    assert_phone_layout(page, "/login")
    page.fill("input[name=name]", "phone-admin")
    page.fill("input[name=password]", STAFF_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    for path in (
        "/admin/",
        "/admin/stations",
        "/admin/sites",
        "/admin/stations/new",
        "/admin/files",
        "/admin/log",
        "/admin/reports",
        "/admin/users",
        "/admin/tokens",
    ):
        page.goto(live + path, wait_until="networkidle")
        assert page.url.startswith(live + "/admin"), path
        page.wait_for_timeout(200)
        assert_phone_layout(page, f"{path} at {width}×{height}")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"phone{path.replace('/', '_')}_{width}.png"))
    watch.check(page)
    context.close()


@pytest.fixture
def site(store, tmp_path):
    out = tmp_path / "site"
    publish.publish(
        toy_engine(store),
        out,
        {"mode": "walk", "minutes": "10,20"},
        now=dt.datetime(2026, 11, 25, 9, 0),
    )
    return out


@pytest.mark.parametrize("size", PHONES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_published_site_on_phones(site, browser, size):
    width, height = size
    page = browser.new_page(viewport={"width": width, "height": height}, is_mobile=True)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((site / "index.html").as_uri(), wait_until="load")
    _settled(page)
    assert_phone_layout(page, f"published site at {width}×{height}")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"phone_published_{width}.png"))
    # The notes start folded on a phone: a tappable summary, not 40 % of the screen.
    notes = page.locator(".coverage-notices")
    assert notes.count() == 1
    assert notes.bounding_box()["height"] < 0.15 * height
    assert notes.locator("details").get_attribute("open") is None
    assert notes.locator("summary").is_visible()
    assert errors == []
    page.close()
