"""Multi-day caravan tours (区级大篷车巡回路线): request in → validated, JSON-ready plan out.

The district's caravan leaves its base each morning, visits villages, communities, reservoir
protection sites or stations, spends a set time at each, takes a lunch break and is back at
the base by the end of the working day. :func:`resolve` resolves a parsed request
(:class:`~geoservice.tours.request.TourRequest`) against the store; :func:`plan` turns it
into a day-by-day plan on the ``drive`` network.

The model
---------
* Every stop is snapped once; travel times come from :func:`geoservice.tours.routing.travel_matrix`.
* Each planned day is one vehicle of a VRP with time windows (:mod:`geoservice.tours.vrp`): it may
  leave the base at ``day_start`` and must be back by ``day_end``; a stop's window contains
  its whole visit.
* The lunch break (``lunch_minutes``, starting between 11:30 and 13:30) is taken where the
  caravan is: after a stop's service, or at the base (before leaving, after returning, or on
  a trip back at midday). PyVRP has no break activity, so the search works on a lunch-less
  clock (:meth:`TourProblem.to_vrp_shifted`: each day ``lunch`` shorter, windows of visits
  that certainly come after lunch moved earlier, ambiguous ones narrowed), which is exact
  without time windows. With time windows a second model is solved too
  (:meth:`TourProblem.to_vrp_variants`: every stop also as a *lunch variant*, its service
  plus the lunch, in a mutually exclusive group with the plain stop) and the better plan is
  kept. Every day is then re-timed by :meth:`TourProblem.schedule`, which tries every place
  the lunch may go and keeps the feasible one with the least driving and the earliest end;
  a day that still cannot take its lunch is repaired by moving stops. No plan without a
  valid lunch is ever returned.
* Objective: every mandatory stop; then optional stops by priority (priority 1 is worth two
  of priority 2, and so on); then the least total driving time. Days may go unused.
* The search is bounded by iterations with a fixed seed (same request → same plan on any
  machine); a wall-clock limit is only a safety net, and the plan says when it fired.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np
import pandas as pd

from geoservice import navigation, params
from geoservice.district import MIYUN, OUTSIDE_NOTICE
from geoservice.errors import ParameterError, TourError, excerpt
from geoservice.model import SITE_KINDS, STATION_KINDS
from geoservice.network import ACCESS_KMH, Network, NetworkLibrary, places
from geoservice.network.library import Watched
from geoservice.params import hhmm
from geoservice.store import Store
from geoservice.store.towns import Towns
from geoservice.tours import routing, vrp
from geoservice.tours.request import (
    DAY_END,
    DAY_START,
    DEFAULT_PRIORITY,
    KINDS,
    LUNCH_MINUTES,
    MAX_DAYS,
    MAX_SERVICE_MINUTES,
    MAX_STOPS,
    PRIORITIES,
    Selector,
    TourRequest,
)
from geoservice.tours.saved import TourStore

__all__ = [
    "DAY_END",
    "DAY_START",
    "DEFAULT_DEPOT_TOWN",
    "DEFAULT_PRIORITY",
    "LUNCH_EARLIEST",
    "LUNCH_LATEST",
    "LUNCH_MINUTES",
    "LUNCH_PLACES",
    "MAX_DAYS",
    "MAX_SERVICE_MINUTES",
    "MAX_STOPS",
    "PRIORITIES",
    "REASONS",
    "SEARCH",
    "STATION_SERVICE_MINUTES",
    "DaySchedule",
    "Planner",
    "Progress",
    "ResolvedRequest",
    "Stop",
    "TourProblem",
    "TourRequest",
    "WeekendCalendar",
    "WorkCalendar",
    "candidates",
    "default_depot",
    "hhmm",
    "plan",
    "resolve",
]

if TYPE_CHECKING:
    from geoservice.responses import (
        Navigation,
        Position,
        TourDay,
        TourLeg,
        TourLunch,
        TourNotice,
        TourPlace,
        TourResult,
        TourSchedule,
        TourSearch,
        TourStop,
        TourUnserved,
    )

#: The lunch break starts in this window (seconds after midnight).
LUNCH_EARLIEST = 11 * 3600 + 30 * 60
LUNCH_LATEST = 13 * 3600 + 30 * 60
#: Minutes the caravan spends at a station unless told otherwise.
STATION_SERVICE_MINUTES = 30
#: The town of the default depot's caravan base when none is given: the shipped district's
#: (鼓楼街道); a service passes its district profile's (`Planner`'s ``depot_town``).
DEFAULT_DEPOT_TOWN = MIYUN["depot_town"]
#: Search budget: iterations bound the work (reproducible); seconds are a safety net.
SEARCH = vrp.Budget(iterations=2_000, no_improvement=800, seconds=60.0, seed=1)
#: Budget of the quick re-solve that estimates the days a too-large request needs.
_ESTIMATE_SEARCH = vrp.Budget(iterations=800, no_improvement=300, seconds=20.0, seed=1)

_V = TypeVar("_V")
#: Where the lunch break is taken, with the Chinese label of each place.
LUNCH_PLACES = {"start": "出发前在基地", "stop": "站点", "depot": "返回基地", "end": "返回基地后"}
_WEEKDAYS = "一二三四五六日"
#: Reasons a stop is left out of a plan (code → "中文 / English").
REASONS = {
    "unknown": "未知编号 / unknown id",
    "no_coordinate": "没有坐标，请先导入坐标 / no coordinate (import one first)",
    "off_network": "距最近道路超过 2 km / more than 2 km from the nearest road",
    "unreachable": "与出发基地之间没有道路连通 / not connected to the base by road",
    "does_not_fit": (
        "单独一天也安排不下（时间窗、服务时长或往返车程超出工作时间）/ "
        "cannot be served even alone in one working day (window, service or drive too long)"
    ),
    "not_planned": "可选站点，天数内排不下 / optional stop that did not fit in the days",
    "no_room": "必选站点，天数内排不下 / mandatory stop that does not fit in the days",
}

Progress = Callable[[str, int, int], None]


class WorkCalendar(Protocol):
    """What the planner asks a working-day calendar (:class:`WeekendCalendar`,
    :class:`geoservice.holidays.CurrentCalendar`); a ``covers(date)`` method, when it has
    one, says which dates it knows the public holidays of."""

    def is_day_off(self, day: dt.date) -> bool: ...

    def is_workday(self, day: dt.date) -> bool: ...


class WeekendCalendar:
    """Working days are Monday to Friday (the default of :func:`plan` and :class:`Planner`).

    Any `WorkCalendar` can replace it: the web app and the CLI use
    :class:`geoservice.holidays.CurrentCalendar`, which knows China's public holidays and
    make-up working days.
    """

    def is_day_off(self, day: dt.date) -> bool:
        return day.weekday() >= 5

    def is_workday(self, day: dt.date) -> bool:
        return not self.is_day_off(day)


# -- the request --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stop:
    """A place in a tour request: a site or a station, with what the caravan does there.

    ``lon``/``lat`` are None when no position is known. ``window`` is the clock time
    (seconds after midnight) the whole visit must lie in. ``named`` says the user asked for
    this stop by its id (problems with it are errors, not left-outs).
    """

    id: str
    name: str
    kind: str
    town_code: str
    town: str
    lon: float | None
    lat: float | None
    coord_source: str
    service_s: int
    window: tuple[int, int] | None = None
    optional: bool = False
    priority: int | None = None
    named: bool = False

    @property
    def kind_label(self) -> str:
        return SITE_KINDS.get(self.kind) or STATION_KINDS.get(self.kind, self.kind)

    @property
    def located(self) -> bool:
        return self.lon is not None and self.lat is not None

    def links(self) -> Navigation:
        """Driving directions to the stop in the map apps; the stop must be located."""
        # Only the depot (resolve refuses one without a position) and located stops are
        # planned: nothing else reaches a plan's JSON.
        assert self.lon is not None
        assert self.lat is not None
        return navigation.links(self.lon, self.lat, self.name, "drive")

    def describe(self) -> TourPlace:
        """JSON-ready identity of the stop (no schedule)."""
        out: TourPlace = {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "kind_label": self.kind_label,
            "town_code": self.town_code,
            "town": self.town,
            "lon": None if self.lon is None else round(self.lon, 7),
            "lat": None if self.lat is None else round(self.lat, 7),
            "coord_source": self.coord_source,
        }
        if self.coord_source == "schematic":
            out["position_note"] = "示意位置"
        return out


@dataclass(frozen=True)
class ResolvedRequest:
    """A tour request resolved against the catalogue (see :func:`resolve`).

    Attributes
    ----------
    depot : Stop
        Where each day starts and ends.
    stops : list of Stop
        At most :data:`MAX_STOPS`, in the order they were selected.
    days : int
        Days available (1–31); with ``start_date`` these are working days.
    start_date : date, optional
    skip_days_off : bool
        With a start date: plan only on working days (weekends and holidays skipped).
    day_start, day_end : int
        Working window, seconds after midnight.
    lunch_s : int
        Lunch break length in seconds (0: none).
    normalized : dict
        The request as parsed (JSON-ready), saved with the plan
        (:meth:`TourRequest.echo <geoservice.tours.request.TourRequest.echo>`).
    """

    depot: Stop
    stops: list[Stop]
    days: int
    start_date: dt.date | None
    skip_days_off: bool
    day_start: int
    day_end: int
    lunch_s: int
    normalized: dict = field(default_factory=dict)


def _catalogue(store: Store, library: NetworkLibrary | None) -> pd.DataFrame:
    """Every site and station that could be a stop: id, name, kind, town, position (NaN
    when unknown), coordinate source and default service minutes."""
    towns = store.read("towns")
    town_names = dict(zip(towns["code"], towns["name"], strict=True))
    sites = pd.DataFrame(store.sites().drop(columns="geometry"))
    # Positions from the one place they come from (stored, else the network's places).
    pos = places.located_sites(store, library).set_index("id")
    sites["lon"] = sites["id"].map(pos.geometry.x).astype(float)
    sites["lat"] = sites["id"].map(pos.geometry.y).astype(float)
    sites["coord_source"] = sites["id"].map(pos["coord_source"]).fillna(sites["coord_source"])
    sites["service_minutes"] = (
        sites["service_minutes"].astype("Float64").fillna(STATION_SERVICE_MINUTES).astype(int)
    )
    sites["station"] = False
    stations = store.stations()
    located = stations.geometry.notna() & ~stations.geometry.is_empty
    st = pd.DataFrame(stations.drop(columns="geometry"))
    st["lon"] = np.where(located, stations.geometry.x, np.nan)
    st["lat"] = np.where(located, stations.geometry.y, np.nan)
    st["coord_source"] = np.where(located, st["source"], "missing")
    st["service_minutes"] = STATION_SERVICE_MINUTES
    st["station"] = True
    cols = [
        "id",
        "name",
        "kind",
        "town_code",
        "lon",
        "lat",
        "coord_source",
        "service_minutes",
        "source",
    ]
    table = pd.concat([sites[[*cols, "station"]], st[[*cols, "station"]]], ignore_index=True)
    # A district without towns maps nothing: no float NaN column to fill.
    table["town"] = [town_names.get(code, "") for code in table["town_code"]]
    return table.drop_duplicates("id").reset_index(drop=True)


def candidates(store: Store, library: NetworkLibrary | None = None) -> list[dict]:
    """Every site and station a tour could visit, as the planner sees them.

    What a page offers to pick from: the same positions, kinds and default service times
    :func:`resolve` uses.

    Returns
    -------
    list of dict
        ``{"id", "name", "kind", "kind_label", "town_code", "town", "lon", "lat",
        "coord_source", "service_minutes", "station", "sample"}`` per record, ``lon``/``lat``
        None where no position is known, in the store's order (sites, then stations).
    """
    table = _catalogue(store, library)
    out = []
    for rec in table.to_dict("records"):
        located = not (pd.isna(rec["lon"]) or pd.isna(rec["lat"]))
        kind = str(rec["kind"])
        out.append(
            {
                "id": str(rec["id"]),
                "name": "" if pd.isna(rec["name"]) else str(rec["name"]),
                "kind": kind,
                "kind_label": SITE_KINDS.get(kind) or STATION_KINDS.get(kind, kind),
                "town_code": "" if pd.isna(rec["town_code"]) else str(rec["town_code"]),
                "town": str(rec["town"]),
                "lon": round(float(rec["lon"]), 7) if located else None,
                "lat": round(float(rec["lat"]), 7) if located else None,
                "coord_source": str(rec["coord_source"]),
                "service_minutes": int(rec["service_minutes"]),
                "station": bool(rec["station"]),
                "sample": rec["source"] == "sample",
            }
        )
    return out


def resolve(
    request: TourRequest,
    store: Store,
    library: NetworkLibrary | None = None,
    *,
    depot_town: str = DEFAULT_DEPOT_TOWN,
) -> ResolvedRequest:
    """Resolve a parsed request's depot and stop selectors against the store's catalogue.

    Parameters
    ----------
    request : TourRequest
        As parsed (:meth:`TourRequest.parse`, :func:`geoservice.params.parse_body`).
    store : Store
    library : NetworkLibrary, optional
        For the positions of sites placed from the road network's place nodes.

    Returns
    -------
    ResolvedRequest
        The stops in the order selected (``stops`` first, then ``optional``), each once.

    Raises
    ------
    ParameterError
        400 naming the field: an unknown depot or town, a selector that matches no stop,
        more than 300 stops, service minutes or windows for stops not selected.
    TourError
        422 listing the stop ids that were named but are unknown.
    """
    catalogue = _catalogue(store, library)
    depot = _depot(request.depot, catalogue, depot_town)
    pick = _Selection(catalogue, Towns.from_frame(store.read("towns")), depot.id)
    order = pick.rows(request.stops, "stops")
    optional: dict[int, int] = {}
    opt_selectors = [Selector.parse(text) for text in request.optional or {}]
    for selector, rows in zip(opt_selectors, pick.each(opt_selectors, "optional"), strict=True):
        for i in rows:
            optional.setdefault(i, (request.optional or {})[selector.text])
    order = list(dict.fromkeys([*order, *optional]))
    if len(order) > MAX_STOPS:
        err = ParameterError(
            "stops",
            f"选中了 {len(order)} 个站点，一次最多规划 {MAX_STOPS} 个",
            f"{len(order)} stops selected; a plan takes at most {MAX_STOPS}",
        )
        raise err
    selected = [str(catalogue.at[i, "id"]) for i in order]
    service = request.service_minutes
    if isinstance(service, Mapping):
        _among(service, "service_minutes", selected)
    windows = _among(request.time_windows or {}, "time_windows", selected)
    stops = [
        _stop(catalogue.loc[i], service, windows, optional.get(i), i in pick.named) for i in order
    ]
    return ResolvedRequest(
        depot=depot,
        stops=stops,
        days=request.days,
        start_date=request.start_date,
        skip_days_off=request.skip_days_off,
        day_start=request.day_start,
        day_end=request.day_end,
        lunch_s=request.lunch_minutes * 60,
        normalized=request.echo(depot.id),
    )


class _Selection:
    """What stop selectors select in the catalogue (rows), the depot left out."""

    def __init__(self, catalogue: pd.DataFrame, towns: Towns, depot: str) -> None:
        self.catalogue = catalogue
        self.towns = towns
        self.by_id = {rid: i for i, rid in enumerate(catalogue["id"])}
        self.kind = catalogue["kind"].to_numpy()
        self.town = catalogue["town_code"].to_numpy()
        self.usable = (catalogue["id"] != depot).to_numpy()
        self.sites = ~catalogue["station"].to_numpy(dtype=bool)
        #: Rows selected by their id.
        self.named: set[int] = set()

    def rows(self, selectors: Sequence[Selector], name: str) -> list[int]:
        """The rows ``selectors`` select together: each selection in turn, each row once."""
        return list(dict.fromkeys(i for rows in self.each(selectors, name) for i in rows))

    def each(self, selectors: Sequence[Selector], name: str) -> list[list[int]]:
        """The rows each selector selects.

        Raises
        ------
        TourError
            422: tokens that are no kind, town or known id.
        ParameterError
            A town that names none of the district's (``town:kind``), or a selector that
            selects nothing.
        """
        unknown = [
            s.text
            for s in selectors
            if s.kind is None and self.towns.resolve(s.place) is None and s.place not in self.by_id
        ]
        if unknown:
            raise _unknown_ids(unknown, name)
        out = []
        for selector in selectors:
            rows = self._one(selector, name)
            if not rows:
                raise _matches_nothing(selector, name)
            out.append(rows)
        return out

    def _one(self, selector: Selector, name: str) -> list[int]:
        if selector.kind is None:
            code = self.towns.resolve(selector.place)
            if code is None:  # a stop id
                i = self.by_id[str(selector.place)]
                self.named.add(i)
                return [i] if self.usable[i] else []
            mask = self.sites & (self.town == code)
        else:
            mask = self.kind == selector.kind
            if selector.place is not None:
                code = self.towns.resolve(selector.place)
                if code is None:
                    raise self.towns.unknown([selector.place], name)
                mask &= self.town == code
        return np.flatnonzero(mask & self.usable).tolist()


def _unknown_ids(unknown: list[str], name: str) -> TourError:
    listed: list[TourUnserved] = [
        {"id": i, "name": "", "reason_code": "unknown", "reason": REASONS["unknown"]}
        for i in unknown
    ]
    shown = "、".join(excerpt(i) for i in unknown[:10])
    return TourError(
        name,
        f"未知的站点编号：{shown}",
        f"unknown stop id(s): {', '.join(excerpt(i) for i in unknown[:10])}",
        stops=listed,
    )


def _matches_nothing(selector: Selector, name: str) -> ParameterError:
    """The 400 for a selector that selects no stop, saying why."""
    shown = excerpt(selector.text)
    if selector.kind is None:  # a town without sites, or the depot's own id
        why_zh = "该乡镇没有村庄、社区或水库保护点，或它就是出发站点"
        why_en = "the town has no village, community or reservoir site, or it is the depot"
    else:
        label = KINDS[selector.kind]
        where_zh = f"{selector.place}没有" if selector.place else "没有"
        where_en = f" in {selector.place}" if selector.place else ""
        why_zh = f"{where_zh}出发站点以外的{label}"
        why_en = f"no {selector.kind}{where_en} other than the depot"
    return ParameterError(
        name,
        f"{name} 中的 {shown} 没有匹配任何站点：{why_zh}",
        f"{name}: {shown} matches no stop: {why_en}",
    )


def _stop(
    row: pd.Series,
    service: int | Mapping[str, int] | None,
    windows: Mapping[str, tuple[int, int]],
    priority: int | None,
    named: bool,
) -> Stop:
    rid = str(row["id"])
    if isinstance(service, Mapping):
        minutes = service.get(rid, int(row["service_minutes"]))
    else:
        minutes = int(row["service_minutes"]) if service is None else service
    return Stop(
        id=rid,
        name=str(row["name"]),
        kind=str(row["kind"]),
        town_code=str(row["town_code"]),
        town=str(row["town"]),
        lon=None if pd.isna(row["lon"]) else float(row["lon"]),
        lat=None if pd.isna(row["lat"]) else float(row["lat"]),
        coord_source=str(row["coord_source"]),
        service_s=int(minutes) * 60,
        window=windows.get(rid),
        optional=priority is not None,
        priority=priority,
        named=named,
    )


def _among(keyed: Mapping[str, _V], name: str, selected: list[str]) -> Mapping[str, _V]:
    """``keyed`` (an ``{id: value}`` parameter) when its ids are among the selected stops."""
    chosen = set(selected)
    for key in keyed:
        if key not in chosen:
            label = key if len(key) <= params.MAX_ITEM_CHARS else "?"
            err = ParameterError(
                f"{name}.{label}",
                f"{name} 中的 {excerpt(key)} 不在所选站点中",
                f"{name} names {excerpt(key)}, which is not among the selected stops",
            )
            raise err
    return keyed


def default_depot(stops: Sequence[Mapping], town: str = DEFAULT_DEPOT_TOWN) -> int | None:
    """The position of the default depot among ``stops`` (records with ``station``,
    ``kind``, ``town_code`` and ``lon``, as :func:`candidates` gives them).

    The located caravan base in ``town`` (the district profile's depot town), else the
    first located caravan base, else the first located station (a district may have no
    caravan base); None without a located station."""
    stations = [i for i, s in enumerate(stops) if s["station"] and pd.notna(s["lon"])]
    bases = [i for i in stations if stops[i]["kind"] == "caravan_base"]
    home = [i for i in bases if town and stops[i]["town_code"] == town]
    return next(iter(home or bases or stations), None)


def _depot(key: str | None, catalogue: pd.DataFrame, town: str) -> Stop:
    if key is None:
        default = default_depot(catalogue.to_dict("records"), town)
        if default is None:
            err = ParameterError(
                "depot",
                "没有已定位的站点可作出发地：请先导入有坐标的站点（大篷车基地或驿站）",
                "no located station to start from: import stations with coordinates "
                "(a caravan base or any station) first",
                status=422,
            )
            raise err
        row = catalogue.iloc[default]
    else:
        found = np.flatnonzero((catalogue["id"] == key).to_numpy())
        i = int(found[0]) if len(found) else None
        if i is None or not catalogue.at[i, "station"]:
            err = ParameterError(
                "depot",
                f"未知的出发站点 {excerpt(key)}（应为站点编号，如 CB01）",
                f"unknown depot {excerpt(key)} (a station id such as CB01)",
            )
            raise err
        row = catalogue.loc[i]
        if pd.isna(row["lon"]):
            err = ParameterError(
                "depot",
                f"出发站点 {excerpt(key)} 没有坐标",
                f"depot {excerpt(key)} has no coordinate",
            )
            raise err
    return Stop(
        id=str(row["id"]),
        name=str(row["name"]),
        kind=str(row["kind"]),
        town_code=str(row["town_code"]),
        town=str(row["town"]),
        lon=float(row["lon"]),
        lat=float(row["lat"]),
        coord_source=str(row["coord_source"]),
        service_s=0,
    )


# -- the problem in solver units ----------------------------------------------------------------


@dataclass
class DaySchedule:
    """One day re-timed exactly: when the caravan is where, and where it has lunch.

    ``lunch`` is None (no lunch needed) or ``(place, k, start, end)`` with place
    ``"start"`` (at the base before leaving), ``"stop"`` (after stop ``order[k]``),
    ``"depot"`` (back at the base after ``order[k]``, then out again) or ``"end"``
    (at the base after returning).
    """

    order: list[int]
    depart: int
    arrive: list[int]
    start: list[int]
    end: list[int]
    back: int
    finish: int
    drive: int
    wait: int
    lunch: tuple[str, int, int, int] | None


@dataclass
class TourProblem:
    """The planning problem in seconds, stops indexed 0..m-1, the base at matrix index 0.

    Attributes
    ----------
    time : ndarray (m+1, m+1) int
        Driving seconds; row/column 0 is the base, ``i + 1`` is stop ``i``.
    service, early, late : ndarray (m,) int
        Service seconds, earliest and latest service start.
    optional : ndarray (m,) bool
    priority : ndarray (m,) int
        1–5 for optional stops.
    days, day_start, day_end : int
    lunch : int
        Lunch seconds; 0 when the working window needs none.
    """

    time: np.ndarray
    service: np.ndarray
    early: np.ndarray
    late: np.ndarray
    optional: np.ndarray
    priority: np.ndarray
    days: int
    day_start: int
    day_end: int
    lunch: int

    @property
    def m(self) -> int:
        return len(self.service)

    # -- exact timing of one day -----------------------------------------------------------
    def simulate(self, order: list[int], lunch: tuple[str, int] | None) -> DaySchedule | None:
        """Time ``order`` with the lunch at ``lunch`` (``(place, k)``; None: no lunch).

        Returns None when a window, the lunch window or the end of the day is missed.
        Departure is as late as possible without changing anything after it.
        """
        T = self.time
        t = self.day_start
        prev, drive, wait = 0, 0, 0
        arrive, start, end = [], [], []
        taken = None
        if lunch is not None and lunch[0] == "start":
            ls = max(t, LUNCH_EARLIEST)
            if ls > LUNCH_LATEST:
                return None
            taken = ("start", -1, ls, ls + self.lunch)
            t = ls + self.lunch
        leave = t
        for k, s in enumerate(order):
            leg = int(T[prev, s + 1])
            drive += leg
            a = t + leg
            st = max(a, int(self.early[s]))
            if st > self.late[s]:
                return None
            if k == 0:
                leave += st - a  # leave later instead of waiting at the first stop
                a = st
            wait += st - a
            t = st + int(self.service[s])
            arrive.append(a)
            start.append(st)
            end.append(t)
            prev = s + 1
            if lunch is not None and lunch[1] == k and lunch[0] in ("stop", "depot"):
                if lunch[0] == "depot":
                    leg = int(T[prev, 0])
                    drive += leg
                    t += leg
                    prev = 0
                ls = max(t, LUNCH_EARLIEST)
                if ls > LUNCH_LATEST:
                    return None
                wait += ls - t
                taken = (lunch[0], k, ls, ls + self.lunch)
                t = ls + self.lunch
        leg = int(T[prev, 0])
        drive += leg
        back = t + leg
        finish = back
        if lunch is not None and lunch[0] == "end":
            ls = max(back, LUNCH_EARLIEST)
            if ls > LUNCH_LATEST:
                return None
            taken = ("end", len(order) - 1, ls, ls + self.lunch)
            finish = ls + self.lunch
        if finish > self.day_end:
            return None
        return DaySchedule(order, leave, arrive, start, end, back, finish, drive, wait, taken)

    def schedule(self, order: list[int], hint: tuple[str, int] | None = None) -> DaySchedule | None:
        """The best exact timing of ``order``: every place the lunch may go is tried (and
        ``hint``, the solver's choice, e.g. a trip back to the base); the feasible one
        with the least driving, then the earliest finish, then the least waiting wins."""
        if not order:
            return None
        if not self.lunch:
            return self.simulate(order, None)
        # A day whose tour is over (back at the base) before the lunch window opens needs
        # no lunch in the plan: the caravan's work that day ends first.
        short = self.simulate(order, None)
        if short is not None and short.back <= LUNCH_EARLIEST:
            return short
        options: list[tuple[str, int]] = [("start", -1), ("end", len(order) - 1)]
        options += [("stop", k) for k in range(len(order))]
        if hint is not None and hint[0] == "depot":
            options.append(hint)
        best = None
        for option in options:
            day = self.simulate(order, option)
            if day is not None and (
                best is None
                or (day.drive, day.finish, day.wait) < (best.drive, best.finish, best.wait)
            ):
                best = day
        return best

    # -- the VRP ------------------------------------------------------------------------------
    def weights(self) -> np.ndarray:
        """Worth of each optional stop relative to a priority-5 one (priority 1 = 16)."""
        return np.where(self.optional, 2 ** (len(PRIORITIES) - self.priority), 0)

    def _prizes(self, days: int) -> tuple[np.ndarray, int]:
        """Optional stops' prizes, and the unit above every plan's driving time."""
        # A prize unit larger than any plan's total driving: serving one more optional
        # stop always beats driving less.
        unit = days * (self.day_end - self.day_start) + 1
        return unit * self.weights(), unit * (int(self.weights().sum()) + 1)

    def to_vrp_shifted(self, days: int | None = None) -> tuple[vrp.Problem, list[tuple[int, str]]]:
        """The VRP on a lunch-less clock: each day is ``lunch`` shorter, and a window is
        moved ``lunch`` earlier when the visit certainly comes after the lunch (it starts
        after 13:30), kept when it certainly comes before (it ends by 11:30), and narrowed
        to fit both ways otherwise. Exact without time windows (up to a lunch that would
        need waiting); :meth:`schedule` re-times the result with the real lunch."""
        days = self.days if days is None else days
        L = self.lunch
        early = self.early.copy()
        late = self.late.copy()
        if L:
            end = self.late + self.service
            after = self.early >= LUNCH_LATEST
            unsure = ~after & (end > LUNCH_EARLIEST)
            early = np.where(after, self.early - L, self.early)
            late = np.where(after, self.late - L, self.late)
            narrowed = np.where(unsure, self.late - L, late)
            late = np.where(narrowed >= early, narrowed, late)
        prize, _ = self._prizes(days)
        m = self.m
        problem = vrp.Problem(
            duration=self.time,
            location=np.arange(1, m + 1, dtype=np.int64),
            service=self.service.astype(np.int64),
            tw_early=early.astype(np.int64),
            tw_late=late.astype(np.int64),
            prize=prize.astype(np.int64),
            required=~self.optional,
            vehicles=days,
            depot_tw=(self.day_start, self.day_end - L),
        )
        return problem, [(i, "plain") for i in range(m)]

    def to_vrp_variants(self, days: int | None = None) -> tuple[vrp.Problem, list[tuple[int, str]]]:
        """The VRP with the lunch as an activity: every stop also exists as a *lunch
        variant* (service + lunch, starting so that the lunch starts in its window) in a
        mutually exclusive group with the plain stop, and the base has one lunch
        pseudo-stop per day. A one-unit load allows one lunch a day; a fixed cost per day
        that the lunch's prize refunds makes a day without lunch as costly as a missing
        stop. Exact with time windows, but a harder search than :meth:`to_vrp_shifted`.

        Returns the problem and what each client stands for: ``(stop, "plain" | "lunch")``
        or ``(-1, "depot")``.
        """
        days = self.days if days is None else days
        prize_opt, lunch_prize = self._prizes(days)
        L = self.lunch
        loc: list[int] = []
        svc: list[int] = []
        early: list[int] = []
        late: list[int] = []
        prize: list[int] = []
        required: list[bool] = []
        kind: list[tuple[int, str]] = []
        groups: list[tuple[list[int], bool]] = []

        def add(
            stop: int, location: int, s: int, e: int, lt: int, p: int, r: bool, what: str
        ) -> int:
            loc.append(location)
            svc.append(s)
            early.append(e)
            late.append(lt)
            prize.append(p)
            required.append(r)
            kind.append((stop, what))
            return len(loc) - 1

        for i in range(self.m):
            s_i, e_i, l_i = int(self.service[i]), int(self.early[i]), int(self.late[i])
            plain = add(i, i + 1, s_i, e_i, l_i, int(prize_opt[i]), not self.optional[i], "plain")
            e = max(e_i, LUNCH_EARLIEST - s_i)
            lt = min(l_i, LUNCH_LATEST - s_i)
            if e <= lt:
                variant = add(
                    i, i + 1, s_i + L, e, lt, int(prize_opt[i]) + lunch_prize, False, "lunch"
                )
                groups.append(([plain, variant], not self.optional[i]))
        for _ in range(days):
            add(
                -1,
                0,
                L,
                max(self.day_start, LUNCH_EARLIEST),
                LUNCH_LATEST,
                lunch_prize,
                False,
                "depot",
            )
        problem = vrp.Problem(
            duration=self.time,
            location=np.array(loc, dtype=np.int64),
            service=np.array(svc, dtype=np.int64),
            tw_early=np.array(early, dtype=np.int64),
            tw_late=np.array(late, dtype=np.int64),
            prize=np.array(prize, dtype=np.int64),
            required=np.array(required, dtype=bool),
            groups=groups,
            demand=np.array([[0 if w == "plain" else 1] for _, w in kind], dtype=np.int64),
            capacity=[1],
            vehicles=days,
            depot_tw=(self.day_start, self.day_end),
            fixed_cost=lunch_prize,
        )
        return problem, kind

    def solve(
        self,
        budget: vrp.Budget = SEARCH,
        progress: Callable[[int, int], None] | None = None,
        days: int | None = None,
    ) -> tuple[list[DaySchedule], list[int], vrp.Solution]:
        """Plan: the days (exactly timed, lunch placed), the stops left out, the search.

        The lunch-less model (:meth:`to_vrp_shifted`) is solved first. When stops have
        time windows and a lunch is due, the lunch-variant model is solved too and the
        better plan kept (both re-timed exactly). Mandatory stops are never dropped
        silently: the stops left out are returned and the caller reports them.
        """
        days = self.days if days is None else days
        windows = bool(
            np.any(self.early > self.day_start) or np.any(self.late + self.service < self.day_end)
        )
        models = [self.to_vrp_shifted]
        if self.lunch and windows:
            models.append(self.to_vrp_variants)
        plans: list[tuple[list[DaySchedule], list[int], vrp.Solution]] = []
        for n, model in enumerate(models):
            problem, kind = model(days)

            def step(done: int, total: int, n: int = n) -> None:
                if progress is not None:
                    progress(n * total + done, len(models) * total)

            solution = vrp.solve(problem, budget, step)
            routes, hints = self._routes(solution, kind)
            out = self._repair(routes, hints, days)
            served = {s for d in out for s in d.order}
            left = [i for i in range(self.m) if i not in served]
            plans.append((out, left, solution))
        # The best score wins; on a tie the first model's (min keeps the first).
        return min(plans, key=lambda plan: self.score(plan[0]))

    def score(self, days: list[DaySchedule]) -> tuple[int, int, int]:
        """Lexicographic objective of a plan: (mandatory stops missing, minus the optional
        stops' worth served, total driving seconds); lower is better."""
        served = np.zeros(self.m, dtype=bool)
        for d in days:
            served[d.order] = True
        missing = int((~served & ~self.optional).sum())
        worth = int(self.weights()[served].sum())
        return missing, -worth, int(sum(d.drive for d in days))

    @staticmethod
    def _routes(
        solution: vrp.Solution, kind: list[tuple[int, str]]
    ) -> tuple[list[list[int]], list[tuple[str, int] | None]]:
        """Stop orders and lunch hints (a trip back to the base) of a VRP solution."""
        routes: list[list[int]] = []
        hints: list[tuple[str, int] | None] = []
        for route in solution.routes:
            order: list[int] = []
            hint: tuple[str, int] | None = None
            for c in route:
                stop, what = kind[c]
                if what == "depot":
                    hint = ("depot", len(order) - 1)
                else:
                    order.append(stop)
            if hint is not None and (hint[1] < 0 or hint[1] >= len(order) - 1):
                hint = None  # a lunch at the base before leaving or after returning
            routes.append(order)
            hints.append(hint)
        return routes, hints

    def _repair(
        self, routes: list[list[int]], hints: list[tuple[str, int] | None], days: int
    ) -> list[DaySchedule]:
        """Exact timing of every route; a route that cannot take its lunch (or misses a
        window after re-timing) loses stops until it fits, and those stops are put back
        wherever they fit best (cheapest insertion), optional ones last."""
        out: list[DaySchedule] = []
        loose: list[int] = []
        for order, hint in zip(routes, hints, strict=True):
            day, dropped = self._fit([s for s in order if s >= 0], hint)
            loose += dropped
            if day is not None:
                out.append(day)
        loose.sort(key=lambda s: (bool(self.optional[s]), int(self.priority[s]), s))
        for s in loose:
            self._insert(s, out, days)
        return out

    def _fit(
        self, order: list[int], hint: tuple[str, int] | None
    ) -> tuple[DaySchedule | None, list[int]]:
        """The exact timing of ``order`` (None when no stop is left), and the stops dropped
        until it fits: each time the one whose removal saves the most, optional ones first."""
        order = list(order)
        dropped: list[int] = []
        day = self.schedule(order, hint) if order else None
        while day is None and order:
            keys = [self._drop_key(order, k) for k in range(len(order))]
            dropped.append(order.pop(keys.index(min(keys))))  # the first of equal keys
            day = self.schedule(order) if order else None
        return day, dropped

    def _drop_key(self, order: list[int], k: int) -> tuple[bool, bool, int]:
        """How good dropping ``order[k]`` is, lower first: the rest fits, the stop is
        optional, the rest's driving."""
        trial = self.schedule(order[:k] + order[k + 1 :])
        return trial is None, not self.optional[order[k]], trial.drive if trial else 0

    def _insert(self, s: int, out: list[DaySchedule], days: int) -> None:
        """Put stop ``s`` where it adds the least driving: into a day of ``out``, or a new
        day while fewer than ``days`` are used; left out when it fits nowhere."""
        best: tuple[int, int, DaySchedule] | None = None
        for d, day in enumerate([*out, None]):
            if day is None and len(out) >= days:
                continue
            base = [] if day is None else day.order
            for k in range(len(base) + 1):
                trial = self.schedule([*base[:k], s, *base[k:]])
                if trial is None:
                    continue
                extra = trial.drive - (day.drive if day else 0)
                if best is None or extra < best[0]:
                    best = (extra, d, trial)
        if best is not None:
            _, d, trial = best
            if d == len(out):
                out.append(trial)
            else:
                out[d] = trial

    def fits_alone(self) -> np.ndarray:
        """Which stops can be served on a day of their own."""
        return np.array([self.schedule([i]) is not None for i in range(self.m)], dtype=bool)

    def days_lower_bound(self, stops: list[int]) -> int:
        """A quick lower bound on the days ``stops`` need: each needs its service and the
        shortest drive into it, a day holds the working window minus the lunch."""
        if not stops:
            return 0
        idx = np.asarray(stops)
        into = self.time[:, idx + 1].astype(float)
        into[idx + 1, np.arange(len(idx))] = np.inf
        work = float(self.service[idx].sum() + into.min(axis=0).sum())
        per_day = self.day_end - self.day_start - self.lunch
        return max(1, math.ceil(work / max(per_day, 1)))


def _problem(request: ResolvedRequest, seconds: np.ndarray, stops: list[Stop]) -> TourProblem:
    """The :class:`TourProblem` of ``stops`` (matrix rows: base first, then the stops)."""
    day_start, day_end = request.day_start, request.day_end
    service = np.array([s.service_s for s in stops], dtype=np.int64)
    early = np.array(
        [max(day_start, s.window[0]) if s.window else day_start for s in stops], dtype=np.int64
    )
    close = np.array(
        [min(day_end, s.window[1]) if s.window else day_end for s in stops], dtype=np.int64
    )
    lunch = request.lunch_s
    first = max(day_start, LUNCH_EARLIEST)
    if not lunch or first > LUNCH_LATEST or first + lunch > day_end:
        lunch = 0  # the working window holds no lunch break: none is planned
    return TourProblem(
        time=seconds,
        service=service,
        early=early,
        late=close - service,
        optional=np.array([s.optional for s in stops], dtype=bool),
        priority=np.array([s.priority or DEFAULT_PRIORITY for s in stops], dtype=np.int64),
        days=request.days,
        day_start=day_start,
        day_end=day_end,
        lunch=lunch,
    )


# -- planning -----------------------------------------------------------------------------------


def plan(
    request: ResolvedRequest,
    network: Network,
    *,
    calendar: WorkCalendar | None = None,
    budget: vrp.Budget = SEARCH,
    progress: Progress | None = None,
) -> TourResult:
    """Plan ``request`` on the ``drive`` network.

    Parameters
    ----------
    request : ResolvedRequest
        From :func:`resolve`.
    network : Network
        The drive network.
    calendar : WorkCalendar, optional
        ``is_day_off(date)`` / ``is_workday(date)``; default :class:`WeekendCalendar`.
    budget : vrp.Budget
        Search bounds (the default is the service's; tests and benchmarks pass smaller).
    progress : callable, optional
        ``progress(step, done, total)`` with step ``"matrix"``, ``"solve"``, ``"schedule"``.

    Returns
    -------
    TourResult
        The JSON-ready plan (see the module docstring and :func:`_result`).

    Raises
    ------
    TourError
        422: named stops that have no coordinate, are off the network or unreachable, or
        cannot be served in a day; mandatory work that does not fit (with
        ``days_needed``); a depot off the network.
    """
    report = progress or (lambda step, done, total: None)
    calendar = calendar or WeekendCalendar()
    dates = _dates(request, calendar)
    located = [s for s in request.stops if s.located]
    report("matrix", 0, 1)
    lon = np.array([request.depot.lon] + [s.lon for s in located], dtype=float)
    lat = np.array([request.depot.lat] + [s.lat for s in located], dtype=float)
    matrix = routing.travel_matrix(network, lon, lat)
    report("matrix", 1, 1)
    if not matrix.on_network[0]:
        d = float(matrix.snap_m[0])
        err = TourError(
            "depot",
            f"出发站点 {request.depot.name} 距最近道路 {d / 1000:.1f} km，超过 2 km",
            f"the depot {request.depot.id} is {d:.0f} m from the nearest road (limit 2 km)",
        )
        raise err
    problems: dict[str, str] = {s.id: "no_coordinate" for s in request.stops if not s.located}
    reachable = matrix.reachable(0)
    usable: list[int] = []  # matrix rows (1-based) of stops that can be planned
    for k, s in enumerate(located, start=1):
        if not matrix.on_network[k]:
            problems[s.id] = "off_network"
        elif not reachable[k]:
            problems[s.id] = "unreachable"
        else:
            usable.append(k)
    rows = [0, *usable]
    seconds = np.rint(matrix.time_s[np.ix_(rows, rows)]).astype(np.int64)
    stops = [located[k - 1] for k in usable]
    problem = _problem(request, seconds, stops)
    for i, ok in enumerate(problem.fits_alone()):
        if not ok:
            problems[stops[i].id] = "does_not_fit"
    _refuse_named(request, problems, matrix, located)
    keep = [i for i, s in enumerate(stops) if s.id not in problems]
    rows = [0, *[usable[i] for i in keep]]
    stops = [stops[i] for i in keep]
    problem = _problem(request, np.rint(matrix.time_s[np.ix_(rows, rows)]).astype(np.int64), stops)

    def solve_progress(done: int, total: int) -> None:
        report("solve", done, total)

    days, left, solution = problem.solve(budget, solve_progress) if stops else ([], [], None)
    missing = [i for i in left if not problem.optional[i]]
    if missing:
        raise _shortage(problem, stops, missing, budget)
    report("schedule", 0, len(days))
    order = _day_order(days, matrix, rows)
    unserved = [
        _unserved(s, problems[s.id], matrix, located) for s in request.stops if s.id in problems
    ]
    unserved += [_unserved(stops[i], "not_planned") for i in left]
    result: TourResult = {
        **_result(request, network, matrix, rows, stops, [days[d] for d in order], dates),
        "notices": _calendar_notices(request, dates, calendar) + _network_notices(network),
        "unserved": unserved,
        "search": _search_info(solution, budget),
    }
    report("schedule", len(days), len(days))
    return result


def _network_notices(network: Network) -> list[TourNotice]:
    """路网不在本区范围内: the drive network is an extract from outside the district."""
    if not network.meta.get("outside_district"):
        return []
    n = OUTSIDE_NOTICE
    return [{"code": n["code"], "zh": n["zh"], "en": n["en"]}]


def _calendar_notices(
    request: ResolvedRequest, dates: list[dt.date | None], calendar: WorkCalendar
) -> list[TourNotice]:
    """Say so when the plan's dates fall in years whose public holidays the calendar does
    not know (only weekends were skipped there)."""
    covers = getattr(calendar, "covers", None)
    if request.start_date is None or not request.skip_days_off or covers is None:
        return []
    years = sorted({d.year for d in dates if d is not None and not covers(d)})
    if not years:
        return []
    listed = "、".join(str(y) for y in years)
    return [
        {
            "code": "holidays_unknown",
            "zh": (
                f"{listed} 年的法定节假日和调休安排尚未导入，这些日期只跳过了周末；"
                "请用 flask --app app hours holidays import 导入"
            ),
            "en": (
                f"the public holidays and make-up working days of {', '.join(map(str, years))} "
                "are not known (import them with flask --app app hours holidays import): "
                "only weekends were skipped"
            ),
        }
    ]


def _dates(request: ResolvedRequest, calendar: WorkCalendar) -> list[dt.date | None]:
    """The date of each plan day: consecutive working days from ``start_date`` (or
    consecutive days when days off are not skipped); None without a start date."""
    if request.start_date is None:
        return [None] * request.days
    out: list[dt.date | None] = []
    day = request.start_date
    for _ in range(366 + 2 * MAX_DAYS):  # bounded even for a calendar of only days off
        if len(out) == request.days:
            break
        if not request.skip_days_off or calendar.is_workday(day):
            out.append(day)
        day += dt.timedelta(days=1)
    if len(out) < request.days:
        err = ParameterError(
            "start_date",
            "从 start_date 起一年内找不到足够的工作日",
            "not enough working days within a year of start_date",
        )
        raise err
    return out


def _refuse_named(
    request: ResolvedRequest,
    problems: Mapping[str, str],
    matrix: routing.TravelMatrix,
    located: list[Stop],
) -> None:
    """Named stops that cannot be served make the request fail (422) listing them."""
    bad = [s for s in request.stops if s.named and s.id in problems]
    if not bad:
        return
    listed = [_unserved(s, problems[s.id], matrix, located) for s in bad]
    shown = "；".join(f"{excerpt(x['id'])}（{x['reason'].split(' / ')[0]}）" for x in listed[:10])
    shown_en = "; ".join(
        f"{excerpt(x['id'])} ({x['reason'].split(' / ')[-1]})" for x in listed[:10]
    )
    err = TourError(
        "stops",
        f"以下指定站点无法安排：{shown}",
        f"these named stops cannot be served: {shown_en}",
        stops=listed,
    )
    raise err


def _unserved(
    stop: Stop,
    code: str,
    matrix: routing.TravelMatrix | None = None,
    located: Sequence[Stop] = (),
) -> TourUnserved:
    reason = REASONS[code]
    if code == "off_network" and matrix is not None:
        k = next(i for i, s in enumerate(located, start=1) if s.id == stop.id)
        d = float(matrix.snap_m[k])
        reason = (
            f"距最近道路 {d / 1000:.1f} km，超过 2 km / "
            f"{d:.0f} m from the nearest road (limit 2 km)"
        )
    return {
        **stop.describe(),
        "reason_code": code,
        "reason": reason,
        "optional": stop.optional,
        "priority": stop.priority,
    }


def _shortage(
    problem: TourProblem, stops: list[Stop], missing: list[int], budget: vrp.Budget
) -> TourError:
    """The 422 for more mandatory work than the days hold, with an estimate of the days
    needed from a quick re-plan with more days."""
    mandatory = [i for i in range(problem.m) if not problem.optional[i]]
    lower = problem.days_lower_bound(mandatory)
    quick = _estimate_budget(budget)
    estimate = None
    trial_days = max(problem.days + 1, lower)
    for _ in range(3):
        if trial_days > 4 * MAX_DAYS:
            break
        sub = replace(problem, optional=np.ones(problem.m, dtype=bool), days=trial_days)
        sub.optional[mandatory] = False
        days, left, _ = sub.solve(quick)
        if not any(not sub.optional[i] for i in left):
            estimate = sum(1 for d in days if any(not sub.optional[s] for s in d.order))
            break
        trial_days = math.ceil(trial_days * 1.5)
    estimate = max(estimate or trial_days, problem.days + 1)
    names = "、".join(stops[i].name for i in missing[:5])
    more = f" 等 {len(missing)} 个" if len(missing) > 5 else ""
    return TourError(
        "days",
        f"{problem.days} 天内排不下全部必选站点（未排入：{names}{more}），约需 {estimate} 天；"
        "请增加天数、延长工作时间或把部分站点设为可选",
        f"the mandatory stops do not fit in {problem.days} day(s) ({len(missing)} left over); "
        f"they need about {estimate} days: add days, lengthen the day or make some optional",
        stops=[_unserved(stops[i], "no_room") for i in missing],
        days_needed=estimate,
    )


def _estimate_budget(budget: vrp.Budget) -> vrp.Budget:
    """The estimate's search: :data:`_ESTIMATE_SEARCH`, never more than the plan's own."""

    def least(a: int | None, b: int | None) -> int | None:
        return b if a is None else a if b is None else min(a, b)

    return replace(
        _ESTIMATE_SEARCH,
        iterations=least(_ESTIMATE_SEARCH.iterations, budget.iterations),
        no_improvement=least(_ESTIMATE_SEARCH.no_improvement, budget.no_improvement),
        seconds=min(_ESTIMATE_SEARCH.seconds, budget.seconds),
    )


def _day_order(days: list[DaySchedule], matrix: routing.TravelMatrix, rows: list[int]) -> list[int]:
    """Days sorted clockwise from north by the bearing of their stops' centre from the
    base: the plan sweeps around the district instead of jumping back and forth."""
    if not days:
        return []
    lon0, lat0 = matrix.lon[0], matrix.lat[0]
    keys = []
    for d in days:
        idx = [rows[s + 1] for s in d.order]
        dx = (matrix.lon[idx].mean() - lon0) * math.cos(math.radians(lat0))
        dy = matrix.lat[idx].mean() - lat0
        keys.append((math.degrees(math.atan2(dx, dy)) % 360.0, d.order))
    return sorted(range(len(days)), key=lambda i: keys[i])


def _search_info(solution: vrp.Solution | None, budget: vrp.Budget) -> TourSearch:
    if solution is None:
        return {"seed": budget.seed, "iterations": 0, "stopped_by": "empty", "reproducible": True}
    return {
        "seed": budget.seed,
        "iterations": solution.iterations,
        "max_iterations": budget.iterations,
        "stopped_by": solution.stopped_by,
        # A plan cut short by the wall-clock safety net depends on the machine's speed.
        "reproducible": solution.stopped_by != "time_limit",
    }


# -- the JSON plan ------------------------------------------------------------------------------


def _minutes(seconds: float) -> float:
    return round(float(seconds) / 60.0, 1)


def _result(
    request: ResolvedRequest,
    network: Network,
    matrix: routing.TravelMatrix,
    rows: list[int],
    stops: list[Stop],
    days: list[DaySchedule],
    dates: list[dt.date | None],
) -> TourSchedule:
    depot = request.depot
    out_days = []
    for number, (day, date) in enumerate(zip(days, dates, strict=False), start=1):
        out_days.append(_day_json(number, date, day, request, matrix, rows, stops))
    total_m = sum(d["totals"]["distance_m"] for d in out_days)
    total_drive = sum(d["totals"]["drive_s"] for d in out_days)
    total_service = sum(d["totals"]["service_s"] for d in out_days)
    served = sum(len(d["stops"]) for d in out_days)
    return {
        "version": 1,
        "network": network.describe(),
        "schematic": network.schematic,
        "depot": {
            **depot.describe(),
            "navigation": depot.links(),
        },
        "parameters": {
            "days": request.days,
            "start_date": request.start_date.isoformat() if request.start_date else None,
            "skip_days_off": request.skip_days_off,
            "day_start": hhmm(request.day_start),
            "day_end": hhmm(request.day_end),
            "lunch_minutes": request.lunch_s // 60,
            "lunch_window": [hhmm(LUNCH_EARLIEST), hhmm(LUNCH_LATEST)],
            "access_kmh": ACCESS_KMH[network.mode],
        },
        "days": out_days,
        "summary": {
            "days_used": len(out_days),
            "days_available": request.days,
            "stops_requested": len(request.stops),
            "stops_served": served,
            "optional_served": sum(1 for d in out_days for s in d["stops"] if s["optional"]),
            "distance_km": round(total_m / 1000.0, 1),
            "drive_hours": round(total_drive / 3600.0, 2),
            "service_hours": round(total_service / 3600.0, 2),
            "schematic_positions": sum(
                1 for d in out_days for s in d["stops"] if s["coord_source"] == "schematic"
            ),
        },
    }


def _day_json(
    number: int,
    date: dt.date | None,
    day: DaySchedule,
    request: ResolvedRequest,
    matrix: routing.TravelMatrix,
    rows: list[int],
    stops: list[Stop],
) -> TourDay:
    depot = request.depot
    # Matrix row of each point visited, in order, with the base wherever the caravan is.
    visits: list[tuple[str, int]] = [("depot", -1)]
    for k, s in enumerate(day.order):
        visits.append(("stop", s))
        if day.lunch is not None and day.lunch[0] == "depot" and day.lunch[1] == k:
            visits.append(("depot", -1))
    visits.append(("depot", -1))
    legs: list[routing.Leg] = []
    coords: list[Position] = []  # JSON arrays [lon, lat]
    for (_, a), (_, b) in itertools.pairwise(visits):
        ra = 0 if a < 0 else rows[a + 1]
        rb = 0 if b < 0 else rows[b + 1]
        leg = matrix.leg(ra, rb)
        legs.append(leg)
        line = np.round(leg.coords, 6).tolist()
        coords.extend(line if not coords else line[1:])
    # Times of each leg: departure from the previous place, arrival at the next.
    out_stops: list[TourStop] = []
    timeline_legs: list[TourLeg] = []
    lunch = day.lunch
    t_leave = day.depart
    leg_i = 0
    prev = depot
    for k, s in enumerate(day.order):
        stop = stops[s]
        leg = legs[leg_i]
        leg_i += 1
        timeline_legs.append(_leg_json(prev, stop, leg, t_leave, day.arrive[k]))
        out_stops.append(
            {
                **stop.describe(),
                "seq": k + 1,
                "arrival": hhmm(day.arrive[k]),
                "start": hhmm(day.start[k]),
                "end": hhmm(day.end[k]),
                "arrival_s": day.arrive[k],
                "start_s": day.start[k],
                "end_s": day.end[k],
                "wait_min": _minutes(day.start[k] - day.arrive[k]),
                "service_min": _minutes(stop.service_s),
                "window": [hhmm(w) for w in stop.window] if stop.window else None,
                "optional": stop.optional,
                "priority": stop.priority,
                "leg_distance_m": round(leg.distance_m, 1),
                "leg_drive_min": _minutes(leg.time_s),
                "navigation": stop.links(),
            }
        )
        t_leave = day.end[k]
        prev = stop
        if lunch is not None and lunch[1] == k and lunch[0] in ("stop", "depot"):
            if lunch[0] == "depot":
                back = legs[leg_i]
                leg_i += 1
                reach = t_leave + round(back.time_s)
                timeline_legs.append(_leg_json(prev, depot, back, t_leave, reach))
                prev = depot
            t_leave = lunch[3]
    last = legs[leg_i]
    timeline_legs.append(_leg_json(prev, depot, last, t_leave, day.back))
    lunch_json: TourLunch | None = None
    if lunch is not None:
        place, k, ls, le = lunch
        where = depot if place in ("start", "depot", "end") else stops[day.order[k]]
        lunch_json = {
            "place": place,
            "place_label": LUNCH_PLACES[place],
            "id": where.id,
            "name": where.name,
            "after_seq": k + 1 if place in ("stop", "depot") else None,
            "start": hhmm(ls),
            "end": hhmm(le),
            "start_s": ls,
            "end_s": le,
            "minutes": _minutes(le - ls),
        }
    distance = sum(leg.distance_m for leg in legs)
    service = sum(stops[s].service_s for s in day.order)
    return {
        "day": number,
        "date": date.isoformat() if date else None,
        "weekday": f"周{_WEEKDAYS[date.weekday()]}" if date else None,
        "depart": hhmm(day.depart),
        "return": hhmm(day.back),
        "finish": hhmm(day.finish),
        "depart_s": day.depart,
        "return_s": day.back,
        "finish_s": day.finish,
        "stops": out_stops,
        "lunch": lunch_json,
        "legs": timeline_legs,
        "totals": {
            "stops": len(day.order),
            "distance_m": round(distance, 1),
            "distance_km": round(distance / 1000.0, 1),
            "drive_s": int(day.drive),
            "drive_min": _minutes(day.drive),
            "service_s": int(service),
            "service_min": _minutes(service),
            "wait_min": _minutes(day.wait),
            "lunch_min": _minutes(lunch[3] - lunch[2]) if lunch else 0.0,
            "working_min": _minutes(day.finish - day.depart),
        },
        "route": {
            "type": "Feature",
            "properties": {"day": number, "date": date.isoformat() if date else None},
            "geometry": {"type": "LineString", "coordinates": coords},
        },
    }


def _leg_json(a: Stop, b: Stop, leg: routing.Leg, leave: int, reach: int) -> TourLeg:
    return {
        "from_id": a.id,
        "from_name": a.name,
        "to_id": b.id,
        "to_name": b.name,
        "depart": hhmm(leave),
        "arrive": hhmm(reach),
        "distance_m": round(leg.distance_m, 1),
        "drive_s": round(leg.time_s),
        "drive_min": _minutes(leg.time_s),
    }


class Planner:
    """Plans and keeps tours for one service: request in → validated, saved plan out.

    What the CLI (and the API) call. Holds the ``drive`` network of the library's active
    source, reloaded when the active network changes.

    Parameters
    ----------
    store : Store
        Sites and stations.
    library : NetworkLibrary
        The road networks.
    tours : TourStore
        Where plans are saved.
    calendar : WorkCalendar, optional
        Working-day calendar (``is_day_off``/``is_workday``); default weekends off.
    depot_town : callable, optional
        Gives the town of the default depot's caravan base (the district profile's, which
        may change while the service runs); default `DEFAULT_DEPOT_TOWN`.
    budget : vrp.Budget
        Search bounds.
    """

    def __init__(
        self,
        store: Store,
        library: NetworkLibrary,
        tours: TourStore,
        calendar: WorkCalendar | None = None,
        budget: vrp.Budget = SEARCH,
        depot_town: Callable[[], str] | None = None,
    ) -> None:
        self.store = store
        self.depot_town = depot_town or (lambda: DEFAULT_DEPOT_TOWN)
        self.library = library
        self.tours = tours
        self.calendar = calendar or WeekendCalendar()
        self.budget = budget
        self._drive: Watched[Network] = Watched(
            library, lambda nets, _: nets["drive"], modes=("drive",)
        )

    def network(self) -> Network:
        """The drive network of the active source (the library's shared one)."""
        return self._drive.get()

    def resolve(self, request: TourRequest) -> ResolvedRequest:
        """``request`` resolved against the store (:func:`resolve`): what the API checks
        before it queues a plan, so that an unknown stop is a 400/422 at once.

        Raises
        ------
        ParameterError, TourError
        """
        return resolve(request, self.store, self.library, depot_town=self.depot_town())

    def plan(
        self,
        request: TourRequest,
        progress: Progress | None = None,
        *,
        save: bool = True,
        owner: str | None = None,
    ) -> dict:
        """Resolve ``request`` against the store, plan it and (by default) save it.

        Parameters
        ----------
        request : TourRequest
            Parsed already (:meth:`TourRequest.parse`).
        owner : str, optional
            The name of the user the plan is saved for (None: anonymous; see
            :mod:`geoservice.tours.saved`).

        Returns
        -------
        dict
            ``{"id", "created", "request", "result"}`` (``id``/``created`` None unsaved).

        Raises
        ------
        ParameterError, TourError
            See :func:`resolve` and :func:`plan`.
        """
        resolved = self.resolve(request)
        result = plan(
            resolved, self.network(), calendar=self.calendar, budget=self.budget, progress=progress
        )
        if not save:
            return {"id": None, "created": None, "request": resolved.normalized, "result": result}
        return self.tours.save(resolved.normalized, result, owner=owner)
