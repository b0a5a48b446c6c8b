"""Back office part: staff accounts and their API tokens.

* ``/admin/users`` (``admin.users``, admins only): every account with its role, towns and
  state (disabled, locked), and the form that creates one (name, role, a town editor's
  towns from the district's, the password twice).
* ``/admin/users/<name>`` (``admin.user``, admins only): change the role and towns, disable
  or enable (which also lifts a lock), set a new password, and the user's API tokens.
* ``/admin/tokens`` (``admin.tokens``, any staff): the logged-in user's own tokens.

A refused form is shown again (status 200, as the record pages do) with each problem at its
field. A new token is shown once, on the page that answers its creation (never in a redirect or
the session), with a copy button; afterwards only its label, dates and state are listed.
Accounts are kept by :class:`geoservice.admin.Accounts` (the CLI's ``flask users`` does the
same); a new role, a new password or disabling ends the user's sessions. The last enabled
admin cannot be disabled or given another role, so that someone can always manage users.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, flash, redirect, request, url_for
from werkzeug.datastructures import MultiDict

from geoservice import hours
from geoservice.admin import ROLES, User
from geoservice.errors import ParameterError
from geoservice.store import catalog
from geoservice.store.towns import Towns
from geoservice.web import get_store
from geoservice.web.admin import admin_required, bp, page, staff_required, user
from geoservice.web.auth import get_staff

#: Most characters of a token's label (as :meth:`Accounts.issue_token` keeps it).
LABEL_MAX = 80
# The parameters errors name: the second password, the role.
_REPEAT, _ROLE = "password2", "role"


def _redirect(endpoint: str, **args: Any) -> Response:
    return redirect(url_for(endpoint, **args))  # type: ignore[return-value]


def _locked_until(u: User) -> str:
    """Until when (Beijing time, HH:MM) a locked account stays locked; "" when it is not."""
    if u.locked_until <= dt.datetime.now(dt.UTC).timestamp():
        return ""
    return dt.datetime.fromtimestamp(u.locked_until, hours.TZ).strftime("%H:%M")


def _town_codes(form: MultiDict[str, str], role: str) -> tuple[str, ...]:
    """A town editor's towns as chosen (by the one town resolver); none for other roles.

    Raises
    ------
    ParameterError
        For a town the district does not have (parameter ``town``).
    """
    chosen = [t for t in form.getlist("towns") if t][:100]
    if role != "town_editor" or not chosen:
        return ()
    return tuple(Towns.from_frame(get_store().read("towns")).codes(chosen, "town") or ())


def _passwords(form: MultiDict[str, str]) -> str:
    """The new password typed twice (ParameterError when the two differ)."""
    password = form.get("password", "")
    if password != form.get(_REPEAT, ""):
        zh, en = "两次输入的密码不一致", "the two passwords differ"
        raise ParameterError(_REPEAT, zh, en)
    return password


def _errors(exc: ParameterError) -> dict[str, list[str]]:
    """An account error as the form shows it, at its field."""
    field = {"town": "towns", "name": "name", _ROLE: _ROLE, _REPEAT: _REPEAT}.get(
        exc.parameter or "", exc.parameter or "form"
    )
    return {field: [exc.zh]}


def _people() -> list[dict[str, Any]]:
    names = catalog.town_names(get_store())
    return [
        {
            **u.to_dict(),
            "town_names": [names.get(c, c) for c in u.towns],
            "locked_until": _locked_until(u),
        }
        for u in get_staff().accounts.all()
    ]


def _list_page(**context: Any) -> Response:
    return page(
        "admin/users_list.html",
        section="users",
        people=_people(),
        roles=ROLES,
        towns=catalog.town_names(get_store()),
        **{"values": {}, "errors": {}, **context},
    )


@bp.route("/users", methods=["GET", "POST"])
@admin_required
def users() -> Response:
    """The accounts, and (POST) a new one."""
    if request.method == "GET":
        return _list_page()
    form = request.form
    name, role = form.get("name", "").strip(), form.get("role", "")
    values = {"name": name, "role": role, "towns": form.getlist("towns")}
    try:
        password = _passwords(form)
        created = get_staff().accounts.create(name, role, password, _town_codes(form, role))
    except ParameterError as exc:
        return _list_page(values=values, errors=_errors(exc))
    flash(f"已创建用户 {created.name}（{created.role_label}）。", "ok")
    return _redirect("admin.user", name=created.name)


def _user_page(name: str, **context: Any) -> Response:
    accounts = get_staff().accounts
    person = accounts.get(name)
    names = catalog.town_names(get_store())
    response = page(
        "admin/users_edit.html",
        section="users",
        person=person,
        town_names=[names.get(c, c) for c in person.towns],
        locked_until=_locked_until(person),
        roles=ROLES,
        towns=names,
        tokens=accounts.tokens(person.name),
        is_self=person.id == user().id,
        **{"errors": {}, **context},
    )
    if "new_token" in context:
        response.headers["Cache-Control"] = "no-store"  # the token is in this page only
    return response


@bp.get("/users/<name>", endpoint="user")
@admin_required
def user_page(name: str) -> Response:
    """One account: role and towns, state, password, tokens."""
    return _user_page(name)


@bp.post("/users/<name>/role")
@admin_required
def user_role(name: str) -> Response:
    """Give an account another role or other towns (its sessions end)."""
    role = request.form.get("role", "")
    try:
        changed = get_staff().accounts.update(
            name, role=role, towns=_town_codes(request.form, role)
        )
    except ParameterError as exc:
        if exc.status == 404:
            raise
        return _user_page(name, errors=_errors(exc))
    flash(f"{changed.name} 现在是{changed.role_label}；其登录会话已结束，需重新登录。", "ok")
    return _redirect("admin.user", name=changed.name)


@bp.post("/users/<name>/state")
@admin_required
def user_state(name: str) -> Response:
    """Disable an account (its sessions and tokens stop working) or enable it again (which
    also lifts a lock after failed logins)."""
    disable = request.form.get("action") == "disable"
    try:
        changed = get_staff().accounts.update(name, disabled=disable)
    except ParameterError as exc:
        if exc.status == 404:
            raise
        return _user_page(name, errors={"state": [exc.zh]})
    if disable:
        flash(f"已停用 {changed.name}：其登录会话和 API 令牌立即失效。", "ok")
    else:
        flash(f"已启用 {changed.name}（如曾被锁定，也已解除）。", "ok")
    return _redirect("admin.user", name=changed.name)


@bp.post("/users/<name>/password")
@admin_required
def user_password(name: str) -> Response:
    """Set a new password (typed twice); the account's sessions end and a lock is lifted."""
    try:
        get_staff().accounts.get(name)
        changed = get_staff().accounts.set_password(name, _passwords(request.form))
    except ParameterError as exc:
        if exc.status == 404:
            raise
        return _user_page(name, errors=_errors(exc))
    flash(f"已为 {changed.name} 设置新密码；其登录会话已结束。", "ok")
    return _redirect("admin.user", name=changed.name)


def _label() -> str:
    return " ".join(request.form.get("label", "").split())[:LABEL_MAX]


@bp.post("/users/<name>/tokens")
@admin_required
def user_token(name: str) -> Response:
    """Issue an API token for the account; this answer is the only place it is shown."""
    person = get_staff().accounts.get(name)
    token = get_staff().accounts.issue_token(person.name, _label())
    return _user_page(person.name, new_token=token)


@bp.post("/users/<name>/tokens/<int:token_id>/revoke")
@admin_required
def user_token_revoke(name: str, token_id: int) -> Response:
    """Revoke one of the account's tokens."""
    get_staff().accounts.revoke_token(name, token_id)
    flash(f"已撤销令牌 #{token_id}：使用它的程序将无法再写入数据。", "ok")
    return _redirect("admin.user", name=name)


# -- one's own tokens ---------------------------------------------------------------------------


def _tokens_page(**context: Any) -> Response:
    me = user()
    response = page(
        "admin/users_tokens.html",
        section="tokens",
        tokens=get_staff().accounts.tokens(me.name),
        **context,
    )
    if "new_token" in context:
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/tokens", methods=["GET", "POST"])
@staff_required
def tokens() -> Response:
    """The logged-in user's API tokens, and (POST) a new one, shown once."""
    if request.method == "GET":
        return _tokens_page()
    return _tokens_page(new_token=get_staff().accounts.issue_token(user().name, _label()))


@bp.post("/tokens/<int:token_id>/revoke")
@staff_required
def token_revoke(token_id: int) -> Response:
    """Revoke one of the logged-in user's tokens (404 for anyone else's)."""
    get_staff().accounts.revoke_token(user().name, token_id)
    flash(f"已撤销令牌 #{token_id}。", "ok")
    return _redirect("admin.tokens")
