"""Domain model: stations, sites and their fixed vocabularies.

A ``Station`` is a place where outdoor workers are served (暖心驿站, 职工之家, the caravan's
base); a ``Site`` is a place the caravan visits (a village, a community, a reservoir
protection site). Both are stored in WGS84 (EPSG:4326); metric work uses the district's UTM zone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from geoservice.i18n import N_

if TYPE_CHECKING:
    from geoservice.responses import StationFields, StationRecord

#: Storage CRS (WGS84 longitude/latitude). Metric work uses the district's UTM zone
#: (:attr:`geoservice.district.District.metric_crs`).
CRS_STORAGE = "EPSG:4326"

#: Station kinds with their Chinese labels.
STATION_KINDS: dict[str, str] = {
    "warm_station": N_("暖心驿站"),
    "worker_home": N_("职工之家"),
    "public_worker_home": N_("公共区域职工之家"),
    "caravan_base": N_("大篷车基地"),
}

#: Site kinds with their Chinese labels.
SITE_KINDS: dict[str, str] = {
    "village": N_("村"),
    "community": N_("社区"),
    "reservoir_site": N_("水库保护点"),
}

#: Default service minutes per site kind (time the caravan spends at one stop).
SITE_SERVICE_MINUTES: dict[str, int] = {
    "village": 60,
    "community": 45,
    "reservoir_site": 30,
}

#: The fixed amenity vocabulary with Chinese labels.
AMENITIES: dict[str, str] = {
    "drinking_water": N_("饮用水"),
    "hot_water": N_("热水"),
    "microwave": N_("微波炉"),
    "charging": N_("手机充电"),
    "toilet": N_("卫生间"),
    "rest_area": N_("休息座椅"),
    "heating": N_("取暖"),
    "cooling": N_("纳凉"),
    "first_aid": N_("急救药箱"),
    "repair_kit": N_("维修工具"),
    "wifi": N_("无线网络"),
}

_AMENITY_SPLIT = re.compile(r"[;,\s]+")

#: Where a record comes from: the shipped sample, a user import, or the base data build.
SOURCES = ("sample", "import", "official", "manual")

#: How a coordinate was obtained.
COORD_SOURCES = ("geonames", "sample", "import", "missing", "manual")


@dataclass(frozen=True, slots=True)
class Station:
    """A warm station, worker home, public-area worker home or caravan base.

    Attributes
    ----------
    id : str
        Stable identifier, e.g. ``"WS001"``.
    name : str
        Chinese display name.
    kind : str
        One of :data:`STATION_KINDS`.
    lon, lat : float
        WGS84 coordinates of the door.
    opening_hours : str
        OSM ``opening_hours`` expression, evaluated in Asia/Shanghai time.
    amenities : tuple of str
        Subset of :data:`AMENITIES`, in vocabulary order.
    """

    id: str
    name: str
    kind: str
    lon: float
    lat: float
    address: str = ""
    town_code: str = ""
    opening_hours: str = "24/7"
    amenities: tuple[str, ...] = ()
    phone: str = ""
    host_org: str = ""
    capacity: int | None = None
    verified_on: dt.date | None = None
    source: str = "import"

    def to_dict(self) -> StationFields:
        """The stored fields, JSON-ready: amenities as a list, the date as ISO text, and no
        NaN (a row without a position has null lon/lat)."""
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "lon": self.lon if math.isfinite(self.lon) else None,
            "lat": self.lat if math.isfinite(self.lat) else None,
            "address": self.address,
            "town_code": self.town_code,
            "opening_hours": self.opening_hours,
            "amenities": list(self.amenities),
            "phone": self.phone,
            "host_org": self.host_org,
            "capacity": self.capacity,
            "verified_on": self.verified_on.isoformat() if self.verified_on else None,
            "source": self.source,
        }

    @classmethod
    def from_frame(cls, gdf: pd.DataFrame) -> list[Station]:
        """Every row of a ``stations`` frame as a `Station` (see `from_row`)."""
        frame = pd.DataFrame(gdf.drop(columns="geometry", errors="ignore"))
        return [cls.from_row(r) for r in frame.to_dict("records")]

    @classmethod
    def from_row(cls, row: Mapping[str, object]) -> Station:
        """Build a station from a stored row, tolerating values edited outside the app.

        The store holds what QGIS or another tool may have written: unknown amenities are
        dropped, a missing capacity or date becomes None, NaN text becomes ``""``. Opening
        hours are kept as stored; :func:`geoservice.hours.status` decides what they mean.

        Parameters
        ----------
        row
            A record of the ``stations`` layer (as from ``store.stations()``).

        Returns
        -------
        Station
        """

        def text(key: str) -> str:
            value = row.get(key)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return ""
            return str(value)

        def number(key: str) -> float:
            try:
                return float(row.get(key))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                return math.nan

        have = set(_AMENITY_SPLIT.split(text("amenities")))
        try:
            verified = (
                dt.date.fromisoformat(text("verified_on")[:10]) if text("verified_on") else None
            )
        except ValueError:
            verified = None
        return cls(
            id=text("id"),
            name=text("name"),
            kind=text("kind"),
            lon=number("lon"),
            lat=number("lat"),
            address=text("address"),
            town_code=text("town_code"),
            opening_hours=text("opening_hours"),
            amenities=tuple(a for a in AMENITIES if a in have),
            phone=text("phone"),
            host_org=text("host_org"),
            capacity=_capacity(row.get("capacity")),
            verified_on=verified,
            source=text("source"),
        )

    def record(
        self, at: dt.datetime | None = None, town_names: Mapping[str, str] | None = None
    ) -> StationRecord:
        """The station as every API answer and page shows it, evaluated at `at`.

        The one station record: the stored fields plus Chinese labels (``kind_label``,
        ``amenity_labels``, ``town``) and the open status from the one open rule
        (:func:`geoservice.hours.status`: ``open_now``, ``status``, ``hours_zh``,
        ``hours_valid``, ``next_open``). An unreadable stored ``opening_hours`` shows as
        "时间格式有误" and counts as closed.

        Parameters
        ----------
        at
            Moment of the open status (naive = Asia/Shanghai; None = now).
        town_names
            Town code → Chinese name, for the ``town`` field.

        Returns
        -------
        StationRecord
            JSON-ready.
        """
        from geoservice import hours  # model stays importable without the hours library

        return {
            **self.to_dict(),
            "kind_label": STATION_KINDS.get(self.kind, self.kind),
            "town": (town_names or {}).get(self.town_code, ""),
            "amenity_labels": [AMENITIES[a] for a in self.amenities],
            **hours.status(self.opening_hours, at).to_dict(),
        }


def _capacity(value: object) -> int | None:
    """A stored capacity: None when missing (None, NaN) or not a whole number."""
    # What the store, a CSV or QGIS can hold; any other object is no capacity.
    if not isinstance(value, int | float | str | bytes | np.number):
        return None
    try:
        return None if pd.isna(value) else int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Site:
    """A place the caravan serves: village, community or reservoir protection site.

    ``lon``/``lat`` are ``None`` only when ``coord_source == "missing"`` (no real
    coordinate is known yet; import one with ``flask sites import --upsert``).
    """

    id: str
    name: str
    kind: str
    code: str = ""
    lon: float | None = None
    lat: float | None = None
    town_code: str = ""
    service_minutes: int = field(default=0)
    official_name: str = ""
    coord_source: str = "import"
    source: str = "import"

    def __post_init__(self) -> None:
        if not self.service_minutes:
            object.__setattr__(self, "service_minutes", SITE_SERVICE_MINUTES.get(self.kind, 30))

    def to_dict(self) -> dict:
        """Return a JSON-ready dict."""
        return dataclasses.asdict(self)


#: Column order of the ``stations`` layer (geometry excluded).
STATION_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Station))
#: Column order of the ``sites`` layer (geometry excluded).
SITE_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Site))
