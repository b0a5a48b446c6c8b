"""The back office's accounts (/admin/users, admins only) and API tokens (/admin/tokens, any
staff): create, disable and enable, new password, role and towns, tokens shown once."""

from __future__ import annotations

import re

import pytest
from conftest import make_app
from test_admin_records import (
    GULOU,
    OTHER_TOWN,
    PASSWORD,
    as_user,
    form_fields,
    login,
    staff,
)

from geoservice import escape
from geoservice.web import STORE_KEY

NEW_PASSWORD = "another-secret-7"
TOKEN_RE = re.compile(r"gs_[A-Za-z0-9_\-]{20,}")


@pytest.fixture
def app(tmp_path):
    return staff(make_app(tmp_path, WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False))


def accounts(app):
    return app.extensions["geoservice.staff"].accounts


def can_log_in(app, name: str, password: str = PASSWORD) -> bool:
    r = app.test_client().post("/login", data={"name": name, "password": password})
    return r.status_code == 302


def new_user(**fields) -> dict:
    return {
        "name": "miyun.zhen",
        "role": "town_editor",
        "towns": [OTHER_TOWN],
        "password": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        **fields,
    }


# -- who may --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["editor1", "gulou"])
def test_only_admins_manage_users(app, name):
    client = as_user(app, name)
    for path in ("/admin/users", "/admin/users/editor1"):
        assert client.get(path).status_code == 403, path
    for path, data in [
        ("/admin/users", new_user()),
        ("/admin/users/gulou/role", {"role": "admin"}),
        ("/admin/users/admin1/state", {"action": "disable"}),
        ("/admin/users/admin1/password", {"password": "x" * 12, "password2": "x" * 12}),
        ("/admin/users/admin1/tokens", {"label": "mine now"}),
        ("/admin/users/admin1/tokens/1/revoke", {}),
    ]:
        assert client.post(path, data=data).status_code == 403, path
    assert [u.name for u in accounts(app).all()] == ["admin1", "editor1", "gulou"]
    assert accounts(app).get("gulou").role == "town_editor"
    assert accounts(app).tokens("admin1") == []
    # The navigation leaves the users out; the admin sees them.
    assert 'href="/admin/users"' not in client.get("/admin/stations").get_data(as_text=True)
    html = as_user(app, "admin1").get("/admin/stations").get_data(as_text=True)
    assert 'href="/admin/users"' in html


def test_the_users_forms_are_csrf_protected(tmp_path):
    app = staff(make_app(tmp_path, RATELIMIT_ENABLED=False))
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    login(client, "admin1", csrf_token=token)
    r = client.post("/admin/users", data=new_user())
    assert r.status_code == 400
    assert "miyun.zhen" not in [u.name for u in accounts(app).all()]
    form = form_fields(client.get("/admin/users").get_data(as_text=True), "user-create")
    r = client.post("/admin/users", data={**new_user(), "csrf_token": form["csrf_token"]})
    assert r.status_code == 302
    r = client.post("/admin/tokens", data={"label": "x"})
    assert r.status_code == 400
    assert accounts(app).tokens("admin1") == []


# -- accounts --------------------------------------------------------------------------------


def test_the_list_shows_roles_towns_and_states(app):
    accounts(app).update("editor1", disabled=True)
    for _ in range(5):
        can_log_in(app, "gulou", "wrong password!")
    html = as_user(app, "admin1").get("/admin/users").get_data(as_text=True)
    rows = {
        m.group(1): m.group(0)
        for m in re.finditer(
            r'<tr[^>]*>\s*<td data-label="用户名"><a href="/admin/users/(\w+)".*?</tr>', html, re.S
        )
    }
    assert set(rows) == {"admin1", "editor1", "gulou"}
    assert all(w in rows["admin1"] for w in ("管理员", "正常"))
    assert "已停用" in rows["editor1"]
    assert all(w in rows["gulou"] for w in ("乡镇编辑", "鼓楼街道", "已锁定至"))
    # The create form offers the district's towns.
    assert html.count('<option value="1101') == len(app.extensions[STORE_KEY].read("towns"))


def test_an_admin_creates_an_account(app):
    client = as_user(app, "admin1")
    r = client.post("/admin/users", data=new_user(towns=[OTHER_TOWN, GULOU]))
    assert r.status_code == 302
    assert r.headers["Location"] == "/admin/users/miyun.zhen"
    made = accounts(app).get("miyun.zhen")
    assert (made.role, set(made.towns)) == ("town_editor", {OTHER_TOWN, GULOU})
    assert can_log_in(app, "miyun.zhen", NEW_PASSWORD)
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "已创建用户 miyun.zhen（乡镇编辑）" in html
    # An editor has no towns, whatever the form sends.
    r = client.post("/admin/users", data=new_user(name="quxian", role="editor"))
    assert r.status_code == 302
    assert accounts(app).get("quxian").towns == ()


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"password2": "not-the-same-1"}, "password2", "两次输入的密码不一致"),
        ({"password": "short", "password2": "short"}, "password", "密码长度"),
        ({"name": "a b<c>"}, "name", "用户名"),
        ({"name": "GULOU"}, "name", "已存在"),
        ({"towns": []}, "towns", "至少需要一个乡镇"),
        ({"towns": ["nowhere"]}, "towns", "未知的乡镇"),
        ({"role": "root"}, "role", "角色应为"),
    ],
)
def test_a_refused_account_says_why_at_its_field(app, fields, field, words):
    client = as_user(app, "admin1")
    data = new_user(**fields)
    r = client.post("/admin/users", data=data)
    assert r.status_code == 200  # the form again, with its problem
    html = r.get_data(as_text=True)
    error = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', html)
    assert error, html[html.index("create-title") :][:3000]
    assert words in error.group(1)
    assert len(accounts(app).all()) == 3
    form = form_fields(html, "user-create")
    assert form["name"] == [data["name"].strip()]  # kept
    assert data["password"] not in html  # never sent back


def test_disable_and_enable_end_sessions_and_lift_a_lock(app):
    client = as_user(app, "admin1")
    victim = as_user(app, "gulou")
    assert victim.get("/admin/stations").status_code == 200
    r = client.post("/admin/users/gulou/state", data={"action": "disable"})
    assert r.status_code == 302
    assert accounts(app).get("gulou").disabled
    assert victim.get("/admin/stations").status_code == 302  # its session ended
    assert not can_log_in(app, "gulou")
    html = client.get("/admin/users/gulou").get_data(as_text=True)
    assert all(w in html for w in ("已停用", 'value="enable"'))
    client.post("/admin/users/gulou/state", data={"action": "enable"})
    assert can_log_in(app, "gulou")
    # Locked after five failures: enabling lifts the lock.
    for _ in range(5):
        can_log_in(app, "gulou", "wrong password!")
    assert not can_log_in(app, "gulou")
    html = client.get("/admin/users/gulou").get_data(as_text=True)
    assert "解除锁定" in html
    client.post("/admin/users/gulou/state", data={"action": "enable"})
    assert can_log_in(app, "gulou")


def test_a_new_password_replaces_the_old_one(app):
    client = as_user(app, "admin1")
    r = client.post(
        "/admin/users/editor1/password", data={"password": NEW_PASSWORD, "password2": "x"}
    )
    assert "两次输入的密码不一致" in r.get_data(as_text=True)
    assert can_log_in(app, "editor1")
    r = client.post(
        "/admin/users/editor1/password",
        data={"password": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert r.status_code == 302
    assert not can_log_in(app, "editor1")
    assert can_log_in(app, "editor1", NEW_PASSWORD)
    assert client.post("/admin/users/nobody/password", data={}).status_code == 404


def test_role_and_towns_change(app):
    client = as_user(app, "admin1")
    r = client.post("/admin/users/gulou/role", data={"role": "town_editor", "towns": [OTHER_TOWN]})
    assert r.status_code == 302
    assert accounts(app).get("gulou").towns == (OTHER_TOWN,)
    r = client.post("/admin/users/gulou/role", data={"role": "editor", "towns": [OTHER_TOWN]})
    assert r.status_code == 302
    assert (accounts(app).get("gulou").role, accounts(app).get("gulou").towns) == ("editor", ())
    r = client.post("/admin/users/gulou/role", data={"role": "town_editor"})
    assert "至少需要一个乡镇" in r.get_data(as_text=True)
    assert accounts(app).get("gulou").role == "editor"


def test_the_last_admin_stays_an_enabled_admin(app):
    client = as_user(app, "admin1")
    r = client.post("/admin/users/admin1/state", data={"action": "disable"})
    assert "至少要保留一个启用的管理员" in r.get_data(as_text=True)
    r = client.post("/admin/users/admin1/role", data={"role": "editor"})
    assert "至少要保留一个启用的管理员" in r.get_data(as_text=True)
    assert accounts(app).get("admin1").is_admin
    assert not accounts(app).get("admin1").disabled
    # With a second admin, the first may step down (and must log in again).
    client.post("/admin/users/editor1/role", data={"role": "admin"})
    r = client.post("/admin/users/admin1/role", data={"role": "editor"})
    assert r.status_code == 302
    assert accounts(app).get("admin1").role == "editor"
    assert client.get("/admin/users").status_code == 302  # logged out: the role changed


# -- tokens -------------------------------------------------------------------------------------


def _station(name: str, town: str) -> dict:
    return {
        "name": name,
        "kind": "warm_station",
        "lon": 116.8312,
        "lat": 40.3680,
        "town_code": town,
        "opening_hours": "24/7",
    }


def test_my_token_is_shown_once_and_works_as_bearer(app):
    client = as_user(app, "gulou")
    r = client.post("/admin/tokens", data={"label": "  同步\n脚本 "})
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    html = r.get_data(as_text=True)
    tokens = set(TOKEN_RE.findall(html))
    assert len(tokens) == 1
    token = tokens.pop()
    assert "新令牌只显示这一次" in html
    assert 'id="copy-token" data-copy="new-token"' in html
    # Never again.
    later = client.get("/admin/tokens").get_data(as_text=True)
    assert token not in later
    assert TOKEN_RE.search(later) is None
    assert all(w in later for w in ("同步 脚本", "从未使用"))
    # The token writes with its user's rights: its town yes, another no.
    api = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    r = api.post("/api/stations", json=_station("令牌驿站", GULOU), headers=auth)
    assert r.status_code == 201, r.get_json()
    r = api.post("/api/stations", json=_station("别处驿站", OTHER_TOWN), headers=auth)
    assert r.status_code == 403
    entries, _ = app.extensions["geoservice.staff"].journal.entries()
    assert (entries[0].user, entries[0].via, entries[0].action) == ("gulou", "api", "create")
    assert "从未使用" not in client.get("/admin/tokens").get_data(as_text=True)
    # Revoked: refused.
    token_id = accounts(app).tokens("gulou")[0]["id"]
    r = client.post(f"/admin/tokens/{token_id}/revoke")
    assert r.status_code == 302
    assert "已撤销" in client.get("/admin/tokens").get_data(as_text=True)
    r = api.post("/api/stations", json=_station("又一个", GULOU), headers=auth)
    assert r.status_code == 401


def test_nobody_revokes_anothers_token_from_their_own_page(app):
    other = accounts(app).issue_token("editor1", "editor's")
    token_id = accounts(app).tokens("editor1")[0]["id"]
    r = as_user(app, "gulou").post(f"/admin/tokens/{token_id}/revoke")
    assert r.status_code == 404
    assert accounts(app).user_for_token(other) is not None


def test_an_admin_manages_another_users_tokens(app):
    client = as_user(app, "admin1")
    label = '导入程序"><img src=x onerror=alert(1)>'
    r = client.post("/admin/users/editor1/tokens", data={"label": label})
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    token = TOKEN_RE.search(r.get_data(as_text=True)).group(0)
    assert accounts(app).user_for_token(token).name == "editor1"
    html = client.get("/admin/users/editor1").get_data(as_text=True)
    assert token not in html
    assert "<img" not in html
    assert escape.html(label) in html
    token_id = accounts(app).tokens("editor1")[0]["id"]
    r = client.post(f"/admin/users/editor1/tokens/{token_id}/revoke")
    assert r.status_code == 302
    assert accounts(app).user_for_token(token) is None
    # A token of someone else, named under this user: not found.
    assert client.post(f"/admin/users/gulou/tokens/{token_id}/revoke").status_code == 404
