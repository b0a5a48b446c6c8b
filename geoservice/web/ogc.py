"""OGC API – Features at ``/ogc``: the HTTP adapter of :mod:`geoservice.ogc`.

Each route hands the request over as plain data — the service's base URL, the query string
as name → list of values, the format asked for (``f``, else the ``Accept`` header: a
browser gets pages, QGIS, OWSLib and ``curl`` JSON) — to one function of
:mod:`geoservice.ogc`, and sends the dict it returns as JSON (GeoJSON for features, with
``Content-Crs``) or as a page of ``templates/ogc/``. Reads are public.

Errors (:class:`~geoservice.errors.ParameterError`: a bad or unknown parameter, an unknown
collection or feature; routing misses too) are answered app-wide by
:mod:`geoservice.web.http_errors` with the one bilingual JSON error body, as under ``/api``,
for ``f=html`` too: an OGC client reads JSON, and the body names the parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request, url_for

from geoservice import maps, ogc
from geoservice.web import get_district, get_store

bp = Blueprint("ogc", __name__, url_prefix="/ogc")


def _base() -> str:
    """The service's URL as the client reached it (``http://host/ogc``): every link is
    absolute, as QGIS and OWSLib follow them."""
    return url_for("ogc.landing", _external=True).rstrip("/")


def _args() -> dict[str, list[str]]:
    return request.args.to_dict(flat=False)


def _format() -> str:
    """``json`` or ``html``: ``f``, else whether the client prefers a page (a browser's
    ``Accept``); ``*/*`` and no ``Accept`` mean JSON."""
    best = request.accept_mimetypes.best_match([ogc.JSON, ogc.GEOJSON, ogc.HTML], default=ogc.JSON)
    return ogc.output_format(_args(), best == ogc.HTML)


def _send(doc: Mapping[str, Any], fmt: str, media: str, template: str, **context: Any) -> Response:
    """``doc`` as ``media``, or as the page ``templates/ogc/<template>.html``."""
    if fmt == "html":
        query: dict[str, Any] = {**request.args.to_dict(flat=False), "f": "json"}
        json_href = url_for(request.endpoint or "ogc.landing", **(request.view_args or {}), **query)
        page = render_template(
            f"ogc/{template}.html", doc=doc, base=_base(), json_href=json_href, **context
        )
        return Response(page, mimetype="text/html")
    response = Response(current_app.json.dumps(doc), content_type=media)
    if media == ogc.GEOJSON:
        response.headers["Content-Crs"] = ogc.CONTENT_CRS
    return response


@bp.get("", strict_slashes=False)
def landing():
    """The landing page (``/ogc`` and ``/ogc/``: OWSLib asks for the latter)."""
    fmt = _format()
    return _send(ogc.landing(get_store(), _base(), fmt, _args()), fmt, ogc.JSON, "landing")


@bp.get("/conformance")
def conformance():
    """The conformance classes."""
    fmt = _format()
    return _send(ogc.conformance(_args()), fmt, ogc.JSON, "conformance")


@bp.get("/api")
def api():
    """The OpenAPI 3.0 description (``service-desc``), or its page (``service-doc``)."""
    fmt = _format()
    return _send(ogc.openapi(get_store(), _base(), _args()), fmt, ogc.OPENAPI, "api")


@bp.get("/collections")
def collections():
    """The collections."""
    fmt = _format()
    doc = ogc.collections(get_store(), _base(), fmt, _args())
    return _send(doc, fmt, ogc.JSON, "collections")


@bp.get("/collections/<collection_id>")
def collection(collection_id: str):
    """One collection: extent, CRS, links to its items and queryables."""
    fmt = _format()
    doc = ogc.collection(get_store(), _base(), collection_id, fmt, _args())
    return _send(doc, fmt, ogc.JSON, "collection")


@bp.get("/collections/<collection_id>/queryables")
def queryables(collection_id: str):
    """The properties a collection's items filter on, as JSON Schema."""
    fmt = _format()
    doc = ogc.queryables(get_store(), _base(), collection_id, fmt, _args())
    return _send(doc, fmt, ogc.SCHEMA_JSON, "queryables")


@bp.get("/collections/<collection_id>/items")
def items(collection_id: str):
    """A page of a collection's features (``bbox``, ``limit``, ``offset``, filters)."""
    fmt = _format()
    doc = ogc.items(get_store(), _base(), collection_id, fmt, _args())
    columns = ogc.COLLECTIONS[collection_id].columns
    rows = [_row(collection_id, f, columns) for f in doc["features"]]
    return _send(
        doc, fmt, ogc.GEOJSON, "items", columns=columns, rows=rows, **_named(collection_id)
    )


# The app's "id" converter (any path tail, registered by the API blueprint): a feature id is
# matched as stored, and one the router would not match still gets this API's JSON 404.
@bp.get("/collections/<collection_id>/items/<id:feature_id>")
def item(collection_id: str, feature_id: str):
    """One feature (404 when unknown)."""
    fmt = _format()
    doc = ogc.item(get_store(), _base(), collection_id, feature_id, fmt, _args())
    fields = [(key, _cell(value)) for key, value in (doc["properties"] or {}).items()]
    return _send(doc, fmt, ogc.GEOJSON, "item", fields=fields, **_named(collection_id))


# -- pages ---------------------------------------------------------------------------------


def _named(collection_id: str) -> dict[str, str]:
    """The collection of a feature page: its id and title."""
    title, _ = ogc.COLLECTIONS[collection_id].words(get_district())
    return {"collection_id": collection_id, "title": title}


def _cell(value: object) -> str:
    """A property as the pages show it (the template escapes it)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list | tuple):
        return "、".join(_cell(v) for v in value)
    return str(value)


def _row(collection_id: str, feature: Mapping[str, Any], columns: Mapping[str, str]) -> dict:
    """A feature as a row of the items page: its page's URL and the columns' values, long
    values cut (the feature's own page shows them whole)."""
    props = feature["properties"] or {}
    href = url_for("ogc.item", collection_id=collection_id, feature_id=str(feature["id"]), f="html")
    return {
        "href": href,
        "cells": [maps.clip(_cell(props.get(key)), maps.NAME_DISPLAY_MAX) for key in columns],
        "located": feature["geometry"] is not None,
    }
