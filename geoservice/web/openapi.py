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
from geoservice.coverage import MAX_MINUTES, siting
from geoservice.district import MIYUN, District
from geoservice.model import SITE_KINDS, STATION_KINDS
from geoservice.nearest import MAX_SNAP_M
from geoservice.service import (
    BATCH_BODY_MAX,
    BATCH_MAX,
    REPORT_BODY_MAX,
    BatchQuery,
    CoverageRequest,
    NearestQuery,
    ReportBody,
    SitesQuery,
    StationQuery,
    StationsQuery,
    TourFileQuery,
    ToursPage,
)
from geoservice.store import records
from geoservice.store.tables import MAX_NAME_CHARS, MAX_TEXT_CHARS
from geoservice.tours.export import MEDIA_TYPES
from geoservice.tours.request import TourRequest
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
_STR_NULL = {"type": ["string", "null"]}
_NUM = {"type": "number"}
_NUM_NULL = {"type": ["number", "null"]}
_INT = {"type": "integer", "minimum": 0}
_BOOL = {"type": "boolean"}
_TIME = {"type": "string", "format": "date-time"}
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
    responses.ReportReceipt,
    responses.NearestAnswer,
    responses.BatchAnswer,
    responses.NetworkInfo,
    responses.RoadCollection,
    responses.TourPlan,
    responses.TourList,
    responses.CoverageAnswer,
    responses.SuggestAnswer,
    responses.SiteFeature,
    responses.ErrorBody,
    responses.RecordErrorBody,
    responses.TourErrorBody,
    responses.JobBody,
)


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
    "Unauthorized": ("no valid token (nor a staff session)", responses.ErrorBody),
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
        "the job queue is full (retry after Retry-After seconds); where jobs run in the "
        "request (JOBS_MODE=inline), also no usable road network or the plan cannot be saved",
        responses.ErrorBody,
    ),
    "AnswerUnavailable": (
        "no usable road network, or the answer is not cached and the job queue is full "
        "(retry after Retry-After seconds)",
        responses.ErrorBody,
    ),
    "JobForbidden": (
        "another user's job: only the user who asked, or an admin, may cancel it",
        responses.ErrorBody,
    ),
    "JobNotFound": (
        "no job with this id (finished jobs are forgotten after a week)",
        responses.ErrorBody,
    ),
}
_STATUS = {
    "400": "BadRequest",
    "401": "Unauthorized",
    "404": "NotFound",
    "405": "MethodNotAllowed",
    "413": "TooLarge",
    "415": "UnsupportedMediaType",
    "422": "Unprocessable",
    "429": "TooManyRequests",
    "503": "Unavailable",
}


def _errors(*codes: int, names: Mapping[int, str] | None = None) -> dict:
    """References to the error responses of ``codes`` (``names``: other ones for some)."""
    names = names or {}
    return {
        str(c): {"$ref": f"#/components/responses/{names.get(c) or _STATUS[str(c)]}"} for c in codes
    }


def _ok(description: str, schema: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _accepted(description: str) -> dict:
    """A ``202 Accepted``: the job that computes the answer, to follow at its Location."""
    return {
        "description": description,
        "headers": {
            "Location": {"description": "the job: /api/jobs/{job_id}", "schema": _STR},
            "Retry-After": {
                "description": "seconds to wait before looking at the job again",
                "schema": {"type": "integer", "minimum": 0},
            },
        },
        "content": {"application/json": {"schema": _ref("JobBody")}},
    }


def _responses() -> dict:
    """The component responses: the error answers with their bodies."""
    return {name: _ok(text, body.__name__) for name, (text, body) in _RESPONSES.items()}


# -- parameters and bodies, from the request declarations ------------------------------------


def _parameter(prm: params.Param, towns: Mapping[str, str]) -> dict:
    """A query or path parameter as declared (:mod:`geoservice.params`)."""
    out: dict = {
        "name": prm.name,
        "in": prm.location,
        "required": prm.required or prm.location == "path",
        "description": prm.description,
        "schema": prm.text_schema(),
    }
    if prm.name == "town" and towns:  # the district's towns, known only when served
        out["schema"]["items"] = {"enum": list(towns) + list(towns.values())}
    if prm.reader.many:
        out.update(style="form", explode=True)
    if prm.example is not None:
        out["example"] = prm.example
    return out


def _parameters(declaration: type, towns: Mapping[str, str] | None = None) -> list[dict]:
    """Every query and path parameter of a declaration, in declaration order."""
    return [
        _parameter(prm, towns or {})
        for prm in params.parameters(declaration, documented=True)
        if prm.location in ("query", "path")
    ]


def _body(schema: str, example: dict) -> dict:
    """A required JSON request body (its schema a component from :func:`_request_schemas`)."""
    return {
        "required": True,
        "content": {"application/json": {"schema": _ref(schema), "example": example}},
    }


def _request_schemas() -> dict:
    """The JSON bodies the API takes, from their declarations."""
    return {
        "BatchRequest": params.body_schema(BatchQuery),
        "TourRequest": params.body_schema(TourRequest),
        "StationFeatureInput": _record_body(
            "stations", required=["name", "lon", "lat", "opening_hours"]
        ),
        "StationFeaturePatch": _record_body("stations", required=[]),
        "SiteFeatureInput": _record_body("sites", required=["name"]),
        "SiteFeaturePatch": _record_body("sites", required=[]),
        "ReportRequest": params.body_schema(ReportBody),
    }


def _get(summary: str, responses: dict, declaration: type | None = None, **extra) -> dict:
    """A GET operation; its parameters from ``declaration``."""
    op: dict = {"summary": summary}
    if declaration is not None:
        op["parameters"] = _parameters(declaration, extra.pop("towns", None))
    return {"get": op | extra | {"responses": responses}}


# -- the document --------------------------------------------------------------------------------

_DESCRIPTION = (
    "warm stations (暖心驿站), worker homes, sites, the nearest open station by road travel "
    "time, and multi-day caravan tours (区级大篷车巡回路线). Sample data carry "
    "source=sample; a schematic road network is flagged network.schematic=true. Every error "
    "is a JSON Error body with a Chinese and an English message; a method a path does not "
    "take is a 405 with the same body."
)


def spec(
    version: str,
    town_names: Mapping[str, str] | None = None,
    *,
    district: District | Mapping[str, str] = MIYUN,
) -> dict:
    """The OpenAPI document (paths relative to the site root).

    Parameters
    ----------
    version
        The service's version.
    town_names
        Town code → Chinese name (the ``town`` parameter accepts either).
    district
        The district profile (or its words): the organisation and district the title and
        description name; default the shipped district's.
    """
    words = district.words() if isinstance(district, District) else dict(district)
    towns = dict(town_names or {})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{words['org']} geoservice API",
            "version": version,
            "description": f"{words['org_en']} ({words['name_en']}, {words['name']}): "
            + _DESCRIPTION,
        },
        "paths": {
            **_merge_paths(_catalogue_paths(towns), _write_paths()),
            **_routing_paths(),
            **_tour_paths(),
            **_job_paths(),
            **_coverage_paths(),
            **_report_paths(),
            "/api/openapi.json": _get(
                "This document",
                {
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
            ),
        },
        "components": {
            "schemas": _schemas(),
            "responses": _responses(),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a staff API token: flask --app app users token NAME, or /admin",
                }
            },
        },
    }


def _merge_paths(*groups: dict) -> dict:
    """Path items of several groups, the operations of one path together."""
    out: dict = {}
    for group in groups:
        for path, item in group.items():
            out.setdefault(path, {}).update(item)
    return out


def _catalogue_paths(towns: Mapping[str, str]) -> dict:
    """Stations, sites, towns and health."""
    return {
        "/api/stations": _get(
            "Stations as GeoJSON, with open-now status",
            {"200": _ok("GeoJSON FeatureCollection", "StationCollection"), **_errors(400)},
            StationsQuery,
            towns=towns,
        ),
        "/api/stations/{station_id}": _get(
            "One station as a GeoJSON Feature",
            {"200": _feature("StationFeature", "GeoJSON Feature"), **_errors(400, 404)},
            StationQuery,
        ),
        "/api/sites": _get(
            "Villages, communities and reservoir sites as GeoJSON",
            {"200": _ok("GeoJSON FeatureCollection", "SiteCollection"), **_errors(400)},
            SitesQuery,
            towns=towns,
        ),
        "/api/sites/{site_id}": _get(
            "One village, community or reservoir site as a GeoJSON Feature",
            {"200": _feature("SiteFeature", "GeoJSON Feature"), **_errors(400, 404)},
            parameters=[
                {
                    "name": "site_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "minLength": 1},
                    "example": "110118001001",
                }
            ],
        ),
        "/api/towns": _get(
            "The district's towns and subdistricts",
            {"200": _ok("GeoJSON FeatureCollection", "TownCollection")},
        ),
        "/api/health": _get("Store revision and counts", {"200": _ok("health", "Health")}),
    }


# -- writes (staff, with a token) -------------------------------------------------------------

_TEXT = {"type": ["string", "null"], "maxLength": MAX_TEXT_CHARS}
_NUMBER_OR_TEXT = {"type": ["number", "string", "null"]}
#: The fields of a record as the write API takes them: the import's columns.
_FIELD_SCHEMAS: dict[str, dict] = {
    "id": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$"},
    "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_CHARS},
    "lon": _NUMBER_OR_TEXT,
    "lat": _NUMBER_OR_TEXT,
    "address": _TEXT,
    "town_code": _TEXT,
    "opening_hours": {
        **_TEXT,
        "description": "OSM opening_hours, or a Chinese form (周一至周五 8:00-17:30)",
    },
    "amenities": {
        "description": "amenity keys or Chinese labels: a list, or one text joined by ; 、",
        "oneOf": [{"type": "array", "items": {"type": "string"}, "maxItems": 50}, _TEXT],
    },
    "phone": _TEXT,
    "host_org": _TEXT,
    "capacity": {"type": ["integer", "string", "null"]},
    "verified_on": {**_TEXT, "description": "YYYY-MM-DD"},
    "source": _TEXT,
    "code": {**_TEXT, "description": "NBS statistical division code (12 digits)"},
    "service_minutes": {"type": ["integer", "string", "null"]},
    "official_name": _TEXT,
    "coord_source": _TEXT,
    "crs": {
        "type": "string",
        "enum": _CRS,
        "description": "CRS of lon/lat: wgs84 (default), gcj02 (Amap, Tencent), bd09 (Baidu)",
    },
}
_KIND_SCHEMAS = {
    "stations": {"type": "string", "enum": [*STATION_KINDS, *STATION_KINDS.values()]},
    "sites": {"type": "string", "enum": [*SITE_KINDS, *SITE_KINDS.values()]},
}


def _record_body(layer: str, *, required: list[str]) -> dict:
    """The JSON body of a record (closed: an unknown field is refused)."""
    columns = records.FIELDS[layer]
    props = {c: _KIND_SCHEMAS[layer] if c == "kind" else _FIELD_SCHEMAS[c] for c in columns}
    town = {
        **_TEXT,
        "description": "the town by name (full, short or pinyin), instead of town_code",
    }
    return _obj({**props, "town": town, "crs": _FIELD_SCHEMAS["crs"]}, required=required)


_WRITE_ERRORS = {
    "401": "no valid token (nor a staff session)",
    "403": "the user's role or towns do not allow this record",
    "409": "the id is taken by another record now (restore)",
    "412": "If-Match names an older version: the record changed since; nothing was changed",
    "422": "the record is not valid: every problem listed in `errors`, in the import's words",
}
_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": 'the ETag (version) the change is based on, e.g. "3"; stale: 412',
    "schema": {"type": "string", "maxLength": 20},
}
_ETAG = {"ETag": {"description": "the record's version", "schema": {"type": "string"}}}


def _write_errors(*codes: int) -> dict:
    out = {}
    for code in codes:
        key = str(code)
        if key in _WRITE_ERRORS:
            out[key] = _ok(_WRITE_ERRORS[key], "RecordErrorBody")
        else:
            out.update(_errors(code))
    return out


def _feature(schema: str, description: str) -> dict:
    return _ok(description, schema) | {"headers": _ETAG}


def _write_paths() -> dict:
    """Writes of stations and sites: each needs a bearer token (``flask users token``)."""
    out: dict = {}
    for layer, one, key, example in (
        ("stations", "StationFeature", "station_id", _STATION_EXAMPLE),
        ("sites", "SiteFeature", "site_id", _SITE_EXAMPLE),
    ):
        base, item = f"/api/{layer}", f"/api/{layer}/{{{key}}}"
        path_id = {
            "name": key,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1},
        }
        secured = {"security": [{"bearerAuth": []}], "tags": ["staff"]}
        out[base] = {
            "post": {
                "summary": f"Add a record to {layer} (201, Location, ETag)",
                **secured,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": _ref(f"{one}Input"), "example": example}
                    },
                },
                "responses": {
                    "201": _feature(one, "the new record"),
                    **_write_errors(400, 401, 403, 413, 415, 422),
                },
            }
        }
        out[item] = {
            "patch": {
                "summary": "Change the fields sent; the others stay",
                **secured,
                "parameters": [path_id, _IF_MATCH],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": _ref(f"{one}Patch"),
                            "example": {"name": "新名称"},
                        }
                    },
                },
                "responses": {
                    "200": _feature(one, "the record as changed"),
                    **_write_errors(400, 401, 403, 404, 412, 413, 415, 422),
                },
            },
            "delete": {
                "summary": "Delete a record (soft: POST …/restore brings it back)",
                **secured,
                "parameters": [path_id, _IF_MATCH],
                "responses": {
                    "204": {"description": "deleted"},
                    **_write_errors(400, 401, 403, 404, 412),
                },
            },
        }
        out[f"{item}/restore"] = {
            "post": {
                "summary": "Bring a deleted record back, as it was, under its id",
                **secured,
                "parameters": [path_id],
                "responses": {
                    "200": _feature(one, "the restored record"),
                    **_write_errors(400, 401, 403, 404, 409),
                },
            }
        }
    return out


_STATION_EXAMPLE = {
    "name": "溪翁庄镇暖心驿站",
    "kind": "warm_station",
    "lon": 116.8425,
    "lat": 40.3776,
    "opening_hours": "周一至周五 8:00-17:30; PH off",
    "amenities": ["drinking_water", "hot_water"],
}
_SITE_EXAMPLE = {"name": "保护点 3 号", "kind": "reservoir_site", "lon": 116.95, "lat": 40.52}


def _routing_paths() -> dict:
    """The nearest station, the batch and the road network."""
    return {
        "/api/nearest": _get(
            "The k nearest matching stations by road travel time, with routes",
            {
                "200": _ok("{origin, network, results, reason}", "NearestAnswer"),
                **_errors(400, 422, 429, 503),
            },
            NearestQuery,
        ),
        "/api/nearest/batch": {
            "post": {
                "summary": f"Nearest station and travel time for up to {BATCH_MAX:,} origins",
                "requestBody": _body(
                    "BatchRequest",
                    {"origins": [[116.842, 40.379], [116.85, 40.38]], "mode": "walk"},
                ),
                "responses": {
                    "200": _ok("one result per origin, in order", "BatchAnswer"),
                    **_errors(400, 413, 415, 422, 429, 503),
                },
            }
        },
        "/api/network": _get(
            "The active road network per mode",
            {"200": _ok("networks", "NetworkInfo"), **_errors(503)},
        ),
        "/api/network/roads": _get(
            "Major roads as GeoJSON (offline basemap)",
            {"200": _ok("GeoJSON", "RoadCollection"), **_errors(503)},
        ),
    }


# -- caravan tours ------------------------------------------------------------------------------


def _tour_errors(*codes: int) -> dict:
    names = {
        400: "TourBadRequest",
        404: "TourNotFound",
        422: "TourUnprocessable",
        503: "TourUnavailable",
    }
    return _errors(*codes, names=names)


_TOUR_PLAN_TEXT = (
    "The plan is computed off the request path, as a job: the answer is 202 with the job "
    "(JobBody) and its URL in Location (/api/jobs/{job_id}); follow it until its state is "
    "done (result.href: the saved plan, /api/tours/{tour_id}) or failed (error: the error "
    "this request would have answered, 422 when the stops do not fit). A bad body or "
    "unknown stops are refused at once (400, 422); where jobs run in the request, a plan "
    "that fails is answered with its error directly. The same request (same body, data, "
    "road network and user) while its job is queued, running or done is that job again. "
    "Each day leaves the depot at day_start and is back by day_end, with a lunch break "
    "(default 60 min starting 11:30–13:30) where the caravan is. Every mandatory stop is "
    "served, then as many optional ones (by priority) as fit, then the least driving. The "
    "search is bounded by iterations with a fixed seed: the same request gives the same "
    "plan. Rate-limited per client. With a staff user's bearer token (or a logged-in page) "
    "the plan is theirs and kept; without, it is anonymous: kept 24 hours, at most 200. The "
    "id cannot be guessed: whoever holds it reads the plan."
)
_TOUR_FILE_TEXT = (
    "gpx: one track per day and a waypoint per stop (WGS84); csv, xlsx: the schedule with "
    "Chinese headers; geojson: routes, stops, depot and unserved stops; html: a printable "
    "zh-Hans schedule, one page per day with a map and navigation links, sent inline and "
    "without any script. Named in Content-Disposition (ASCII filename and RFC 5987 filename*)."
)


def _tour_paths() -> dict:
    """Plan, list, show and export caravan tours."""
    example = {
        "stops": ["reservoir_site"],
        "days": 3,
        "start_date": "2026-03-02",
        "day_start": "08:30",
        "day_end": "17:30",
        "lunch_minutes": 60,
    }
    one = [prm for prm in _parameters(TourFileQuery) if prm["name"] == "tour_id"]
    return {
        "/api/tours": {
            "post": {
                "summary": "Plan a multi-day caravan tour on the drive network, and save it "
                "(a job: 202)",
                "description": _TOUR_PLAN_TEXT,
                "requestBody": _body("TourRequest", example),
                "security": [{}, {"bearerAuth": []}],
                "responses": {
                    "202": _accepted("the job planning the tour (its URL in Location)"),
                    **_errors(401),
                    **_tour_errors(400, 413, 415, 422, 429, 503),
                },
            },
            **_get(
                "The saved tour plans the reader may see, newest first",
                {"200": _ok("a page of plan summaries", "TourList"), **_errors(400, 401)},
                ToursPage,
                description="None to an anonymous reader; their own and the anonymous ones "
                "to a staff user (bearer token or page session); all to an admin.",
                security=[{}, {"bearerAuth": []}],
            ),
        },
        "/api/tours/{tour_id}": {
            "get": {
                "summary": "A saved tour plan",
                "parameters": one,
                "responses": {
                    "200": _ok("the plan", "TourPlan"),
                    **_errors(400),  # an id holding a control character
                    **_tour_errors(404),
                },
            }
        },
        "/api/tours/{tour_id}.{format}": _get(
            "A saved tour plan as a file",
            {
                "200": {
                    "description": "the file",
                    "headers": {"Content-Disposition": {"schema": {"type": "string"}}},
                    "content": _tour_file_content(),
                },
                **_errors(400),  # an id holding a control character
                **_tour_errors(404),
            },
            TourFileQuery,
            description=_TOUR_FILE_TEXT,
        ),
    }


def _tour_file_content() -> dict:
    """The media types a saved plan is served as."""
    text = {"schema": {"type": "string"}}  # binary or text documents, by their media types
    geojson = {
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
    files = {MEDIA_TYPES[fmt].split(";")[0]: text for fmt in ("gpx", "csv", "xlsx", "html")}
    return {**files, MEDIA_TYPES["geojson"]: geojson}


# -- jobs --------------------------------------------------------------------------------------

_JOB_TEXT = (
    "Tour plans, coverage answers not cached yet and site suggestions run as jobs off the "
    "request path; the request that starts one answers 202 with the job and its URL in "
    "Location. A job is queued, running (progress: its step and how far), then done "
    "(result.href: where the answer is), failed or cancelled (error: the API's bilingual "
    "error body; stopped at its time cap: 503). Look again after Retry-After seconds. "
    "Rate-limited per client (RATELIMIT_JOBS). Finished jobs are forgotten after a week."
)
_JOB_ERRORS = {403: "JobForbidden", 404: "JobNotFound"}
_JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "description": "the job's id, from the Location of the 202 answer",
    "schema": {"type": "string", "minLength": 1},
    "example": "3f9c2a7b41d0e865",
}


def _job_paths() -> dict:
    """Following and cancelling a job (``/api/jobs/{job_id}``)."""
    return {
        "/api/jobs/{job_id}": {
            "get": {
                "summary": "A job: its state, progress and, when done, the link to its result",
                "description": _JOB_TEXT,
                "parameters": [_JOB_ID],
                "responses": {
                    "200": _ok("the job", "JobBody"),
                    **_errors(404, 429, names=_JOB_ERRORS),
                },
            },
            "delete": {
                "summary": "Cancel a queued or running job (a running one stops within a second)",
                "description": "Anyone holding the id of an anonymous job may cancel it; a "
                "staff user's job, only that user (bearer token, or page session with its CSRF "
                "token) or an admin. A finished job stays as it is. The answer is the job as "
                "it is then.",
                "parameters": [_JOB_ID],
                "security": [{}, {"bearerAuth": []}],
                "responses": {
                    "200": _ok("the job (state cancelled, or running until it stops)", "JobBody"),
                    **_errors(401, 403, 404, names=_JOB_ERRORS),
                },
            },
        }
    }


# -- coverage ----------------------------------------------------------------------------------

_SHARE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_KM = {"type": "number", "minimum": 0}
_MINUTES = {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_MINUTES}
_COLOR = {"type": "string", "pattern": "^#[0-9a-f]{6}$"}


_CACHED = (
    " Answers are cached per store revision and road network: a weak ETag, "
    "Cache-Control: no-cache (If-None-Match gives a 304), gzip when accepted. An answer not "
    "cached yet is computed as a job: 202 with the job and its URL in Location "
    "(/api/jobs/{job_id}); when it is done, its result.href is this same URL, answered "
    "from the cache (200). The same question while its job is queued or running is that "
    "job again."
)
_COVERAGE_TEXT = (
    "A GeoJSON FeatureCollection of `layer` (default: the coverage areas, one polygon per "
    "threshold, largest first: reached roads buffered by `buffer_m`, never hulls) with "
    "foreign members `layers` (further layers), `coverage` (district and per-town figures "
    "over the roads where people live and work, with the whole network's beside them; the "
    "ACFTU share of roads within 1 km of a station; uncovered villages with their travel "
    "time; gaps per town and per road (by name, or by class where unnamed), longest "
    "first; notices), `revision` and `simplify_m`. Per-town figures are approximate (近似)."
)
_SUGGEST_TEXT = (
    "n new sites maximising the uncovered people-road length (objective roads) or located "
    "villages (objective villages) brought within the threshold, solved by HiGHS on network "
    f"nodes at least {siting.CANDIDATE_SPACING_M:g} m apart; each site's exact marginal gain "
    "in rank order, coverage before and after, the number of new stations needed to cover "
    "every located village (set covering) and the greedy baseline."
)


def _coverage_paths() -> dict:
    """The paths of ``/api/coverage`` and ``/api/coverage/suggest``."""
    not_modified = {"304": {"description": "not modified (If-None-Match)"}}
    unavailable = {503: "AnswerUnavailable"}
    return {
        "/api/coverage": _get(
            "Coverage by travel time: areas, cross-coverage, catchments, uncovered roads and "
            "the figures",
            {
                "200": _ok("GeoJSON with the figures", "CoverageAnswer"),
                "202": _accepted("not cached yet: the job computing it (its URL in Location)"),
                **not_modified,
                **_errors(400, 429, 503, names=unavailable),
            },
            CoverageRequest,
            description=_COVERAGE_TEXT + _CACHED,
        ),
        "/api/coverage/suggest": _get(
            "Suggested new station sites: maximal covering with the existing stations fixed",
            {
                "200": _ok("GeoJSON points with the answer", "SuggestAnswer"),
                "202": _accepted("not cached yet: the job computing it (its URL in Location)"),
                **not_modified,
                **_errors(400, 429, 503, names=unavailable),
            },
            siting.SitingQuery,
            description=_SUGGEST_TEXT + _CACHED,
        ),
    }


# -- worker reports ------------------------------------------------------------------------------

_REPORT_TEXT = (
    "A worker tells the union's staff about a problem with a station, without an account: "
    "closed when it should be open, no hot water, not where the map says, or other, with an "
    "optional note. The report changes nothing by itself: staff confirm it in /admin (which "
    "corrects the station, in the audit log) or dismiss it; until then the station's "
    "answers count it in `open_reports`. Rate-limited per client (RATELIMIT_REPORTS); a "
    "client may have at most 3 open reports on one station (409)."
)


def _report_paths() -> dict:
    """Filing a worker's report on a station."""
    station_id = [prm for prm in _parameters(StationQuery) if prm["name"] == "station_id"]
    created = _ok("the report, filed, with a thank-you", "ReportReceipt")
    conflict = _ok("this client has 3 open reports on the station already", "ErrorBody")
    too_large = _ok(f"request body over {REPORT_BODY_MAX // 1024} KB", "ErrorBody")
    return {
        "/api/stations/{station_id}/reports": {
            "post": {
                "summary": "Report a problem with a station (workers, no account)",
                "description": _REPORT_TEXT,
                "parameters": station_id,
                "requestBody": _body("ReportRequest", {"problem": "no_hot_water", "note": ""}),
                "responses": {
                    "201": created,
                    "409": conflict,
                    "413": too_large,
                    # 405: an id holding a slash routes to the station's own path.
                    **_errors(400, 404, 405, 415, 429),
                },
            }
        }
    }
