"""The Flask adapter: an app factory, blueprints and CLI commands over the library.

Nothing here computes anything the library cannot: routes parse parameters, call
:mod:`geoservice.catalog` / :mod:`geoservice.maps`, and format the answer.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from geoservice.basedata import DEFAULT_GPKG
from geoservice.store import GpkgStore, Store

STORE_KEY = "geoservice.store"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Create the geoservice Flask app.

    Parameters
    ----------
    config : dict, optional
        Overrides, e.g. ``{"TESTING": True, "STORE_PATH": "/tmp/x.gpkg"}``. Otherwise the
        instance folder's ``config.py`` and ``GEOSERVICE_*`` environment variables apply.

    Configuration keys
    ------------------
    STORE_PATH
        Live GeoPackage (default ``<instance>/geoservice.gpkg``), seeded from ``SEED_PATH``
        (default the shipped ``data/miyun.gpkg``) on first start.
    TILES
        Basemap for the maps: ``"osm"`` (default), ``""`` for none (fully offline), or
        ``"URL-template|attribution"``.
    """
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        STORE_PATH=None,
        SEED_PATH=str(DEFAULT_GPKG),
        TILES="osm",
        JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=32 * 1024 * 1024,
    )
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("GEOSERVICE")
    if config:
        app.config.from_mapping(config)
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    if not app.config["STORE_PATH"]:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        app.config["STORE_PATH"] = os.path.join(app.instance_path, "geoservice.gpkg")
    app.extensions[STORE_KEY] = GpkgStore(app.config["STORE_PATH"], seed=app.config["SEED_PATH"])

    from geoservice.web import api, cli, pages

    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    cli.register(app)
    return app


def get_store() -> Store:
    """The store of the current app."""
    return current_app.extensions[STORE_KEY]
