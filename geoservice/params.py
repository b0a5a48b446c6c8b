"""The one parser of request parameters: query strings, JSON bodies and CLI options.

Every public endpoint and command reads its parameters through these functions, so that no
client input can cause a 500: each one either returns a clean Python value or raises
:class:`~geoservice.errors.ParameterError` naming the parameter, in Chinese and English,
echoing at most a short excerpt of the input.

Values come either as text (query strings, CLI options) or as JSON values (request bodies);
the functions accept both. Conventions:

* Numbers: ASCII decimal only (``"١٢"``, ``"²"`` and other Unicode digits are refused,
  although Python's ``float()`` accepts some of them); finite (``NaN``, ``inf`` and overflow
  such as ``1e309`` are refused); at most `MAX_NUMBER_CHARS` characters; JSON booleans are
  not numbers.
* Integers: ASCII digits only, at most `MAX_INT_DIGITS` digits, no fractions.
* Lists: comma-separated text, a repeated query parameter, or a JSON list of strings; at
  most `MAX_LIST_ITEMS` items of at most `MAX_ITEM_CHARS` characters each.
* JSON bodies: at most `MAX_JSON_DEPTH` levels of nesting (checked without recursion).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from geoservice.errors import ParameterError, excerpt

__all__ = [
    "MAX_ITEM_CHARS",
    "MAX_JSON_DEPTH",
    "MAX_LIST_ITEMS",
    "MAX_TEXT_CHARS",
    "check_depth",
    "choice",
    "flag",
    "integer",
    "names",
    "number",
    "parse_json",
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

_NUMBER_RE = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$", re.ASCII)
_INT_RE = re.compile(r"^[+]?\d+$", re.ASCII)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _blank(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip() == "")


def _first(raw: object) -> object:
    """A query string may repeat a parameter: scalars take its first value."""
    if isinstance(raw, list | tuple) and raw and all(isinstance(v, str) for v in raw):
        return raw[0]
    return raw


def _missing(name: str) -> ParameterError:
    return ParameterError(name, f"缺少参数 {name}", f"{name} is required")


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
    raw = _first(raw)
    if _blank(raw):
        if default is None:
            raise _missing(name)
        return default
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        msg_zh = f"{name} 应为数字，而不是 {type(raw).__name__}"
        raise ParameterError(name, msg_zh, f"{name} must be a number, not {type(raw).__name__}")
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
        raise ParameterError(
            name,
            f"{name} 应在 {_fmt(lo)} 到 {_fmt(hi)} 之间，而不是 {_fmt(x)}",
            f"{name} must be between {_fmt(lo)} and {_fmt(hi)}, not {_fmt(x)}",
        )
    return x


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
    raw = _first(raw)
    if _blank(raw):
        if default is None:
            raise _missing(name)
        return default
    value: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, float) and math.isfinite(raw) and raw.is_integer():
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
        raise ParameterError(
            name,
            f"{name} 应在 {lo} 到 {hi} 之间，而不是 {value}",
            f"{name} must be between {lo} and {hi}, not {value}",
        )
    return value


def choice(
    raw: object, name: str, allowed: Sequence[str] | Mapping[str, str], default: str | None = None
) -> str:
    """One value of a fixed vocabulary (case-insensitive).

    Parameters
    ----------
    raw
        Text; blank or None means `default` (required when None).
    name
        Parameter name.
    allowed
        The values, or a mapping value → Chinese label (listed in the error message).
    default
        Value for a missing parameter; None makes it required.

    Returns
    -------
    str

    Raises
    ------
    ParameterError
    """
    raw = _first(raw)
    if _blank(raw):
        if default is None:
            raise _missing(name)
        return default
    value = raw.strip().lower() if isinstance(raw, str) else None
    if value not in allowed:
        raise ParameterError(
            name,
            f"{name} 应为 {_listing(allowed)} 之一，而不是 {excerpt(raw)}",
            f"{name} must be one of {', '.join(allowed)}, not {excerpt(raw)}",
        )
    return value


def _listing(allowed: Sequence[str] | Mapping[str, str]) -> str:
    if isinstance(allowed, Mapping):
        return "、".join(f"{k}（{v}）" for k, v in allowed.items())
    return "、".join(allowed)


def flag(raw: object, name: str, default: bool) -> bool:
    """A yes/no value: ``1/0``, ``true/false``, ``yes/no``, ``on/off`` or a JSON boolean.

    Raises
    ------
    ParameterError
    """
    raw = _first(raw)
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
    raw = _first(raw)
    if _blank(raw):
        if default is None:
            raise _missing(name)
        return default
    if not isinstance(raw, str):
        raise ParameterError(
            name,
            f"{name} 应为文本，而不是 {type(raw).__name__}",
            f"{name} must be a string, not {type(raw).__name__}",
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
        Allowed values (a mapping's keys; its values are the Chinese labels listed in the
        error message); None accepts any short name.
    max_items, max_chars
        Size limits.

    Returns
    -------
    list of str or None
        None when the parameter is absent or empty; duplicates removed, order kept.

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
                f"{name} 应为文本或文本列表，而不是 {type(part).__name__}",
                f"{name} must be a string or a list of strings, not {type(part).__name__}",
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
        known = vocab if isinstance(vocab, Mapping) else {v: v for v in vocab}
        unknown = [i for i in items if i not in known]
        if unknown:
            listed = ", ".join(excerpt(u) for u in unknown[:5])
            raise ParameterError(
                name,
                f"未知的 {name}：{listed}；可选：{_listing(known)}",
                f"unknown {name} {listed}; allowed: {', '.join(known)}",
            )
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
    """
    from geoservice import hours  # hours imports nothing from here; keep module load light

    raw = _first(raw)
    if _blank(raw):
        return None
    if not isinstance(raw, str) or len(raw) > MAX_NUMBER_CHARS + 8:
        raise ParameterError(
            name,
            f"{name} 应为 ISO 8601 时间（如 2026-11-25T13:00），而不是 {excerpt(raw)}",
            f"{name} must be an ISO 8601 time such as 2026-11-25T13:00, not {excerpt(raw)}",
        )
    try:
        return hours.parse_time(raw)
    except (ValueError, OverflowError):
        raise ParameterError(
            name,
            f"{name} 应为 ISO 8601 时间（如 2026-11-25T13:00），而不是 {excerpt(raw)}",
            f"{name} must be an ISO 8601 time such as 2026-11-25T13:00, not {excerpt(raw)}",
        ) from None


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
                raise ParameterError(
                    name,
                    f"JSON 嵌套超过 {max_depth} 层",
                    f"JSON is nested deeper than {max_depth} levels",
                )
            children = item.values() if isinstance(item, dict) else item
            stack.extend((c, depth + 1) for c in children)


def require_object(value: object, name: str = "body") -> dict[str, Any]:
    """A JSON object (after `check_depth`), or a ParameterError saying what to send.

    Raises
    ------
    ParameterError
    """
    if not isinstance(value, dict):
        raise ParameterError(
            name,
            "请求体应为 JSON 对象",
            "the request body must be a JSON object",
        )
    check_depth(value, name)
    return value


_JSON_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET_RE = re.compile(r"[\[\]{}]")


def parse_json(raw: bytes | str, name: str = "body", max_depth: int = MAX_JSON_DEPTH) -> object:
    """Decode a JSON request body, refusing deep nesting before the decoder recurses.

    Python's ``json`` decoder recurses once per level, so a body nested 10,000 deep would
    raise ``RecursionError`` (a 500) instead of a clear 400; the depth is therefore
    measured on the text first, with strings blanked out.

    Parameters
    ----------
    raw
        The body (UTF-8 bytes or text).
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
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ParameterError(
                name, "请求体不是 UTF-8 编码的 JSON", "the request body is not UTF-8 JSON"
            ) from None
    depth = 0
    for m in _BRACKET_RE.finditer(_JSON_STRING_RE.sub('""', raw)):
        depth += 1 if m.group() in "[{" else -1
        if depth > max_depth:
            raise ParameterError(
                name,
                f"JSON 嵌套超过 {max_depth} 层",
                f"JSON is nested deeper than {max_depth} levels",
            )
    import json

    try:
        return json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise ParameterError(
            name,
            f"请求体不是有效的 JSON：{excerpt(str(exc))}",
            f"the request body is not valid JSON: {exc}",
        ) from None


def _no_constant(token: str) -> None:
    # json.loads accepts NaN/Infinity by default; they are not JSON.
    msg = f"{token} is not valid JSON"
    raise ValueError(msg)
