"""HTML pages: the district map at ``/``."""

from __future__ import annotations

import threading
import time

from flask import Blueprint, Response, current_app, url_for

from geoservice import maps
from geoservice.web import get_store

bp = Blueprint("pages", __name__)

_cache: dict[tuple, str] = {}
_cache_lock = threading.Lock()


def _header() -> str:
    api = url_for("api.stations")
    return (
        '<div class="geoservice-header" style="position:fixed;top:10px;left:54px;z-index:1000;'
        "background:rgba(255,255,255,.94);border-radius:6px;padding:6px 12px;"
        'box-shadow:0 1px 4px rgba(0,0,0,.3);font-size:14px">'
        "<b>密云区总工会 · 暖心驿站与职工之家</b>"
        f' <a href="{api}" style="margin-left:8px;font-size:12px">GeoJSON</a></div>'
    )


@bp.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for /favicon.ico whatever the page says."""
    return current_app.send_static_file("favicon.svg")


@bp.get("/")
def index() -> Response:
    """The district map: boundary, reservoir, stations by kind, sites, layer control.

    Rendered once per store revision and minute (open-now badges change with time).
    """
    store = get_store()
    key = (store.location(), store.revision(), int(time.time() // 60))
    with _cache_lock:
        page = _cache.get(key)
    if page is None:
        m = maps.overview_map(
            store,
            tiles=current_app.config["TILES"] or None,
            asset_url=url_for("static", filename="vendor").rstrip("/"),
        )
        page = maps.render(m, header=_header(), icon=url_for("static", filename="favicon.svg"))
        with _cache_lock:
            _cache.clear()
            _cache[key] = page
    return Response(page, mimetype="text/html")
