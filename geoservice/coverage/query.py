"""Coverage parameters: :class:`CoverageQuery`, its defaults and limits, and the notices.

Parameters have the same names as the nearest-station answer. :class:`CoverageQuery` is
their declaration (:mod:`geoservice.params`): every check lives there and raises
:class:`~geoservice.errors.ParameterError` naming the parameter; `open_at` absent means
every matching station counts whatever its hours (the planning view), present means only
those open then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from geoservice import filters, params
from geoservice.district import OUTSIDE_NOTICE
from geoservice.errors import ParameterError
from geoservice.network import MODE_LABELS

if TYPE_CHECKING:
    from geoservice.responses import CoverageQueryEcho

#: Default thresholds (minutes) per mode.
DEFAULT_MINUTES: dict[str, tuple[float, ...]] = {
    "walk": (5.0, 10.0, 15.0),
    "bike": (5.0, 10.0),
    "drive": (10.0,),
}
MAX_MINUTES = 120.0
MAX_THRESHOLDS = 6
#: Reached roads are buffered by this many metres to draw coverage areas.
BUFFER_M = 50.0
MAX_BUFFER_M = 500.0
#: ACFTU service radius: network distance from a road to a station's door.
ACFTU_RADIUS_M = 1000.0
#: Default station kinds (as for the nearest-station answer).
DEFAULT_KINDS = ("warm_station",)
_MINUTES_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_THRESHOLDS,
    "items": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_MINUTES},
}
#: Gaps returned with geometry (all are counted).
MAX_GAP_FEATURES = 300

NOTICES = {
    "towns_approximate": (
        "乡镇（街道）数据为近似值：没有乡镇界线，每条道路按路网上最近的已定位村庄、社区或"
        "乡镇驻地归属。",
        "Per-town figures are approximate: no town boundaries exist, so each road is given "
        "the town of the nearest located village, community or town seat along the network.",
    ),
    "schematic_network": (
        "路网为示意路网，并非真实道路，覆盖结果仅供演示。",
        "The road network is schematic, not real roads: coverage figures are illustrative.",
    ),
    "sample_stations": (
        "驿站为示例数据，并非总工会正式名录。",
        "The stations are sample data, not the union's official list.",
    ),
    "schematic_villages": (
        "部分村庄、社区位置为示意位置（非实测坐标），相关数字为示意。",
        "Some village/community positions are schematic (not surveyed): the village "
        "figures are illustrative.",
    ),
    OUTSIDE_NOTICE["code"]: (OUTSIDE_NOTICE["zh"], OUTSIDE_NOTICE["en"]),
    "no_villages": (
        "尚无村庄、社区坐标，无法统计村庄覆盖率；可用 `flask sites import --upsert` 导入坐标。",
        "No village or community has a position yet, so village coverage cannot be counted; "
        "import coordinates with `flask sites import --upsert`.",
    ),
}


def _read_minutes(raw: object, name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    return parse_minutes(raw, default=default)


@dataclass(frozen=True)
class CoverageQuery:
    """What to compute: mode, thresholds, station filters and the polygon buffer.

    A request declaration (:func:`geoservice.params.param`): read it with :meth:`parse`
    (CLI or JSON values) or :func:`geoservice.params.parse_query`; every check raises
    :class:`~geoservice.errors.ParameterError` naming the parameter.

    Attributes
    ----------
    mode : str
        ``walk``, ``bike`` or ``drive``.
    minutes : tuple of float
        Thresholds in minutes, ascending, each in (0, `MAX_MINUTES`]; read, the mode's
        defaults (`DEFAULT_MINUTES`) when absent.
    kinds : tuple of str
        Station kinds counted (default ``warm_station``, as the nearest-station answer).
    amenities : tuple of str
        Amenities a station must all offer (empty: any).
    at : datetime or None
        Count only the stations open at this moment (Asia/Shanghai); None counts every
        matching station whatever its hours (the planning view).
    buffer_m : float
        Buffer around reached roads for the polygons.
    """

    mode: str = filters.mode()
    minutes: tuple[float, ...] = params.param(
        params.read_with(_read_minutes, _MINUTES_SCHEMA, many=True),
        f"thresholds in minutes (0 < m ≤ {MAX_MINUTES:g}, at most {MAX_THRESHOLDS}), "
        "comma-separated or repeated; default by mode: walk 5,10,15; bike 5,10; drive 10",
        default=DEFAULT_MINUTES["walk"],
        default_by=lambda earlier: DEFAULT_MINUTES[earlier["mode"]],
        example=[5, 10, 15],
    )
    kinds: tuple[str, ...] = filters.kinds(DEFAULT_KINDS)
    amenities: tuple[str, ...] = filters.amenities(())
    at: dt.datetime | None = filters.open_at(
        "count only the stations open at this time (ISO 8601; naive means Asia/Shanghai), "
        "e.g. 02:00 for the night gaps; absent: every matching station whatever its hours "
        "(the planning view)",
        example="2026-11-25T02:00",
    )
    buffer_m: float = params.param(
        params.read_number(0, MAX_BUFFER_M),
        "buffer around the reached roads for the polygons (metres)",
        default=BUFFER_M,
        example=50,
    )

    def __post_init__(self) -> None:
        if self.buffer_m <= 0:
            name = "buffer_m"
            raise ParameterError(
                name,
                f"buffer_m 应大于 0 且不超过 {MAX_BUFFER_M:g}",
                f"buffer_m must be greater than 0 and at most {MAX_BUFFER_M:g}",
            )

    @classmethod
    def parse(cls, args: Mapping[str, object]) -> CoverageQuery:
        """Read ``mode``, ``minutes``, ``kind``, ``amenity``, ``open_at``, ``buffer_m`` from
        CLI or JSON values (other names are ignored).

        Parameters
        ----------
        args : mapping
            Raw values (text from the CLI, or JSON values); ``minutes`` may be one number,
            a comma-separated list or a list.

        Returns
        -------
        CoverageQuery

        Raises
        ------
        ParameterError
            Unknown mode, kind or amenity; minutes not numbers, ≤ 0 or > 120; a bad time;
            a buffer outside (0, 500] m.
        """
        return params.parse_values(cls, args)

    @property
    def seconds(self) -> np.ndarray:
        return np.array(self.minutes, dtype=float) * 60.0

    def to_dict(self) -> CoverageQueryEcho:
        """JSON-ready echo of the parameters."""
        return {
            "mode": self.mode,
            "mode_label": MODE_LABELS[self.mode],
            "minutes": [num(m) for m in self.minutes],
            "kind": list(self.kinds),
            "amenity": list(self.amenities),
            "open_at": None if self.at is None else self.at.isoformat(),
            "buffer_m": num(self.buffer_m),
        }


def parse_minutes(raw: object, *, default: tuple[float, ...]) -> tuple[float, ...]:
    """Thresholds in minutes: one number, ``"5,10,15"`` or a list; each in (0, 120].

    Raises
    ------
    ParameterError
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return tuple(default)
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        items: list[object] = [raw]
    elif isinstance(raw, list | tuple):
        items = []
        for part in raw:
            items.extend(part.split(",") if isinstance(part, str) else [part])
    elif isinstance(raw, str):
        items = list(raw.split(","))
    else:
        items = [raw]
    items = [i for i in items if not (isinstance(i, str) and not i.strip())]
    if not items:
        return tuple(default)
    name = "minutes"
    if len(items) > MAX_THRESHOLDS:
        raise ParameterError(
            name,
            f"minutes 最多 {MAX_THRESHOLDS} 个阈值",
            f"minutes takes at most {MAX_THRESHOLDS} thresholds",
        )
    values = []
    for item in items:
        x = params.number(item, name, 0, MAX_MINUTES)
        if x <= 0:
            raise ParameterError(
                name,
                f"minutes 应大于 0 且不超过 {MAX_MINUTES:g}，而不是 {num(x)}",
                f"minutes must be greater than 0 and at most {MAX_MINUTES:g}, not {num(x)}",
            )
        values.append(x)
    return tuple(sorted(set(values)))


def num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else float(x)
