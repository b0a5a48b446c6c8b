"""OGC API – Features (Part 1: Core, OGC 17-069r4), read-only, over the store.

The stations, sites, towns and the district boundary as four feature collections, the way
pygeoapi serves a provider: a landing page, the conformance classes, an OpenAPI 3.0
description, the collections with their extents and queryables, and their items as GeoJSON,
paged with ``limit``/``offset`` and ``next``/``prev`` links, filtered by ``bbox`` and by
equality on the collection's queryable properties (``?kind=warm_station&town_code=…``).
QGIS (数据源管理器 → WFS / OGC API – Features) and OWSLib read it as they read any server.

Framework-free, as :mod:`geoservice.service`: the web adapter (:mod:`geoservice.web.ogc`)
hands over the service's base URL (``http://host/ogc``), the query string as name → list
of values and the output format (:func:`output_format`: ``f``, else the ``Accept`` header),
and sends the dict returned as JSON or as a page. Parameters are declared
(:class:`ItemsQuery`, one queryables declaration per collection) and read by
:mod:`geoservice.params`; a bad value, an unknown parameter or collection raise
:class:`~geoservice.errors.ParameterError` (400, 404). The features are the catalogue's
(:mod:`geoservice.store.catalog`: a station is the one station record,
:meth:`geoservice.model.Station.record`); the boundary is the district profile's.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
import shapely.geometry

from geoservice import __version__, district
from geoservice import params as p
from geoservice.errors import ParameterError, excerpt
from geoservice.model import COORD_SOURCES, SITE_KINDS, SOURCES, STATION_KINDS
from geoservice.service import Args
from geoservice.store import Store, catalog

__all__ = [
    "COLLECTIONS",
    "CONFORMANCE",
    "CONTENT_CRS",
    "CRS84",
    "FORMATS",
    "GEOJSON",
    "HTML",
    "JSON",
    "LIMIT_DEFAULT",
    "LIMIT_MAX",
    "OFFSET_MAX",
    "OPENAPI",
    "SCHEMA_JSON",
    "Collection",
    "ItemsQuery",
    "collection",
    "collections",
    "conformance",
    "item",
    "items",
    "landing",
    "openapi",
    "output_format",
    "queryables",
]

#: WGS84 longitude/latitude, the one CRS of every answer (and of the store).
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
#: The ``Content-Crs`` header of the feature answers.
CONTENT_CRS = f"<{CRS84}>"
GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA_JSON = "application/schema+json"

_CONF = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
#: The conformance classes of Part 1 this service implements.
CONFORMANCE = tuple(_CONF + c for c in ("core", "oas30", "html", "geojson"))

#: ``f``: the output formats, with the Chinese names the parameter accepts too.
FORMATS = {"json": "JSON", "html": "网页"}
#: Features per page unless ``limit`` says; larger limits are cut to `LIMIT_MAX` (the
#: standard lets a server do so: the page's ``numberReturned`` and ``next`` link say it).
LIMIT_DEFAULT = 10
LIMIT_MAX = 1000
#: Largest ``offset`` accepted.
OFFSET_MAX = 10**7

_REL = "http://www.opengis.net/def/rel/ogc/1.0/"
_ITEMS_TITLE = {JSON: "要素（GeoJSON）", HTML: "要素（网页）"}


# -- parameters ----------------------------------------------------------------------------


def _format() -> Any:
    return p.param(
        p.read_choice(FORMATS),
        "output format: json or html (default: by the Accept header, else json)",
        default=None,
        example="json",
    )


@dataclass(frozen=True)
class FormatQuery:
    """``f``, the one parameter of every answer but the items."""

    f: str | None = _format()


def _read_bbox(raw: object, name: str, default: object) -> tuple[float, ...]:
    """``bbox=minlon,minlat,maxlon,maxlat`` in CRS84: four finite numbers, the minimums not
    above the maximums (a box across the antimeridian is no use in one district)."""
    fits = isinstance(raw, str) and len(raw) <= 4 * (p.MAX_NUMBER_CHARS + 1)
    parts = raw.split(",") if fits and isinstance(raw, str) else []
    if len(parts) != 4:
        raise ParameterError(
            name,
            f"{name} 应为 4 个数：最小经度,最小纬度,最大经度,最大纬度，而不是 {excerpt(raw)}",
            f"{name} must be four numbers minlon,minlat,maxlon,maxlat, not {excerpt(raw)}",
        )
    west, east = (p.number(parts[i], name, -180, 180) for i in (0, 2))
    south, north = (p.number(parts[i], name, -90, 90) for i in (1, 3))
    if west > east or south > north:
        raise ParameterError(
            name,
            f"{name} 的最小值不能大于最大值：{excerpt(raw)}",
            f"{name} must give its minimums before its maximums: {excerpt(raw)}",
        )
    return (west, south, east, north)


def _read_limit(raw: object, name: str, default: object) -> int:
    # Above LIMIT_MAX is not an error: the page is cut (17-069r4, /req/core/fc-limit-response).
    return min(p.integer(raw, name, 1, 10**p.MAX_INT_DIGITS - 1), LIMIT_MAX)


_BBOX_SCHEMA = {
    "type": "array",
    "minItems": 4,
    "maxItems": 4,
    "items": {"type": "number", "minimum": -180, "maximum": 180},
}
# A limit above the maximum is not an error (see _read_limit): QGIS takes its page size from
# this maximum and default.
_LIMIT_SCHEMA = {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX, "default": LIMIT_DEFAULT}


def _crs(description: str, name: str) -> Any:
    return p.param(p.read_choice((CRS84,)), description, default=CRS84, example=CRS84, name=name)


@dataclass(frozen=True)
class ItemsQuery:
    """``GET /collections/{collectionId}/items``: the page, the box and the format (each
    collection's property filters are declared beside it: :attr:`Collection.queryables`)."""

    bbox: tuple[float, ...] | None = p.param(
        p.Reader(_read_bbox, _BBOX_SCHEMA),
        "features intersecting minlon,minlat,maxlon,maxlat (CRS84)",
        default=None,
        example=[116.8, 40.3, 116.9, 40.4],
    )
    limit: int = p.param(
        p.Reader(_read_limit, _LIMIT_SCHEMA),
        f"features per page (default {LIMIT_DEFAULT}; more than {LIMIT_MAX} is cut to {LIMIT_MAX})",
        default=LIMIT_DEFAULT,
        example=LIMIT_DEFAULT,
    )
    offset: int = p.param(
        p.read_integer(0, OFFSET_MAX),
        "features to skip (the next link carries it)",
        default=0,
        example=0,
    )
    crs: str = _crs("CRS of the answer: CRS84 only", "crs")
    bbox_crs: str = _crs("CRS of bbox: CRS84 only", "bbox-crs")
    f: str | None = _format()


def _equal(reader: p.Reader, description: str, example: object) -> Any:
    return p.param(
        reader,
        f"{description} (features whose {description} equals this)",
        default=None,
        example=example,
    )


def _code(description: str, example: str) -> Any:
    return _equal(p.read_text(p.MAX_ITEM_CHARS), description, example)


@dataclass(frozen=True)
class StationQueryables:
    """The station properties ``items`` filters on (equality)."""

    kind: str | None = _equal(p.read_choice(STATION_KINDS), "kind", "warm_station")
    town_code: str | None = _code("town code", "110118001")
    source: str | None = _equal(p.read_choice(SOURCES), "source", "import")
    open_now: bool | None = _equal(p.read_flag(), "open status now", "true")


@dataclass(frozen=True)
class SiteQueryables:
    """The site properties ``items`` filters on (equality)."""

    kind: str | None = _equal(p.read_choice(SITE_KINDS), "kind", "village")
    town_code: str | None = _code("town code", "110118001")
    coord_source: str | None = _equal(p.read_choice(COORD_SOURCES), "coordinate source", "sample")
    source: str | None = _equal(p.read_choice(SOURCES), "source", "official")


@dataclass(frozen=True)
class TownQueryables:
    """The town properties ``items`` filters on (equality)."""

    kind: str | None = _code("kind (town, subdistrict, …)", "town")
    coord_source: str | None = _code("seat's coordinate source", "geonames")


@dataclass(frozen=True)
class BoundaryQueryables:
    """The boundary is one feature: nothing to filter on."""


# -- the collections -----------------------------------------------------------------------


def _boundary(store: Store) -> list[dict]:
    """The district boundary as one feature: the profile's outline and words."""
    profile = district.current(store)
    geometry = shapely.geometry.mapping(profile.boundary)
    return [
        {
            "type": "Feature",
            "id": profile.code,
            "geometry": geometry,
            "properties": profile.words(),
        }
    ]


@dataclass(frozen=True)
class Collection:
    """A feature collection of the service.

    Attributes
    ----------
    id : str
        Its ``collectionId``.
    title, description : str
        In Chinese, then English; ``{name}``, ``{org}``, ``{name_en}`` … are the district
        profile's words, ``{boundary_label}`` its boundary's name.
    features : callable
        The store → every feature (GeoJSON dicts with ids), in the store's order.
    queryables : type
        The declaration of the properties ``items`` filters on (equality).
    columns : mapping
        Property → Chinese heading, for the page of the items.
    """

    id: str
    title: str
    description: str
    features: Callable[[Store], list[dict]]
    queryables: type
    columns: Mapping[str, str]

    def words(self, profile: district.District) -> tuple[str, str]:
        """Its title and description in the district's words."""
        words = {**profile.words(), "boundary_label": profile.boundary_label}
        return self.title.format(**words), self.description.format(**words)


#: The collections, in the order they are listed.
COLLECTIONS: dict[str, Collection] = {
    c.id: c
    for c in (
        Collection(
            "stations",
            "暖心驿站与职工之家",
            "{name}的暖心驿站、职工之家、公共区域职工之家和大篷车基地，营业状态按请求时刻计算 / "
            "Warm stations, worker homes and caravan bases of {name_en}, open status at the "
            "time of the request",
            lambda store: catalog.stations_geojson(store)["features"],
            StationQueryables,
            {
                "id": "编号",
                "name": "名称",
                "kind_label": "类型",
                "town": "乡镇街道",
                "address": "地址",
                "status": "营业状态",
                "phone": "电话",
            },
        ),
        Collection(
            "sites",
            "村、社区与水库保护点",
            "{org}大篷车服务的村、社区和水库保护点；尚无坐标的没有几何 / Villages, "
            "communities and reservoir sites the caravan of {org_en} serves; those without "
            "coordinates have null geometry",
            lambda store: catalog.sites_geojson(store)["features"],
            SiteQueryables,
            {
                "id": "编号",
                "name": "名称",
                "kind_label": "类型",
                "town": "乡镇街道",
                "official_name": "正式名称",
                "coord_source": "坐标来源",
            },
        ),
        Collection(
            "towns",
            "乡镇与街道",
            "{name}的乡镇、街道（统计用区划代码），有驻地坐标的带点位 / Towns and "
            "subdistricts of {name_en} with their codes, and seat points where known",
            lambda store: catalog.towns_geojson(store)["features"],
            TownQueryables,
            {"code": "代码", "name": "名称", "kind": "类型", "coord_source": "坐标来源"},
        ),
        Collection(
            "boundary",
            "{boundary_label}",
            "{name}的行政区界（一个要素） / The boundary of {name_en} (one feature)",
            _boundary,
            BoundaryQueryables,
            {"code": "代码", "name": "名称", "name_en": "英文名", "org": "机构"},
        ),
    )
}


def _collection_of(collection_id: str) -> Collection:
    """The collection named in the path (404 when there is none)."""
    found = COLLECTIONS.get(collection_id)
    if found is None:
        shown, name = excerpt(collection_id), "collectionId"
        raise ParameterError(
            name,
            f"没有名为 {shown} 的数据集；可用：{'、'.join(COLLECTIONS)}",
            f"no collection {shown}; there are {', '.join(COLLECTIONS)}",
            status=404,
        )
    return found


# -- arguments and links -------------------------------------------------------------------


def _known(args: Args, *declarations: type) -> None:
    """Refuse a parameter none of ``declarations`` has (17-069r4, /req/core/query-param-
    unknown: a misspelt filter must not silently return everything)."""
    names = [prm.name for d in declarations for prm in p.parameters(d)]
    p.require_object(dict(args), "query", names)


def output_format(args: Args, prefers_html: bool) -> str:
    """The format asked for: ``f`` (``json``/``html``), else the client's ``Accept``
    preference (``prefers_html``), else ``json``.

    Raises
    ------
    ParameterError
        ``f`` is neither.
    """
    asked = p.parse_query(FormatQuery, args).f
    return asked or ("html" if prefers_html else "json")


def _url(base: str, path: str, query: Mapping[str, object] | None = None) -> str:
    return base + path + ("?" + urllib.parse.urlencode(query, safe=",") if query else "")


def _link(href: str, rel: str, media: str, title: str) -> dict[str, str]:
    return {"href": href, "rel": rel, "type": media, "title": title}


def _self_links(
    base: str, path: str, fmt: str, media: str, query: Mapping[str, object] | None = None
) -> list[dict[str, str]]:
    """``self`` in the format answered, ``alternate`` in the other one (``f`` explicit, so
    that a link means the same whatever the client's ``Accept``)."""
    query = dict(query or {})
    json_link = _url(base, path, {**query, "f": "json"})
    html_link = _url(base, path, {**query, "f": "html"})
    here, there = (json_link, html_link) if fmt == "json" else (html_link, json_link)
    return [
        _link(here, "self", media if fmt == "json" else HTML, "本页"),
        _link(there, "alternate", HTML if fmt == "json" else media, "其他格式"),
    ]


def _timestamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- landing, conformance, collections -----------------------------------------------------


def _service_words(store: Store) -> tuple[str, str]:
    profile = district.current(store)
    title = f"{profile.org} · 暖心驿站与职工之家数据服务"
    description = (
        f"{profile.name}的暖心驿站、职工之家、村社区、乡镇街道和区界，按 OGC API – Features "
        f"标准只读提供 / Warm stations, worker homes, villages, towns and the boundary of "
        f"{profile.name_en} as OGC API – Features (read-only), by {profile.org_en}"
    )
    return title, description


def landing(store: Store, base: str, fmt: str, args: Args) -> dict[str, Any]:
    """``GET /``: the landing page, titled in the district's words."""
    _known(args, FormatQuery)
    title, description = _service_words(store)
    links = [
        *_self_links(base, "", fmt, JSON),
        _link(base + "/api", "service-desc", OPENAPI, "OpenAPI 3.0 接口描述"),
        _link(base + "/api?f=html", "service-doc", HTML, "接口说明"),
        _link(base + "/conformance", "conformance", JSON, "符合的标准类"),
        _link(base + "/conformance", _REL + "conformance", JSON, "符合的标准类"),
        _link(base + "/collections", "data", JSON, "数据集"),
        _link(base + "/collections", _REL + "data", JSON, "数据集"),
    ]
    return {"title": title, "description": description, "links": links}


def conformance(args: Args) -> dict[str, Any]:
    """``GET /conformance``: the conformance classes implemented."""
    _known(args, FormatQuery)
    return {"conformsTo": list(CONFORMANCE)}


def _bounds(features: Sequence[Mapping[str, Any]]) -> list[float] | None:
    """The box of every geometry of ``features``, None when none has one."""
    geometries = [shapely.geometry.shape(f["geometry"]) for f in features if f["geometry"]]
    if not geometries:
        return None
    bounds = shapely.total_bounds(np.asarray(geometries, dtype=object))
    return [float(v) for v in bounds] if np.isfinite(bounds).all() else None


def _describe(store: Store, base: str, coll: Collection, fmt: str, *, top: bool) -> dict[str, Any]:
    """A collection's description; ``top``: as ``GET /collections/{id}`` answers it (with
    ``self``/``alternate``), else as an entry of ``GET /collections``."""
    profile = district.current(store)
    title, description = coll.words(profile)
    path = f"/collections/{coll.id}"
    links = (
        _self_links(base, path, fmt, JSON)
        if top
        else [_link(_url(base, path, {"f": "json"}), "self", JSON, title)]
    )
    links += [
        _link(_url(base, path + "/items", {"f": "json"}), "items", GEOJSON, _ITEMS_TITLE[JSON]),
        _link(_url(base, path + "/items", {"f": "html"}), "items", HTML, _ITEMS_TITLE[HTML]),
        _link(base + path + "/queryables", _REL + "queryables", SCHEMA_JSON, "可筛选属性"),
    ]
    # An empty collection has no extent of its own: the district's stands for it.
    bbox = _bounds(coll.features(store)) or list(profile.bounds)
    return {
        "id": coll.id,
        "title": title,
        "description": description,
        "links": links,
        "extent": {"spatial": {"bbox": [bbox], "crs": CRS84}},
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
    }


def collections(store: Store, base: str, fmt: str, args: Args) -> dict[str, Any]:
    """``GET /collections``: every collection with its extent and links."""
    _known(args, FormatQuery)
    return {
        "links": _self_links(base, "/collections", fmt, JSON),
        "collections": [_describe(store, base, c, fmt, top=False) for c in COLLECTIONS.values()],
    }


def collection(store: Store, base: str, collection_id: str, fmt: str, args: Args) -> dict:
    """``GET /collections/{collectionId}`` (404 for an unknown collection)."""
    coll = _collection_of(collection_id)
    _known(args, FormatQuery)
    return _describe(store, base, coll, fmt, top=True)


def queryables(store: Store, base: str, collection_id: str, fmt: str, args: Args) -> dict[str, Any]:
    """``GET /collections/{collectionId}/queryables``: the JSON Schema of the properties
    ``items`` filters on, titled in Chinese (OGC API – Features Part 3's form)."""
    coll = _collection_of(collection_id)
    _known(args, FormatQuery)
    title, _ = coll.words(district.current(store))
    path = f"/collections/{coll.id}/queryables"
    properties = {
        prm.name: {
            "title": _QUERYABLE_TITLES.get(prm.name, prm.name),
            "description": prm.description,
            **prm.json_schema(),
        }
        for prm in p.parameters(coll.queryables)
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": base + path,
        "type": "object",
        "title": title,
        "properties": properties,
        "additionalProperties": False,
        "links": _self_links(base, path, fmt, SCHEMA_JSON),
    }


_QUERYABLE_TITLES = {
    "kind": "类型",
    "town_code": "乡镇街道代码",
    "source": "数据来源",
    "open_now": "当前营业",
    "coord_source": "坐标来源",
}


# -- items ---------------------------------------------------------------------------------


def _filters(coll: Collection, args: Args) -> dict[str, object]:
    """The property filters given: property → the value it must equal."""
    wanted: object = p.parse_query(coll.queryables, args)
    return {
        prm.name: getattr(wanted, field)
        for field, prm in p.declared(coll.queryables)
        if isinstance(prm, p.Param) and getattr(wanted, field) is not None
    }


def _matching(
    features: list[dict], equal: Mapping[str, object], bbox: Sequence[float] | None
) -> list[dict]:
    """The features whose properties equal ``equal`` and whose geometry meets ``bbox``
    (none without a geometry)."""
    kept = [f for f in features if all(f["properties"].get(k) == v for k, v in equal.items())]
    if bbox is None:
        return kept
    geometries = np.asarray(
        [shapely.geometry.shape(f["geometry"]) if f["geometry"] else None for f in kept],
        dtype=object,
    )
    inside = shapely.intersects(geometries, shapely.box(*bbox)) if len(kept) else []
    return [f for f, hit in zip(kept, inside, strict=True) if hit]


def _query_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(repr(float(v)) for v in value)
    return str(value)


def _page_links(
    base: str, path: str, fmt: str, query: Mapping[str, str], matched: int, page: ItemsQuery
) -> list[dict[str, str]]:
    """``self``/``alternate`` of this page, ``next`` while features remain, ``prev``
    after the first page; every link with the page's filters."""
    here = {**query, "limit": page.limit, "offset": page.offset}
    links = _self_links(base, path, fmt, GEOJSON, here)
    media = GEOJSON if fmt == "json" else HTML
    if page.offset + page.limit < matched:
        after = {**query, "limit": page.limit, "offset": page.offset + page.limit, "f": fmt}
        links.append(_link(_url(base, path, after), "next", media, "下一页"))
    if page.offset > 0:
        before = {
            **query,
            "limit": page.limit,
            "offset": max(0, page.offset - page.limit),
            "f": fmt,
        }
        links.append(_link(_url(base, path, before), "prev", media, "上一页"))
    links.append(
        _link(_url(base, path.rsplit("/", 1)[0], {"f": "json"}), "collection", JSON, "数据集")
    )
    return links


def items(store: Store, base: str, collection_id: str, fmt: str, args: Args) -> dict[str, Any]:
    """``GET /collections/{collectionId}/items``: one page of the matching features as a
    GeoJSON FeatureCollection with ``numberMatched``, ``numberReturned``, ``timeStamp``
    and the paging links.

    Parameters: :class:`ItemsQuery` and the collection's queryables (equality); any other
    parameter is refused.
    """
    coll = _collection_of(collection_id)
    _known(args, ItemsQuery, coll.queryables)
    page = p.parse_query(ItemsQuery, args)
    equal = _filters(coll, args)
    matched = _matching(coll.features(store), equal, page.bbox)
    shown = matched[page.offset : page.offset + page.limit]
    query = {k: _query_text(v) for k, v in equal.items()}
    if page.bbox is not None:
        query["bbox"] = _query_text(page.bbox)
    path = f"/collections/{coll.id}/items"
    return {
        "type": "FeatureCollection",
        "features": shown,
        "numberMatched": len(matched),
        "numberReturned": len(shown),
        "timeStamp": _timestamp(),
        "links": _page_links(base, path, fmt, query, len(matched), page),
    }


def item(
    store: Store, base: str, collection_id: str, feature_id: str, fmt: str, args: Args
) -> dict[str, Any]:
    """``GET /collections/{collectionId}/items/{featureId}``: one feature (404 when the
    collection or the feature is unknown)."""
    coll = _collection_of(collection_id)
    _known(args, FormatQuery)
    wanted = p.identifier(feature_id, "featureId")
    found = next((f for f in coll.features(store) if str(f["id"]) == wanted), None)
    if found is None:
        shown, name = excerpt(feature_id), "featureId"
        raise ParameterError(
            name,
            f"数据集 {coll.id} 中没有编号为 {shown} 的要素",
            f"no feature {shown} in the collection {coll.id}",
            status=404,
        )
    path = f"/collections/{coll.id}/items/{urllib.parse.quote(wanted, safe='')}"
    links = [
        *_self_links(base, path, fmt, GEOJSON),
        _link(_url(base, f"/collections/{coll.id}", {"f": "json"}), "collection", JSON, "数据集"),
    ]
    return {**found, "links": links, "timeStamp": _timestamp()}


# -- the OpenAPI description ---------------------------------------------------------------

_OA_REF = "#/components/"


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"{_OA_REF}{kind}/{name}"}


def _oa_parameter(prm: p.Param, location: str = "query") -> dict[str, Any]:
    """A declared parameter (:mod:`geoservice.params`) as an OpenAPI 3.0 parameter."""
    out: dict[str, Any] = {
        "name": prm.name,
        "in": location,
        "required": location == "path",
        "description": prm.description,
        "schema": prm.text_schema(),
    }
    if prm.name == "bbox":  # one comma-separated value, as the standard writes it
        out.update(style="form", explode=False)
    if prm.example is not None:
        out["example"] = prm.example
    return out


def _answer(description: str, media: str, schema: str) -> dict[str, Any]:
    """A 200 answer in ``media`` (its schema a component) or as a page."""
    return {
        "description": description,
        "content": {
            media: {"schema": _ref("schemas", schema)},
            HTML: {"schema": {"type": "string"}},
        },
    }


def _operation(
    summary: str,
    ok: dict[str, Any],
    parameters: Sequence[dict[str, Any]] = (),
    *,
    found: bool = False,
) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": ok, "400": _ref("responses", "BadRequest")}
    if found:
        responses["404"] = _ref("responses", "NotFound")
    return {
        "get": {
            "summary": summary,
            "parameters": [*parameters, _ref("parameters", "f")],
            "responses": responses,
        }
    }


def _collection_paths(coll: Collection, profile: district.District) -> dict[str, Any]:
    title, _ = coll.words(profile)
    path = f"/collections/{coll.id}"
    filters = [
        _oa_parameter(prm)
        for prm in [*p.parameters(ItemsQuery), *p.parameters(coll.queryables)]
        if prm.name != "f"
    ]
    feature_id = {
        "name": "featureId",
        "in": "path",
        "required": True,
        "description": "the feature's id",
        "schema": {"type": "string", "minLength": 1},
    }
    return {
        path: _operation(f"{title}：数据集描述", _answer("the collection", JSON, "collection")),
        path + "/queryables": _operation(
            f"{title}：可筛选属性",
            _answer("JSON Schema of the queryables", SCHEMA_JSON, "queryables"),
        ),
        path + "/items": _operation(
            f"{title}：要素",
            _answer("a page of features", GEOJSON, "featureCollectionGeoJSON"),
            filters,
        ),
        path + "/items/{featureId}": _operation(
            f"{title}：单个要素",
            _answer("one feature", GEOJSON, "featureGeoJSON"),
            [feature_id],
            found=True,
        ),
    }


def _link_schema() -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "type": "object",
        "required": ["href", "rel"],
        "properties": {"href": text, "rel": text, "type": text, "title": text},
    }


def _schemas() -> dict[str, Any]:
    """The component schemas: the answers' shapes (OpenAPI 3.0: ``nullable``, no type
    lists)."""
    links = {"type": "array", "items": _ref("schemas", "link")}
    text = {"type": "string"}
    count = {"type": "integer", "minimum": 0}
    bbox = {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}}
    return {
        "link": _link_schema(),
        "landingPage": {
            "type": "object",
            "required": ["links"],
            "properties": {"title": text, "description": text, "links": links},
        },
        "confClasses": {
            "type": "object",
            "required": ["conformsTo"],
            "properties": {"conformsTo": {"type": "array", "items": text}},
        },
        "collection": {
            "type": "object",
            "required": ["id", "links"],
            "properties": {
                "id": text,
                "title": text,
                "description": text,
                "links": links,
                "extent": {
                    "type": "object",
                    "properties": {
                        "spatial": {
                            "type": "object",
                            "properties": {
                                "bbox": {"type": "array", "minItems": 1, "items": bbox},
                                "crs": text,
                            },
                        }
                    },
                },
                "itemType": text,
                "crs": {"type": "array", "items": text},
                "storageCrs": text,
            },
        },
        "collections": {
            "type": "object",
            "required": ["links", "collections"],
            "properties": {
                "links": links,
                "collections": {"type": "array", "items": _ref("schemas", "collection")},
            },
        },
        "queryables": {"type": "object", "required": ["properties"]},
        "featureGeoJSON": {
            "type": "object",
            "required": ["type", "geometry", "properties"],
            "properties": {
                "type": {"type": "string", "enum": ["Feature"]},
                "id": {"oneOf": [text, {"type": "integer"}]},
                "geometry": {"type": "object", "nullable": True},
                "properties": {"type": "object", "nullable": True},
                "links": links,
            },
        },
        "featureCollectionGeoJSON": {
            "type": "object",
            "required": ["type", "features"],
            "properties": {
                "type": {"type": "string", "enum": ["FeatureCollection"]},
                "features": {"type": "array", "items": _ref("schemas", "featureGeoJSON")},
                "links": links,
                "timeStamp": {"type": "string", "format": "date-time"},
                "numberMatched": count,
                "numberReturned": count,
            },
        },
        "exception": {
            "type": "object",
            "description": "the service's one error body, in Chinese and English",
            "required": ["error", "message_zh", "message_en", "parameter", "status"],
            "properties": {
                "error": text,
                "message_zh": text,
                "message_en": text,
                "parameter": {"type": "string", "nullable": True},
                "status": {"type": "integer"},
            },
        },
    }


def openapi(store: Store, base: str, args: Args) -> dict[str, Any]:
    """``GET /api``: the OpenAPI 3.0 description of this service (the ``service-desc``);
    the items' parameters come from their declarations."""
    _known(args, FormatQuery)
    profile = district.current(store)
    title, description = _service_words(store)
    paths: dict[str, Any] = {
        "/": _operation("首页（landing page）", _answer("the landing page", JSON, "landingPage")),
        "/conformance": _operation(
            "符合的标准类", _answer("the conformance classes", JSON, "confClasses")
        ),
        "/api": _operation("本接口描述", _answer("this document", OPENAPI, "openapi")),
        "/collections": _operation("数据集", _answer("the collections", JSON, "collections")),
    }
    for coll in COLLECTIONS.values():
        paths.update(_collection_paths(coll, profile))
    error = {"content": {JSON: {"schema": _ref("schemas", "exception")}}}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": title,
            "description": description,
            "version": __version__,
            "contact": {"name": profile.org},
        },
        "servers": [{"url": base}],
        "paths": paths,
        "components": {
            "parameters": {"f": _oa_parameter(p.parameters(FormatQuery)[0])},
            "schemas": {**_schemas(), "openapi": {"type": "object"}},
            "responses": {
                "BadRequest": {"description": "a bad or unknown parameter", **error},
                "NotFound": {"description": "no such collection or feature", **error},
            },
        },
    }
