"""The parameters every station query shares, declared once: ``mode``, ``kind``,
``amenity`` and ``open_at``.

The nearest-station answer, the batch, the catalogue, coverage and siting declare their
requests (:func:`geoservice.params.param`) with these fields, so that a parameter reads, is
checked and is documented the same way everywhere.
"""

from __future__ import annotations

from typing import Any

from geoservice import params as p
from geoservice.model import AMENITIES, STATION_KINDS
from geoservice.network.graph import MODE_LABELS

__all__ = ["LIST_NOTE", "amenities", "kinds", "mode", "open_at"]

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
