"""Staff accounts: roles, argon2 hashes, lockout, tokens, sessions, and `flask users`."""

from __future__ import annotations

import re

import argon2
import pytest
from conftest import assert_bilingual_error, database_dump

from geoservice.admin import Accounts, open_database
from geoservice.admin.accounts import LOCK_SECONDS, MAX_FAILURES
from geoservice.errors import LoginError, ParameterError
from geoservice.web import STORE_KEY

PASSWORD = "correct horse battery"


@pytest.fixture
def accounts(tmp_path, store_url):
    """Accounts in SQLite's file and in PostgreSQL."""
    return Accounts(open_database(store_url or tmp_path / "admin.sqlite"))


def test_the_service_hashes_with_argon2id_at_rfc_9106_cost():
    from geoservice.admin.accounts import HASHER  # tests themselves hash more cheaply

    params = argon2.extract_parameters(HASHER.hash("x" * 12))
    assert params.type is argon2.Type.ID
    assert params.memory_cost >= 64 * 1024
    assert params.time_cost >= 3


def test_passwords_are_stored_as_argon2_hashes(accounts):
    accounts.create("alice", "editor", PASSWORD)
    with accounts.db.connect() as con:
        stored = con.execute("SELECT password FROM users").fetchone()[0]
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert accounts.authenticate("ALICE", PASSWORD).name == "alice"  # names ignore case


@pytest.mark.parametrize(
    ("name", "role", "password", "towns", "parameter"),
    [
        ("a", "editor", PASSWORD, (), "name"),
        ("bob<script>", "editor", PASSWORD, (), "name"),
        ("bob", "owner", PASSWORD, (), "role"),
        ("bob", "editor", "short", (), "password"),
        ("bob", "town_editor", PASSWORD, (), "town"),
        ("bob", "editor", PASSWORD, ("110118101",), "town"),
    ],
)
def test_bad_accounts_are_refused(accounts, name, role, password, towns, parameter):
    with pytest.raises(ParameterError) as info:
        accounts.create(name, role, password, towns)
    assert info.value.parameter == parameter
    assert re.search(r"[\u4e00-\u9fff]", info.value.zh)
    assert accounts.all() == []


def test_a_taken_name_is_a_409(accounts):
    accounts.create("alice", "editor", PASSWORD)
    with pytest.raises(ParameterError) as info:
        accounts.create("Alice", "admin", PASSWORD)
    assert info.value.status == 409


def test_five_failures_lock_the_account_for_15_minutes(accounts, monkeypatch):
    accounts.create("alice", "editor", PASSWORD)
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(LoginError, match="用户名或密码错误"):
            accounts.authenticate("alice", "wrong password!")
    with pytest.raises(LoginError, match="已锁定") as info:
        accounts.authenticate("alice", "wrong password!")
    assert info.value.status == 401
    with pytest.raises(LoginError, match="已锁定"):  # even the right password
        accounts.authenticate("alice", PASSWORD)
    clock = __import__("time").time() + LOCK_SECONDS + 1
    monkeypatch.setattr("geoservice.admin.accounts.time.time", lambda: clock)
    assert accounts.authenticate("alice", PASSWORD).name == "alice"


def test_unknown_names_and_wrong_passwords_say_the_same(accounts):
    accounts.create("alice", "editor", PASSWORD)
    with pytest.raises(LoginError) as unknown:
        accounts.authenticate("nobody", PASSWORD)
    with pytest.raises(LoginError) as wrong:
        accounts.authenticate("alice", "wrong password!")
    assert unknown.value.zh == wrong.value.zh


def test_disabled_accounts_cannot_log_in_or_use_tokens(accounts):
    accounts.create("alice", "editor", PASSWORD)
    token = accounts.issue_token("alice")
    assert accounts.user_for_token(token).name == "alice"
    accounts.update("alice", disabled=True)
    with pytest.raises(LoginError, match="停用"):
        accounts.authenticate("alice", PASSWORD)
    assert accounts.user_for_token(token) is None
    accounts.update("alice", disabled=False)
    assert accounts.user_for_token(token).name == "alice"


def test_tokens_are_stored_hashed_and_can_be_revoked(accounts):
    accounts.create("alice", "editor", PASSWORD)
    token = accounts.issue_token("alice", "QGIS")
    assert token.startswith("gs_")
    assert len(token) > 40
    dump = database_dump(accounts.db)
    assert token not in dump
    (listed,) = accounts.tokens("alice")
    assert listed["label"] == "QGIS"
    assert listed["revoked_at"] is None
    accounts.revoke_token("alice", listed["id"])
    assert accounts.user_for_token(token) is None
    assert accounts.user_for_token("gs_" + "x" * 43) is None
    with pytest.raises(ParameterError) as info:
        accounts.revoke_token("alice", listed["id"])
    assert info.value.status == 404


def test_town_editors_edit_their_towns_only(accounts):
    user = accounts.create("town", "town_editor", PASSWORD, ("110118101",))
    assert user.may_edit("110118101")
    assert not user.may_edit("110118102")
    assert not user.may_edit("")
    editor = accounts.create("ed", "editor", PASSWORD)
    assert editor.may_edit("110118102")
    assert editor.may_edit("")
    assert not editor.is_admin


# -- the CLI ---------------------------------------------------------------------------


def test_users_commands(runner, app):
    r = runner.invoke(
        args=[
            "users",
            "create",
            "town",
            "--role",
            "town_editor",
            "--town",
            "溪翁庄镇",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
    )
    assert r.exit_code == 0, r.output
    staff = app.extensions["geoservice.staff"]
    assert staff.accounts.get("town").towns == ("110118101",)
    r = runner.invoke(
        args=["users", "create", "admin1", "--role", "admin"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert r.exit_code == 0, r.output
    assert PASSWORD not in r.output
    listed = runner.invoke(args=["users", "list"]).output
    assert "town_editor" in listed
    assert "admin1" in listed
    r = runner.invoke(args=["users", "token", "town", "--label", "phone"])
    token = r.stdout.strip().splitlines()[-1]
    assert staff.accounts.user_for_token(token).name == "town"
    assert runner.invoke(args=["users", "disable", "town"]).exit_code == 0
    assert staff.accounts.user_for_token(token) is None
    r = runner.invoke(args=["users", "reset", "admin1", "--password-stdin"], input="x\n")
    assert r.exit_code == 1
    assert "密码长度" in r.output
    r = runner.invoke(
        args=[
            "users",
            "create",
            "x",
            "--role",
            "town_editor",
            "--town",
            "不存在镇",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
    )
    assert r.exit_code == 1
    assert "不存在镇" in r.output


# -- logins in the browser -----------------------------------------------------------------


def _csrf(page: bytes) -> str:
    return re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page)[1].decode()


def test_login_sets_a_hardened_session_cookie_and_logout_ends_it(app, client):
    app.extensions["geoservice.staff"].accounts.create("alice", "editor", PASSWORD)
    revision = app.extensions[STORE_KEY].revision()
    form = client.get("/login")
    assert form.status_code == 200
    r = client.post(
        "/login", data={"name": "alice", "password": PASSWORD, "csrf_token": _csrf(form.data)}
    )
    assert r.status_code == 302
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert app.extensions[STORE_KEY].revision() == revision  # a login is not a store change
    # Secure over HTTPS.
    https = app.test_client()
    form = https.get("/login", base_url="https://localhost")
    r = https.post(
        "/login",
        base_url="https://localhost",
        headers={"Referer": "https://localhost/login"},  # Flask-WTF checks it over HTTPS
        data={"name": "alice", "password": PASSWORD, "csrf_token": _csrf(form.data)},
    )
    assert "Secure" in r.headers["Set-Cookie"]


def test_login_form_needs_its_csrf_token(app, client):
    app.extensions["geoservice.staff"].accounts.create("alice", "editor", PASSWORD)
    r = client.post("/login", data={"name": "alice", "password": PASSWORD})
    assert r.status_code == 400


def test_login_never_redirects_off_site(app, client):
    app.extensions["geoservice.staff"].accounts.create("alice", "editor", PASSWORD)
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        form = client.get("/login")
        r = client.post(
            f"/login?next={target}",
            data={"name": "alice", "password": PASSWORD, "csrf_token": _csrf(form.data)},
        )
        assert r.status_code == 302
        assert "evil" not in r.headers["Location"], target


def test_login_attempts_are_rate_limited(tmp_path):
    from conftest import make_app

    app = make_app(tmp_path, RATELIMIT_LOGIN="3 per minute", WTF_CSRF_ENABLED=False)
    client = app.test_client()
    codes = [
        client.post("/login", data={"name": "x", "password": "y" * 12}).status_code
        for _ in range(4)
    ]
    assert codes == [401, 401, 401, 429]
    assert client.get("/login").status_code == 200  # the form itself is not limited


def test_a_new_password_ends_the_users_sessions(tmp_path):
    from conftest import make_app

    app = make_app(tmp_path, WTF_CSRF_ENABLED=False)
    accounts = app.extensions["geoservice.staff"].accounts
    accounts.create("alice", "editor", PASSWORD)
    client = app.test_client()
    client.post("/login", data={"name": "alice", "password": PASSWORD})
    ok = client.post("/api/stations", json={})
    assert ok.status_code == 422  # logged in: the body is checked
    accounts.set_password("alice", "another long password")
    assert_bilingual_error(client.post("/api/stations", json={}), 401, "Authorization")


# The app's staff database is SQLite's (app-level tests with STORE_URL come with the
# PostGIS store of create_app).
@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_last_enabled_admin_stays_one(accounts, runner, app):
    accounts.create("boss", "admin", PASSWORD)
    for change in ({"disabled": True}, {"role": "editor"}):
        with pytest.raises(ParameterError) as info:
            accounts.update("boss", **change)
        assert info.value.status == 409
    accounts.create("second", "admin", PASSWORD)
    assert accounts.update("boss", disabled=True).disabled
    # The CLI keeps the same rule (the app's staff database is this one: tmp_path).
    assert app.extensions["geoservice.staff"].accounts.get("second").is_admin
    r = runner.invoke(args=["users", "disable", "second"])
    assert r.exit_code == 1
    assert "管理员" in r.output
    assert not accounts.get("second").disabled
