"""The caravan tour planner: every returned plan is feasible (windows, lunch, day limits,
service times, each mandatory stop once, the base at both ends), small plans are optimal
against exhaustive search, the same request gives the same plan, and every error case."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import numpy as np
import pytest
from conftest import SMALL_OSM, stations_frame

from geoservice import network
from geoservice.errors import ParameterError, StoreError, TourError, TourNotFoundError
from geoservice.network import osm
from geoservice.store import GpkgStore
from geoservice.tours import planner as tour
from geoservice.tours import vrp
from geoservice.tours.request import TourRequest
from geoservice.tours.saved import TourStore
from geoservice.web import DEFAULT_GPKG

#: Small, machine-independent search for tests.
QUICK = vrp.Budget(iterations=400, no_improvement=150, seconds=30, seed=1)

#: The base and stops on the streets of tests/data/gulou_small.osm.
POINTS = {
    "BASE": (116.8312, 40.3698),  # 中街
    "S1": (116.8306, 40.3680),
    "S2": (116.8340, 40.3680),
    "S3": (116.8300, 40.3690),
    "S4": (116.8348, 40.3705),
    "S5": (116.8318, 40.37161),  # one-way 北街
    "S6": (116.8336, 40.37161),
    "S7": (116.8324, 40.3707),
    "S8": (116.8330, 40.3698),
    "U1": (116.8315, 40.3760),  # isolated service road
    "M1": (116.8420, 40.3700),  # motorway without access
    "F1": (116.9200, 40.4500),  # far from every road
}
KINDS = {"BASE": "caravan_base", "U1": "worker_home", "M1": "worker_home", "F1": "worker_home"}
GRID = [f"S{i}" for i in range(1, 9)]


@pytest.fixture(scope="module")
def drive():
    return network.build(osm.read_graph(SMALL_OSM), "drive", source="gulou_small.osm")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = GpkgStore(tmp_path_factory.mktemp("tour") / "live.gpkg", seed=DEFAULT_GPKG)
    names = list(POINTS)
    frame = stations_frame(
        list(POINTS.values()),
        kinds=[KINDS.get(n, "warm_station") for n in names],
        names=[f"站{n}" for n in names],
    )
    frame["id"] = names
    s.update("stations", lambda g: (frame, None))
    return s


def resolve_body(body, store):
    """A request body parsed (no store) and resolved against the store, as the planner does."""
    return tour.resolve(TourRequest.parse(body), store)


def plan_of(body, store, drive, **kw):
    request = resolve_body(body, store)
    return request, tour.plan(request, drive, budget=kw.pop("budget", QUICK), **kw)


def _s(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 3600 + int(m) * 60


def check_feasible(result: dict, request: tour.ResolvedRequest) -> None:
    """Independent feasibility check of a plan against its request."""
    stops = {s.id: s for s in request.stops}
    seen = []
    depot = request.depot.id
    lunch_due = (
        request.lunch_s
        and max(request.day_start, tour.LUNCH_EARLIEST) + request.lunch_s <= request.day_end
    )
    for day in result["days"]:
        legs = day["legs"]
        assert legs[0]["from_id"] == depot
        assert legs[-1]["to_id"] == depot
        assert day["depart_s"] >= request.day_start
        assert day["finish_s"] <= request.day_end
        assert day["return_s"] <= day["finish_s"]
        # Walk the day: every leg leaves when the previous activity ends.
        t = day["depart_s"]
        lunch = day["lunch"]
        # A day back at the base before the lunch window opens has no lunch.
        if lunch_due and day["return_s"] > tour.LUNCH_EARLIEST:
            assert lunch is not None, "a day without lunch"
            assert tour.LUNCH_EARLIEST <= lunch["start_s"] <= tour.LUNCH_LATEST
            assert lunch["end_s"] - lunch["start_s"] == request.lunch_s
            if lunch["place"] == "start":
                assert lunch["end_s"] <= day["depart_s"]
            if lunch["place"] == "end":
                assert lunch["start_s"] >= day["return_s"]
        elif not lunch_due:
            assert lunch is None
        leg_i = 0
        for k, stop in enumerate(day["stops"]):
            s = stops[stop["id"]]
            seen.append(s.id)
            leg = legs[leg_i]
            leg_i += 1
            assert leg["to_id"] == s.id
            assert abs(stop["arrival_s"] - (t + leg["drive_s"])) <= 1
            assert stop["start_s"] >= stop["arrival_s"]
            assert stop["end_s"] - stop["start_s"] == s.service_s
            if s.window:
                assert s.window[0] <= stop["start_s"]
                assert stop["end_s"] <= s.window[1]
            t = stop["end_s"]
            if lunch and lunch["after_seq"] == k + 1:
                if lunch["place"] == "depot":
                    back = legs[leg_i]
                    leg_i += 1
                    assert back["to_id"] == depot
                    t += back["drive_s"]
                assert lunch["start_s"] >= t
                t = lunch["end_s"]
        assert leg_i == len(legs) - 1
        assert abs(day["return_s"] - (t + legs[-1]["drive_s"])) <= 1
        assert day["totals"]["drive_s"] == pytest.approx(
            sum(x["drive_s"] for x in legs), abs=len(legs)
        )
        coords = day["route"]["geometry"]["coordinates"]
        assert coords[0] == pytest.approx([request.depot.lon, request.depot.lat], abs=1e-6)
        assert coords[-1] == pytest.approx([request.depot.lon, request.depot.lat], abs=1e-6)
    assert len(seen) == len(set(seen)), "a stop served twice"
    unserved = {u["id"] for u in result["unserved"]}
    for s in request.stops:
        assert (s.id in seen) != (s.id in unserved), s.id
        if not s.optional:
            assert s.id in seen or (s.id in unserved and not s.named)


# -- plans are feasible -----------------------------------------------------------------


def test_basic_plan_is_feasible_with_lunch(store, drive):
    request, result = plan_of({"stops": GRID, "days": 2, "service_minutes": 70}, store, drive)
    check_feasible(result, request)
    assert result["summary"]["stops_served"] == 8
    assert result["schematic"] is False
    assert result["network"]["mode"] == "drive"
    # Every day still out at 11:30 has its lunch (a day back earlier needs none).
    assert all(d["lunch"] for d in result["days"] if d["return_s"] > tour.LUNCH_EARLIEST)
    json.dumps(result)  # JSON-ready


def test_lunch_waits_when_no_service_ends_in_the_window(store, drive):
    # S1 ends around 11:00; S2 takes 4 hours: the lunch must wait at S1 (or the base)
    # until 11:30, then S2 runs into the afternoon.
    body = {
        "stops": ["S1", "S2"],
        "days": 1,
        "day_start": "09:00",
        "service_minutes": {"S1": 115, "S2": 240},
        "time_windows": {"S1": "09:00-11:05"},
    }
    request, result = plan_of(body, store, drive)
    check_feasible(result, request)
    day = result["days"][0]
    assert [s["id"] for s in day["stops"]] == ["S1", "S2"]
    assert day["lunch"]["start"] == "11:30"


def test_time_windows_before_and_after_lunch(store, drive):
    body = {
        "stops": GRID,
        "days": 2,
        "service_minutes": 45,
        "time_windows": {
            "S1": "14:00-16:00",
            "S2": "08:30-09:30",
            "S5": "13:00-15:00",
            "S7": "11:00-12:30",
        },
    }
    request, result = plan_of(body, store, drive)
    check_feasible(result, request)
    assert result["summary"]["stops_served"] == 8


@pytest.mark.parametrize(
    ("day_start", "day_end", "lunch"),
    [
        ("08:30", "17:30", 60),
        ("13:00", "18:00", 45),
        ("07:00", "11:00", 60),
        ("08:30", "12:40", 60),
    ],
)
def test_working_windows_and_lunch_rules(store, drive, day_start, day_end, lunch):
    body = {"stops": GRID[:4], "days": 3, "day_start": day_start, "day_end": day_end,
            "lunch_minutes": lunch, "service_minutes": 30}  # fmt: skip
    request, result = plan_of(body, store, drive)
    check_feasible(result, request)


def test_both_lunch_models_give_feasible_days(store, drive):
    body = {"stops": GRID, "days": 3, "service_minutes": 50,
            "time_windows": {"S3": "12:00-14:30", "S8": "10:40-12:10"}}  # fmt: skip
    request = resolve_body(body, store)
    m = tour.routing.travel_matrix(
        drive, [request.depot.lon] + [s.lon for s in request.stops],
        [request.depot.lat] + [s.lat for s in request.stops],
    )  # fmt: skip
    problem = tour._problem(request, np.rint(m.time_s).astype(np.int64), request.stops)
    for model in (problem.to_vrp_shifted, problem.to_vrp_variants):
        vp, kind = model()
        solution = vrp.solve(vp, QUICK)
        routes, hints = problem._routes(solution, kind)
        served = sorted(s for order in routes for s in order)
        assert served == list(range(problem.m))
        for order, hint in zip(routes, hints, strict=True):
            if order:  # a day holding only the base's lunch pseudo-stop is an unused day
                assert problem.schedule(order, hint) is not None


# -- optimal on small instances ---------------------------------------------------------


def exhaustive(problem: tour.TourProblem) -> int:
    """Least total driving over every split of the stops into at most ``days`` ordered
    days, each timed exactly (all mandatory)."""
    m = problem.m
    best = None
    cache: dict[tuple, int | None] = {}

    def cost(order: tuple) -> int | None:
        if order not in cache:
            day = problem.schedule(list(order))
            cache[order] = None if day is None else day.drive
        return cache[order]

    for labels in itertools.product(range(problem.days), repeat=m):
        if labels and labels[0] != 0:
            continue  # days are interchangeable: the first stop goes on day 0
        groups = [[i for i in range(m) if labels[i] == d] for d in range(problem.days)]
        total = 0
        for g in groups:
            if not g:
                continue
            costs = [c for c in (cost(p) for p in itertools.permutations(g)) if c is not None]
            if not costs:
                total = None
                break
            total += min(costs)
        if total is not None and (best is None or total < best):
            best = total
    return best


@pytest.mark.parametrize("seed", [3, 8])
def test_small_plans_are_optimal(store, drive, seed):
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(GRID, 6, replace=False).tolist())
    service = {s: int(v) for s, v in zip(chosen, rng.integers(40, 150, 6), strict=True)}
    body = {"stops": chosen, "days": 2, "service_minutes": service}
    request, result = plan_of(body, store, drive)
    check_feasible(result, request)
    m = tour.routing.travel_matrix(
        drive, [request.depot.lon] + [s.lon for s in request.stops],
        [request.depot.lat] + [s.lat for s in request.stops],
    )  # fmt: skip
    problem = tour._problem(request, np.rint(m.time_s).astype(np.int64), request.stops)
    assert result["summary"]["stops_served"] == 6
    assert sum(d["totals"]["drive_s"] for d in result["days"]) == exhaustive(problem)


# -- determinism ------------------------------------------------------------------------


def test_same_request_same_plan(store, drive):
    body = {"stops": GRID, "days": 3, "service_minutes": 55, "start_date": "2026-03-06",
            "optional": {"S4": 1, "S6": 5}}  # fmt: skip
    _, a = plan_of(body, store, drive)
    _, b = plan_of(body, store, drive)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert a["search"]["reproducible"] is True


# -- dates ------------------------------------------------------------------------------


class Holidays(tour.WeekendCalendar):
    """2026-03-09 (Mon) off, 2026-03-07 (Sat) a make-up working day."""

    def is_day_off(self, day):
        if day == dt.date(2026, 3, 7):
            return False
        return day == dt.date(2026, 3, 9) or super().is_day_off(day)


def test_dates_skip_days_off(store, drive):
    body = {"stops": GRID, "days": 3, "service_minutes": 120, "start_date": "2026-03-06"}
    _, result = plan_of(body, store, drive)
    assert [d["date"] for d in result["days"]] == ["2026-03-06", "2026-03-09", "2026-03-10"][
        : len(result["days"])
    ]
    assert result["days"][0]["weekday"] == "周五"
    _, result = plan_of(body, store, drive, calendar=Holidays())
    assert [d["date"] for d in result["days"]][:3] == ["2026-03-06", "2026-03-07", "2026-03-10"][
        : len(result["days"])
    ]
    _, result = plan_of({**body, "skip_days_off": False}, store, drive)
    assert [d["date"] for d in result["days"]][:2] == ["2026-03-06", "2026-03-07"]


# -- optional stops ---------------------------------------------------------------------


def test_optional_stops_by_priority_when_days_are_short(store, drive):
    body = {
        "stops": GRID,
        "days": 1,
        "service_minutes": 70,
        "optional": {"S1": 1, "S2": 5, "S3": 5, "S4": 5},
    }
    request, result = plan_of(body, store, drive)
    check_feasible(result, request)
    served = {s["id"] for d in result["days"] for s in d["stops"]}
    assert {"S5", "S6", "S7", "S8", "S1"} <= served
    left = {u["id"]: u["reason_code"] for u in result["unserved"]}
    assert len(left) == 2
    assert set(left.values()) == {"not_planned"}


# -- errors -----------------------------------------------------------------------------


def test_named_stops_that_cannot_be_served_are_a_422(store, drive):
    with pytest.raises(TourError) as exc:
        resolve_body({"stops": ["S1", "NOPE", "XX9"]}, store)
    assert exc.value.status == 422
    assert [s["id"] for s in exc.value.stops] == ["NOPE", "XX9"]
    no_coord = store.sites().query("coord_source == 'missing'")["id"].iloc[0]
    request = resolve_body({"stops": ["S1", "U1", "M1", "F1", no_coord]}, store)
    with pytest.raises(TourError) as exc:
        tour.plan(request, drive, budget=QUICK)
    reasons = {s["id"]: s["reason_code"] for s in exc.value.stops}
    assert reasons == {
        "U1": "unreachable",
        "M1": "unreachable",
        "F1": "off_network",
        no_coord: "no_coordinate",
    }
    assert exc.value.status == 422
    assert exc.value.parameter == "stops"
    assert "U1" in exc.value.message
    assert "F1" in exc.value.to_dict()["error"]


def test_stops_picked_by_kind_that_cannot_be_served_are_listed(store, drive):
    request, result = plan_of({"stops": ["worker_home", "S1"], "days": 1}, store, drive)
    check_feasible(result, request)
    left = {u["id"]: u["reason_code"] for u in result["unserved"]}
    assert left == {"U1": "unreachable", "M1": "unreachable", "F1": "off_network"}
    assert "km" in next(u["reason"] for u in result["unserved"] if u["id"] == "F1")
    # A stop that cannot fit in any working day, picked by town: left out with the reason.
    body = {"stops": ["warm_station"], "service_minutes": {"S3": 600}, "days": 2}
    request, result = plan_of(body, store, drive)
    assert {u["id"]: u["reason_code"] for u in result["unserved"]} == {"S3": "does_not_fit"}
    with pytest.raises(TourError):  # named, it is an error
        plan_of({"stops": ["S3"], "service_minutes": 600}, store, drive)


def test_more_mandatory_work_than_days_is_a_422_with_an_estimate(store, drive):
    with pytest.raises(TourError) as exc:
        plan_of({"stops": GRID, "days": 1, "service_minutes": 200}, store, drive)
    err = exc.value
    assert err.status == 422
    assert err.parameter == "days"
    assert 3 <= err.days_needed <= 8
    assert err.to_dict()["days_needed"] == err.days_needed
    assert "天" in err.zh


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"stops": ["S1"], "depot": "NOPE"}, "depot"),
        ({"stops": ["S1"], "depot": "110118001001"}, "depot"),  # a site, not a station
        ({"stops": ["S1"], "day_start": "17:00", "day_end": "09:00"}, "day_end"),
        ({"stops": ["S1"], "day_start": "25:00"}, "day_start"),
        ({"stops": ["S1"], "days": 0}, "days"),
        ({"stops": ["S1"], "days": 32}, "days"),
        ({"stops": ["S1"], "days": "3天"}, "days"),
        ({"stops": ["village"]}, "stops"),  # 330 villages > 300
        ({"stops": []}, "stops"),
        ({"stops": {"a": 1}}, "stops"),
        ({"days": 2}, "stops"),
        ({"stops": ["S1"], "start_date": "2026-13-01"}, "start_date"),
        ({"stops": ["S1"], "lunch_minutes": -5}, "lunch_minutes"),
        ({"stops": ["S1"], "service_minutes": "abc"}, "service_minutes"),
        ({"stops": ["S1"], "service_minutes": {"S1": 9999}}, "service_minutes.S1"),
        ({"stops": ["S1"], "service_minutes": {"S2": 30}}, "service_minutes.S2"),
        ({"stops": ["S1"], "time_windows": {"S1": "11:00"}}, "time_windows.S1"),
        ({"stops": ["S1"], "time_windows": {"S1": "11:00-10:00"}}, "time_windows.S1"),
        ({"stops": ["S1"], "time_windows": ["S1"]}, "time_windows"),
        ({"stops": ["S1"], "optional": {"S1": 9}}, "optional.S1"),
        ({"stops": ["S1"], "optional": ["不存在镇:village"]}, "optional"),
        ({"stops": ["S1"], "skip_days_off": "maybe"}, "skip_days_off"),
        ({"stops": ["reservoir_site", "不存在镇"]}, "stops"),
        ([1, 2], "body"),
    ],
)
def test_bad_requests_are_400_naming_the_field(store, body, parameter):
    with pytest.raises(ParameterError) as exc:
        resolve_body(body, store)
    err = exc.value
    if parameter == "stops" and isinstance(err, TourError):  # unknown token → 422 listing
        assert err.status == 422
    else:
        assert err.status == 400, err.message
    assert err.parameter == parameter
    assert " / " in err.message


def test_selection_by_kind_town_and_ids(store):
    r = resolve_body({"stops": "reservoir_site"}, store)
    assert len(r.stops) == 20
    assert all(s.kind == "reservoir_site" for s in r.stops)
    town = r.stops[0].town
    short = town.removesuffix("镇").removesuffix("街道")
    # town:kind selects that town's stops of that kind
    in_town = resolve_body({"stops": [f"{short}:reservoir_site"]}, store)
    assert in_town.stops
    assert all(s.town == town and s.kind == "reservoir_site" for s in in_town.stops)
    sites = resolve_body({"stops": [r.stops[0].town_code]}, store)
    assert all(s.kind in ("village", "community", "reservoir_site") for s in sites.stops)
    # Selectors add up (they used to filter together: a named bug): every reservoir site,
    # then the town's other sites, each once.
    by_town = resolve_body({"stops": ["reservoir_site", short]}, store)
    ids = [s.id for s in by_town.stops]
    assert ids == list(dict.fromkeys([s.id for s in r.stops] + [s.id for s in sites.stops]))
    assert len(ids) > len(r.stops)
    mixed = resolve_body({"stops": "S1,S2,warm_station", "service_minutes": {"S1": 10}}, store)
    assert [s.id for s in mixed.stops][:8] == GRID
    assert mixed.stops[0].service_s == 600
    assert mixed.stops[1].service_s == tour.STATION_SERVICE_MINUTES * 60
    assert r.depot.id == "BASE"
    assert r.depot.kind == "caravan_base"


def test_default_depot_is_the_located_base_in_gulou_else_another_base_else_a_station():
    def rec(kind, town, lon=116.8, station=True):
        return {"station": station, "kind": kind, "town_code": town, "lon": lon}

    home, other = tour.DEFAULT_DEPOT_TOWN, "110118002"
    stops = [
        rec("village", home, station=False),
        rec("caravan_base", other),
        rec("caravan_base", home),
    ]
    assert tour.default_depot(stops) == 2
    # An unlocated home base (None as the page has it, NaN as the store has it) is skipped.
    stops[2]["lon"] = None
    assert tour.default_depot(stops) == 1
    stops[2]["lon"] = float("nan")
    assert tour.default_depot(stops) == 1
    # A district without a caravan base: any located station (the district
    # profiles); none located, no depot.
    assert tour.default_depot([rec("village", home, station=False), rec("warm_station", "")]) == 1
    assert tour.default_depot([rec("warm_station", home, lon=None)]) is None
    # The district profile's depot town decides between located bases.
    stops[2]["lon"] = 116.9
    assert tour.default_depot(stops, other) == 1
    assert tour.default_depot(stops, home) == 2


def test_the_depot_is_never_its_own_stop_when_picked_by_kind(store):
    with pytest.raises(ParameterError):
        resolve_body({"stops": ["caravan_base"]}, store)  # only the base itself


# -- saved plans ------------------------------------------------------------------------


def test_plans_are_saved_listed_reopened_and_bounded(tmp_path, store, drive):
    # Anonymous plans: at most max_anonymous kept (tests/test_saved_plans.py: the rules).
    clock = lambda: dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)  # noqa: E731
    tours = TourStore(tmp_path / "tours", max_anonymous=3, clock=clock)
    request, result = plan_of({"stops": GRID[:3]}, store, drive)
    ids = []
    for k in range(5):
        saved = tours.save(
            request.normalized, result, now=dt.datetime(2026, 3, 1, 9, 0, k, tzinfo=dt.UTC)
        )
        ids.append(saved["id"])
    again = TourStore(tmp_path / "tours", clock=clock)  # a restart
    assert [p["id"] for p in again.list()] == ids[:1:-1]
    got = again.get(ids[-1])
    assert got["result"] == json.loads(json.dumps(result))
    assert got["request"]["stops"] == GRID[:3]
    assert not list((tmp_path / "tours").glob("*.tmp"))
    for bad in (ids[0], "../../etc/passwd", "x" * 500, 5):
        with pytest.raises(TourNotFoundError):
            again.get(bad)
    with pytest.raises(StoreError):
        TourStore(tmp_path / "t2", max_bytes=100).save(request.normalized, result)


def test_planner_saves_and_follows_the_active_network(tmp_path, store):
    library = network.NetworkLibrary(tmp_path / "networks", SMALL_OSM)
    planner = tour.Planner(store, library, TourStore(tmp_path / "tours"), budget=QUICK)
    saved = planner.plan(TourRequest.parse({"stops": GRID[:4], "days": 1}))
    assert saved["id"]
    assert planner.tours.get(saved["id"])["result"] == saved["result"]
    assert planner.network() is planner.network()
    unsaved = planner.plan(TourRequest.parse({"stops": GRID[:4], "days": 1}), save=False)
    assert unsaved["id"] is None
    assert unsaved["result"]["days"] == saved["result"]["days"]


def test_no_lunch_on_a_day_over_before_the_lunch_window(store, drive):
    # One short stop: the caravan is back at the base long before 11:30.
    request, result = plan_of({"stops": ["S1"], "days": 1, "service_minutes": 20}, store, drive)
    check_feasible(result, request)
    day = result["days"][0]
    assert day["return_s"] <= tour.LUNCH_EARLIEST
    assert day["lunch"] is None


def test_selectors_add_up_and_optional_takes_the_same_selectors(store):
    r = resolve_body({"stops": ["S2", "warm_station"], "optional": {"S3": 1, "S2": 2}}, store)
    # Each selection in turn, each stop once: S2, then the other warm stations.
    assert [s.id for s in r.stops] == ["S2", *[g for g in GRID if g != "S2"]]
    assert {s.id: s.priority for s in r.stops if s.optional} == {"S2": 2, "S3": 1}
    assert [s.named for s in r.stops][:4] == [True, False, True, False]  # S2, S1, S3, S4
    assert r.normalized["stops"] == ["S2", "warm_station"]
    assert r.normalized["optional"] == {"S3": 1, "S2": 2}
    # Optional selectors add their stops (priority 3 from a list), as optional ones.
    r = resolve_body({"stops": ["S1"], "optional": ["worker_home", "S4"]}, store)
    assert [(s.id, s.optional, s.priority) for s in r.stops] == [
        ("S1", False, None),
        ("U1", True, 3),
        ("M1", True, 3),
        ("F1", True, 3),
        ("S4", True, 3),
    ]
    # town:kind is the one selector that filters by both; the base is never a stop.
    r = resolve_body({"stops": ["鼓楼:warm_station", "S1"]}, store)
    assert [s.id for s in r.stops] == GRID
    assert r.depot.id == "BASE"


@pytest.mark.parametrize(
    ("body", "parameter", "zh", "en"),
    [
        ({"stops": ["caravan_base"]}, "stops", "出发站点以外的大篷车基地", "other than the depot"),
        ({"stops": ["BASE"]}, "stops", "出发站点", "it is the depot"),
        (
            {"stops": ["S1"], "optional": ["十里堡:warm_station"]},
            "optional",
            "十里堡没有",
            "in 十里堡",
        ),
    ],
)
def test_a_selector_that_matches_nothing_says_why(store, body, parameter, zh, en):
    with pytest.raises(ParameterError) as exc:
        resolve_body(body, store)
    assert exc.value.status == 400
    assert exc.value.parameter == parameter
    assert "没有匹配任何站点" in exc.value.zh
    assert zh in exc.value.zh
    assert "matches no stop" in exc.value.en
    assert en in exc.value.en


def test_the_request_is_parsed_without_the_store():
    request = TourRequest.parse(
        {"stops": "reservoir_site,溪翁庄镇:村,V1", "optional": {"溪翁庄:village": None}}
    )
    assert [(s.kind, s.place) for s in request.stops] == [
        ("reservoir_site", None),
        ("village", "溪翁庄镇"),
        (None, "V1"),
    ]
    assert request.optional == {"溪翁庄:village": tour.DEFAULT_PRIORITY}
    with pytest.raises(ParameterError) as exc:
        TourRequest.parse({"stops": ["S1"], "stop": ["S2"]})
    assert exc.value.parameter == "stop"
