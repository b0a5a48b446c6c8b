"""English beside zh-Hans: how a request's language is chosen (lang=, the cookie,
Accept-Language), the API's error bodies, a page, an export and the published site in
English, the catalog complete and safe, and the switch clicked in Chromium."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from pathlib import Path

import openpyxl
import pytest
from babel.messages.pofile import read_po
from conftest import assert_bilingual_error, needs_chromium, serving, watched_page
from test_tour_export import saved  # noqa: F401 (a fixture: a saved two-day plan)

from geoservice.errors import error_body
from geoservice.i18n import CATALOG_DIR, language, translator
from geoservice.tours import export as tour_export
from geoservice.web import get_tour_store
from tools import catalog

CJK = re.compile(r"[\u4e00-\u9fff]")
EN = {"Accept-Language": "en-US,en;q=0.9"}


# -- choosing the language ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "lang"),
    [
        ("en", "en"),
        ("EN-gb", "en"),
        ("zh", "zh-Hans"),
        ("zh-Hans", "zh-Hans"),
        ("zh_CN", "zh-Hans"),
        ("fr", None),
        ("", None),
        (None, None),
        ("e" * 100, None),
    ],
)
def test_lang_values(value, lang):
    assert language(value) == lang


@pytest.mark.parametrize(
    ("header", "english"),
    [
        (None, False),
        ("en-US,en;q=0.9", True),
        ("en-GB,zh;q=0.5", True),  # the reader's first choice wins over a weaker exact match
        ("zh-CN,zh;q=0.9,en;q=0.8", False),
        ("fr-FR,en;q=0.5", True),
        ("fr-FR,de;q=0.5", False),  # neither: the default
        ("zh-TW", False),
        ("en;q=0, zh;q=0.5", False),  # q=0: not acceptable
    ],
)
def test_accept_language_chooses(client, header, english):
    headers = {"Accept-Language": header} if header else {}
    body = client.get("/api/no-such-thing", headers=headers).get_json()
    assert body["error"].startswith("not found") is english


def test_lang_parameter_wins_and_is_remembered(client):
    r = client.get("/api/no-such-thing?lang=en", headers={"Accept-Language": "zh-CN"})
    assert r.get_json()["message"] == "not found"
    assert "lang=en" in r.headers["Set-Cookie"]
    assert "SameSite=Lax" in r.headers["Set-Cookie"]
    assert {"Accept-Language", "Cookie"} <= set(r.headers["Vary"].replace(" ", "").split(","))
    assert "Accept-Language" not in client.get("/static/i18n.js").headers.get("Vary", "")
    # The cookie is the choice from now on, over Accept-Language …
    r = client.get("/api/no-such-thing", headers={"Accept-Language": "zh-CN"})
    assert r.get_json()["message"] == "not found"
    assert "Set-Cookie" not in r.headers  # already remembered
    # … until the switch says otherwise.
    r = client.get("/api/no-such-thing?lang=zh", headers=EN)
    assert r.get_json()["message"] == "找不到该地址"
    assert client.get("/api/no-such-thing", headers=EN).get_json()["error"].startswith("找不到")
    # A value that is no language changes nothing.
    assert "Set-Cookie" not in client.get("/api/no-such-thing?lang=fr").headers


# -- the API's error bodies -----------------------------------------------------------------


def test_error_bodies_by_language(client):
    zh = client.get("/api/no-such-thing").get_json()
    assert zh == error_body(404, "找不到该地址", "not found")  # zh-Hans: as before
    assert set(zh) == {"error", "message", "message_zh", "message_en", "parameter", "status"}
    assert zh["error"] == "找不到该地址 / not found"
    assert zh["message"] == "找不到该地址"
    for r in (
        client.get("/api/no-such-thing", headers=EN),
        client.get("/api/no-such-thing?lang=en"),
    ):
        assert r.get_json() == {
            "error": "not found / 找不到该地址",
            "message": "not found",
            "message_zh": "找不到该地址",
            "message_en": "not found",
            "parameter": None,
            "status": 404,
        }
        client.get("/?lang=zh")  # forget the cookie of lang=en


def test_parameter_errors_in_english(client):
    zh = assert_bilingual_error(client.get("/api/nearest?lon=x&lat=40.4"), 400, "lon")
    r = client.get("/api/nearest?lon=x&lat=40.4", headers=EN)
    en = r.get_json()
    assert en["message_zh"] == zh["message_zh"]
    assert en["message_en"] == zh["message_en"]
    assert en["message"] == zh["message_en"]
    assert en["error"] == f"{zh['message_en']} / {zh['message_zh']}"
    assert en["parameter"] == "lon"
    assert en["status"] == 400


def test_error_page_in_english(client):
    page = client.get("/no-such-page?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "<h1>not found</h1>" in page
    assert '<p lang="zh-Hans">找不到该地址</p>' in page
    assert ">District map</a>" in page
    page = client.get("/no-such-page?lang=zh").get_data(as_text=True)
    assert '<html lang="zh-Hans">' in page
    assert "<h1>找不到该地址</h1>" in page


# -- pages ------------------------------------------------------------------------------------


def test_nearest_page_in_english(client):
    zh = client.get("/nearest").get_data(as_text=True)
    assert '<html lang="zh-Hans">' in zh
    assert "定位我" in zh
    assert 'href="?lang=en"' in zh  # the switch
    page = client.get("/nearest", headers=EN).get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "<title>Find the nearest warm station · " in page
    for text in ("Locate me", "Open only", "Hot water", "E-bike", "Sample data"):
        assert text in page
    # (The scripts' catalog names the Chinese texts it translates.)
    shown = re.sub(r'<script[^>]*id="i18n".*?</script>', "", page, flags=re.S)
    for text in ("定位我", "只看开放中", "热水", "电动车"):
        assert text not in shown
    assert '<span lang="en" aria-current="true">English</span>' in page
    assert 'href="?lang=zh-Hans"' in page
    # The scripts' words: JSON that cannot end its <script> element.
    catalog_json = re.search(r'<script[^>]*id="i18n"[^>]*>(.*?)</script>', page).group(1)
    words = json.loads(catalog_json)["words"]
    assert words["正在定位…"] == "Locating…"
    assert words["约 {n} 分钟"] == "about {n} min"  # a text with values too
    # Every text of the page's scripts is there (those of pybabel's own extraction).
    scripts = ("i18n", "crs", "common", "reports", "nearest")
    wanted = {
        m.id
        for m in catalog.extract()
        if any(f"static/{name}.js" in path for path, _ in m.locations for name in scripts)
    }
    assert len(wanted) > 40
    assert wanted <= set(words)
    assert "<" not in catalog_json


def test_home_map_in_english(client):
    page = client.get("/?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in page
    for text in ("Legend", "Warm station", "Report a problem", "Nearest station", "Full screen"):
        assert text in page
    shown = re.sub(r'<script[^>]*id="i18n".*?</script>', "", page, flags=re.S)
    assert "反馈问题" not in shown
    assert "图例" not in shown


@pytest.mark.parametrize("path", ["/caravan", "/coverage"])
def test_tool_pages_in_english(client, path):
    page = client.get(path + "?lang=en").get_data(as_text=True)
    body = page.split("<body>", 1)[1]
    panel = re.sub(r"<script.*?</script>", "", body, flags=re.S)
    # No Chinese left in the fixed texts (names from data may be: the test store's are).
    fixed = re.sub(r'"[^"]*"', "", re.sub(r"<[^>]*>", " ", panel))
    assert not [w for w in ("站点", "分钟", "覆盖", "路线", "设置") if w in fixed]


# -- exports ----------------------------------------------------------------------------------


def test_schedule_files_in_english(saved):  # noqa: F811 (the fixture)
    rows = list(csv.reader(io.StringIO(tour_export.to_csv(saved, "en").decode("utf-8-sig"))))
    assert rows[0][:6] == ["Date", "Weekday", "Day", "No.", "What", "Place"]
    whats = {r[4] for r in rows[1:]}
    assert {"Depart", "Service", "Lunch", "Return", "Day total"} <= whats
    assert rows[1][1] in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    # zh-Hans is the default and as it was.
    assert tour_export.to_csv(saved) == tour_export.to_csv(saved, "zh-Hans")
    assert tour_export.to_csv(saved).decode("utf-8-sig").startswith("日期,星期,第几天")
    wb = openpyxl.load_workbook(io.BytesIO(tour_export.to_xlsx(saved, "en")))
    assert wb.sheetnames == ["Schedule", "Unscheduled", "Notes"]
    assert [c.value for c in wb["Unscheduled"][1]][-1] == "Mandatory/optional"
    html = tour_export.to_html(saved, "Org", "en")
    assert '<html lang="en">' in html
    assert "<h2>Day 1 · 2026-03-06 · Fri</h2>" in html
    assert "Stops not scheduled" in html
    for text in ("出发", "返回", "第 1 天", "高德导航", "未安排"):
        assert text not in html


def test_schedule_download_follows_the_request(app, client, saved):  # noqa: F811
    with app.app_context():
        kept = get_tour_store().save(saved["request"], saved["result"])
    url = f"/api/tours/{kept['id']}"
    zh = client.get(url + ".csv").get_data().decode("utf-8-sig")
    assert zh.startswith("日期,星期")
    en = client.get(url + ".csv", headers=EN).get_data().decode("utf-8-sig")
    assert en.startswith("Date,Weekday")
    page = client.get(url + ".html?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in page
    client.get("/?lang=zh")


# -- the catalog ------------------------------------------------------------------------------


def test_catalog_is_current_and_complete():
    """Every text of the templates, scripts and Python (and the messages table) is in the
    .po with an English translation: no untranslated string slips through."""
    template = catalog.extract()
    en = catalog.update(template, "en")
    assert catalog.untranslated(en) == []
    assert len(en) > 300
    with (CATALOG_DIR / "en" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        committed = read_po(f)
    assert {(m.id, m.context) for m in committed if m.id} == {
        (m.id, m.context) for m in template if m.id
    }, "run python -m tools.catalog"


def test_every_script_text_is_found():
    """Each t("…") of the scripts is extracted (pybabel skips a t() inside another's
    arguments: such a text would never be translated)."""
    template = catalog.extract()
    found: dict[str, int] = {}
    for m in template:
        for path, _ in m.locations:
            found[path] = found.get(path, 0) + 1
    static = Path(catalog.ROOT, "geoservice", "web", "static")
    for script in sorted(static.glob("*.js")):
        code = re.sub(r"/\*.*?\*/|^\s*//.*?$", "", script.read_text("utf-8"), flags=re.S | re.M)
        calls = len(re.findall(r'(?<![\w$])t\(\s*"', code))
        where = str(script.relative_to(catalog.ROOT))
        assert found.get(where, 0) == calls, where


def _placeholders(text: str) -> list[str]:
    return sorted(re.findall(r"\{\w*\}|\{\w+:[^}]*\}|%\(\w+\)s", text))


def test_translations_keep_placeholders_and_are_inert():
    """A translation has the placeholders of its text and nothing that would need escaping
    where texts are written unescaped (folium's JS template literals, HTML)."""
    with (CATALOG_DIR / "en" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        po = read_po(f)
    for m in po:
        if not m.id:
            continue
        if not m.context:  # the messages table may fill a placeholder in one language only
            assert _placeholders(m.string) == _placeholders(m.id), m.id
        assert not re.search(r"[`<>\\]|\$\{", m.string), m.string
        assert not CJK.search(m.string) or "/" in m.string or "中文" in m.string, m.string


def test_core_translator():
    _ = translator("en")
    assert _("暖心驿站") == "Warm station"
    assert _("") == ""  # not the catalog's header
    assert _("没有这句") == "没有这句"
    assert translator("zh-Hans")("暖心驿站") == "暖心驿站"
    assert translator("xx")("暖心驿站") == "暖心驿站"


# -- the published site and the browser -------------------------------------------------------


@pytest.mark.slow
def test_published_site_in_english(store, tmp_path):
    from test_coverage import toy_engine

    from geoservice.coverage import publish

    out = tmp_path / "site"
    engine = toy_engine(store)
    args = {"mode": "walk", "minutes": "10,20", "n": "1"}
    when = dt.datetime(2026, 11, 25, 9, 0)
    publish.publish(engine, out, args, now=when, lang="en", allow_sample=True)
    page = (out / "index.html").read_text("utf-8")
    assert '<html lang="en">' in page
    for text in ("Major roads", "Reached within 10 min", "Published: 2026-11-25 09:00"):
        assert text in page
    assert "分钟内可达" not in page
    header = next(csv.reader(io.StringIO((out / "coverage_by_town.csv").read_text("utf-8-sig"))))
    assert header[:2] == ["Town code", "Town (approximate)"]
    zh = tmp_path / "zh"
    publish.publish(engine, zh, args, now=when, allow_sample=True)
    assert '<html lang="zh-Hans">' in (zh / "index.html").read_text("utf-8")


@pytest.mark.slow
@needs_chromium
def test_switch_to_english_in_the_browser(app, browser):
    from test_phone_layouts import assert_phone_layout

    with serving(app) as origin:
        context, page, watch = watched_page(
            browser,
            origin,
            viewport={"width": 390, "height": 844},
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
        )
        page.goto(origin + "/nearest", wait_until="networkidle")
        assert page.locator("html").get_attribute("lang") == "zh-Hans"
        assert page.locator("#locate-btn").inner_text().strip() == "定位我"
        assert_phone_layout(page, "/nearest zh-Hans")
        page.get_by_role("link", name="English").click()
        page.wait_for_load_state("networkidle")
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.locator("#locate-btn").inner_text().strip() == "Locate me"
        assert_phone_layout(page, "/nearest en")
        # The scripts speak English too: a search from a tap on the map (of every station,
        # open or not: at night none may be open).
        page.locator("label.open-switch").click()
        assert not page.locator("#open-only").is_checked()
        page.evaluate(
            "() => window.geoserviceMap.fire('click', {latlng: L.latLng(40.377, 116.845)})"
        )
        page.wait_for_selector(".result-card", timeout=15000)
        status = page.locator("#nearest-status").inner_text()
        assert status.startswith("From the point on the map"), status
        assert not CJK.search(page.locator(".result-card .card-time").first.inner_text())
        # The cookie keeps the choice on the other pages.
        for path in ("/", "/caravan", "/coverage"):
            page.goto(origin + path, wait_until="networkidle")
            assert page.locator("html").get_attribute("lang") == "en", path
            assert_phone_layout(page, path + " en")
        page.get_by_role("link", name="中文").first.click()
        page.wait_for_load_state("networkidle")
        assert page.locator("html").get_attribute("lang") == "zh-Hans"
        watch.check(page)
        context.close()
