"""The one parser of request parameters: query strings, JSON bodies and CLI options.

Every public endpoint and command reads its parameters through these functions, so that no
client input can cause a 500: each one either returns a clean Python value or raises
:class:`~geoservice.errors.ParameterError` naming the parameter, in Chinese and English,
echoing at most a short excerpt of the input.

Values come either as text (query strings, CLI options) or as JSON values (request bodies);
the functions accept both, but never guess: a JSON list where one value is expected
(``"mode": ["walk"]``) is refused, not unwrapped. A query string arrives as a mapping of
name → list of strings (a parameter may be repeated); :func:`arg` takes a scalar out of it
(refusing a parameter repeated with different values) and :func:`arg_list` a list.

Conventions:

* Numbers: ASCII decimal only (``"١٢"``, ``"²"`` and other Unicode digits are refused,
  although Python's ``float()`` accepts some of them); finite (``NaN``, ``inf`` and overflow
  such as ``1e309`` are refused); at most `MAX_NUMBER_CHARS` characters; JSON booleans are
  not numbers.
* Integers: ASCII digits only, at most `MAX_INT_DIGITS` digits, no fractions.
* Vocabularies (:func:`choice`, :func:`names`): case-insensitive keys, or their Chinese
  labels (``暖心驿站`` for ``warm_station``); errors list every key with its label.
* Lists: comma-separated text, a repeated query parameter, or a JSON list of strings; at
  most `MAX_LIST_ITEMS` items of at most `MAX_ITEM_CHARS` characters each.
* Times: ISO 8601, naive meaning Asia/Shanghai, between `TIME_MIN_YEAR` and
  `TIME_MAX_YEAR`.
* JSON bodies: ``application/json``, at most a given number of bytes, UTF-8, at most
  `MAX_JSON_DEPTH` levels of nesting (measured on the text before decoding, in linear time),
  no ``NaN``/``Infinity``, an object with known keys only.

Each operation declares its parameters once, as a frozen dataclass whose fields are made by
:func:`param` (a :class:`Reader` over the functions here, a default, a description, an
example and the JSON schema the reader accepts) or :func:`nested` (another declaration read
from the same parameters). :func:`parse_query`, :func:`parse_body` and :func:`parse_values`
read a declaration from a query string, a JSON body or CLI values; cross-field checks live
in the dataclass's ``__post_init__``. The OpenAPI parameters and request bodies are
generated from the same declarations (:func:`parameters`, :func:`body_schema`).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import re
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

import numpy as np

from geoservice import crs as _crs
from geoservice import hours as _hours
from geoservice.errors import ParameterError, excerpt

__all__ = [
    "CLOCK_SCHEMA",
    "DAY_SCHEMA",
    "FLAG_SCHEMA",
    "MAX_ITEM_CHARS",
    "MAX_JSON_DEPTH",
    "MAX_LIST_ITEMS",
    "MAX_TEXT_CHARS",
    "REQUIRED",
    "TIME_MAX_YEAR",
    "TIME_MIN_YEAR",
    "TIME_SCHEMA",
    "Nested",
    "Param",
    "Reader",
    "arg",
    "arg_list",
    "body_schema",
    "check_depth",
    "choice",
    "clock",
    "clock_range",
    "coordinate_system",
    "day",
    "declared",
    "flag",
    "hhmm",
    "identifier",
    "integer",
    "json_body",
    "mapping",
    "names",
    "narrowed",
    "nested",
    "number",
    "override",
    "param",
    "parameters",
    "parse_body",
    "parse_json",
    "parse_query",
    "parse_values",
    "points",
    "read_choice",
    "read_clock",
    "read_crs",
    "read_day",
    "read_flag",
    "read_integer",
    "read_names",
    "read_number",
    "read_points",
    "read_text",
    "read_time",
    "read_with",
    "require_object",
    "text",
    "time",
]

MAX_NUMBER_CHARS = 32
MAX_INT_DIGITS = 9
MAX_LIST_ITEMS = 300
MAX_ITEM_CHARS = 64
MAX_TEXT_CHARS = 500
MAX_JSON_DEPTH = 10
MAX_TIME_CHARS = 40
#: Times outside these years are refused: no opening-hours answer means anything there
#: (and Python's datetime overflows near year 1 and 9999).
TIME_MIN_YEAR = 2000
TIME_MAX_YEAR = 2100

_NUMBER_RE = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$", re.ASCII)
_INT_RE = re.compile(r"^[+]?\d+$", re.ASCII)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
#: Every spelling :func:`flag` accepts (for the OpenAPI enum).
FLAG_VALUES = _TRUE + _FALSE
#: Coordinate systems with the Chinese names users know them by.
CRS_LABELS = {"wgs84": "GPS / WGS84", "gcj02": "高德、腾讯 GCJ-02", "bd09": "百度 BD-09"}

_T = TypeVar("_T")


def _blank(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip() == "")


def _missing(name: str) -> ParameterError:
    return ParameterError(name, f"缺少参数 {name}", f"{name} is required")


def _default(name: str, default: _T | None) -> _T:
    """The value of a blank parameter: its default, or an error when it is required (None)."""
    if default is None:
        raise _missing(name)
    return default


def _type_name(raw: object) -> str:
    """The JSON name of a value's type, for messages."""
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return "boolean"
    if isinstance(raw, int | float):
        return "number"
    if isinstance(raw, str):
        return "string"
    if isinstance(raw, list | tuple):
        return "array"
    if isinstance(raw, dict):
        return "object"
    return type(raw).__name__


# -- query strings ---------------------------------------------------------------------------


def arg(args: Mapping[str, object], name: str) -> object:
    """The value of a scalar query parameter, or None when it is absent.

    Parameters
    ----------
    args
        Query parameters as name → list of values (``request.args.to_dict(flat=False)``);
        a plain value per name is accepted too.
    name
        Parameter name.

    Returns
    -------
    object
        The one value (repeating a parameter with the same value is harmless).

    Raises
    ------
    ParameterError
        When the parameter is given several times with different values.
    """
    raw = args.get(name)
    if not isinstance(raw, list | tuple):
        return raw
    distinct = list(dict.fromkeys(v if isinstance(v, str) else repr(v) for v in raw))
    if len(distinct) > 1:
        shown = "、".join(excerpt(v, 12) for v in distinct[:3])
        raise ParameterError(
            name,
            f"参数 {name} 只能给一个值，收到 {len(distinct)} 个不同的值：{shown}",
            f"{name} takes one value, got {len(distinct)} different ones: {shown}",
        )
    return raw[0] if raw else None


def arg_list(args: Mapping[str, object], name: str) -> list[object] | None:
    """Every value of a repeatable query parameter (each may be comma-separated), or None.

    The values are checked by :func:`names`.
    """
    raw = args.get(name)
    if raw is None:
        return None
    return list(raw) if isinstance(raw, list | tuple) else [raw]


# -- scalars ---------------------------------------------------------------------------------


def number(
    raw: object,
    name: str,
    lo: float = -math.inf,
    hi: float = math.inf,
    *,
    default: float | None = None,
) -> float:
    """A finite number within ``[lo, hi]``.

    Parameters
    ----------
    raw
        Text or a JSON number; blank or None means `default` (required when None).
    name
        Parameter name for the error message.
    lo, hi
        Inclusive bounds.
    default
        Value for a missing parameter; None makes it required.

    Returns
    -------
    float

    Raises
    ------
    ParameterError
    """
    if _blank(raw):
        return _default(name, default)
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ParameterError(
            name,
            f"{name} 应为数字，而不是 {_type_name(raw)}",
            f"{name} must be a number, not {_type_name(raw)}",
        )
    if isinstance(raw, str):
        s = raw.strip()
        if len(s) > MAX_NUMBER_CHARS or not _NUMBER_RE.match(s):
            raise ParameterError(
                name,
                f"{name} 应为数字（如 116.84），而不是 {excerpt(raw)}",
                f"{name} must be a decimal number such as 116.84, not {excerpt(raw)}",
            )
        x = float(s)
    else:
        try:
            x = float(raw)
        except OverflowError:  # a huge JSON integer
            x = math.inf
    if not math.isfinite(x):
        raise ParameterError(
            name,
            f"{name} 应为有限数值，而不是 {excerpt(raw)}",
            f"{name} must be a finite number, not {excerpt(raw)}",
        )
    if not lo <= x <= hi:
        raise _out_of_range(name, lo, hi, _fmt(x))
    return x


def _out_of_range(name: str, lo: float, hi: float, shown: str) -> ParameterError:
    return ParameterError(
        name,
        f"{name} 应在 {_fmt(lo)} 到 {_fmt(hi)} 之间，而不是 {shown}",
        f"{name} must be between {_fmt(lo)} and {_fmt(hi)}, not {shown}",
    )


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def integer(raw: object, name: str, lo: int, hi: int, *, default: int | None = None) -> int:
    """A whole number within ``[lo, hi]`` (ASCII digits, at most `MAX_INT_DIGITS`).

    Parameters
    ----------
    raw
        Text or a JSON integer; blank or None means `default` (required when None).
    name
        Parameter name.
    lo, hi
        Inclusive bounds.
    default
        Value for a missing parameter; None makes it required.

    Returns
    -------
    int

    Raises
    ------
    ParameterError
    """
    if _blank(raw):
        return _default(name, default)
    value: int | None = None
    if isinstance(raw, float):
        if math.isfinite(raw) and raw.is_integer():
            value = int(raw)
    elif isinstance(raw, int | np.integer) and not isinstance(raw, bool):
        value = int(raw)
    elif isinstance(raw, str):
        s = raw.strip()
        if _INT_RE.match(s) and len(s.lstrip("+")) <= MAX_INT_DIGITS:
            value = int(s)
    if value is None:
        raise ParameterError(
            name,
            f"{name} 应为 {lo}–{hi} 的整数，而不是 {excerpt(raw)}",
            f"{name} must be a whole number {lo}–{hi}, not {excerpt(raw)}",
        )
    if not lo <= value <= hi:
        raise _out_of_range(name, lo, hi, excerpt(value, 12))
    return value


def _vocabulary(allowed: Iterable[str] | Mapping[str, str]) -> dict[str, str]:
    """Accepted spelling (lower-cased key, or Chinese label) → key."""
    if isinstance(allowed, Mapping):
        spellings = {str(label): key for key, label in allowed.items()}
        spellings.update({key.lower(): key for key in allowed})
        return spellings
    return {key.lower(): key for key in allowed}


def choice(
    raw: object,
    name: str,
    allowed: Sequence[str] | Mapping[str, str],
    default: str | None = None,
) -> str:
    """One value of a fixed vocabulary (case-insensitive; a mapping's labels too).

    Parameters
    ----------
    raw
        Text; blank or None means `default` (required when None).
    name
        Parameter name.
    allowed
        The values, or a mapping value → Chinese label (accepted as well, and listed in
        the error message).
    default
        Value for a missing parameter; None makes it required.

    Returns
    -------
    str
        The key.

    Raises
    ------
    ParameterError
    """
    if _blank(raw):
        return _default(name, default)
    spellings = _vocabulary(allowed)
    value = spellings.get(raw.strip().lower()) if isinstance(raw, str) else None
    if value is None and isinstance(raw, str):
        value = spellings.get(raw.strip())
    if value is None:
        raise ParameterError(
            name,
            f"{name} 应为 {_listing(allowed)} 之一，而不是 {excerpt(raw)}",
            f"{name} must be one of {', '.join(allowed)}, not {excerpt(raw)}",
        )
    return value


def _listing(allowed: Iterable[str] | Mapping[str, str]) -> str:
    if isinstance(allowed, Mapping):
        return "、".join(f"{k}（{v}）" for k, v in allowed.items())
    return "、".join(allowed)


def coordinate_system(raw: object, name: str = "crs", default: str = "wgs84") -> str:
    """A coordinate-system name (``wgs84``, ``gcj02``, ``bd09`` or an alias such as ``amap``).

    Returns
    -------
    str
        The canonical name (see :func:`geoservice.crs.normalize_crs`).

    Raises
    ------
    ParameterError
    """
    if _blank(raw):
        return default
    if isinstance(raw, str) and len(raw) <= MAX_ITEM_CHARS:
        try:
            return _crs.normalize_crs(raw)
        except ValueError:
            pass
    raise ParameterError(
        name,
        f"{name} 应为 {_listing(CRS_LABELS)} 之一，而不是 {excerpt(raw)}",
        f"{name} must be one of {', '.join(CRS_LABELS)} (or amap, tencent, baidu), "
        f"not {excerpt(raw)}",
    )


def flag(raw: object, name: str, default: bool) -> bool:
    """A yes/no value: ``1/0``, ``true/false``, ``yes/no``, ``on/off`` or a JSON boolean.

    Raises
    ------
    ParameterError
    """
    if _blank(raw):
        return default
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    value = raw.strip().lower() if isinstance(raw, str) else None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ParameterError(
        name,
        f"{name} 应为 1/0 或 true/false，而不是 {excerpt(raw)}",
        f"{name} must be 1/0 or true/false, not {excerpt(raw)}",
    )


def text(
    raw: object, name: str, *, max_chars: int = MAX_TEXT_CHARS, default: str | None = None
) -> str:
    """A string of at most `max_chars` characters (stripped).

    Raises
    ------
    ParameterError
    """
    if _blank(raw):
        return _default(name, default)
    if not isinstance(raw, str):
        raise ParameterError(
            name,
            f"{name} 应为文本，而不是 {_type_name(raw)}",
            f"{name} must be a string, not {_type_name(raw)}",
        )
    value = raw.strip()
    if len(value) > max_chars:
        raise ParameterError(
            name,
            f"{name} 过长（{len(value)} 字符，上限 {max_chars}）",
            f"{name} is too long ({len(value)} characters, limit {max_chars})",
        )
    return value


def names(
    raw: object,
    name: str,
    vocab: Iterable[str] | Mapping[str, str] | None = None,
    *,
    max_items: int = MAX_LIST_ITEMS,
    max_chars: int = MAX_ITEM_CHARS,
) -> list[str] | None:
    """A list of names: comma-separated text, a repeated query parameter or a JSON list.

    Parameters
    ----------
    raw
        ``"a,b"``, ``["a", "b"]`` (repeated query parameter or JSON list), or None.
    name
        Parameter name.
    vocab
        Allowed values, compared case-insensitively; a mapping's values are Chinese labels,
        accepted too and listed in the error message. None accepts any short name.
    max_items, max_chars
        Size limits.

    Returns
    -------
    list of str or None
        The vocabulary keys (labels replaced by their keys); None when the parameter is
        absent or empty; duplicates removed, order kept.

    Raises
    ------
    ParameterError
    """
    if raw is None:
        return None
    parts = raw if isinstance(raw, list | tuple) else [raw]
    items: list[str] = []
    for part in parts:
        if not isinstance(part, str):
            raise ParameterError(
                name,
                f"{name} 应为文本或文本列表，其中有 {_type_name(part)}",
                f"{name} must be a string or a list of strings, not a list with "
                f"a {_type_name(part)}",
            )
        if len(part) > max_items * (max_chars + 1):
            raise ParameterError(
                name, f"{name} 过长（{len(part)} 字符）", f"{name} is too long ({len(part)} chars)"
            )
        items.extend(p.strip() for p in part.split(",") if p.strip())
        if len(items) > max_items:
            raise ParameterError(
                name,
                f"{name} 最多 {max_items} 项",
                f"{name} takes at most {max_items} values",
            )
    for item in items:
        if len(item) > max_chars:
            raise ParameterError(
                name,
                f"{name} 中的值过长：{excerpt(item)}",
                f"a value of {name} is too long: {excerpt(item)}",
            )
    if vocab is not None:
        spellings = _vocabulary(vocab)
        keys = [spellings.get(i.lower(), spellings.get(i)) for i in items]
        unknown = [i for i, k in zip(items, keys, strict=True) if k is None]
        if unknown:
            listed = "、".join(excerpt(u) for u in unknown[:5])
            raise ParameterError(
                name,
                f"未知的 {name}：{listed}；可选：{_listing(vocab)}",
                f"unknown {name} {listed}; allowed: {', '.join(vocab)}",
            )
        items = keys  # type: ignore[assignment]
    return list(dict.fromkeys(items)) or None


def time(raw: object, name: str = "open_at") -> datetime | None:
    """An ISO 8601 time as an aware Asia/Shanghai datetime (naive means Shanghai time).

    Returns
    -------
    datetime or None
        None when absent (the caller decides what "now" is).

    Raises
    ------
    ParameterError
        Not ISO 8601, or outside the years `TIME_MIN_YEAR`–`TIME_MAX_YEAR`.
    """
    if _blank(raw):
        return None
    bad = ParameterError(
        name,
        f"{name} 应为 ISO 8601 时间（如 2026-11-25T13:00），而不是 {excerpt(raw)}",
        f"{name} must be an ISO 8601 time such as 2026-11-25T13:00, not {excerpt(raw)}",
    )
    if not isinstance(raw, str) or len(raw) > MAX_TIME_CHARS:
        raise bad
    try:
        at = _hours.parse_time(raw)
    except (ValueError, OverflowError):
        raise bad from None
    if not TIME_MIN_YEAR <= at.year <= TIME_MAX_YEAR:
        raise ParameterError(
            name,
            f"{name} 应在 {TIME_MIN_YEAR} 年至 {TIME_MAX_YEAR} 年之间，而不是 {excerpt(raw)}",
            f"{name} must be between the years {TIME_MIN_YEAR} and {TIME_MAX_YEAR}, "
            f"not {excerpt(raw)}",
        )
    return at


def day(raw: object, name: str) -> date | None:
    """A calendar date ``YYYY-MM-DD`` between the years `TIME_MIN_YEAR`–`TIME_MAX_YEAR`.

    Returns
    -------
    date or None
        None when absent.

    Raises
    ------
    ParameterError
    """
    if _blank(raw):
        return None
    value = text(raw, name, max_chars=10)
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or not TIME_MIN_YEAR <= parsed.year <= TIME_MAX_YEAR or len(value) != 10:
        raise ParameterError(
            name,
            f"{name} 应为日期 YYYY-MM-DD（如 2026-03-02），而不是 {excerpt(raw)}",
            f"{name} must be a date YYYY-MM-DD such as 2026-03-02, not {excerpt(raw)}",
        )
    return parsed


def clock(raw: object, name: str, default: str | None = None) -> int:
    """A clock time ``HH:MM`` (00:00–24:00; a full-width colon is accepted) as seconds
    after midnight.

    Raises
    ------
    ParameterError
    """
    value = text(raw, name, max_chars=8, default=default).replace("：", ":")
    parts = value.split(":")
    ok = len(parts) == 2 and all(p.isascii() and p.isdigit() and len(p) <= 2 for p in parts)
    if ok:
        h, m = int(parts[0]), int(parts[1])
        ok = (0 <= h < 24 and 0 <= m < 60) or (h == 24 and m == 0)
    if not ok:
        raise ParameterError(
            name,
            f"{name} 应为 HH:MM 格式的时刻（如 08:30），而不是 {excerpt(raw)}",
            f"{name} must be a clock time HH:MM such as 08:30, not {excerpt(raw)}",
        )
    return h * 3600 + m * 60


def clock_range(raw: object, name: str) -> tuple[int, int]:
    """A time range ``"09:00-11:00"`` (or ``["09:00", "11:00"]``) as (start, end) seconds
    after midnight, the end after the start.

    Raises
    ------
    ParameterError
    """
    if isinstance(raw, str):
        parts = raw.replace("–", "-").replace("—", "-").replace("~", "-").split("-")
    elif isinstance(raw, list | tuple):
        parts = list(raw)
    else:
        parts = []
    if len(parts) != 2:
        raise ParameterError(
            name,
            f'{name} 应为时段，如 "09:00-11:00"，而不是 {excerpt(raw)}',
            f'{name} must be a time range such as "09:00-11:00", not {excerpt(raw)}',
        )
    start = clock(parts[0], name, "")
    end = clock(parts[1], name, "")
    if end <= start:
        raise ParameterError(
            name, f"{name} 的结束时刻应晚于开始时刻", f"{name} must end after it starts"
        )
    return start, end


def mapping(raw: object, name: str, *, max_items: int = MAX_LIST_ITEMS) -> Mapping:
    """A JSON object ``{id: value}`` of at most ``max_items`` entries (absent: empty).

    Raises
    ------
    ParameterError
    """
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ParameterError(
            name,
            f"{name} 应为对象 {{编号: 值}}",
            f"{name} must be an object {{id: value}}",
        )
    if len(raw) > max_items:
        raise ParameterError(
            name, f"{name} 最多 {max_items} 项", f"{name} takes at most {max_items} entries"
        )
    return raw


# -- coordinates -----------------------------------------------------------------------------


def points(raw: object, name: str = "origins", *, max_items: int, min_items: int = 1) -> np.ndarray:
    """A list of ``[lon, lat]`` pairs as an ``(n, 2)`` float array.

    Parameters
    ----------
    raw
        A JSON list of two-number lists, or an ``(n, 2)`` array.
    name
        Parameter name; a bad pair is reported as ``name[i]``.
    max_items, min_items
        Most and fewest pairs accepted.

    Returns
    -------
    numpy.ndarray
        Finite longitudes within ±180 and latitudes within ±90.

    Raises
    ------
    ParameterError
    """
    if raw is None:
        raise _missing(name)
    if isinstance(raw, np.ndarray):
        if raw.ndim != 2 or raw.shape[1] != 2 or not np.issubdtype(raw.dtype, np.number):
            msg = f"{name} must be an (n, 2) array of numbers, not shape {raw.shape}"
            raise ParameterError(name, f"{name} 应为 n×2 的数值数组", msg)
    elif not isinstance(raw, list):
        raise ParameterError(
            name,
            f"{name} 应为 [[经度, 纬度], …] 的列表，而不是 {_type_name(raw)}",
            f"{name} must be a list of [lon, lat] pairs, not {_type_name(raw)}",
        )
    if len(raw) > max_items:
        raise ParameterError(
            name,
            f"{name} 最多 {max_items:,} 个点，收到 {len(raw):,} 个",
            f"{name} takes at most {max_items:,} points, got {len(raw):,}",
        )
    if len(raw) < min_items:
        raise ParameterError(
            name,
            f"{name} 至少需要 {min_items} 个点",
            f"{name} needs at least {min_items} point(s)",
        )
    xy = raw.astype(float) if isinstance(raw, np.ndarray) else _pairs(raw)
    if xy is None:  # find the first bad pair, for the message
        i = next(i for i, p in enumerate(raw) if not _is_pair(p))
        raise _bad_point(name, i, raw[i])
    bad = ~np.isfinite(xy).all(axis=1) | (np.abs(xy[:, 0]) > 180) | (np.abs(xy[:, 1]) > 90)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _bad_point(name, i, raw[i])
    return xy


def _is_pair(p: object) -> bool:
    # JSON: bools are not numbers, strings are not parsed, integers beyond float refused.
    return (
        type(p) is list
        and len(p) == 2
        and all(type(v) in (int, float) and abs(v) < 1e308 for v in p)
    )


def _pairs(raw: list) -> np.ndarray | None:
    """``raw`` as an (n, 2) float array when every item is a ``[number, number]`` list.

    Converts first and checks the Python types after (sets over the items): the same
    answer as :func:`_is_pair` on every item, at a fraction of the cost for 10,000 pairs.
    """
    try:
        xy = np.array(raw, dtype=float)
    except (ValueError, TypeError, OverflowError):
        return None
    if xy.shape != (len(raw), 2) or not set(map(type, raw)) <= {list}:
        return None
    if not set(map(type, itertools.chain.from_iterable(raw))) <= {int, float}:
        return None
    return xy


def _bad_point(name: str, i: int, value: object) -> ParameterError:
    shown = excerpt(value.tolist() if isinstance(value, np.ndarray) else value)
    return ParameterError(
        f"{name}[{i}]",
        f"{name} 第 {i} 项应为 [经度, 纬度] 两个有限数值（经度 ±180，纬度 ±90），而不是 {shown}",
        f"{name}[{i}] must be [lon, lat]: two finite numbers, lon within ±180 and lat "
        f"within ±90, not {shown}",
    )


# -- JSON bodies -----------------------------------------------------------------------------


def check_depth(value: object, name: str = "body", max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse JSON nested deeper than `max_depth` levels (iterative: no recursion limit).

    Raises
    ------
    ParameterError
    """
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > max_depth:
                raise _too_deep(name, max_depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((c, depth + 1) for c in children)


def _too_deep(name: str, max_depth: int) -> ParameterError:
    return ParameterError(
        name,
        f"JSON 嵌套超过 {max_depth} 层",
        f"JSON is nested deeper than {max_depth} levels",
    )


def require_object(
    value: object, name: str = "body", allowed: Iterable[str] | None = None
) -> dict[str, Any]:
    """A decoded JSON object (checked with `check_depth`), with only `allowed` keys if given.

    Raises
    ------
    ParameterError
        Not an object, too deep, or an unknown key (a misspelt parameter is refused, not
        silently ignored).
    """
    check_depth(value, name)
    return _object(value, name, allowed)


def _object(value: object, name: str, allowed: Iterable[str] | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ParameterError(
            name,
            f"请求体应为 JSON 对象，而不是 {_type_name(value)}",
            f"the request body must be a JSON object, not {_type_name(value)}",
        )
    if allowed is not None:
        allowed = list(allowed)
        unknown = [k for k in value if k not in allowed]
        if unknown:
            listed = "、".join(excerpt(k, 20) for k in unknown[:5])
            raise ParameterError(
                unknown[0][:MAX_ITEM_CHARS],
                f"未知的参数：{listed}；可用：{'、'.join(allowed)}",
                f"unknown parameter {listed}; allowed: {', '.join(allowed)}",
            )
    return value


# A JSON string (its closing quote optional, so that an unterminated string ends the scan
# instead of being retried at every later quote: linear time on any input). UTF-8 never
# has these ASCII bytes inside a multi-byte character, so bytes can be scanned directly.
_STRING_RE = re.compile(rb'"(?:[^"\\]++|\\.)*+"?', re.S)
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_BRACKET_STEP = np.zeros(256, dtype=np.int8)
_BRACKET_STEP[list(b"[{")] = 1
_BRACKET_STEP[list(b"]}")] = -1


def _depth(raw: bytes) -> int:
    """Deepest nesting of arrays/objects in JSON text, outside strings (vectorised)."""
    brackets = _STRING_RE.sub(b"", raw).translate(None, _NOT_BRACKETS)
    steps = _BRACKET_STEP[np.frombuffer(brackets, dtype=np.uint8)]
    return int(np.cumsum(steps, dtype=np.int64).max(initial=0))


def parse_json(raw: bytes | str, name: str = "body", max_depth: int = MAX_JSON_DEPTH) -> object:
    """Decode a JSON request body, refusing deep nesting before the decoder recurses.

    Python's ``json`` decoder recurses once per level, so a body nested 10,000 deep would
    raise ``RecursionError`` instead of a clear 400; the depth is therefore measured on
    the text first, skipping strings, in linear time.

    Parameters
    ----------
    raw
        The body (UTF-8 bytes, with or without a byte-order mark, or text).
    name
        Parameter name for errors.
    max_depth
        Most levels of nested arrays/objects.

    Returns
    -------
    object
        The decoded JSON value.

    Raises
    ------
    ParameterError
    """
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    try:
        text = bytes(raw).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ParameterError(
            name, "请求体不是 UTF-8 编码的 JSON", "the request body is not UTF-8 JSON"
        ) from None
    if not text.strip():
        raise ParameterError(name, "请求体为空，应为 JSON", "the request body is empty")
    if _depth(bytes(raw)) > max_depth:
        raise _too_deep(name, max_depth)
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        reason = excerpt(str(exc), 80)
        raise ParameterError(
            name,
            f"请求体不是有效的 JSON：{reason}",
            f"the request body is not valid JSON: {reason}",
        ) from None


def _no_constant(token: str) -> None:
    # json.loads accepts NaN/Infinity by default; they are not JSON.
    msg = f"{token} is not valid JSON"
    raise ValueError(msg)


def json_body(
    raw: bytes,
    content_type: str | None,
    *,
    max_bytes: int,
    allowed: Iterable[str] | None = None,
    name: str = "body",
) -> dict[str, Any]:
    """A request body that must be a JSON object: media type, size, encoding, depth, keys.

    Parameters
    ----------
    raw
        The body as received.
    content_type
        The request's ``Content-Type`` header (``application/json`` or ``…+json``,
        parameters such as ``charset`` ignored); None when absent.
    max_bytes
        Largest body accepted.
    allowed
        The known keys (others are refused); None accepts any.
    name
        Parameter name for errors.

    Returns
    -------
    dict

    Raises
    ------
    ParameterError
        415 for another media type, 413 for a body over `max_bytes`, else 400.
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise ParameterError(
            name,
            f"请求体应以 Content-Type: application/json 发送，而不是 {excerpt(media or '（无）')}",
            f"send the body as Content-Type: application/json, not {excerpt(media or 'none')}",
            status=415,
        )
    if len(raw) > max_bytes:
        raise ParameterError(
            name,
            f"请求体过大（{len(raw):,} 字节，上限 {max_bytes:,}）",
            f"the request body is too large ({len(raw):,} bytes, limit {max_bytes:,})",
            status=413,
        )
    return _object(parse_json(raw, name), name, allowed)  # depth checked on the text


# -- ids -------------------------------------------------------------------------------------

# C0 and C1 controls, DEL, and lone surrogates (never text: no UTF-8 decodes to one).
_NOT_IN_ID = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def identifier(raw: object, name: str) -> str:
    """An id as a client gave it (a station's, a saved tour's), unchanged.

    Ids are compared exactly, so nothing is stripped; an id holding a control character is
    refused rather than looked up (pandas compares a string through numpy, which drops
    trailing NULs: ``WS001\\x00`` would find WS001).

    Raises
    ------
    ParameterError
        400 when the id is blank, not a string, or holds a C0/C1 control character, DEL or a
        lone surrogate.
    """
    if raw is None or raw == "":  # (a str or None from a path; anything else is refused below)
        raise _missing(name)
    if not isinstance(raw, str):
        raise ParameterError(
            name,
            f"{name} 应为文本，而不是 {_type_name(raw)}",
            f"{name} must be a string, not {_type_name(raw)}",
        )
    if _NOT_IN_ID.search(raw):
        raise ParameterError(
            name,
            f"{name} 不能含有控制字符：{excerpt(raw)}",
            f"{name} must not contain control characters: {excerpt(raw)}",
        )
    return raw


# -- declarations ----------------------------------------------------------------------------
#
# An operation's parameters are a frozen dataclass whose fields are declared with
# :func:`param`: how each is read (a :class:`Reader` over the functions above), its default,
# description, example and JSON schema. :func:`parse_query`, :func:`parse_body` and
# :func:`parse_values` read a declaration from a query string, a JSON body or CLI values;
# cross-field checks live in the dataclass's ``__post_init__``. The OpenAPI description is
# generated from the same declarations (:func:`declared`).

#: The default of a required parameter.
REQUIRED: Any = dataclasses.MISSING


@dataclass(frozen=True)
class Reader:
    """How a declared parameter is read, and the JSON schema of what it accepts.

    Attributes
    ----------
    read : callable
        ``read(raw, name, default)`` → the typed value; ``default`` is None for a required
        parameter (the parsers above then raise "is required").
    schema : dict
        JSON schema of the accepted values (as a query parameter or a JSON body member).
    many : bool
        A list: in a query string the parameter may be repeated (and comma-separated).
    text_schema : dict, optional
        The schema as text (a query parameter) where it differs from the JSON one.
    """

    read: Callable[[object, str, Any], Any]
    schema: Mapping[str, Any]
    many: bool = False
    text_schema: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Param:
    """One declared parameter: its wire name, reader, default and documentation.

    ``default_by``, when given, computes the default from the values read before it (the
    coverage thresholds default by mode).
    """

    name: str
    reader: Reader
    description: str
    default: Any = REQUIRED
    example: Any = None
    location: str = "query"
    schema: Mapping[str, Any] | None = None
    default_by: Callable[[Mapping[str, Any]], Any] | None = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED and self.default_by is None

    def read(self, raw: object, earlier: Mapping[str, Any]) -> Any:
        """The value of ``raw``; ``earlier``: the fields read before it (by field name)."""
        if self.required:
            return self.reader.read(raw, self.name, None)
        default = self.default if self.default_by is None else self.default_by(earlier)
        if _blank(raw):
            return default
        return self.reader.read(raw, self.name, default)

    def json_schema(self) -> dict[str, Any]:
        """The schema of the accepted values (the reader's unless the declaration says)."""
        return dict(self.reader.schema if self.schema is None else self.schema)

    def text_schema(self) -> dict[str, Any]:
        """The schema of the accepted values as a query or path parameter."""
        if self.schema is None and self.reader.text_schema is not None:
            return dict(self.reader.text_schema)
        return self.json_schema()


@dataclass(frozen=True)
class Nested:
    """A field holding another declaration, read from the same parameters.

    ``override`` replaces some of its parameters (by wire name) for this use;
    ``undocumented`` are read but left out of the description.
    """

    cls: type
    override: Mapping[str, Param]
    undocumented: tuple[str, ...] = ()


def param(
    reader: Reader,
    description: str,
    *,
    default: Any = REQUIRED,
    example: Any = None,
    name: str | None = None,
    location: str = "query",
    schema: Mapping[str, Any] | None = None,
    default_by: Callable[[Mapping[str, Any]], Any] | None = None,
) -> Any:
    """A dataclass field declaring a parameter.

    Parameters
    ----------
    reader
        How it is read (:func:`read_number`, :func:`read_choice`, …).
    description
        For the OpenAPI description (English).
    default
        Value when absent; `REQUIRED` (the default) makes it required.
    example
        An example value for the OpenAPI description.
    name
        The parameter's name on the wire when it differs from the field's (``kind`` for the
        field ``kinds``).
    location
        ``query``, ``path`` or ``body`` (a JSON body member).
    schema
        A JSON schema narrower than the reader's (an enum of the values the API offers).
    default_by
        The default computed from the fields read before (by field name), when it depends
        on them.
    """
    prm = Param(name or "", reader, description, default, example, location, schema, default_by)
    if default is REQUIRED:
        return dataclasses.field(metadata={"param": prm})
    return dataclasses.field(default=default, metadata={"param": prm})


def override(name: str, reader: Reader, description: str, **kw: Any) -> Param:
    """A parameter replacing one of a nested declaration's (see :func:`nested`)."""
    return Param(name, reader, description, **kw)


def narrowed(declaration: type, name: str, **changes: Any) -> Param:
    """One of a declaration's parameters with some of its attributes changed (a narrower
    ``schema``), to override it where the declaration is nested."""
    prm = next(prm for prm in parameters(declaration) if prm.name == name)
    return dataclasses.replace(prm, **changes)


def nested(
    *,
    default_factory: Callable[[], Any] | None = None,
    override: Sequence[Param] = (),
    undocumented: Sequence[str] = (),
) -> Any:
    """A dataclass field holding another declaration, read from the same parameters.

    Parameters
    ----------
    default_factory
        Builds the value when the dataclass is made directly without it.
    override
        Parameters that replace the nested declaration's of the same name.
    undocumented
        Names read but left out of the generated description.
    """
    meta = {"nested": ({prm.name: prm for prm in override}, tuple(undocumented))}
    if default_factory is None:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default_factory=default_factory, metadata=meta)


_DECLARED: dict[type, tuple[tuple[str, Param | Nested], ...]] = {}


def declared(cls: type) -> tuple[tuple[str, Param | Nested], ...]:
    """The declaration of ``cls``: (field name, :class:`Param` or :class:`Nested`) in
    declaration order, wire names filled in."""
    known = _DECLARED.get(cls)
    if known is None:
        known = _DECLARED[cls] = _declare(cls)
    return known


def _declare(cls: type) -> tuple[tuple[str, Param | Nested], ...]:
    hints = typing.get_type_hints(cls)
    out: list[tuple[str, Param | Nested]] = []
    for f in dataclasses.fields(cls):
        if "nested" in f.metadata:
            replaced, hidden = f.metadata["nested"]
            out.append((f.name, Nested(hints[f.name], replaced, hidden)))
        elif "param" in f.metadata:
            prm: Param = f.metadata["param"]
            out.append((f.name, dataclasses.replace(prm, name=prm.name or f.name)))
    return tuple(out)


def parameters(cls: type, *, documented: bool = False) -> list[Param]:
    """Every parameter of a declaration in order, those of nested ones where they are
    declared; ``documented``: without those left out of the description."""
    out: list[Param] = []
    for _, item in declared(cls):
        if isinstance(item, Nested):
            for prm in parameters(item.cls, documented=documented):
                if not (documented and prm.name in item.undocumented):
                    out.append(item.override.get(prm.name, prm))
        else:
            out.append(item)
    return out


_D = TypeVar("_D")


def _build(
    cls: type[_D], raw: Callable[[Param], object], replaced: Mapping[str, Param] | None = None
) -> _D:
    values: dict[str, object] = {}
    for field_name, item in declared(cls):
        if isinstance(item, Nested):
            values[field_name] = _build(item.cls, raw, item.override)
        else:
            prm = (replaced or {}).get(item.name, item)
            values[field_name] = prm.read(raw(prm), values)
    return cls(**values)


def parse_query(cls: type[_D], args: Mapping[str, object]) -> _D:
    """A declaration from query parameters (name → list of strings; others are ignored).

    Raises
    ------
    ParameterError
    """
    return _build(cls, lambda prm: (arg_list if prm.reader.many else arg)(args, prm.name))


def parse_values(cls: type[_D], values: Mapping[str, object], *, strict: bool = False) -> _D:
    """A declaration from plain values: CLI options, or a decoded JSON object.

    Parameters
    ----------
    cls
        The declaration.
    values
        Name → raw value (text, JSON value or None).
    strict
        Refuse names the declaration does not have (a JSON body: a misspelt parameter is
        refused, not silently ignored).

    Raises
    ------
    ParameterError
    """
    if strict:
        _object(values, "body", [prm.name for prm in parameters(cls)])
    return _build(cls, lambda prm: values.get(prm.name))


def parse_body(cls: type[_D], raw: bytes, content_type: str | None, *, max_bytes: int) -> _D:
    """A declaration from a JSON request body (see :func:`json_body`; unknown keys refused).

    Raises
    ------
    ParameterError
        415 for another media type, 413 for a body over `max_bytes`, else 400.
    """
    allowed = [prm.name for prm in parameters(cls)]
    return parse_values(cls, json_body(raw, content_type, max_bytes=max_bytes, allowed=allowed))


def body_schema(cls: type) -> dict[str, Any]:
    """The JSON schema of a declaration sent as a JSON object body."""
    documented = parameters(cls, documented=True)
    return {
        "type": "object",
        "properties": {prm.name: _documented(prm) for prm in documented},
        "required": [prm.name for prm in documented if prm.required],
        "additionalProperties": False,
    }


def _documented(prm: Param) -> dict[str, Any]:
    schema = prm.json_schema()
    if prm.description and "description" not in schema:
        schema["description"] = prm.description
    return schema


# -- readers ---------------------------------------------------------------------------------


def read_number(lo: float = -math.inf, hi: float = math.inf) -> Reader:
    """A finite number within ``[lo, hi]`` (:func:`number`)."""
    schema: dict[str, Any] = {"type": "number"}
    if math.isfinite(lo):
        schema["minimum"] = lo
    if math.isfinite(hi):
        schema["maximum"] = hi
    return Reader(lambda raw, name, default: number(raw, name, lo, hi, default=default), schema)


def read_integer(lo: int, hi: int) -> Reader:
    """A whole number within ``[lo, hi]`` (:func:`integer`)."""
    schema = {"type": "integer", "minimum": lo, "maximum": hi}
    return Reader(lambda raw, name, default: integer(raw, name, lo, hi, default=default), schema)


def read_choice(allowed: Sequence[str] | Mapping[str, str]) -> Reader:
    """One value of a vocabulary (:func:`choice`); the schema lists the keys."""
    schema = {"type": "string", "enum": list(allowed)}
    return Reader(lambda raw, name, default: choice(raw, name, allowed, default), schema)


def read_names(
    vocab: Mapping[str, str] | Sequence[str] | None = None, *, max_items: int = MAX_LIST_ITEMS
) -> Reader:
    """A list of names (:func:`names`) as a tuple; absent or empty: the default.

    The schema lists the keys and, for a mapping, the Chinese labels.
    """
    items: dict[str, Any] = {"type": "string", "maxLength": MAX_ITEM_CHARS}
    if vocab is not None:
        labels = list(vocab.values()) if isinstance(vocab, Mapping) else []
        items = {"enum": [*vocab, *labels]}

    def read(raw: object, name: str, default: Any) -> Any:
        value = names(raw, name, vocab, max_items=max_items)
        return default if value is None else tuple(value)

    return Reader(read, {"type": "array", "maxItems": max_items, "items": items}, many=True)


#: ISO 8601 as :func:`time` reads it, in the years it accepts (2000–2099 here; 2100 too).
TIME_SCHEMA = {
    "type": "string",
    "maxLength": MAX_TIME_CHARS,
    "pattern": r"^20\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
    r"([T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)?)?$",
}
#: A clock time as :func:`clock` reads it.
CLOCK_SCHEMA = {"type": "string", "pattern": r"^([01]\d|2[0-3]|24):[0-5]\d$", "example": "08:30"}
#: A date as :func:`day` reads it.
DAY_SCHEMA = {"type": "string", "format": "date", "pattern": r"^2\d\d\d-\d\d-\d\d$"}


def read_time() -> Reader:
    """An ISO 8601 time (:func:`time`); absent: None."""
    return Reader(lambda raw, name, default: time(raw, name), TIME_SCHEMA)


def read_day() -> Reader:
    """A date ``YYYY-MM-DD`` (:func:`day`); absent: None (JSON null accepted)."""
    schema = {"oneOf": [DAY_SCHEMA, {"type": "null"}]}
    return Reader(lambda raw, name, default: day(raw, name), schema)


def read_clock() -> Reader:
    """A clock time ``HH:MM`` (:func:`clock`) as seconds after midnight; the default is
    given in seconds too."""

    def read(raw: object, name: str, default: Any) -> int:
        shown = None if default is None else hhmm(default)
        return clock(raw, name, shown)

    return Reader(read, CLOCK_SCHEMA)


def hhmm(seconds: float) -> str:
    """Seconds after midnight as ``HH:MM`` (the form :func:`clock` reads)."""
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}"


#: The schema of a :func:`flag` in a query string.
FLAG_SCHEMA = {"enum": list(FLAG_VALUES), "type": "string"}


def read_flag() -> Reader:
    """A yes/no value (:func:`flag`); JSON booleans in a body, 1/0, true/false… in text."""
    return Reader(
        lambda raw, name, default: flag(raw, name, default),
        {"type": "boolean"},
        text_schema=FLAG_SCHEMA,
    )


def read_crs() -> Reader:
    """A coordinate-system name (:func:`coordinate_system`)."""
    schema = {"type": "string", "enum": list(CRS_LABELS)}
    return Reader(lambda raw, name, default: coordinate_system(raw, name, default), schema)


def read_text(max_chars: int = MAX_TEXT_CHARS) -> Reader:
    """A string of at most `max_chars` characters (:func:`text`)."""
    schema = {"type": "string", "minLength": 1, "maxLength": max_chars}
    return Reader(
        lambda raw, name, default: text(raw, name, max_chars=max_chars, default=default), schema
    )


def read_points(max_items: int) -> Reader:
    """``[[lon, lat], …]`` as an ``(n, 2)`` array (:func:`points`)."""
    position = {
        "type": "array",
        "prefixItems": [
            {"type": "number", "minimum": -180, "maximum": 180},
            {"type": "number", "minimum": -90, "maximum": 90},
        ],
        "items": False,
        "minItems": 2,
        "maxItems": 2,
    }
    schema = {"type": "array", "minItems": 1, "maxItems": max_items, "items": position}
    return Reader(lambda raw, name, default: points(raw, name, max_items=max_items), schema)


def read_with(
    read: Callable[[object, str, Any], Any], schema: Mapping[str, Any], *, many: bool = False
) -> Reader:
    """A reader of one's own (built on the functions above), with its schema."""
    return Reader(read, schema, many)
