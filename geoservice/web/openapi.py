"""The OpenAPI 3.1 description of the JSON API, served at ``/api/openapi.json``.

Parameter schemas say what :mod:`geoservice.params` accepts (enums, bounds, patterns); the
parser is at most more lenient (case-insensitive names, Chinese labels, aliases such as
``crs=amap``, comma-separated lists). Every operation has a full response schema for every
status it really answers, so that ``tests/test_schemathesis.py`` checks the answers and not
only the status codes.

``additionalProperties`` is decided per object:

* ``false`` for every object the service builds itself (station and site records, route
  answers, batch results, network summaries, health, the error body): a field added in
  code without being documented here fails the schemathesis run.
* Response schemas are strict about structure and types, but not about the vocabularies of
  *stored* values (a station's ``kind``, a site's ``coord_source``): the store may be edited
  outside the app (QGIS) and the API reports what is stored. Values the code guarantees
  (``amenities`` filtered to the vocabulary, ``mode``, ``crs``) are enums.
* This document itself is an open object.
"""

from __future__ import annotations

from collections.abc import Mapping

from geoservice import params
from geoservice.errors import EXCERPT_CHARS
from geoservice.model import AMENITIES, SITE_KINDS, STATION_KINDS
from geoservice.nearest import K_MAX, MAX_SNAP_M
from geoservice.network import MODE_LABELS, MODES
from geoservice.service import BATCH_BODY_MAX, BATCH_MAX

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
_STR_NULL = {"type": ["string", "null"]}
_NUM = {"type": "number"}
_NUM_NULL = {"type": ["number", "null"]}
_INT = {"type": "integer", "minimum": 0}
_BOOL = {"type": "boolean"}
_TIME = {"type": "string", "format": "date-time"}
_LON = {"type": "number", "minimum": -180, "maximum": 180}
_LAT = {"type": "number", "minimum": -90, "maximum": 90}


def _schemas() -> dict:
    position = {
        "type": "array",
        "prefixItems": [_LON, _LAT],
        "items": False,
        "minItems": 2,
        "maxItems": 2,
    }
    station_record = _obj(
        {
            "id": _STR,
            "name": _STR,
            "kind": _STR | {"description": f"stored kind: {', '.join(STATION_KINDS)}"},
            "lon": _NUM_NULL,
            "lat": _NUM_NULL,
            "address": _STR,
            "town_code": _STR,
            "opening_hours": _STR | {"description": "stored OSM opening_hours"},
            "amenities": {"type": "array", "items": {"enum": list(AMENITIES)}},
            "phone": _STR,
            "host_org": _STR,
            "capacity": {"type": ["integer", "null"]},
            "verified_on": {"type": ["string", "null"], "format": "date"},
            "source": _STR | {"description": "sample, import, official or manual"},
            "kind_label": _STR,
            "town": _STR | {"description": "Chinese name of town_code ('' if unknown)"},
            "amenity_labels": {"type": "array", "items": {"enum": list(AMENITIES.values())}},
            "open_now": _BOOL,
            "status": _STR | {"description": "Chinese open status, e.g. 营业中 · 18:00 关闭"},
            "hours_zh": _STR,
            "hours_valid": _BOOL | {"description": "false: the stored hours are unreadable"},
            "next_open": {"type": ["string", "null"], "format": "date-time"},
        },
        description="The one station record (Station.record).",
    )
    nearest_result = {
        **station_record,
        "properties": station_record["properties"]
        | {
            "travel_time_s": _NUM
            | {"description": "on the roads plus the walks to/from them (4.5 km/h)"},
            "travel_time_min": _INT,
            "network_time_s": _NUM | {"description": "on the roads only"},
            "network_distance_m": _NUM,
            "straight_distance_m": _NUM,
            "station_snap_distance_m": _NUM,
            "route": _ref("LineString"),
            "navigation": _obj(
                {
                    "amap": _STR | {"format": "uri", "description": "Amap (GCJ-02) link"},
                    # Not format uri: Baidu's documented `latlng:…|name:…` keeps a bare `|`.
                    "baidu": _STR | {"pattern": "^https://", "description": "Baidu (BD-09) link"},
                }
            ),
        },
        "description": "A station record with the trip to it.",
    }
    nearest_result["required"] = list(nearest_result["properties"])
    site_record = _obj(
        {
            "id": _STR,
            "name": _STR_NULL,
            "kind": _STR_NULL | {"description": f"stored kind: {', '.join(SITE_KINDS)}"},
            "code": _STR_NULL,
            "lon": _NUM_NULL,
            "lat": _NUM_NULL,
            "town_code": _STR_NULL,
            "service_minutes": {"type": ["integer", "null"]},
            "official_name": _STR_NULL,
            "coord_source": _STR_NULL
            | {
                "description": (
                    "missing: no coordinate is known; schematic/osm: a position derived at "
                    "run time from the road network's place nodes (never stored)"
                )
            },
            "coord_note": _STR | {"description": "示意位置 for schematic positions, else empty"},
            "source": _STR_NULL,
            "kind_label": _STR_NULL,
            "town": _STR,
        }
    )
    network_summary = _obj(
        {
            "mode": {"enum": list(MODES)},
            "mode_label": _STR,
            "schematic": _BOOL | {"description": "true: a generated network, not a survey"},
            "source": _STR,
            "nodes": _INT,
            "edges": _INT,
        }
    )
    collection_common = {
        "type": {"const": "FeatureCollection"},
        "count": _INT,
        "sources": {"type": "array", "items": _STR},
        "sample": _BOOL | {"description": "true when any record is sample data"},
    }

    def feature(properties: str, *, nullable: bool = True) -> dict:
        geometry = {"oneOf": [_ref("Point"), {"type": "null"}]} if nullable else _ref("Point")
        return _obj(
            {
                "type": {"const": "Feature"},
                "id": _STR,
                "geometry": geometry,
                "properties": _ref(properties),
            }
        )

    return {
        "Position": position,
        "Point": _obj({"type": {"const": "Point"}, "coordinates": _ref("Position")}),
        "LineString": _obj(
            {
                "type": {"const": "LineString"},
                "coordinates": {"type": "array", "items": _ref("Position"), "minItems": 2},
            }
        ),
        "MultiLineString": _obj(
            {
                "type": {"const": "MultiLineString"},
                "coordinates": {
                    "type": "array",
                    "items": {"type": "array", "items": _ref("Position"), "minItems": 2},
                },
            }
        ),
        "StationRecord": station_record,
        "StationFeature": feature("StationRecord"),
        "StationCollection": _obj(
            collection_common
            | {
                "features": {"type": "array", "items": _ref("StationFeature")},
                "evaluated_at": _TIME | {"description": "moment of open_now/status"},
            }
        ),
        "SiteRecord": site_record,
        "SiteFeature": feature("SiteRecord"),
        "SiteCollection": _obj(
            collection_common | {"features": {"type": "array", "items": _ref("SiteFeature")}}
        ),
        "TownRecord": _obj(
            {
                "code": _STR | {"description": "NBS code"},
                "name": _STR,
                "kind": _STR,
                "seat_name_en": _STR,
                "coord_source": _STR,
            }
        ),
        "TownFeature": feature("TownRecord"),
        "TownCollection": _obj(
            {
                "type": {"const": "FeatureCollection"},
                "features": {"type": "array", "items": _ref("TownFeature")},
                "count": _INT,
            }
        ),
        "Health": _obj(
            {
                "status": {"const": "ok"},
                "store": _STR,
                "revision": _STR,
                "stations": _INT,
                "sites": _INT,
            }
        ),
        "NetworkSummary": network_summary,
        "NetworkInfo": _obj(
            {
                "source": _STR | {"description": "file name of the active network"},
                "modes": {
                    "type": "object",
                    "propertyNames": {"enum": list(MODES)},
                    "additionalProperties": _ref("NetworkSummary"),
                },
            }
        ),
        "RoadCollection": _obj(
            {
                "type": {"const": "FeatureCollection"},
                "schematic": _BOOL,
                "features": {
                    "type": "array",
                    "items": _obj(
                        {
                            "type": {"const": "Feature"},
                            "properties": _obj({"highway": _STR}),
                            "geometry": _ref("MultiLineString"),
                        }
                    ),
                },
            }
        ),
        "NearestResult": nearest_result,
        "NearestAnswer": _obj(
            {
                "origin": _obj(
                    {
                        "lon": _LON,
                        "lat": _LAT,
                        "snapped": _obj({"lon": _LON, "lat": _LAT}),
                        "snap_distance_m": _NUM | {"minimum": 0, "maximum": MAX_SNAP_M},
                        "outside_district": _BOOL,
                        "input": _obj({"lon": _LON, "lat": _LAT, "crs": {"enum": _CRS}}),
                    },
                    description="WGS84 origin, its point on the nearest road, and as sent",
                ),
                "network": _ref("NetworkSummary"),
                "evaluated_at": _TIME,
                "mode": {"enum": list(MODES)},
                "results": {
                    "type": "array",
                    "maxItems": K_MAX,
                    "items": _ref("NearestResult"),
                },
                "reason": _STR | {"description": "why results are empty ('' otherwise)"},
                "stale": {
                    "description": (
                        "null when the answer uses the current stations and network; "
                        "otherwise why older routing data answers (memory budget)"
                    ),
                    "oneOf": [
                        {"type": "null"},
                        {
                            "type": "object",
                            "properties": {
                                "reason": _STR,
                                "causes": {
                                    "type": "array",
                                    "items": {"enum": ["stations", "network"]},
                                },
                                "stations_served": _INT,
                                "stations_in_store": _INT,
                            },
                            "required": ["reason", "causes", "stations_served"],
                            "additionalProperties": False,
                        },
                    ],
                },
            }
        ),
        "BatchAnswer": _obj(
            {
                "network": _ref("NetworkSummary"),
                "count": _INT,
                "reached": _INT,
                "median_travel_time_s": _NUM_NULL,
                "reason": _STR,
                "results": {
                    "type": "array",
                    "maxItems": BATCH_MAX,
                    "items": _obj(
                        {
                            "station_id": _STR_NULL,
                            "travel_time_s": _NUM_NULL
                            | {"description": "null: no station, or origin > 2 km from roads"},
                            "snap_distance_m": _NUM | {"minimum": 0},
                        }
                    ),
                },
            }
        ),
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
        "Error": _obj(
            {
                "error": _STR | {"description": "中文 / English"},
                "message_zh": _STR,
                "message_en": _STR,
                "parameter": _STR_NULL
                | {"description": "the parameter at fault (origins[3], body, …), or null"},
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
            },
            description=f"Every error answer. Input is echoed as an excerpt of at most "
            f"{EXCERPT_CHARS} characters.",
        ),
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

_RESPONSES = {
    "BadRequest": "bad parameter (named in `parameter`)",
    "NotFound": "no such station",
    "MethodNotAllowed": "the path does not take this method (see the Allow header)",
    "TooLarge": f"request body over {BATCH_BODY_MAX // 1024 // 1024} MB",
    "UnsupportedMediaType": "the body is not sent as application/json",
    "Unprocessable": f"well-formed but not answerable: the point is more than "
    f"{MAX_SNAP_M / 1000:g} km from every road, or the network lacks the mode",
    "TooManyRequests": "rate limit (per client; see Retry-After)",
    "Unavailable": "no usable road network (the rest of the API still answers)",
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
    json_only = {"application/json": {"schema": _ref("Error")}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "密云区总工会 geoservice API",
            "version": version,
            "description": "Warm stations (暖心驿站), worker homes, sites, and the nearest open "
            "station by road travel time. Sample data carry source=sample; a schematic road "
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
        "components": {
            "schemas": _schemas(),
            "responses": {
                name: {"description": description, "content": json_only}
                for name, description in _RESPONSES.items()
            },
        },
    }
