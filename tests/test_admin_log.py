"""The back office's audit log (/admin/log): attribution, filters, CSV, a change's page,
revert (and its refusals), hostile names; and one run in a real Chromium."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from conftest import HOSTILE_NAMES, make_app, needs_chromium, serving, watched_page

from geoservice import escape
from geoservice.hours import TZ
from geoservice.store import records
from geoservice.web import STORE_KEY
from geoservice.web.auth import STAFF_KEY

PASSWORD = "correct horse battery"
GULOU, OTHER_TOWN = "110118001", "110118100"
NEW_STATION = {
    "name": "测试新驿站",
    "kind": "warm_station",
    "lon": 116.842,
    "lat": 40.377,
    "opening_hours": "24/7",
    "town_code": GULOU,
}


@pytest.fixture
def app(tmp_path):
    """An app with the form CSRF check off (one test below turns it on) and three staff:
    alice (editor), tom (town editor of 鼓楼), root (admin)."""
    app = make_app(tmp_path, WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False)
    add_staff(app)
    return app


def add_staff(app) -> None:
    accounts = app.extensions[STAFF_KEY].accounts
    accounts.create("alice", "editor", PASSWORD)
    accounts.create("tom", "town_editor", PASSWORD, (GULOU,))
    accounts.create("root", "admin", PASSWORD)


def login(client, name: str) -> None:
    r = client.post("/login", data={"name": name, "password": PASSWORD})
    assert r.status_code == 302, r.data[:300]


def logged_in(app, name: str = "alice"):
    client = app.test_client()
    login(client, name)
    return client


def bearer(app, name: str = "alice") -> dict[str, str]:
    token = app.extensions[STAFF_KEY].accounts.issue_token(name)
    return {"Authorization": f"Bearer {token}"}


def api_create(app, **fields) -> str:
    r = app.test_client().post("/api/stations", json={**NEW_STATION, **fields}, headers=bearer(app))
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def api_patch(app, record_id: str, **fields) -> None:
    r = app.test_client().patch(f"/api/stations/{record_id}", json=fields, headers=bearer(app))
    assert r.status_code == 200, r.get_json()


def journal(app):
    return app.extensions[STAFF_KEY].journal


def last_id(app) -> int:
    entries, _ = journal(app).entries(limit=1)
    return entries[0].id


def station(app, record_id: str):
    stations = app.extensions[STORE_KEY].stations().set_index("id")
    return stations.loc[record_id] if record_id in stations.index else None


def rows(html: str) -> list[str]:
    """The log table's lines, as text."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    lines = [re.sub(r"<[^>]+>", " ", "<tr" + tr) for tr in body.split("<tr")[1:]]
    return [re.sub(r"\s+", " ", line).strip() for line in lines]


def write_csv(path, header, body) -> str:
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows([header, *body])
    return str(path)


# -- the list ---------------------------------------------------------------------------------


def test_the_log_needs_a_login(app):
    r = app.test_client().get("/admin/log")
    assert r.status_code == 302
    assert "/login" in r.headers["Location"]
    assert app.test_client().get("/admin/log.csv").status_code == 302


def test_log_attributes_changes_by_api_cli_and_page(app, tmp_path):
    created = api_create(app, name="接口新增的站")
    path = write_csv(
        tmp_path / "cli.csv",
        ["名称", "经度", "纬度", "开放时间"],
        [["命令行导入的站", "116.85", "40.38", "24/7"]],
    )
    r = app.test_cli_runner().invoke(args=["stations", "import", path])
    assert r.exit_code == 0, r.output
    client = logged_in(app, "alice")
    r = client.post("/admin/log/1/revert")  # the API's create, reverted on the page
    assert r.status_code == 302
    html = client.get("/admin/log").get_data(as_text=True)
    assert "<title>修改记录" in html
    lines = rows(html)
    assert len(lines) == 3  # newest first
    assert re.match(r"#3 \d{4}-\d\d-\d\d \d\d:\d\d:\d\d alice 后台页面 驿站 " + created, lines[0])
    assert "删除 撤销 #1" in lines[0]
    assert re.match(r"#2 .* system 命令行 驿站 WS\d+ 命令行导入的站 新增", lines[1])
    assert re.match(r"#1 .* alice 写入接口 驿站 " + created + " 接口新增的站 新增", lines[2])
    assert "已撤销（#3）" in lines[2]  # the reverted change is marked
    # The moment is Beijing time (UTC+8) of the stored UTC time.
    stored = journal(app).get(1).at
    shown = dt.datetime.fromisoformat(stored).astimezone(TZ).strftime("%Y-%m-%d %H:%M:%S")
    assert shown in lines[2]


def test_filters_by_record_user_via_action_layer_and_days(app, tmp_path):
    first = api_create(app, name="甲站")
    api_patch(app, first, name="甲站改名")
    api_create(app, name="乙站", lon=116.86, lat=40.39)
    path = write_csv(
        tmp_path / "cli.csv",
        ["名称", "类型", "经度", "纬度"],
        [["命令行村", "村", "116.87", "40.40"]],
    )
    assert app.test_cli_runner().invoke(args=["sites", "import", path]).exit_code == 0
    client = logged_in(app)

    def listed(**query) -> list[str]:
        r = client.get("/admin/log", query_string=query)
        assert r.status_code == 200, r.data[:300]
        html = r.get_data(as_text=True)
        return rows(html) if "<tbody>" in html else []

    assert len(listed()) == 4
    assert [line.split()[0] for line in listed(record=first)] == ["#2", "#1"]
    assert len(listed(user="alice")) == 3
    assert len(listed(user="system")) == 1
    assert len(listed(via="cli")) == 1
    assert len(listed(via="写入接口")) == 3  # the Chinese label is understood too
    assert [line.split()[0] for line in listed(action="update")] == ["#2"]
    assert len(listed(layer="sites")) == 1
    assert "村与保护点" in listed(layer="sites")[0]
    today = dt.datetime.now(TZ).date()
    assert len(listed(since=today.isoformat(), until=today.isoformat())) == 4
    assert listed(until=(today - dt.timedelta(days=1)).isoformat()) == []
    assert listed(since=(today + dt.timedelta(days=1)).isoformat()) == []
    assert len(listed(user="alice", action="create", layer="stations")) == 2
    # The form keeps the filter, and bad filters are named, bilingually, with a 400.
    html = client.get("/admin/log", query_string={"record": first}).get_data(as_text=True)
    assert f'value="{first}"' in html
    r = client.get("/admin/log?since=2026-13-01")
    assert r.status_code == 400
    assert "since 应为日期" in r.get_data(as_text=True)
    r = client.get("/admin/log?since=2026-03-02&until=2026-03-01")
    assert r.status_code == 400
    assert "早于开始日期" in r.get_data(as_text=True)
    assert client.get("/admin/log?via=fax").status_code == 400


def test_log_pages_through_many_changes(app, tmp_path):
    path = write_csv(
        tmp_path / "many.csv",
        ["名称", "经度", "纬度", "开放时间"],
        [[f"批量站{i}", f"{116.80 + i * 0.001:.4f}", "40.40", "24/7"] for i in range(60)],
    )
    assert app.test_cli_runner().invoke(args=["stations", "import", path]).exit_code == 0
    client = logged_in(app)
    html = client.get("/admin/log").get_data(as_text=True)
    assert len(rows(html)) == 50
    assert "共 60 条修改，显示第 1–50 条" in html
    assert "第 1 / 2 页" in html
    assert 'href="/admin/log?page=2"' in html
    html = client.get("/admin/log?page=2").get_data(as_text=True)
    assert len(rows(html)) == 10
    assert rows(html)[-1].startswith("#1 ")
    assert "没有符合条件的修改" in client.get("/admin/log?page=9").get_data(as_text=True)


def test_csv_of_the_filtered_log_neutralises_formulas(app):
    hostile = api_create(app, name="=1+1")
    api_create(app, name="另一个站", lon=116.86, lat=40.39)
    client = logged_in(app)
    html = client.get("/admin/log", query_string={"record": hostile}).get_data(as_text=True)
    assert f'href="/admin/log.csv?record={hostile}"' in html
    r = client.get("/admin/log.csv", query_string={"record": hostile})
    assert r.status_code == 200
    assert r.mimetype == "text/csv"
    assert r.headers["Content-Disposition"].startswith("attachment;")
    assert ".csv" in r.headers["Content-Disposition"]
    assert r.data.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for Excel
    table = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert table[0][0] == "编号 id"
    assert len(table) == 2  # the header and the one change of that record
    assert table[1][6] == "'=1+1"  # the name: text, not a formula
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in table for cell in row)
    assert client.get("/admin/log.csv?layer=roads").status_code == 400


# -- one change -------------------------------------------------------------------------------


def test_a_change_shows_its_fields_before_and_after(app):
    record_id = api_create(app, name="旧名", amenities="hot_water;toilet")
    api_patch(app, record_id, name="新名", lon=116.843, amenities=["toilet"])
    client = logged_in(app, "tom")  # any staff may read the log
    html = client.get("/admin/log/2").get_data(as_text=True)
    assert f"修改 #2：修改驿站 <bdi>{record_id}</bdi>" in html
    table = html.split('class="admin-table log-diff"', 1)[1].split("</table>", 1)[0]
    labels = re.findall(r'<th scope="row">([^<]+)</th>', table)
    assert labels == ["名称", "经度", "服务设施", "位置"]  # ZH_HEADERS; the point last
    assert "<bdi>旧名</bdi>" in table
    assert "<bdi>新名</bdi>" in table
    assert "热水、卫生间" in table
    assert "经度 116.842000，纬度 40.377000" in table
    assert "经度 116.843000，纬度 40.377000" in table
    assert "写入接口" in html
    # A create lists what it set, kinds and towns by name.
    html = client.get("/admin/log/1").get_data(as_text=True)
    assert "暖心驿站（warm_station）" in html
    assert f"（{GULOU}）" in html
    assert client.get("/admin/log/99").status_code == 404


def test_revert_of_an_update_restores_the_values_and_bumps_the_version(app):
    record_id = api_create(app, name="原来的名字")
    api_patch(app, record_id, name="改过的名字", phone="010-1234567")
    assert records.version(app.extensions[STORE_KEY], "stations", record_id) == 2
    client = logged_in(app)
    html = client.get("/admin/log/2").get_data(as_text=True)
    assert "确认撤销 #2" in html
    r = client.post("/admin/log/2/revert")
    assert r.status_code == 302
    assert r.headers["Location"].endswith("/admin/log/2")
    row = station(app, record_id)
    assert row["name"] == "原来的名字"
    assert row["phone"] == ""
    assert records.version(app.extensions[STORE_KEY], "stations", record_id) == 3
    revert = journal(app).get(3)
    assert (revert.user, revert.via, revert.reverts, revert.action) == (
        "alice",
        "page",
        2,
        "update",
    )
    html = client.get("/admin/log/2").get_data(as_text=True)
    assert "已撤销修改 #2（撤销本身记为修改 #3）" in html  # the flash, once
    assert "这次修改已被" in html
    assert "确认撤销" not in html
    html = client.get("/admin/log/3").get_data(as_text=True)
    assert "撤销 #2" in html


def test_revert_is_refused_when_a_later_change_touched_the_record(app):
    record_id = api_create(app, name="第一版")
    api_patch(app, record_id, name="第二版")
    api_patch(app, record_id, name="第三版")
    client = logged_in(app)
    html = client.get("/admin/log/2").get_data(as_text=True)
    assert "需先撤销 #3" in html
    assert "确认撤销" not in html  # no button that can only fail
    r = client.post("/admin/log/2/revert")
    assert r.status_code == 409
    html = r.get_data(as_text=True)
    assert "未撤销" in html
    assert "#3" in html
    assert "revert #3 first" in html
    assert station(app, record_id)["name"] == "第三版"
    assert last_id(app) == 3  # nothing written


def test_revert_of_a_delete_restores_the_record(app):
    record_id = api_create(app, name="会被删除的站")
    r = app.test_client().delete(f"/api/stations/{record_id}", headers=bearer(app))
    assert r.status_code == 204
    assert station(app, record_id) is None
    client = logged_in(app)
    assert "这条被删除的记录将按删除前的内容恢复" in client.get("/admin/log/2").get_data(
        as_text=True
    )
    assert client.post("/admin/log/2/revert").status_code == 302
    assert station(app, record_id)["name"] == "会被删除的站"
    restored = journal(app).get(3)
    assert (restored.action, restored.reverts, restored.via) == ("restore", 2, "page")
    assert "恢复 撤销 #2" in rows(client.get("/admin/log").get_data(as_text=True))[0]


def test_revert_of_a_create_deletes_the_record(app):
    record_id = api_create(app, name="新增后撤销")
    client = logged_in(app)
    assert "这条记录将被删除" in client.get("/admin/log/1").get_data(as_text=True)
    assert client.post("/admin/log/1/revert").status_code == 302
    assert station(app, record_id) is None
    assert journal(app).get(2).action == "delete"
    assert journal(app).get(2).reverts == 1
    # …and that revert can be reverted in turn: the record is back.
    assert client.post("/admin/log/2/revert").status_code == 302
    assert station(app, record_id)["name"] == "新增后撤销"


def test_a_town_editor_reverts_only_in_its_towns(app):
    stations = app.extensions[STORE_KEY].stations()
    elsewhere = stations.loc[stations["town_code"] == OTHER_TOWN, "id"].iloc[0]
    api_patch(app, elsewhere, name="别的乡镇改名")
    mine = api_create(app, name="鼓楼的站")
    client = logged_in(app, "tom")
    html = client.get("/admin/log/1").get_data(as_text=True)
    assert "不能撤销这次修改" in html
    assert "确认撤销" not in html
    r = client.post("/admin/log/1/revert")
    assert r.status_code == 403
    assert "无权修改乡镇" in r.get_data(as_text=True)
    assert station(app, elsewhere)["name"] == "别的乡镇改名"
    assert last_id(app) == 2
    assert client.post("/admin/log/2/revert").status_code == 302
    assert station(app, mine) is None


def test_revert_needs_the_forms_csrf_token(tmp_path):
    app = make_app(tmp_path, RATELIMIT_ENABLED=False)
    add_staff(app)
    record_id = api_create(app, name="要撤销的站")
    client = app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    r = client.post("/login", data={"name": "alice", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302
    assert client.post("/admin/log/1/revert").status_code == 400
    assert station(app, record_id) is not None
    html = client.get("/admin/log/1").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert client.post("/admin/log/1/revert", data={"csrf_token": token}).status_code == 302
    assert station(app, record_id) is None


def test_hostile_names_stay_text_on_the_log_pages(app):
    created = []
    for i, name in enumerate(HOSTILE_NAMES):
        r = app.test_client().post(
            "/api/stations",
            json={**NEW_STATION, "name": name, "lon": 116.80 + i * 0.002},
            headers=bearer(app),
        )
        if r.status_code == 201:
            created.append(name)
    assert len(created) >= 10  # most are accepted as names, and must stay text
    client = logged_in(app)
    pages = [client.get("/admin/log").get_data(as_text=True)]
    pages += [client.get(f"/admin/log/{n}").get_data(as_text=True) for n in (1, 2, 3, 4)]
    for html in pages:
        for name in created:
            # Shown through escape.html (also inert in JS strings), bidi-isolated.
            if escape.html(name) != name:
                assert name not in html, name
        assert "<img src=x" not in html
        assert "<script>alert(1)" not in html
    listing = pages[0]
    for name in created:
        assert f"<bdi>{escape.html(name)}</bdi>" in listing, name


# -- in a browser -----------------------------------------------------------------------------


@needs_chromium
@pytest.mark.slow
def test_log_in_filter_open_and_revert_a_change_in_chromium(app, browser):
    record_id = api_create(app, name="浏览器里撤销的站")
    api_patch(app, record_id, name="改过的站名")
    api_create(app, name="另一个站", lon=116.86, lat=40.39)
    with serving(app) as url:
        context, page, watch = watched_page(browser, url, viewport={"width": 390, "height": 844})
        page.goto(url + "/admin/log")
        page.fill("#name", "alice")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/admin/log")
        assert page.locator(".log-table tbody tr").count() == 3
        # Nothing wider than the phone's screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.fill("#log-record", record_id)
        page.select_option("#log-action", "update")
        page.click(".log-filter-actions button[type=submit]")
        page.wait_for_url("**/admin/log?*action=update*")
        assert page.locator(".log-table tbody tr").count() == 1
        page.click(".log-table tbody tr a[href='/admin/log/2']")
        page.wait_for_url("**/admin/log/2")
        assert "改过的站名" in page.locator(".log-diff").inner_text()
        page.click(".log-revert summary")
        page.click(".log-revert button[type=submit]")
        page.wait_for_url("**/admin/log/2")
        assert "已撤销修改 #2" in page.locator(".notice.ok").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        watch.check(page)
        context.close()
    assert station(app, record_id)["name"] == "浏览器里撤销的站"
    assert journal(app).get(4).via == "page"
