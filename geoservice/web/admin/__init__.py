"""``/admin``, the back office: staff keep stations and sites, files, users and the audit log.

One blueprint, a module per part: :mod:`.records` (stations and sites: list, add, edit,
move, delete, restore), :mod:`.files` (spreadsheet import and export), :mod:`.log` (the audit
log: view, filter, CSV, revert), :mod:`.reports` (workers' reports), :mod:`.users`
(accounts and API tokens, admins only), :mod:`.jobs` (the job queue, admins only). Every
page needs a login (:func:`staff_required`); every change is made through the library
(:mod:`geoservice.store.records`, :mod:`geoservice.store.catalog`) as the logged-in user,
by ``page``, so that it lands in the audit log and takes effect in every answer at once
(the store's revision). Pages are zh-Hans, work on a phone, and load nothing from elsewhere
(Leaflet from ``/static/vendor``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)

from geoservice.admin import User
from geoservice.web.auth import acting_as, session_user

bp = Blueprint("admin", __name__, url_prefix="/admin")

F = TypeVar("F", bound=Callable[..., Any])


def staff_required(view: F) -> F:
    """A page for logged-in staff: others are sent to the login page (and back after)."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if session_user() is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def admin_required(view: F) -> F:
    """A page for admins only (403 for other staff)."""

    @functools.wraps(view)
    @staff_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not user().is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def user() -> User:
    """The logged-in user of a :func:`staff_required` page."""
    found = session_user()
    if found is None:  # only reached through staff_required
        abort(401)
    return found


def as_page() -> Any:
    """Attribute the store writes of the block to the logged-in user, by ``page``."""
    return acting_as(user(), "page")


def page(template: str, status: int = 200, **context: Any) -> Response:
    """A back-office page: ``template`` (extending ``admin/_layout.html``) with the user."""
    endpoints = {e for e in current_app.view_functions if e.startswith("admin.")}
    html = render_template(template, user=user(), admin_endpoints=endpoints, **context)
    return Response(html, status=status, mimetype="text/html")


@bp.get("/")
@staff_required
def index() -> Response:
    """The back office's start: the station list."""
    return redirect(url_for("admin.stations"))  # type: ignore[return-value]


#: The parts of the back office, each a module adding its pages to ``bp``.
PARTS = ("records", "files", "log", "reports", "users", "jobs")


def init_app(app: Any) -> None:
    """Register the back office and its parts (each module adds its routes to ``bp``)."""
    import importlib

    for part in PARTS:
        importlib.import_module(f"geoservice.web.admin.{part}")
    app.register_blueprint(bp)
