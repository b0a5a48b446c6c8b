"""Staff logins and API tokens: the Flask adapter of :mod:`geoservice.admin`.

* Pages: Flask-Login sessions (``/login``, ``/logout``), forms CSRF-protected by Flask-WTF.
  The session cookie is HttpOnly and SameSite=Lax, and Secure whenever the request came
  over HTTPS (directly, or through a proxy trusted with ``PROXY_COUNT``); a disabled user,
  a new password or a new role ends the user's sessions (the session names the account's
  ``epoch``). Logins are rate-limited per client (``RATELIMIT_LOGIN``) and five failures
  lock an account for 15 minutes (:mod:`geoservice.admin.accounts`).
* The write API: ``Authorization: Bearer TOKEN`` (tokens from ``flask users token`` or
  ``/admin``), or the session of a page, whose calls must then carry the CSRF token
  (``X-CSRFToken``) as a form would. 401 without either, 403 for a wrong role or town.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from geoservice.admin import Accounts, Journal, Reports, User, acting
from geoservice.admin.accounts import MAX_PASSWORD
from geoservice.admin.db import StaffDatabase, open_database, secret
from geoservice.errors import AccessError, LoginError

STAFF_KEY = "geoservice.staff"
bp = Blueprint("auth", __name__)
csrf = CSRFProtect()
# What errors name.
_AUTHORIZATION, _CSRF = "Authorization", "X-CSRFToken"


@dataclass
class Staff:
    """The app's staff database and what is kept in it."""

    db: StaffDatabase
    accounts: Accounts
    journal: Journal
    reports: Reports


def get_staff() -> Staff:
    """The staff database of the current app."""
    return current_app.extensions[STAFF_KEY]


class _Session(UserMixin):
    """A logged-in user as Flask-Login holds it."""

    def __init__(self, user: User) -> None:
        self.user = user

    def get_id(self) -> str:
        return f"{self.user.id}:{self.user.epoch}"


def _load(session_id: str) -> _Session | None:
    uid, _, epoch = session_id.partition(":")
    if not uid.isdigit() or not epoch.isdigit():
        return None
    user = get_staff().accounts.by_id(int(uid))
    if user is None or user.disabled or user.epoch != int(epoch):
        return None  # disabled, new password or role since: the session ends
    return _Session(user)


def session_user() -> User | None:
    """The user logged in on this browser session, or None."""
    return current_user.user if current_user.is_authenticated else None


def api_user() -> User:
    """The user a write API call is made by: its bearer token, or the page session (whose
    call must carry the CSRF token).

    Raises
    ------
    AccessError
        401 for a missing or invalid token (or no session), 400-like CSRF errors as 401.
    """
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        user = get_staff().accounts.user_for_token(token.strip())
        if scheme.lower() != "bearer" or user is None:
            zh, en = "令牌无效或已撤销", "the token is invalid or revoked"
            raise AccessError(_AUTHORIZATION, zh, en, status=401)
        return user
    user = session_user()
    if user is None:
        zh, en = "请先登录，或以 Authorization: Bearer 发送令牌", "log in, or send a bearer token"
        raise AccessError(_AUTHORIZATION, zh, en, status=401)
    try:
        if current_app.config.get("WTF_CSRF_ENABLED", True):
            csrf.protect()
    except CSRFError as exc:
        zh, en = "页面已过期，请刷新后再试（CSRF）", "the page has expired; reload it (CSRF)"
        raise AccessError(_CSRF, zh, en, status=401) from exc
    return user


def acting_as(user: User, via: str) -> Any:
    """Attribute the store writes of the block to ``user`` (``via``: page or api)."""
    return acting(user.name, via)


class LoginForm(FlaskForm):
    """The login form (CSRF-protected)."""

    name = StringField("用户名", validators=[DataRequired(), Length(max=40)])
    password = PasswordField("密码", validators=[DataRequired(), Length(max=MAX_PASSWORD)])


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of this site only (no open redirect)."""
    default = url_for("admin.index") if "admin.index" in current_app.view_functions else "/"
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(c) < 32 for c in target):
        return default
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    """The staff login page."""
    form = LoginForm()
    error: LoginError | None = None
    if form.validate_on_submit():
        try:
            user = get_staff().accounts.authenticate(form.name.data or "", form.password.data or "")
        except LoginError as exc:
            error = exc
        else:
            session.clear()  # a fresh session on login (no fixation)
            login_user(_Session(user))
            return redirect(_safe_next(request.args.get("next")))  # type: ignore[return-value]
    status = 401 if error else 200
    page = render_template("admin/login.html", form=form, error=error)
    return Response(page, status=status, mimetype="text/html")


@bp.post("/logout")
def logout() -> Response:
    """End the session (a form post: CSRF-protected)."""
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))  # type: ignore[return-value]


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, Secure whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


def init_app(app: Flask) -> None:
    """Staff database, sessions, CSRF protection, login routes."""
    staff = app.extensions[STAFF_KEY]
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = secret(staff.db)
    app.session_interface = _SessionInterface()
    proxies = int(app.config.get("PROXY_COUNT") or 0)
    if proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )
    manager = LoginManager(app)
    manager.user_loader(_load)
    manager.login_view = "auth.login"
    manager.login_message = "请先登录 / please log in"
    csrf.init_app(app)
    app.register_blueprint(bp)


def new_staff(location: str) -> Staff:
    """The staff database at ``location`` (a SQLite file, or a ``postgresql://`` URL) and
    its accounts, audit log and worker reports."""
    db = open_database(location)
    return Staff(db, Accounts(db), Journal(db), Reports(db))
