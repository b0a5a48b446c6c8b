"""The tour request (``POST /api/tours``, ``flask tours plan``): declared once, parsed
before anything else, with no store access.

A bad body is therefore a 400 before the planner takes one of its slots. What the stop
selectors name is resolved against the catalogue afterwards, by the planner
(:func:`geoservice.tours.planner.resolve`).

Stop selectors
--------------
``stops`` and ``optional`` take the same selectors, each one of:

* a kind: ``reservoir_site``, ``village``, ``community``, ``warm_station``, … (or its
  Chinese label ``水库保护点``): every stop of that kind;
* a town: its code, full or short name or pinyin (``110118103``, ``溪翁庄镇``, ``溪翁庄``,
  ``Xiwengzhuang``): the town's sites (villages, communities, reservoir sites);
* ``town:kind``: that town's stops of that kind (``溪翁庄镇:village``);
* anything else: a stop id (a site or a station).

Each selector selects on its own and the selections add up: ``reservoir_site`` and
``溪翁庄镇:village`` are every reservoir site plus the villages of 溪翁庄镇, in the order given,
each stop once, the depot never. ``optional`` adds its stops as optional ones (``[selector,
…]``, priority 3, or ``{selector: priority}``, 1 = most important … 5) and makes stops that
``stops`` selected too optional.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from geoservice import params
from geoservice.errors import ParameterError
from geoservice.model import SITE_KINDS, STATION_KINDS

__all__ = [
    "DAY_END",
    "DAY_START",
    "DEFAULT_PRIORITY",
    "KINDS",
    "LUNCH_MINUTES",
    "MAX_DAYS",
    "MAX_SERVICE_MINUTES",
    "MAX_STOPS",
    "PRIORITIES",
    "Selector",
    "TourRequest",
]

#: Most stops one plan may have.
MAX_STOPS = 300
#: Most days one plan may span.
MAX_DAYS = 31
#: Default working window and lunch.
DAY_START = "08:30"
DAY_END = "17:30"
LUNCH_MINUTES = 60
#: Longest service time at one stop (minutes).
MAX_SERVICE_MINUTES = 720
#: Optional stop priorities: 1 = most important … 5.
PRIORITIES = (1, 2, 3, 4, 5)
DEFAULT_PRIORITY = 3
#: Every kind a selector may name, with its Chinese label.
KINDS: dict[str, str] = {**SITE_KINDS, **STATION_KINDS}
_KIND_SPELLINGS = {k.lower(): k for k in KINDS} | {label: k for k, label in KINDS.items()}
_SEPARATORS = (":", "：")


@dataclass(frozen=True)
class Selector:
    """One stop selector as written: a kind, a town, ``town:kind`` or a stop id.

    Attributes
    ----------
    text : str
        As written (echoed in the saved request and in messages).
    kind : str or None
        The kind it names (a key of `KINDS`), alone or after a town.
    place : str or None
        The rest: a town (``town:kind``), or a town or stop id to be resolved.
    """

    text: str
    kind: str | None = None
    place: str | None = None

    @classmethod
    def parse(cls, text: str) -> Selector:
        """Split ``text`` into a kind and a place (no store needed)."""
        kind = _kind(text)
        if kind is not None:
            return cls(text, kind=kind)
        for sep in _SEPARATORS:
            town, found, tail = text.rpartition(sep)
            tail_kind = _kind(tail.strip())
            if found and town.strip() and tail_kind is not None:
                return cls(text, kind=tail_kind, place=town.strip())
        return cls(text, place=text)


def _kind(text: str) -> str | None:
    """The kind ``text`` names (a key in any case, or its Chinese label), else None."""
    return _KIND_SPELLINGS.get(text.lower(), _KIND_SPELLINGS.get(text))


def _stops(raw: object, name: str, default: Any) -> tuple[Selector, ...]:
    tokens = params.names(raw, name, max_items=MAX_STOPS)
    if not tokens:
        raise ParameterError(name, "缺少参数 stops（要走访的站点）", "stops is required")
    return tuple(Selector.parse(t) for t in tokens)


def _optional(raw: object, name: str, default: Any) -> dict[str, int]:
    """Selector text → priority."""
    if raw is None:
        return {}
    if isinstance(raw, Mapping):
        return {
            str(key): params.integer(
                value, f"{name}.{_label(key)}", 1, len(PRIORITIES), default=DEFAULT_PRIORITY
            )
            for key, value in params.mapping(raw, name, max_items=MAX_STOPS).items()
        }
    listed = params.names(raw, name, max_items=MAX_STOPS) or []
    return dict.fromkeys(listed, DEFAULT_PRIORITY)


def _service(raw: object, name: str, default: Any) -> int | dict[str, int] | None:
    """A number for every stop, or ``{id: minutes}``."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, Mapping):
        return params.integer(raw, name, 0, MAX_SERVICE_MINUTES)
    return {
        str(key): params.integer(value, f"{name}.{_label(key)}", 0, MAX_SERVICE_MINUTES)
        for key, value in params.mapping(raw, name, max_items=MAX_STOPS).items()
    }


def _windows(raw: object, name: str, default: Any) -> dict[str, tuple[int, int]]:
    """``{id: "09:00-11:00"}`` → ``{id: (start, end)}`` seconds after midnight."""
    return {
        str(key): params.clock_range(value, f"{name}.{_label(key)}")
        for key, value in params.mapping(raw, name, max_items=MAX_STOPS).items()
    }


def _label(key: object) -> str:
    """A key as it may appear in a parameter name."""
    return key if isinstance(key, str) and len(key) <= params.MAX_ITEM_CHARS else "?"


_STOP_TEXT = {"type": "string", "minLength": 1, "maxLength": params.MAX_ITEM_CHARS}
_KEYED = {"type": "object", "propertyNames": _STOP_TEXT, "maxProperties": MAX_STOPS}
_PRIORITY = {"type": "integer", "minimum": 1, "maximum": len(PRIORITIES)}
_SERVICE = {"type": "integer", "minimum": 0, "maximum": MAX_SERVICE_MINUTES}
_WINDOW = {
    "oneOf": [
        {"type": "string", "pattern": r"^\d\d:\d\d-\d\d:\d\d$", "example": "09:00-11:00"},
        {"type": "array", "items": params.CLOCK_SCHEMA, "minItems": 2, "maxItems": 2},
    ]
}
_SELECTORS = (
    f"selectors: a kind ({', '.join(KINDS)}), a town (code, 鼓楼街道, 鼓楼 or Gulou: its "
    "sites), town:kind (溪翁庄镇:village) or a stop id; each selects on its own and the "
    "selections add up"
)


@dataclass(frozen=True, kw_only=True)
class TourRequest:
    """A tour request as sent, checked but not yet resolved against the catalogue.

    Attributes
    ----------
    depot : str or None
        A station id; None: the default caravan base
        (:func:`geoservice.tours.planner.default_depot`).
    stops : tuple of Selector
        What to visit (at most `MAX_STOPS` once resolved).
    days : int
        Days available (1–`MAX_DAYS`); with ``start_date`` these are working days.
    start_date : date or None
    skip_days_off : bool
        With a start date: plan only on working days (weekends and holidays skipped).
    day_start, day_end : int
        Working window, seconds after midnight.
    lunch_minutes : int
        Lunch break (0: none).
    service_minutes : int, dict or None
        Minutes at every stop, or per stop id; None: per kind.
    time_windows : dict
        Stop id → (start, end) seconds after midnight: the whole visit lies in it.
    optional : dict
        Selector text → priority: the stops it selects are optional.
    """

    depot: str | None = params.param(
        params.read_text(params.MAX_ITEM_CHARS),
        "a station id; default the caravan base of the district's depot town, else any "
        "located caravan base or station",
        default=None,
        example="CB01",
        location="body",
    )
    stops: tuple[Selector, ...] = params.param(
        params.read_with(
            _stops,
            {
                "oneOf": [
                    {"type": "array", "items": _STOP_TEXT, "minItems": 1, "maxItems": MAX_STOPS},
                    {"type": "string", "minLength": 1, "description": "comma-separated"},
                ]
            },
        ),
        f"What to visit: {_SELECTORS}; at most {MAX_STOPS} stops in all. Ids named here "
        "that cannot be served are a 422; stops picked by kind or town that cannot be "
        "served are listed in `unserved`.",
        example=["reservoir_site", "溪翁庄镇:village"],
        location="body",
    )
    days: int = params.param(
        params.read_integer(1, MAX_DAYS), "days available", default=1, example=3, location="body"
    )
    start_date: dt.date | None = params.param(
        params.read_day(),
        "first day; days are then working days (China's calendar)",
        default=None,
        example="2026-03-02",
        location="body",
    )
    skip_days_off: bool = params.param(
        params.read_flag(),
        "skip weekends and holidays (default)",
        default=True,
        location="body",
    )
    day_start: int = params.param(
        params.read_clock(),
        f"default {DAY_START}",
        default=params.clock(DAY_START, "day_start"),
        example=DAY_START,
        location="body",
    )
    day_end: int = params.param(
        params.read_clock(),
        f"default {DAY_END}",
        default=params.clock(DAY_END, "day_end"),
        example=DAY_END,
        location="body",
    )
    lunch_minutes: int = params.param(
        params.read_integer(0, 180),
        f"lunch break (default {LUNCH_MINUTES}; 0 for none)",
        default=LUNCH_MINUTES,
        location="body",
    )
    service_minutes: int | dict[str, int] | None = params.param(
        params.read_with(
            _service, {"oneOf": [_SERVICE, _KEYED | {"additionalProperties": _SERVICE}]}
        ),
        "minutes at every stop, or per stop id (default: per kind)",
        default=None,
        location="body",
    )
    time_windows: dict[str, tuple[int, int]] | None = params.param(
        params.read_with(_windows, _KEYED | {"additionalProperties": _WINDOW}),
        "stop id → window: the whole visit lies in it",
        default=None,
        location="body",
    )
    optional: dict[str, int] | None = params.param(
        params.read_with(
            _optional,
            {
                "oneOf": [
                    {"type": "array", "items": _STOP_TEXT, "maxItems": MAX_STOPS},
                    _KEYED | {"additionalProperties": {"oneOf": [_PRIORITY, {"type": "null"}]}},
                ]
            },
        ),
        f"optional stops, by the same {_SELECTORS}: a list (priority {DEFAULT_PRIORITY}) or "
        "selector → priority 1 (high) … 5; stops also selected by `stops` become optional",
        default=None,
        example={"溪翁庄镇:village": 2},
        location="body",
    )

    def __post_init__(self) -> None:
        if self.day_end <= self.day_start:
            name = "day_end"
            raise ParameterError(
                name, "day_end 应晚于 day_start", "day_end must be later than day_start"
            )

    @classmethod
    def parse(cls, body: object) -> TourRequest:
        """A request from a decoded JSON object or CLI values (unknown keys refused).

        Raises
        ------
        ParameterError
            400 naming the field.
        """
        return params.parse_values(cls, params.require_object(body), strict=True)

    def echo(self, depot: str) -> dict:
        """The request as parsed (JSON-ready), saved with the plan; ``depot`` resolved."""
        service = self.service_minutes
        return {
            "depot": depot,
            "stops": [s.text for s in self.stops],
            "days": self.days,
            "start_date": self.start_date.isoformat() if self.start_date else None,
            "skip_days_off": self.skip_days_off,
            "day_start": params.hhmm(self.day_start),
            "day_end": params.hhmm(self.day_end),
            "lunch_minutes": self.lunch_minutes,
            "service_minutes": {} if service is None else service,
            "time_windows": {
                k: [params.hhmm(a), params.hhmm(b)]
                for k, (a, b) in (self.time_windows or {}).items()
            },
            "optional": dict(self.optional or {}),
        }
