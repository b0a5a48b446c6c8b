"""Schemathesis over /api/openapi.json, in-process through WSGI (no network, no server).

Every operation of the description gets a bounded, derandomised run of schema-valid
(positive) requests and, where it takes parameters, of schema-invalid (negative) ones. Each
answer must be no 5xx, a documented status code with the documented content type, and match
the documented response schema — so the run checks the answers, not only the status codes.

The app routes on the small 鼓楼 extract with stations on its streets and rate limits off.
Most positive origins are moved onto that extract (and half the station ids made real), so
that answers carry real routes and records instead of only 422s and 404s. Likewise half the
tour requests name stations on the extract and half the plan ids a saved plan; the tour
search is bounded to a few iterations (``TOURS_ITERATIONS``), so no fuzzed request can
start a long solve.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from conftest import GRID_STATIONS, make_app, stations_frame
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from geoservice import __version__
from geoservice.web.openapi import spec

#: Every test here fuzzes the API: seconds each.
pytestmark = pytest.mark.slow

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Examples per operation and mode: 15 runs × 20 ≈ 300 requests in total (set
#: GEOSERVICE_FUZZ_EXAMPLES=200 for a longer hunt; the suite keeps the bounded default).
EXAMPLES = int(os.environ.get("GEOSERVICE_FUZZ_EXAMPLES", "20"))
#: The small extract's streets: lon, lat of the south-west corner, width, height (degrees).
GULOU = (116.8290, 40.3670, 0.0070, 0.0100)

# The operations, from the description itself (every /api route is in it: tests/test_api.py);
# invalid requests only where there is something to make invalid (a path id is any text).
CASES = [
    (mode, method.upper(), path)
    for path, item in spec(__version__)["paths"].items()
    for method, operation in item.items()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE
    or any(p["in"] != "path" for p in operation.get("parameters", []))
    or operation.get("requestBody")
]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("schemathesis")
    app = make_app(
        tmp, stations=stations_frame(GRID_STATIONS), RATELIMIT_ENABLED=False, TOURS_ITERATIONS=50
    )
    posted = app.test_client().post("/api/tours", json=TOUR)
    assert posted.status_code == 202, posted.get_json()
    job = app.test_client().get(posted.headers["Location"]).get_json()
    assert job["state"] == "done", job
    _SAVED["tour_id"], _SAVED["job_id"] = job["result"]["tour_id"], job["id"]
    # The write operations run with an editor's token (a run without one gets 401s only).
    accounts = app.extensions["geoservice.staff"].accounts
    accounts.create("fuzz", "editor", "a long fuzzing password")
    _SAVED["token"] = accounts.issue_token("fuzz")
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


#: A tour on the small extract (T04 stands on an isolated road: not named here).
TOUR = {"depot": "T00", "stops": ["T01", "T02", "T03"], "days": 2}
#: The id of the plan saved by the fixture.
_SAVED: dict[str, str] = {}


def _onto_gulou(lon: float, lat: float) -> list[float]:
    """A valid point, moved onto the small extract three times out of four (deterministic)."""
    if int(abs(lon) * 1e6) % 4 == 0:
        return [lon, lat]
    x0, y0, w, h = GULOU
    return [round(x0 + abs(lon) % 1 * w, 7), round(y0 + abs(lat) % 1 * h, 7)]


def _steer(case):
    """Point valid requests at the data the test app has."""
    query, body = case.query, case.body
    if isinstance(query, dict) and isinstance(query.get("lon"), float | int):
        query["lon"], query["lat"] = _onto_gulou(query["lon"], query["lat"])
    if isinstance(body, dict) and isinstance(body.get("origins"), list):
        body["origins"] = [_onto_gulou(*o) for o in body["origins"]]
    if isinstance(body, dict) and "stops" in body and len(str(body["stops"])) % 4:
        body.update(depot=TOUR["depot"], stops=TOUR["stops"][: 1 + len(body) % 3])
        if body.get("start_date"):
            body["start_date"] = "2026-03-02"
        for key in ("service_minutes", "time_windows", "optional"):
            if isinstance(body.get(key), dict | list):
                body[key] = type(body[key])()  # ids of other stops: a 400
    if isinstance(body, dict) and "opening_hours" in body and len(body) % 2:
        # Half the new stations are valid ones on the extract: real 201s, not only 422s.
        body.update(lon=GULOU[0] + 0.003, lat=GULOU[1] + 0.004, opening_hours="24/7")
        body.pop("id", None)
        body.pop("town_code", None)
    ids = case.path_parameters or {}
    if "station_id" in ids and len(ids["station_id"]) % 2:
        ids["station_id"] = f"T{len(ids['station_id']) % len(GRID_STATIONS):02d}"
    if "tour_id" in ids and ids["tour_id"][-1] in "02468ace":
        ids["tour_id"] = _SAVED["tour_id"]
    if "job_id" in ids and ids["job_id"][-1:] in tuple("02468ace"):
        ids["job_id"] = _SAVED["job_id"]
    return case


@pytest.mark.parametrize(("mode", "method", "path"), CASES)
def test_api_conforms_to_its_openapi_description(api_schema, mode, method, path):
    strategy = api_schema[path][method].as_strategy(generation_mode=mode)
    if mode is GenerationMode.POSITIVE:
        strategy = strategy.map(_steer)

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        # The WSGI transport does not decode Content-Encoding: ask for plain bytes (gzip is
        # checked in tests/test_api_coverage.py).
        case.headers = {**(case.headers or {}), "Accept-Encoding": "identity"}
        if case.operation.definition.raw.get("security"):
            case.headers["Authorization"] = f"Bearer {_SAVED['token']}"
        case.call_and_validate(checks=CHECKS)

    check()


def test_write_operations_are_fuzzed_with_a_token():
    """The staff's write operations are in the description, so in the runs above (with the
    editor's token the fixture makes)."""
    fuzzed = {(method, path) for _, method, path in CASES}
    assert {
        ("POST", "/api/stations"),
        ("PATCH", "/api/stations/{station_id}"),
        ("DELETE", "/api/stations/{station_id}"),
        ("POST", "/api/stations/{station_id}/restore"),
        ("POST", "/api/sites"),
        ("PATCH", "/api/sites/{site_id}"),
        ("DELETE", "/api/sites/{site_id}"),
        ("POST", "/api/sites/{site_id}/restore"),
    } <= fuzzed


def test_coverage_operations_are_fuzzed():
    """The coverage operations are in the description, so in the runs above; on the small
    extract each answer (even n=50 sites) takes milliseconds, so the bounded run stays fast."""
    fuzzed = {(method, path) for _, method, path in CASES}
    assert {("GET", "/api/coverage"), ("GET", "/api/coverage/suggest")} <= fuzzed
