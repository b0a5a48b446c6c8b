"""The parameters every station query shares, declared once: ``mode``, ``kind``,
``amenity``, ``open_at`` and ``open``.

The nearest-station answer, the batch, the catalogue, coverage and siting declare their
requests (:func:`geoservice.params.param`) with these fields, so that a parameter reads, is
checked and is documented the same way everywhere. :class:`StationFilter` is the station
filters of the nearest-station answer and the batch as one value, read once at the boundary
and handed to the engine as it is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from geoservice import params as p
from geoservice.model import AMENITIES, STATION_KINDS
from geoservice.network.graph import MODE_LABELS

__all__ = [
    "LIST_NOTE",
    "WARM_OPEN_NOW",
    "StationFilter",
    "amenities",
    "kinds",
    "mode",
    "open_at",
    "open_only",
]

#: How every list parameter may be written.
LIST_NOTE = "keys or Chinese labels, comma-separated or repeated"


def mode(*, example: str = "walk") -> Any:
    """``mode``: walk, bike or drive (default walk)."""
    return p.param(
        p.read_choice(MODE_LABELS),
        "travel mode: " + ", ".join(f"{m} {label}" for m, label in MODE_LABELS.items()),
        default="walk",
        example=example,
    )


def kinds(default: tuple[str, ...] | None = None, *, note: str = " (default warm_station)") -> Any:
    """``kind``: station kinds (keys or Chinese labels); the field is ``kinds``."""
    return p.param(
        p.read_names(STATION_KINDS),
        f"station kinds; {LIST_NOTE}{note}",
        default=default,
        example=["warm_station"],
        name="kind",
    )


def amenities(default: tuple[str, ...] | None = None) -> Any:
    """``amenity``: amenities a station must all offer; the field is ``amenities``."""
    return p.param(
        p.read_names(AMENITIES),
        f"required amenities (all of them); {LIST_NOTE}",
        default=default,
        example=["hot_water"],
        name="amenity",
    )


def open_at(description: str | None = None, example: str = "2026-11-25T13:00") -> Any:
    """``open_at``: an ISO 8601 time (None when absent); the field is ``at``."""
    return p.param(
        p.read_time(),
        description
        or "ISO 8601 time (2026-11-25T13:00, …Z, …+08:00, or a date); naive means "
        "Asia/Shanghai; default now",
        default=None,
        example=example,
        name="open_at",
    )


def open_only() -> Any:
    """``open``: only the stations open at ``open_at`` (default 1); the field is
    ``open_only``."""
    return p.param(
        p.read_flag(), "only stations open at open_at (default 1)", default=True, example="1",
        name="open",
    )  # fmt: skip


@dataclass(frozen=True)
class StationFilter:
    """Which stations an answer counts: kinds, amenities and open at a moment.

    A request declaration (nested into those of ``/api/nearest`` and the batch, see
    :func:`geoservice.params.nested`) and the engine's argument: filters only mask
    stations, so every combination is answered exactly.

    Attributes
    ----------
    kinds : tuple of str or None
        Station kinds; None means ``warm_station``.
    amenities : tuple of str or None
        Amenities a station must all offer (None or empty: any).
    at : datetime or None
        The moment of the open status (None: now).
    open_only : bool
        Only the stations open at ``at``.
    """

    kinds: tuple[str, ...] | None = kinds()
    amenities: tuple[str, ...] | None = amenities()
    at: dt.datetime | None = open_at()
    open_only: bool = open_only()


#: Every field's default: warm stations, open now.
WARM_OPEN_NOW = StationFilter()
