"""The OpenAPI 3.1 description of the JSON API, served at ``/api/openapi.json``.

Parameter schemas say what :mod:`geoservice.params` accepts (enums, bounds, patterns); the
parser is at most more lenient (case-insensitive names, Chinese labels, aliases such as
``crs=amap``, comma-separated lists). Every operation has a full response schema for every
status it really answers, so that ``tests/test_schemathesis.py`` checks the answers and not
only the status codes. The response schemas are generated (:mod:`geoservice.web.jsonschema`)
from the answers' declarations in :mod:`geoservice.responses`, the types the code that
builds them returns:

* every object the service builds itself is closed (``additionalProperties: false``): a
  field added in code without being declared fails the schemathesis run (and mypy, where
  the builder returns the declared type);
* response schemas are strict about structure and types, but not about the vocabularies of
  *stored* values (a station's ``kind``, a site's ``coord_source``): the store may be edited
  outside the app (QGIS) and the API reports what is stored. Values the code guarantees
  (``amenities`` filtered to the vocabulary, ``mode``, ``crs``) are enums;
* this document itself is an open object.
"""

from __future__ import annotations

from collections.abc import Mapping

from geoservice import params, responses
from geoservice.coverage import MAX_MINUTES, MAX_THRESHOLDS, siting
from geoservice.model import AMENITIES, SITE_KINDS, STATION_KINDS
from geoservice.nearest import K_MAX, MAX_SNAP_M
from geoservice.network import MODE_LABELS, MODES
from geoservice.service import (
    BATCH_BODY_MAX,
    BATCH_MAX,
    COVERAGE_BUFFERS,
    COVERAGE_DEFAULT_LAYERS,
    COVERAGE_LAYERS,
    SIMPLIFY_DEFAULT_M,
    SIMPLIFY_MAX_M,
    TOUR_FORMATS,
    TOURS_PAGE_MAX,
)
from geoservice.tours import planner as tour
from geoservice.tours.export import MEDIA_TYPES
from geoservice.web import jsonschema

_REF = "#/components/schemas/"
_CRS = list(params.CRS_LABELS)


def _ref(name: str) -> dict:
    return {"$ref": _REF + name}


def _obj(properties: dict, *, required: list[str] | None = None, **extra) -> dict:
    """A closed object: every property listed, all required unless told otherwise."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
        **extra,
    }


_STR = {"type": "string"}
_BOOL = {"type": "boolean"}
_LON = {"type": "number", "minimum": -180, "maximum": 180}
_LAT = {"type": "number", "minimum": -90, "maximum": 90}


def _schemas() -> dict:
    """The component schemas: the answers, generated from their declarations in
    :mod:`geoservice.responses` with every part they use, and the request bodies."""
    return jsonschema.components(*_ANSWERS, prefix=_REF) | _request_schemas()


#: The answers the paths and responses refer to by class name.
_ANSWERS = (
    responses.StationCollection,
    responses.StationFeature,
    responses.SiteCollection,
    responses.TownCollection,
    responses.Health,
    responses.NearestAnswer,
    responses.BatchAnswer,
    responses.NetworkInfo,
    responses.RoadCollection,
    responses.TourPlan,
    responses.TourList,
    responses.CoverageAnswer,
    responses.SuggestAnswer,
    responses.ErrorBody,
    responses.TourErrorBody,
)


def _request_schemas() -> dict:
    """The request bodies of ``POST /api/nearest/batch`` and ``POST /api/tours``."""
    return {
        "BatchRequest": _obj(
            {
                "origins": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": BATCH_MAX,
                    "items": _ref("Position"),
                },
                "mode": {"enum": list(MODES)},
                "crs": {"enum": _CRS},
                "kind": _list_schema(STATION_KINDS),
                "amenity": _list_schema(AMENITIES),
                "open_at": _OPEN_AT_SCHEMA,
                "open": _BOOL,
            },
            required=["origins"],
        ),
        "TourRequest": _tour_request(),
    }


def _list_schema(vocab: Mapping[str, str]) -> dict:
    return {
        "type": "array",
        "maxItems": params.MAX_LIST_ITEMS,
        "items": {"enum": list(vocab) + list(vocab.values())},
    }


# ISO 8601 as the parser reads it, in the years it accepts (2000–2099 here; 2100 too).
_OPEN_AT_SCHEMA = {
    "type": "string",
    "maxLength": 40,
    "pattern": r"^20\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?)?$",
}

#: The error answers the paths refer to: name → (description, body).
_RESPONSES: dict[str, tuple[str, type]] = {
    "BadRequest": ("bad parameter (named in `parameter`)", responses.ErrorBody),
    "NotFound": ("no such station", responses.ErrorBody),
    "MethodNotAllowed": (
        "the path does not take this method (see the Allow header)",
        responses.ErrorBody,
    ),
    "TooLarge": (f"request body over {BATCH_BODY_MAX // 1024 // 1024} MB", responses.ErrorBody),
    "UnsupportedMediaType": ("the body is not sent as application/json", responses.ErrorBody),
    "Unprocessable": (
        f"well-formed but not answerable: the point is more than {MAX_SNAP_M / 1000:g} km "
        "from every road, or the network lacks the mode",
        responses.ErrorBody,
    ),
    "TooManyRequests": ("rate limit (per client; see Retry-After)", responses.ErrorBody),
    "Unavailable": (
        "no usable road network (the rest of the API still answers)",
        responses.ErrorBody,
    ),
    "TourBadRequest": ("bad request field, named in `parameter`", responses.TourErrorBody),
    "TourUnprocessable": (
        "cannot be planned as asked: named stops that are unknown, have no coordinate, are "
        "more than 2 km from the drive network or not connected to the base (listed in "
        "`stops`), or more mandatory work than the days hold (`days_needed`)",
        responses.TourErrorBody,
    ),
    "TourNotFound": ("no saved plan with this id", responses.ErrorBody),
    "TourUnavailable": (
        "other tours are being planned (retry after Retry-After seconds), no usable road "
        "network, or the plan cannot be saved",
        responses.ErrorBody,
    ),
}
_STATUS = {
    "400": "BadRequest",
    "404": "NotFound",
    "405": "MethodNotAllowed",
    "413": "TooLarge",
    "415": "UnsupportedMediaType",
    "422": "Unprocessable",
    "429": "TooManyRequests",
    "503": "Unavailable",
}


def _errors(*codes: int) -> dict:
    return {str(c): {"$ref": f"#/components/responses/{_STATUS[str(c)]}"} for c in codes}


def _ok(description: str, schema: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _responses() -> dict:
    """The component responses: the error answers with their bodies."""
    return {name: _ok(text, body.__name__) for name, (text, body) in _RESPONSES.items()}


def _param(name: str, description: str, schema: dict, *, required: bool = False, example=None):
    p = {"name": name, "in": "query", "required": required, "description": description}
    p["schema"] = schema
    if example is not None:
        p["example"] = example
    return p


def _list_param(name: str, description: str, vocab: Mapping[str, str], example: str) -> dict:
    p = _param(
        name,
        f"{description}; keys or Chinese labels, comma-separated or repeated",
        _list_schema(vocab),
        example=[example],
    )
    p.update(style="form", explode=True)
    return p


def spec(version: str, town_names: Mapping[str, str] | None = None) -> dict:
    """The OpenAPI document (paths relative to the site root).

    Parameters
    ----------
    version
        The service's version.
    town_names
        Town code → Chinese name (the ``town`` parameter accepts either).
    """
    towns = dict(town_names or {})
    kind = _list_param("kind", "station kinds", STATION_KINDS, "warm_station")
    amenity = _list_param("amenity", "required amenities (all of them)", AMENITIES, "hot_water")
    town = _list_param("town", "town codes or Chinese names", towns, "鼓楼街道")
    if not towns:
        town["schema"]["items"] = {"type": "string", "maxLength": params.MAX_ITEM_CHARS}
    open_at = _param(
        "open_at",
        "ISO 8601 time (2026-11-25T13:00, …Z, …+08:00, or a date); naive means "
        "Asia/Shanghai; default now",
        _OPEN_AT_SCHEMA,
        example="2026-11-25T13:00",
    )
    flag = {"enum": list(params.FLAG_VALUES), "type": "string"}
    nearest_params = [
        _param("lon", "longitude", _LON, required=True, example=116.842),
        _param("lat", "latitude", _LAT, required=True, example=40.379),
        _param(
            "crs",
            "CRS of lon/lat: wgs84 (GPS), gcj02 (Amap/Tencent) or bd09 (Baidu); "
            "aliases amap, tencent, baidu",
            {"type": "string", "enum": _CRS},
            example="wgs84",
        ),
        _param(
            "mode",
            "travel mode: " + ", ".join(f"{m} {label}" for m, label in MODE_LABELS.items()),
            {"type": "string", "enum": list(MODES)},
            example="bike",
        ),
        _param(
            "k", "how many stations", {"type": "integer", "minimum": 1, "maximum": K_MAX}, example=3
        ),
        kind | {"description": kind["description"] + " (default warm_station)"},
        amenity,
        open_at,
        _param("open", "only stations open at open_at (default 1)", flag, example="1"),
    ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "密云区总工会 geoservice API",
            "version": version,
            "description": "Warm stations (暖心驿站), worker homes, sites, the nearest open "
            "station by road travel time, and multi-day caravan tours (区级大篷车巡回路线). "
            "Sample data carry source=sample; a schematic road "
            "network is flagged network.schematic=true. Every error is a JSON Error body "
            "with a Chinese and an English message; a method a path does not take is a "
            "405 with the same body.",
        },
        "paths": {
            "/api/stations": {
                "get": {
                    "summary": "Stations as GeoJSON, with open-now status",
                    "parameters": [kind, town, amenity, open_at],
                    "responses": {
                        "200": _ok("GeoJSON FeatureCollection", "StationCollection"),
                        **_errors(400),
                    },
                }
            },
            "/api/stations/{station_id}": {
                "get": {
                    "summary": "One station as a GeoJSON Feature",
                    "parameters": [
                        {
                            "name": "station_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "minLength": 1},
                            "example": "WS001",
                        },
                        open_at,
                    ],
                    "responses": {
                        "200": _ok("GeoJSON Feature", "StationFeature"),
                        **_errors(400, 404),
                    },
                }
            },
            "/api/sites": {
                "get": {
                    "summary": "Villages, communities and reservoir sites as GeoJSON",
                    "parameters": [
                        _list_param("kind", "site kinds", SITE_KINDS, "village"),
                        town,
                        _param("located", "1: only sites with coordinates", flag, example="1"),
                    ],
                    "responses": {
                        "200": _ok("GeoJSON FeatureCollection", "SiteCollection"),
                        **_errors(400),
                    },
                }
            },
            "/api/towns": {
                "get": {
                    "summary": "The 21 towns/subdistricts",
                    "responses": {"200": _ok("GeoJSON FeatureCollection", "TownCollection")},
                }
            },
            "/api/health": {
                "get": {
                    "summary": "Store location, revision, counts",
                    "responses": {"200": _ok("health", "Health")},
                }
            },
            "/api/nearest": {
                "get": {
                    "summary": "The k nearest matching stations by road travel time, with routes",
                    "parameters": nearest_params,
                    "responses": {
                        "200": _ok("{origin, network, results, reason}", "NearestAnswer"),
                        **_errors(400, 422, 429, 503),
                    },
                }
            },
            "/api/nearest/batch": {
                "post": {
                    "summary": f"Nearest station and travel time for up to {BATCH_MAX:,} origins",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": _ref("BatchRequest"),
                                "example": {
                                    "origins": [[116.842, 40.379], [116.85, 40.38]],
                                    "mode": "walk",
                                },
                            }
                        },
                    },
                    "responses": {
                        "200": _ok("one result per origin, in order", "BatchAnswer"),
                        **_errors(400, 413, 415, 422, 429, 503),
                    },
                }
            },
            "/api/network": {
                "get": {
                    "summary": "The active road network per mode",
                    "responses": {"200": _ok("networks", "NetworkInfo"), **_errors(503)},
                }
            },
            "/api/network/roads": {
                "get": {
                    "summary": "Major roads as GeoJSON (offline basemap)",
                    "responses": {"200": _ok("GeoJSON", "RoadCollection"), **_errors(503)},
                }
            },
            **_tour_paths(),
            **_coverage_paths(kind, amenity, open_at),
            "/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["openapi", "info", "paths"],
                                    }
                                }
                            },
                        }
                    },
                }
            },
        },
        "components": {"schemas": _schemas(), "responses": _responses()},
    }


# -- caravan tours ------------------------------------------------------------------------------

# Clock times, dates and plan ids are written as the answers write them.
_HHMM = jsonschema.schema(responses.Clock)
_DATE = jsonschema.schema(responses.Date)
_STOP_ID = {"type": "string", "minLength": 1, "maxLength": params.MAX_ITEM_CHARS}
_TOUR_ID = jsonschema.schema(responses.TourId)


def _tour_request() -> dict:
    """The request body of ``POST /api/tours``."""
    keyed = {"type": "object", "propertyNames": _STOP_ID, "maxProperties": tour.MAX_STOPS}
    minutes = {"type": "integer", "minimum": 0, "maximum": tour.MAX_SERVICE_MINUTES}
    window = {
        "oneOf": [
            {"type": "string", "pattern": r"^\d\d:\d\d-\d\d:\d\d$", "example": "09:00-11:00"},
            {"type": "array", "items": _HHMM, "minItems": 2, "maxItems": 2},
        ]
    }
    priority = {"type": "integer", "minimum": 1, "maximum": len(tour.PRIORITIES)}
    stops_tokens = {
        "type": "array",
        "items": _STOP_ID,
        "minItems": 1,
        "maxItems": tour.MAX_STOPS,
    }
    return _obj(
        {
            "stops": {
                "description": "What to visit: stop ids (sites or stations), kinds "
                f"({', '.join([*SITE_KINDS, *STATION_KINDS])}) or towns (code, 鼓楼街道 or 鼓楼); "
                "kinds and towns filter together; at most 300 stops in all. Ids named here that "
                "cannot be served are a 422; stops picked by kind or town that cannot be "
                "served are listed in `unserved`.",
                "oneOf": [stops_tokens, _STR | {"minLength": 1, "description": "comma-separated"}],
            },
            "depot": _STOP_ID | {"description": "a station id; default the 鼓楼 caravan base"},
            "days": {"type": "integer", "minimum": 1, "maximum": tour.MAX_DAYS},
            "start_date": {
                "oneOf": [_DATE, {"type": "null"}],
                "description": "first day; days are then working days (China's calendar)",
            },
            "skip_days_off": _BOOL | {"description": "skip weekends and holidays (default)"},
            "day_start": _HHMM | {"description": f"default {tour.DAY_START}"},
            "day_end": _HHMM | {"description": f"default {tour.DAY_END}"},
            "lunch_minutes": {"type": "integer", "minimum": 0, "maximum": 180},
            "service_minutes": {
                "description": "minutes at every stop, or per stop id (default: per kind)",
                "oneOf": [minutes, keyed | {"additionalProperties": minutes}],
            },
            "time_windows": keyed
            | {"additionalProperties": window, "description": "the whole visit lies in it"},
            "optional": {
                "description": "optional stops: ids (priority 3) or id → priority 1 (high) … 5",
                "oneOf": [
                    {"type": "array", "items": _STOP_ID, "maxItems": tour.MAX_STOPS},
                    keyed | {"additionalProperties": {"oneOf": [priority, {"type": "null"}]}},
                ],
            },
        },
        required=["stops"],
    )


def _tour_errors(*codes: int) -> dict:
    names = {
        400: "TourBadRequest",
        404: "TourNotFound",
        422: "TourUnprocessable",
        503: "TourUnavailable",
    }
    return {
        str(c): {"$ref": f"#/components/responses/{names.get(c) or _STATUS[str(c)]}"} for c in codes
    }


def _tour_paths() -> dict:
    tour_id = {
        "name": "tour_id",
        "in": "path",
        "required": True,
        "schema": _TOUR_ID,
        "example": "20260302-091500-a1b2c3",
        "description": "the plan's id (YYYYMMDD-HHMMSS-xxxxxx)",
    }
    files = {
        fmt: {"schema": {"type": "string"}} for fmt in ("gpx", "csv", "xlsx", "html")
    }  # binary or text documents, described by their media types
    content = {MEDIA_TYPES[fmt].split(";")[0]: files[fmt] for fmt in files}
    content[MEDIA_TYPES["geojson"]] = {
        "schema": {
            "type": "object",
            "required": ["type", "features"],
            "properties": {
                "type": {"const": "FeatureCollection"},
                "schematic": _BOOL,
                "features": {"type": "array", "items": {"type": "object"}},
            },
        }
    }
    return {
        "/api/tours": {
            "post": {
                "summary": "Plan a multi-day caravan tour on the drive network, and save it",
                "description": "Each day leaves the depot at day_start and is back by day_end, "
                "with a lunch break (default 60 min starting 11:30–13:30) where the caravan "
                "is. Every mandatory stop is served, then as many optional ones (by priority) "
                "as fit, then the least driving. The search is bounded by iterations with a "
                "fixed seed: the same request gives the same plan. Rate-limited per client.",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": _ref("TourRequest"),
                            "example": {
                                "stops": ["reservoir_site"],
                                "days": 3,
                                "start_date": "2026-03-02",
                                "day_start": "08:30",
                                "day_end": "17:30",
                                "lunch_minutes": 60,
                            },
                        }
                    },
                },
                "responses": {
                    "201": {
                        "description": "the saved plan (its URL in Location)",
                        "headers": {
                            "Location": {"schema": {"type": "string"}},
                        },
                        "content": {"application/json": {"schema": _ref("TourPlan")}},
                    },
                    **_tour_errors(400, 413, 415, 422, 429, 503),
                },
            },
            "get": {
                "summary": "Saved tour plans, newest first",
                "parameters": [
                    _param(
                        "limit",
                        f"plans per page (1–{TOURS_PAGE_MAX}, default 20)",
                        {"type": "integer", "minimum": 1, "maximum": TOURS_PAGE_MAX},
                        example=20,
                    ),
                    _param(
                        "offset",
                        "plans to skip (next_offset of the previous page)",
                        {"type": "integer", "minimum": 0, "maximum": 10**6},
                        example=0,
                    ),
                ],
                "responses": {"200": _ok("a page of plan summaries", "TourList"), **_errors(400)},
            },
        },
        "/api/tours/{tour_id}": {
            "get": {
                "summary": "A saved tour plan",
                "parameters": [tour_id],
                "responses": {
                    "200": _ok("the plan", "TourPlan"),
                    **_errors(400),  # an id holding a control character
                    **_tour_errors(404),
                },
            }
        },
        "/api/tours/{tour_id}.{format}": {
            "get": {
                "summary": "A saved tour plan as a file",
                "description": "gpx: one track per day and a waypoint per stop (WGS84); csv, "
                "xlsx: the schedule with Chinese headers; geojson: routes, stops, depot and "
                "unserved stops; html: a printable zh-Hans schedule, one page per day with a "
                "map and navigation links, sent inline and without any script. Named in "
                "Content-Disposition (ASCII filename and RFC 5987 filename*).",
                "parameters": [
                    tour_id,
                    {
                        "name": "format",
                        "in": "path",
                        "required": True,
                        "schema": {"enum": list(TOUR_FORMATS)},
                        "example": "gpx",
                    },
                ],
                "responses": {
                    "200": {
                        "description": "the file",
                        "headers": {"Content-Disposition": {"schema": {"type": "string"}}},
                        "content": content,
                    },
                    **_errors(400),  # an id holding a control character
                    **_tour_errors(404),
                },
            }
        },
    }


# -- coverage ----------------------------------------------------------------------------------


def _coverage_paths(kind: dict, amenity: dict, open_at: dict) -> dict:
    """The paths of ``/api/coverage`` and ``/api/coverage/suggest``."""
    mode = _param(
        "mode",
        "travel mode: " + ", ".join(f"{m} {label}" for m, label in MODE_LABELS.items()),
        {"type": "string", "enum": list(MODES)},
        example="walk",
    )
    minutes = _param(
        "minutes",
        f"thresholds in minutes (0 < m ≤ {MAX_MINUTES:g}, at most {MAX_THRESHOLDS}), "
        "comma-separated or repeated; default by mode: walk 5,10,15; bike 5,10; drive 10",
        {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_THRESHOLDS,
            "items": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_MINUTES},
        },
        example=[5, 10, 15],
    )
    minutes.update(style="form", explode=False)
    counted = open_at | {
        "description": "count only the stations open at this time (ISO 8601; naive means "
        "Asia/Shanghai), e.g. 02:00 for the night gaps; absent: every matching station "
        "whatever its hours (the planning view)",
        "example": "2026-11-25T02:00",
    }
    filters = [kind | {"description": kind["description"] + " (default warm_station)"}, amenity]
    layer_names = ", ".join(COVERAGE_LAYERS)
    layers = _param(
        "layers",
        f"further layers under `layers` ({layer_names}; none for none); default "
        f"{','.join(COVERAGE_DEFAULT_LAYERS)}",
        {
            "type": "array",
            "maxItems": len(COVERAGE_LAYERS),
            "items": {"enum": [*COVERAGE_LAYERS, "none"]},
        },
        example=list(COVERAGE_DEFAULT_LAYERS),
    )
    layers.update(style="form", explode=False)
    cached = (
        " Answers are cached per store revision and road network: a weak ETag, "
        "Cache-Control: no-cache (If-None-Match gives a 304), gzip when accepted."
    )
    return {
        "/api/coverage": {
            "get": {
                "summary": "Coverage by travel time: areas, cross-coverage, catchments, "
                "uncovered roads and the figures",
                "description": "A GeoJSON FeatureCollection of `layer` (default: the coverage "
                "areas, one polygon per threshold, largest first: reached roads buffered by "
                "`buffer_m`, never hulls) with foreign members `layers` (further layers), "
                "`coverage` (district and per-town figures over the roads where people live "
                "and work, with the whole network's beside them; the ACFTU share of roads "
                "within 1 km of a station; uncovered villages with their travel time; gaps "
                "ranked by length; notices), `revision` and `simplify_m`. Per-town figures "
                "are approximate (近似)." + cached,
                "parameters": [
                    mode,
                    minutes,
                    *filters,
                    counted,
                    _param(
                        "buffer_m",
                        "buffer around the reached roads for the polygons (metres)",
                        {"type": "number", "enum": list(COVERAGE_BUFFERS)},
                        example=50,
                    ),
                    _param(
                        "layer",
                        f"the layer of `features`: {layer_names} (default areas)",
                        {"type": "string", "enum": list(COVERAGE_LAYERS)},
                        example="areas",
                    ),
                    layers,
                    _param(
                        "simplify_m",
                        "geometry simplified by this many metres for transfer (0: exact; "
                        f"default {SIMPLIFY_DEFAULT_M:g}); coordinates have 5 decimals",
                        {"type": "number", "minimum": 0, "maximum": SIMPLIFY_MAX_M},
                        example=SIMPLIFY_DEFAULT_M,
                    ),
                ],
                "responses": {
                    "200": _ok("GeoJSON with the figures", "CoverageAnswer"),
                    "304": {"description": "not modified (If-None-Match)"},
                    **_errors(400, 429, 503),
                },
            }
        },
        "/api/coverage/suggest": {
            "get": {
                "summary": "Suggested new station sites: maximal covering with the existing "
                "stations fixed",
                "description": "n new sites maximising the uncovered people-road length "
                "(objective roads) or located villages (objective villages) brought within "
                "the threshold, solved by HiGHS on network nodes at least "
                f"{siting.CANDIDATE_SPACING_M:g} m apart; each site's exact marginal gain in "
                "rank order, coverage before and after, the number of new stations needed "
                "to cover every located village (set covering) and the greedy baseline." + cached,
                "parameters": [
                    _param(
                        "n",
                        f"new sites (1–{siting.N_MAX}, default 10)",
                        {"type": "integer", "minimum": 1, "maximum": siting.N_MAX},
                        example=3,
                    ),
                    _param(
                        "objective",
                        "what a new site should bring within reach: "
                        + ", ".join(f"{k} {v}" for k, v in siting.OBJECTIVES.items()),
                        {"type": "string", "enum": list(siting.OBJECTIVES)},
                        example="roads",
                    ),
                    mode,
                    _param(
                        "minutes",
                        "the threshold (one; default the mode's largest: walk 15, bike 10, "
                        "drive 10)",
                        {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_MINUTES},
                        example=15,
                    ),
                    *filters,
                    counted,
                ],
                "responses": {
                    "200": _ok("GeoJSON points with the answer", "SuggestAnswer"),
                    "304": {"description": "not modified (If-None-Match)"},
                    **_errors(400, 429, 503),
                },
            }
        },
    }
