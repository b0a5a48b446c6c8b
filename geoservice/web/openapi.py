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
from geoservice.coverage import MAX_GAP_FEATURES, MAX_MINUTES, MAX_THRESHOLDS, NOTICES, siting
from geoservice.errors import EXCERPT_CHARS
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
            | {"description": "on the roads plus the ways to/from them (4.5 km/h; drive 15 km/h)"},
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
        "components": {
            "schemas": _schemas() | _tour_schemas() | _coverage_schemas(),
            "responses": {
                name: {"description": description, "content": json_only}
                for name, description in _RESPONSES.items()
            }
            | _tour_responses(),
        },
    }


# -- caravan tours ------------------------------------------------------------------------------

_HHMM = {"type": "string", "pattern": r"^([01]\d|2[0-3]|24):[0-5]\d$", "example": "08:30"}
_DATE = {"type": "string", "format": "date", "pattern": r"^2\d\d\d-\d\d-\d\d$"}
_STOP_ID = {"type": "string", "minLength": 1, "maxLength": params.MAX_ITEM_CHARS}
_TOUR_ID = {"type": "string", "pattern": r"^\d{8}-\d{6}-[0-9a-f]{6}$"}
_REASON_CODES = list(tour.REASONS)


def _tour_schemas() -> dict:
    """Schemas of the tour request, the saved plan and its parts, the listing, the error."""
    place = {
        "id": _STR,
        "name": _STR,
        "kind": _STR | {"description": "stored kind (site or station kind)"},
        "kind_label": _STR,
        "town_code": _STR,
        "town": _STR,
        "lon": _NUM_NULL,
        "lat": _NUM_NULL,
        "coord_source": _STR
        | {"description": "schematic/osm: derived from the road network (示意位置)"},
        "position_note": {"const": "示意位置", "description": "only for schematic positions"},
    }
    place_required = [k for k in place if k != "position_note"]
    navigation = _obj(
        {
            "amap": _STR | {"format": "uri", "description": "Amap (GCJ-02) link"},
            "baidu": _STR | {"pattern": "^https://", "description": "Baidu (BD-09) link"},
        }
    )
    stop = _obj(
        place
        | {
            "seq": {"type": "integer", "minimum": 1},
            "arrival": _HHMM,
            "start": _HHMM,
            "end": _HHMM,
            "arrival_s": _INT,
            "start_s": _INT,
            "end_s": _INT,
            "wait_min": _NUM,
            "service_min": _NUM,
            "window": {
                "oneOf": [
                    {"type": "array", "items": _HHMM, "minItems": 2, "maxItems": 2},
                    {"type": "null"},
                ]
            },
            "optional": _BOOL,
            "priority": {"type": ["integer", "null"], "minimum": 1, "maximum": 5},
            "leg_distance_m": _NUM,
            "leg_drive_min": _NUM,
            "navigation": navigation,
        },
        description="A visit: where, when (arrival, service start and end), the leg to it.",
    )
    stop["required"] = [k for k in stop["properties"] if k != "position_note"]
    leg = _obj(
        {
            "from_id": _STR,
            "from_name": _STR,
            "to_id": _STR,
            "to_name": _STR,
            "depart": _HHMM,
            "arrive": _HHMM,
            "distance_m": _NUM,
            "drive_s": _INT,
            "drive_min": _NUM,
        }
    )
    lunch = _obj(
        {
            "place": {"enum": ["start", "stop", "depot", "end"]},
            "place_label": _STR,
            "id": _STR,
            "name": _STR,
            "after_seq": {"type": ["integer", "null"], "minimum": 1},
            "start": _HHMM,
            "end": _HHMM,
            "start_s": _INT,
            "end_s": _INT,
            "minutes": _NUM,
        },
        description="Where and when the lunch break is taken: at the base before leaving "
        "(start), after a stop's service (stop), back at the base after a stop (depot), or "
        "at the base after returning (end).",
    )
    totals = _obj(
        {
            "stops": _INT,
            "distance_m": _NUM,
            "distance_km": _NUM,
            "drive_s": _INT,
            "drive_min": _NUM,
            "service_s": _INT,
            "service_min": _NUM,
            "wait_min": _NUM,
            "lunch_min": _NUM,
            "working_min": _NUM,
        }
    )
    day = _obj(
        {
            "day": {"type": "integer", "minimum": 1},
            "date": _DATE | {"type": ["string", "null"]},
            "weekday": _STR_NULL | {"description": "周一 … 周日"},
            "depart": _HHMM,
            "return": _HHMM,
            "finish": _HHMM | {"description": "return, or the end of a lunch after it"},
            "depart_s": _INT,
            "return_s": _INT,
            "finish_s": _INT,
            "stops": {"type": "array", "items": _ref("TourStop"), "minItems": 1},
            "lunch": {"oneOf": [_ref("TourLunch"), {"type": "null"}]},
            "legs": {"type": "array", "items": _ref("TourLeg"), "minItems": 2},
            "totals": totals,
            "route": _obj(
                {
                    "type": {"const": "Feature"},
                    "properties": _obj(
                        {"day": {"type": "integer"}, "date": _DATE | {"type": ["string", "null"]}}
                    ),
                    "geometry": _ref("LineString"),
                },
                description="The day's drive along the roads, base to base.",
            ),
        }
    )
    unserved = _obj(
        place
        | {
            "reason_code": {"enum": _REASON_CODES},
            "reason": _STR | {"description": "中文 / English"},
            "optional": _BOOL,
            "priority": {"type": ["integer", "null"]},
        },
        required=["id", "name", "reason_code", "reason"],
        description="A stop left out of a plan (or refused by a 422), and why.",
    )
    summary = _obj(
        {
            "days_used": _INT,
            "days_available": _INT,
            "stops_requested": _INT,
            "stops_served": _INT,
            "optional_served": _INT,
            "distance_km": _NUM,
            "drive_hours": _NUM,
            "service_hours": _NUM,
            "schematic_positions": _INT | {"description": "stops served at 示意位置"},
        }
    )
    result = _obj(
        {
            "version": {"const": 1},
            "network": _ref("NetworkSummary"),
            "schematic": _BOOL | {"description": "planned on a generated network: indicative"},
            "notices": {
                "type": "array",
                "description": "what the plan could not take into account (e.g. unknown holidays)",
                "items": _obj({"code": _STR, "zh": _STR, "en": _STR}),
            },
            "depot": _obj(
                place | {"navigation": navigation}, required=[*place_required, "navigation"]
            ),
            "parameters": _obj(
                {
                    "days": {"type": "integer", "minimum": 1, "maximum": tour.MAX_DAYS},
                    "start_date": _DATE | {"type": ["string", "null"]},
                    "skip_days_off": _BOOL,
                    "day_start": _HHMM,
                    "day_end": _HHMM,
                    "lunch_minutes": _INT,
                    "lunch_window": {"type": "array", "items": _HHMM, "minItems": 2, "maxItems": 2},
                    "access_kmh": _NUM,
                }
            ),
            "days": {"type": "array", "items": _ref("TourDay"), "maxItems": tour.MAX_DAYS},
            "summary": summary,
            "unserved": {"type": "array", "items": _ref("TourUnserved")},
            "search": _obj(
                {
                    "seed": {"type": "integer"},
                    "iterations": _INT,
                    "max_iterations": {"type": ["integer", "null"]},
                    "stopped_by": {"enum": ["iterations", "no_improvement", "time_limit", "empty"]},
                    "reproducible": _BOOL
                    | {"description": "false: the wall-clock safety net stopped the search"},
                },
                required=["seed", "iterations", "stopped_by", "reproducible"],
            ),
        }
    )
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
    request_body = _obj(
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
    request_saved = _obj(
        {
            "depot": _STR,
            "stops": {"type": "array", "items": _STR},
            "days": {"type": "integer"},
            "start_date": _DATE | {"type": ["string", "null"]},
            "skip_days_off": _BOOL,
            "day_start": _HHMM,
            "day_end": _HHMM,
            "lunch_minutes": _INT,
            "service_minutes": {
                "oneOf": [_INT, {"type": "object", "additionalProperties": _INT}],
            },
            "time_windows": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": _HHMM},
            },
            "optional": {"type": "object", "additionalProperties": priority},
        },
        description="The request as parsed (what the plan was made for).",
    )
    error = _schemas()["Error"]
    return {
        "TourRequest": request_body,
        "TourStop": stop,
        "TourLeg": leg,
        "TourLunch": lunch,
        "TourDay": day,
        "TourUnserved": unserved,
        "TourResult": result,
        "TourPlan": _obj(
            {
                "id": _TOUR_ID,
                "created": _TIME,
                "request": request_saved,
                "result": _ref("TourResult"),
            },
            description="A saved plan.",
        ),
        "TourListing": _obj(
            {
                "id": _TOUR_ID,
                "created": _TIME,
                "depot": _STR,
                "start_date": _DATE | {"type": ["string", "null"]},
                "days_used": _INT,
                "days_available": _INT,
                "stops_served": _INT,
                "unserved": _INT,
                "distance_km": _NUM,
                "drive_hours": _NUM,
                "schematic": _BOOL,
            }
        ),
        "TourList": _obj(
            {
                "plans": {
                    "type": "array",
                    "items": _ref("TourListing"),
                    "maxItems": TOURS_PAGE_MAX,
                },
                "count": _INT,
                "total": _INT,
                "limit": {"type": "integer", "minimum": 1, "maximum": TOURS_PAGE_MAX},
                "offset": _INT,
                "next_offset": {"type": ["integer", "null"], "minimum": 1},
            }
        ),
        "TourError": {
            **error,
            "properties": error["properties"]
            | {
                "stops": {
                    "type": "array",
                    "items": _ref("TourUnserved"),
                    "description": "the stops at fault (422)",
                },
                "days_needed": {
                    "type": ["integer", "null"],
                    "minimum": 1,
                    "description": "when the mandatory stops do not fit: about how many "
                    "days they need",
                },
            },
            "description": "An Error; a 422 also lists the stops at fault (`stops`) or "
            "estimates the days needed (`days_needed`).",
        },
    }


_TOUR_RESPONSE_TEXT = {
    "TourBadRequest": ("bad request field, named in `parameter`", "TourError"),
    "TourUnprocessable": (
        "cannot be planned as asked: named stops that are unknown, have no coordinate, are "
        "more than 2 km from the drive network or not connected to the base (listed in "
        "`stops`), or more mandatory work than the days hold (`days_needed`)",
        "TourError",
    ),
    "TourNotFound": ("no saved plan with this id", "Error"),
    "TourUnavailable": (
        "other tours are being planned (retry after Retry-After seconds), no usable road "
        "network, or the plan cannot be saved",
        "Error",
    ),
}


def _tour_responses() -> dict:
    return {
        name: {
            "description": text,
            "content": {"application/json": {"schema": _ref(schema)}},
        }
        for name, (text, schema) in _TOUR_RESPONSE_TEXT.items()
    }


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
                "responses": {"200": _ok("the plan", "TourPlan"), **_tour_errors(404)},
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
                    **_tour_errors(404),
                },
            }
        },
    }


# -- coverage ----------------------------------------------------------------------------------

_SHARE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_KM = {"type": "number", "minimum": 0}
_MINUTES = {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_MINUTES}
_COLOR = {"type": "string", "pattern": "^#[0-9a-f]{6}$"}


def _coverage_schemas() -> dict:
    """Schemas of ``/api/coverage`` and ``/api/coverage/suggest``."""
    ring = {"type": "array", "items": _ref("Position"), "minItems": 4}
    threshold = _obj(
        {
            "minutes": _MINUTES,
            "covered_km": _KM | {"description": "people roads reached within the threshold"},
            "covered_share": _SHARE,
            "cross_km": _KM | {"description": "people roads reached by ≥ 2 stations"},
            "cross_share": _SHARE,
            "area_km2": {"type": ["number", "null"], "minimum": 0},
            "villages_covered": _INT,
            "villages_share": _SHARE,
            "all_roads": _obj(
                {"covered_km": _KM, "covered_share": _SHARE, "cross_km": _KM},
                description="the same over the whole network (motorways and paths included)",
            ),
        }
    )
    figures = {
        "road_km": _KM
        | {"description": "roads where people live and work (no motorways; paths only in "
           "settlements)"},
        "all_road_km": _KM,
        "villages": _INT | {"description": "located villages/communities on the network"},
        "villages_schematic": _INT | {"description": "of which with a schematic position"},
        "acftu_km": _KM | {"description": "people roads within 1 km network distance"},
        "acftu_share": _SHARE | {"description": "the ACFTU figure (1 km service radius)"},
        "thresholds": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_THRESHOLDS,
            "items": _ref("CoverageThreshold"),
        },
        "approximate": _BOOL,
    }  # fmt: skip
    query = {
        "mode": {"enum": list(MODES)},
        "mode_label": _STR,
        "minutes": {"type": "array", "minItems": 1, "maxItems": MAX_THRESHOLDS, "items": _MINUTES},
        "kind": {"type": "array", "items": {"enum": list(STATION_KINDS)}},
        "amenity": {"type": "array", "items": {"enum": list(AMENITIES)}},
        "open_at": {"type": ["string", "null"], "format": "date-time"},
        "buffer_m": {"type": "number", "exclusiveMinimum": 0},
    }
    gap = {
        "rank": {"type": "integer", "minimum": 1, "maximum": MAX_GAP_FEATURES},
        "length_km": _KM,
        "town": _STR | {"description": "approximate (近似)"},
        "town_code": _STR,
        "nearest_station_min": _NUM_NULL | {"description": "null: no station reaches it"},
        "pieces": _INT,
    }
    summary = _obj(
        {
            "covered_km": _KM,
            "covered_share": _SHARE,
            "road_km": _KM,
            "villages_covered": _INT,
            "villages": _INT,
            "villages_share": _SHARE,
        }
    )
    site = {
        "rank": {"type": "integer", "minimum": 1},
        "node": _INT | {"description": "network node of the site"},
        "town": _STR | {"description": "approximate (近似)"},
        "town_code": _STR,
        "added_road_km": _NUM | {"description": "exact marginal gain, in order of rank"},
        "added_villages": {"type": "integer"},
        "covered_km_after": _KM,
        "covered_share_after": _SHARE,
        "villages_covered_after": _INT,
        "villages_share_after": _SHARE,
        "model_gain": _NUM | {"description": "marginal gain in the model's own measure"},
    }

    def collection(feature: str) -> dict:
        return _obj(
            {
                "type": {"const": "FeatureCollection"},
                "features": {"type": "array", "items": _ref(feature)},
            }
        )

    def feature(geometries: list[str], properties: dict, *, nullable: bool = True) -> dict:
        kinds = [_ref(g) for g in geometries] + ([{"type": "null"}] if nullable else [])
        return _obj(
            {
                "type": {"const": "Feature"},
                "geometry": {"oneOf": kinds},
                "properties": _obj(properties),
            }
        )

    return {
        "Polygon": _obj(
            {"type": {"const": "Polygon"}, "coordinates": {"type": "array", "items": ring}}
        ),
        "MultiPolygon": _obj(
            {
                "type": {"const": "MultiPolygon"},
                "coordinates": {"type": "array", "items": {"type": "array", "items": ring}},
            }
        ),
        "CoverageThreshold": threshold,
        "CoverageFigures": _obj(figures, description="District figures (exact)"),
        "CoverageTown": _obj(
            {"code": _STR, "name": _STR, **figures},
            description="Per-town figures: approximate (近似), each road belongs to the "
            "town of the nearest located village, community or town seat",
        ),
        "CoverageQuery": _obj(query),
        "Notice": _obj(
            {"code": {"enum": list(NOTICES)}, "zh": _STR, "en": _STR},
            description="Caveats the figures carry (schematic network, sample data, "
            "approximate towns, schematic village positions)",
        ),
        "UncoveredVillage": _obj(
            {
                "id": _STR,
                "name": _STR,
                "kind": _STR,
                "kind_label": _STR,
                "town": _STR,
                "town_code": _STR,
                "lon": _LON,
                "lat": _LAT,
                "schematic": _BOOL | {"description": "position derived from a schematic network"},
                "travel_time_s": _NUM_NULL | {"description": "to the nearest counted station"},
                "travel_time_min": {"type": ["integer", "null"], "minimum": 0},
                "nearest_station_id": _STR_NULL,
                "nearest_station": _STR_NULL,
            }
        ),
        "CoverageGap": _obj(gap),
        "Coverage": _obj(
            {
                "query": _ref("CoverageQuery"),
                "network": _ref("NetworkSummary"),
                "stations": _obj(
                    {
                        "count": _INT | {"description": "stations counted"},
                        "excluded_far_from_roads": _INT,
                        "sample": _BOOL,
                    }
                ),
                "district": _ref("CoverageFigures"),
                "towns": {"type": "array", "items": _ref("CoverageTown")},
                "uncovered_villages": {"type": "array", "items": _ref("UncoveredVillage")},
                "gaps": {
                    "type": "array",
                    "maxItems": MAX_GAP_FEATURES,
                    "items": _ref("CoverageGap"),
                },
                "notices": {"type": "array", "items": _ref("Notice")},
            },
            description="The figures (Coverage.to_dict)",
        ),
        "CoverageAreaFeature": feature(
            ["Polygon", "MultiPolygon"],
            {"minutes": _MINUTES, "label": _STR, "area_km2": {"type": ["number", "null"]}},
        ),
        "CatchmentFeature": feature(
            ["MultiLineString", "LineString"],
            {
                "station_id": _STR,
                "name": _STR,
                "color": _COLOR,
                "road_km": _KM,
                "people_road_km": _KM,
            },
        ),
        "GapFeature": feature(["MultiLineString", "LineString"], gap),
        "CoverageStationFeature": feature(
            ["Point"],
            {
                "id": _STR,
                "name": _STR,
                "kind": _STR,
                "kind_label": _STR,
                "opening_hours": _STR,
                "color": _COLOR,
                "snap_distance_m": _NUM | {"minimum": 0},
                "sample": _BOOL,
            },
            nullable=False,
        ),
        "CoverageAreaCollection": collection("CoverageAreaFeature"),
        "CatchmentCollection": collection("CatchmentFeature"),
        "GapCollection": collection("GapFeature"),
        "CoverageStationCollection": collection("CoverageStationFeature"),
        "CoverageAnswer": _obj(
            {
                "type": {"const": "FeatureCollection"},
                "layer": {"enum": list(COVERAGE_LAYERS)},
                "features": {
                    "type": "array",
                    "items": {
                        "anyOf": [
                            _ref(f)
                            for f in (
                                "CoverageAreaFeature",
                                "CatchmentFeature",
                                "GapFeature",
                                "CoverageStationFeature",
                            )
                        ]
                    },
                },
                "layers": _obj(
                    {
                        "areas": _ref("CoverageAreaCollection"),
                        "cross": _ref("CoverageAreaCollection"),
                        "catchments": _ref("CatchmentCollection"),
                        "uncovered": _ref("GapCollection"),
                        "stations": _ref("CoverageStationCollection"),
                    },
                    required=[],
                ),
                "coverage": _ref("Coverage"),
                "revision": _STR | {"description": "store revision the answer is computed from"},
                "simplify_m": {"type": "number", "minimum": 0, "maximum": SIMPLIFY_MAX_M},
            },
            description="A GeoJSON FeatureCollection of `layer` with foreign members",
        ),
        "CoverageSummary": summary,
        "SuggestedSite": _obj({**site, "lon": _LON, "lat": _LAT}),
        "SuggestedSiteFeature": feature(["Point"], site, nullable=False),
        "SuggestAnswer": _obj(
            {
                "type": {"const": "FeatureCollection"},
                "features": {
                    "type": "array",
                    "maxItems": siting.N_MAX,
                    "items": _ref("SuggestedSiteFeature"),
                },
                "siting": _obj(
                    {
                        "query": _obj(
                            query
                            | {
                                "n": {"type": "integer", "minimum": 1, "maximum": siting.N_MAX},
                                "objective": {"enum": list(siting.OBJECTIVES)},
                            }
                        ),
                        "network": _ref("NetworkSummary"),
                        "before": _ref("CoverageSummary"),
                        "after": _ref("CoverageSummary"),
                        "sites": {
                            "type": "array",
                            "maxItems": siting.N_MAX,
                            "items": _ref("SuggestedSite"),
                        },
                        "set_cover": _obj(
                            {
                                "villages": _INT,
                                "uncovered": _INT,
                                "coverable": _INT,
                                "not_coverable": _INT,
                                "stations_needed": _INT
                                | {"description": "new stations to cover every located village"},
                                "optimal": _BOOL,
                                "status": _STR,
                                "nodes": {"type": "array", "items": _INT},
                                "note_zh": _STR,
                            }
                        ),
                        "solver": _obj(
                            {
                                "solver": _STR,
                                "status": _STR,
                                "objective": _NUM_NULL,
                                "bound": _NUM_NULL,
                                "gap": _NUM_NULL,
                                "seconds": _NUM,
                                "candidates": _INT,
                                "candidates_used": _INT,
                                "demand_points": _INT,
                                "demand_rows": _INT,
                                "nonzeros": _INT,
                                "prepare_seconds": _NUM,
                            }
                        ),
                        "greedy": _obj(
                            {
                                "sites": _INT,
                                "objective": _NUM_NULL,
                                "seconds": _NUM,
                                "nodes": {"type": "array", "items": _INT},
                            },
                            description="the greedy baseline on the same model",
                        ),
                        "notices": {"type": "array", "items": _ref("Notice")},
                    }
                ),
                "revision": _STR,
            },
            description="The suggested sites as GeoJSON points with the whole answer",
        ),
    }


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
