"""The back office's import and export (/admin/files): downloads, the upload's dry run and
its apply, refusals, and the upload's binding to one user's session."""

from __future__ import annotations

import csv
import io
import json
import re
import time

import openpyxl
import pytest
from conftest import HOSTILE_NAMES, make_app, needs_chromium, serving, watched_page
from test_admin_log import PASSWORD, add_staff, api_create, logged_in, rows

from geoservice import escape
from geoservice.store.tables import MAX_FILE_BYTES, read_table
from geoservice.web import STORE_KEY
from geoservice.web.auth import STAFF_KEY

GOOD = "名称,类型,经度,纬度,开放时间\n网页导入的站,暖心驿站,116.851,40.381,周一至周五 8:00-18:00\n"
BAD = "名称,类型,经度,纬度,开放时间\n,暖心驿站,abc,40.377,24/7\n好站,xx,116.8,40.3,24/7\n"


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path, WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False)
    add_staff(app)
    return app


@pytest.fixture
def uploads(tmp_path):
    return tmp_path / "uploads"  # beside the store (make_app: tmp_path / "live.gpkg")


def stations(app):
    return app.extensions[STORE_KEY].stations()


def upload(client, text: str | bytes, name: str = "驿站.csv", **form):
    data = text.encode("utf-8") if isinstance(text, str) else text
    fields = {"layer": "stations", "mode": "append", "crs": "wgs84", **form}
    return client.post(
        "/admin/files/upload",
        data={**fields, "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def uploaded(client, text: str | bytes, name: str = "驿站.csv", **form) -> str:
    """Upload a file; the URL of its dry run."""
    r = upload(client, text, name, **form)
    assert r.status_code == 302, r.get_data(as_text=True)[-2000:]
    return r.headers["Location"]


def log_lines(app) -> list:
    return app.extensions[STAFF_KEY].journal.entries(limit=500)[0]


# -- export -----------------------------------------------------------------------------------


def test_export_xlsx_with_chinese_headers_is_a_readable_file(app, tmp_path):
    client = logged_in(app, "tom")  # any staff may export
    assert "下载" in client.get("/admin/files").get_data(as_text=True)
    r = client.get("/admin/files/export?layer=stations&format=xlsx&headers=zh")
    assert r.status_code == 200
    assert r.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert re.search(r"stations-zh-wgs84-\d{8}-\d{4}\.xlsx", disposition)
    assert r.headers["Cache-Control"] == "no-store"
    sheet = openpyxl.load_workbook(io.BytesIO(r.data)).active
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert header[:5] == ["编号", "名称", "类型", "经度(WGS84)", "纬度(WGS84)"]
    assert sheet.max_row == len(stations(app)) + 1
    path = tmp_path / "back.xlsx"
    path.write_bytes(r.data)
    table = read_table(path)  # the import reads it again
    assert len(table.frame) == len(stations(app))
    assert set(table.frame["id"]) == set(stations(app)["id"])


def test_export_csv_of_sites_with_english_or_chinese_headers(app, tmp_path):
    client = logged_in(app)
    r = client.get("/admin/files/export?layer=sites&format=csv&headers=en")
    assert r.status_code == 200
    assert r.mimetype == "text/csv"
    assert r.data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert table[0][:3] == ["id", "name", "kind"]
    assert len(table) == len(app.extensions[STORE_KEY].sites()) + 1
    r = client.get("/admin/files/export?layer=sites&format=csv&headers=zh")
    assert r.data.decode("utf-8-sig").startswith("编号,名称,类型,区划代码")
    path = tmp_path / "sites.csv"
    path.write_bytes(r.data)
    table = read_table(path)  # the import reads the Chinese headers back
    assert len(table.frame) == len(app.extensions[STORE_KEY].sites())
    assert table.headers["name"] == "名称"
    assert client.get("/admin/files/export?layer=roads").status_code == 400
    assert client.get("/admin/files/export?format=pdf").status_code == 400


def test_export_writes_formulas_as_text(app):
    api_create(app, name="=HYPERLINK(1)")
    r = logged_in(app).get("/admin/files/export?format=csv&headers=zh")
    text = r.data.decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in text
    assert ",=HYPERLINK" not in text


# -- import: check, then apply ----------------------------------------------------------------


def test_upload_shows_the_dry_run_then_apply_imports_it_by_page(app, uploads):
    client = logged_in(app)
    before = len(stations(app))
    check = uploaded(client, GOOD, "新驿站名录.csv")
    assert len(list(uploads.iterdir())) == 1
    r = client.get(check)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "检查通过" in html
    assert "应用后将新增 <strong>1</strong> 条" in html
    assert "新驿站名录.csv" in html
    assert "开放时间已转换为 OSM 格式：1" in html
    assert "Mo-Fr 08:00-18:00" in html
    assert len(stations(app)) == before  # a dry run writes nothing
    assert log_lines(app) == []
    apply = re.search(r'action="(/admin/files/upload/[^"]+/apply)"', html).group(1)
    r = client.post(apply)
    assert r.status_code == 302
    assert r.headers["Location"].endswith("/admin/files")
    assert len(stations(app)) == before + 1
    entries = log_lines(app)
    assert [(e.user, e.via, e.action, e.name) for e in entries] == [
        ("alice", "page", "create", "网页导入的站")
    ]
    html = client.get("/admin/files").get_data(as_text=True)
    assert "已导入「新驿站名录.csv」：新增 1，更新 0，未变 0，删除 0 条驿站记录" in html
    assert 'href="/admin/log?user=alice&amp;via=page"' in html
    assert list(uploads.iterdir()) == []  # removed once applied
    # Applying it again finds nothing (a double click imports once).
    r = client.post(apply)
    assert r.status_code == 404
    assert "找不到待导入的文件" in r.get_data(as_text=True)
    assert len(stations(app)) == before + 1


def test_apply_uses_the_options_of_the_check(app):
    client = logged_in(app)
    sheet = "id,name,lon,lat,opening_hours\nWS001,网页改名,116.84,40.37,24/7\n"
    check = uploaded(client, sheet, "改名.csv", mode="replace")
    html = client.get(check).get_data(as_text=True)
    assert "替换：文件成为整个图层" in html
    assert "将删除的编号：103" in html
    assert "替换模式将删除文件中没有的 103 条记录" in html
    # The options the form sends with the apply are ignored: the check's are applied.
    r = client.post(check + "/apply", data={"mode": "append", "layer": "sites"})
    assert r.status_code == 302
    assert list(stations(app)["name"]) == ["网页改名"]
    assert len(app.extensions[STORE_KEY].sites()) == 449
    assert len(log_lines(app)) == 104  # 1 update, 103 deletes, each in the log


def test_a_bad_file_shows_its_row_errors_and_writes_nothing(app):
    client = logged_in(app)
    before = len(stations(app))
    check = uploaded(client, BAD, "错误.csv")
    r = client.get(check)
    html = r.get_data(as_text=True)
    assert "未导入任何数据，数据未改变" in html
    assert "2 行有 3 处错误" in html
    assert "第 2 行，列「名称」：名称为空" in html  # the row and the user's column, as the CLI
    assert "第 2 行，列「经度」：不是数字" in html
    assert "第 3 行，列「类型」：未知类型" in html
    assert "/apply" not in html  # nothing to apply
    assert "放弃这个文件" in html
    # Applying it anyway imports nothing.
    r = client.post(check + "/apply")
    assert r.status_code == 422
    assert "第 2 行，列「名称」" in r.get_data(as_text=True)
    assert len(stations(app)) == before
    assert log_lines(app) == []


def test_row_errors_are_capped_and_counted(app):
    client = logged_in(app)
    body = "名称,经度,纬度,开放时间\n" + "".join(f"站{i},abc,40.37,24/7\n" for i in range(250))
    html = client.get(uploaded(client, body)).get_data(as_text=True)
    listed = html.split('<ol class="files-errors">', 1)[1].split("</ol>", 1)[0]
    assert listed.count("<li>") == 200
    assert "另有 50 处错误未列出" in html


def test_an_apply_refused_by_later_changes_keeps_the_upload(app):
    client = logged_in(app)
    sheet = "id,name,lon,lat,opening_hours\nWS900,先检查的站,116.84,40.37,24/7\n"
    check = uploaded(client, sheet)
    assert "检查通过" in client.get(check).get_data(as_text=True)
    api_create(app, id="WS900", name="别人先建的站", lon=116.86, lat=40.39)
    r = client.post(check + "/apply")
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "导入未完成" in html
    assert "编号已存在" in html
    assert "重新检查" in html
    assert stations(app).set_index("id").loc["WS900", "name"] == "别人先建的站"
    assert client.get(check).status_code == 200  # still there, to check again or cancel
    r = client.post(check + "/cancel")
    assert r.status_code == 302
    assert client.get(check).status_code == 404


def test_cancel_removes_the_upload(app, uploads):
    client = logged_in(app)
    check = uploaded(client, GOOD)
    assert "待应用的文件" in client.get("/admin/files").get_data(as_text=True)
    assert client.post(check + "/cancel").status_code == 302
    assert list(uploads.iterdir()) == []
    html = client.get("/admin/files").get_data(as_text=True)
    assert "已取消导入「驿站.csv」" in html
    assert "待应用的文件" not in html


# -- who may import, and which upload ---------------------------------------------------------


def test_a_town_editor_may_not_import(app, uploads):
    client = logged_in(app, "tom")
    html = client.get("/admin/files").get_data(as_text=True)
    assert "乡镇编辑不能导入文件" in html
    assert 'action="/admin/files/upload"' not in html
    r = upload(client, GOOD)
    assert r.status_code == 403
    assert "乡镇编辑不能导入文件" in r.get_data(as_text=True)
    assert not uploads.exists() or list(uploads.iterdir()) == []
    check = uploaded(logged_in(app, "alice"), GOOD)
    assert client.get(check).status_code == 403
    assert client.post(check + "/apply").status_code == 403
    assert log_lines(app) == []


def test_an_upload_is_bound_to_its_user_and_session(app):
    alice = logged_in(app, "alice")
    check = uploaded(alice, GOOD)
    token = check.rsplit("/", 1)[1]
    before = len(stations(app))
    others = [logged_in(app, "root"), logged_in(app, "alice")]  # another user; another login
    for client in others:
        assert client.get(check).status_code == 404
        r = client.post(check + "/apply")
        assert r.status_code == 404
        assert "不是在本次登录中上传的" in r.get_data(as_text=True)
        client.post(check + "/cancel")
        assert token not in client.get("/admin/files").get_data(as_text=True)
    assert len(stations(app)) == before
    # A session that has the token but another user's account still cannot use it.
    root = others[0]
    with root.session_transaction() as session:
        session["geoservice_uploads"] = [token]
    assert root.post(check + "/apply").status_code == 404
    assert len(stations(app)) == before
    # The owner's session still can.
    assert alice.post(check + "/apply").status_code == 302
    assert len(stations(app)) == before + 1


def test_no_path_comes_from_the_client(app, tmp_path):
    client = logged_in(app)
    secret = tmp_path / "secret.csv"
    secret.write_text(GOOD, encoding="utf-8")
    for token in ("..", "../secret.csv", "x" * 32, "%2e%2e%2fsecret"):
        r = client.post(f"/admin/files/upload/{token}/apply")
        assert r.status_code == 404, token
    with client.session_transaction() as session:
        session["geoservice_uploads"] = ["../../secret"]
    assert client.get("/admin/files/upload/..%2F..%2Fsecret").status_code == 404
    assert log_lines(app) == []


def test_an_upload_expires_after_an_hour(app, uploads):
    client = logged_in(app)
    check = uploaded(client, GOOD)
    folder = next(uploads.iterdir())
    meta = json.loads((folder / "upload.json").read_text(encoding="utf-8"))
    meta["created"] = time.time() - 3601
    (folder / "upload.json").write_text(json.dumps(meta), encoding="utf-8")
    r = client.post(check + "/apply")
    assert r.status_code == 404
    assert "超过 1 小时" in r.get_data(as_text=True)
    assert not folder.exists()
    assert log_lines(app) == []
    # Old uploads of other sessions go when anyone opens the page.
    check = uploaded(logged_in(app, "root"), GOOD)
    folder = next(uploads.iterdir())
    (folder / "upload.json").write_text(json.dumps({**meta, "user_id": 3}), encoding="utf-8")
    client.get("/admin/files")
    assert list(uploads.iterdir()) == []


def test_a_25_mb_upload_is_refused_with_a_clear_message(app, uploads):
    client = logged_in(app)
    big = GOOD.encode("utf-8") + b"\n" * (25 * 2**20)
    r = upload(client, big, "很大的文件.csv")
    assert r.status_code == 413
    html = r.get_data(as_text=True)
    assert f"超过 {MAX_FILE_BYTES // 2**20} MB 上限" in html
    assert "很大的文件.csv" in html
    assert "25.0 MB" in html
    assert not uploads.exists() or list(uploads.iterdir()) == []
    # The page names the limit and gives it to the script that checks before uploading.
    html = client.get("/admin/files").get_data(as_text=True)
    assert f'data-max-bytes="{MAX_FILE_BYTES}"' in html
    assert "/static/admin_files.js" in html


def test_other_uploads_that_cannot_be_imported(app):
    client = logged_in(app)
    r = upload(client, "hello", "notes.txt")
    assert r.status_code == 415
    assert "不支持的文件类型" in r.get_data(as_text=True)
    assert upload(client, b"", "empty.csv").status_code == 400
    r = client.post(
        "/admin/files/upload", data={"layer": "stations"}, content_type="multipart/form-data"
    )
    assert r.status_code == 400
    assert "请选择要导入的文件" in r.get_data(as_text=True)
    r = upload(client, GOOD, mode="merge")
    assert r.status_code == 400
    assert "mode" in r.get_data(as_text=True)
    # An unreadable file gets its reason, not a 500.
    html = client.get(uploaded(client, b"PK\x03\x04broken", "坏的.xlsx")).get_data(as_text=True)
    assert "未导入任何数据" in html


def test_long_and_odd_file_names_are_kept_safely(app, uploads):
    client = logged_in(app)
    long_name = "密云区暖心驿站名录" * 30 + ".CSV"  # 270 characters, 800 bytes
    html = client.get(uploaded(client, GOOD, long_name)).get_data(as_text=True)
    assert "检查通过" in html
    assert "密云区暖心驿站名录" * 5 in html
    check = uploaded(client, GOOD, "../../名录.csv")
    html = client.get(check).get_data(as_text=True)
    assert "<bdi>名录.csv</bdi>" in html  # the name, never a path
    stored = [p.name for folder in uploads.iterdir() for p in folder.iterdir()]
    assert len(stored) == 4
    assert all(len(name.encode("utf-8")) < 256 for name in stored)
    assert "名录.csv" in stored


def test_hostile_text_of_a_file_stays_text(app):
    client = logged_in(app)
    names = [n for n in HOSTILE_NAMES if "\n" not in n and "\r" not in n]
    column = '"><img src=x onerror=alert(1)>'
    # A good file with a column the import does not know (listed as ignored) …
    good = io.StringIO()
    csv.writer(good).writerows(
        [["名称", "经度", "纬度", "开放时间", column], ["好站", "116.851", "40.381", "24/7", "x"]]
    )
    filename = "<img src=x onerror=alert(1)>${x}.csv"  # (browsers send a " as %22)
    html = client.get(uploaded(client, good.getvalue(), filename)).get_data(as_text=True)
    assert "检查通过" in html
    assert f"<bdi>{escape.html(column)}</bdi>" in html
    assert escape.html(filename) in html
    # … and a bad one whose errors quote hostile cells.
    bad = io.StringIO()
    csv.writer(bad).writerows(
        [["名称", "类型", "经度", "纬度", "开放时间"]]
        + [["站", name, "116.85", "40.38", "24/7"] for name in names]
    )
    html += client.get(uploaded(client, bad.getvalue())).get_data(as_text=True)
    assert "列「类型」：未知类型" in html
    html += client.get("/admin/files").get_data(as_text=True)
    assert "<img src=x" not in html
    assert "<script>alert(1)" not in html
    assert column not in html
    for name in [*names, filename]:
        if escape.html(name) != name:
            assert name not in html, name


def test_files_pages_link_into_the_log(app):
    client = logged_in(app)
    client.post(uploaded(client, GOOD) + "/apply")
    html = client.get("/admin/log?via=page").get_data(as_text=True)
    assert "后台页面" in rows(html)[0]
    assert "网页导入的站" in rows(html)[0]


@needs_chromium
@pytest.mark.slow
def test_import_in_chromium_on_a_phone(app, browser, tmp_path):
    big = tmp_path / "太大.csv"
    big.write_bytes(GOOD.encode("utf-8") + b"\n" * (MAX_FILE_BYTES + 1))
    good = tmp_path / "网页导入.csv"
    good.write_text(GOOD, encoding="utf-8")
    before = len(stations(app))
    with serving(app) as url:
        context, page, watch = watched_page(browser, url, viewport={"width": 390, "height": 844})
        page.goto(url + "/admin/files")
        page.fill("#name", "alice")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/admin/files")
        # Too big: named before anything is sent, and the form does not go.
        page.set_input_files("#import-file", str(big))
        note = page.locator("#import-file-note")
        assert "超过 20 MB 上限" in note.inner_text()
        page.click("form[data-busy] button[type=submit]")
        page.wait_for_timeout(500)
        assert page.url.endswith("/admin/files")
        assert page.evaluate("document.querySelector('#import-file').validity.valid") is False
        assert not (tmp_path / "uploads").exists() or not any((tmp_path / "uploads").iterdir())
        page.set_input_files("#import-file", str(good))
        assert note.is_hidden()
        page.click("form[data-busy] button[type=submit]")
        page.wait_for_url("**/admin/files/upload/*")
        assert "检查通过" in page.locator(".files-verdict").inner_text()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.click("form[action$='/apply'] button")
        page.wait_for_url("**/admin/files")
        assert "已导入「网页导入.csv」" in page.locator(".notice.ok").inner_text()
        watch.check(page)
        context.close()
    assert len(stations(app)) == before + 1


# -- round trips and moves ------------------------------------------------------------------


def test_a_gcj02_export_reimports_unchanged_from_its_headers(app):
    client = logged_in(app)
    data = client.get("/admin/files/export?format=csv&headers=zh&crs=gcj02").data
    assert "经度(GCJ02)".encode() in data
    revision = app.extensions[STORE_KEY].revision()
    # The CRS comes from the headers ("" = as the headers say): nothing moves.
    check = uploaded(client, data, "导出.csv", mode="upsert", crs="")
    html = client.get(check).get_data(as_text=True)
    assert "应用后将新增 <strong>0</strong> 条、更新 <strong>0</strong> 条" in html
    assert "（表头注明）" in html
    # Named otherwise on the form: refused, nothing written.
    html = client.get(uploaded(client, data, "导出.csv", mode="upsert", crs="bd09")).get_data(
        as_text=True
    )
    assert "未导入任何数据" in html
    assert app.extensions[STORE_KEY].revision() == revision


def test_moves_over_50_m_are_listed_and_need_confirming(app):
    client = logged_in(app)
    first = stations(app).iloc[0]
    moved = (
        "编号,名称,经度,纬度,开放时间\n"
        f"{first['id']},{first['name']},{first['lon'] + 0.01},{first['lat']},24/7\n"
    )
    check = uploaded(client, moved, "移动.csv", mode="upsert")
    html = client.get(check).get_data(as_text=True)
    assert "将移动 50 米以上" in html, re.findall(r"notice[^>]*>(.*?)</", html, re.S)
    assert first["id"] in html.split("将移动 50 米以上")[1]
    assert 'name="confirm_moves"' in html
    apply = re.search(r'action="(/admin/files/upload/[^"]+/apply)"', html).group(1)
    r = client.post(apply)  # not confirmed: refused, nothing written, the upload kept
    assert r.status_code == 409
    assert stations(app).iloc[0]["lon"] == first["lon"]
    r = client.post(apply, data={"confirm_moves": "1"})
    assert r.status_code == 302
    assert stations(app).set_index("id").loc[first["id"], "lon"] != first["lon"]
