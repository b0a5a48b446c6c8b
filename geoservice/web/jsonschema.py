"""JSON Schema (2020-12, the dialect of OpenAPI 3.1) of typed declarations.

:func:`components` turns ``TypedDict`` classes, such as the answers in
:mod:`geoservice.responses`, into component schemas:

* a ``TypedDict`` is a closed object (``additionalProperties: false``) whose ``required``
  are its required keys, published under its class name and referenced by ``$ref``; the
  first paragraph of its docstring is its description;
* ``str``, ``int``, ``float``, ``bool``, ``None`` are the JSON types; ``Literal`` values are
  a ``const`` or an ``enum``;
* ``list[X]`` and ``tuple[X, ...]`` are arrays of X, ``tuple[X, Y]`` a fixed-length array
  (``prefixItems``); ``dict[K, V]`` an object with values V (and keys K when K says more
  than ``str``);
* a union is a ``type`` list when its members are bare JSON types, else an ``anyOf``;
* ``Annotated[T, Schema(...)]`` adds the keywords of :class:`~geoservice.responses.Schema`
  (``Schema(component=name)`` publishes T under that name).
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal, NotRequired, Required, Union

from geoservice.responses import Schema

#: Where component schemas live in an OpenAPI document.
COMPONENTS = "#/components/schemas/"

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
# Schema's fields → JSON Schema keywords (the others keep their name).
_KEYWORDS = {
    "exclusive_minimum": "exclusiveMinimum",
    "min_items": "minItems",
    "max_items": "maxItems",
}


def components(*roots: Any, prefix: str = COMPONENTS) -> dict[str, dict]:
    """Component schemas of the types `roots` and of every named type they reference.

    Parameters
    ----------
    *roots
        ``TypedDict`` classes (or ``Annotated`` types with ``Schema(component=...)``).
    prefix
        Where the components are referenced from (``$ref`` = prefix + name).

    Returns
    -------
    dict
        Name → JSON Schema, in the order first met.
    """
    found = _Components(prefix)
    for root in roots:
        found.schema(root)
    return found.schemas


def schema(tp: Any, prefix: str = COMPONENTS) -> dict:
    """The JSON Schema of one type, its named parts referenced as ``prefix`` + name."""
    return _Components(prefix).schema(tp)


class _Components:
    """Schemas of types, collecting the named ones (``TypedDict`` classes) on the way."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.schemas: dict[str, dict] = {}
        self._named: dict[str, object] = {}

    def schema(self, tp: Any) -> dict:
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is Annotated:
            return self._annotated(args[0], [m for m in args[1:] if isinstance(m, Schema)])
        if typing.is_typeddict(tp):
            return self._ref(tp.__name__, tp, lambda: self._object(tp))
        if isinstance(tp, type) and tp in _JSON_TYPES:
            return {"type": _JSON_TYPES[tp]}
        if origin is Literal:
            return {"const": args[0]} if len(args) == 1 else {"enum": list(args)}
        if origin in (Union, types.UnionType):
            return self._union(args)
        if origin is list or (origin is tuple and args[-1:] == (Ellipsis,)):
            return {"type": "array", "items": self.schema(args[0])}
        if origin is tuple:
            n = len(args)
            items = [self.schema(a) for a in args]
            return {
                "type": "array",
                "prefixItems": items,
                "items": False,
                "minItems": n,
                "maxItems": n,
            }
        if origin is dict:
            out = {"type": "object", "additionalProperties": self.schema(args[1])}
            keys = self.schema(args[0])
            return out if keys == {"type": "string"} else {**out, "propertyNames": keys}
        msg = f"no JSON Schema for {tp!r}"
        raise TypeError(msg)

    def _ref(self, name: str, tp: object, build: Callable[[], dict]) -> dict:
        if self._named.setdefault(name, tp) is not tp:
            msg = f"two types are named {name!r}"
            raise ValueError(msg)
        if name not in self.schemas:
            self.schemas[name] = {}  # reserved first: a type may refer to itself
            self.schemas[name] = build()
        return {"$ref": self.prefix + name}

    def _object(self, tp: Any) -> dict:
        hints = typing.get_type_hints(tp, include_extras=True)
        properties = {key: self.schema(_unwrap(hint)) for key, hint in hints.items()}
        out: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "required": [key for key, hint in hints.items() if _required(tp, key, hint)],
            "additionalProperties": False,
        }
        doc = inspect.cleandoc(tp.__doc__ or "").split("\n\n")[0]
        return out | {"description": " ".join(doc.split())} if doc else out

    def _annotated(self, base: Any, marks: list[Schema]) -> dict:
        out = self.schema(base)
        for mark in marks:
            out = out | _keywords(mark)
        name = next((m.component for m in marks if m.component), None)
        return out if name is None else self._ref(name, base, lambda: out)

    def _union(self, members: tuple) -> dict:
        schemas = [self.schema(m) for m in members]
        if all(s.keys() == {"type"} for s in schemas):
            return {"type": [s["type"] for s in schemas]}
        others = [s for s in schemas if s != {"type": "null"}]
        if len(others) == 1 and isinstance(others[0].get("type"), str) and _typed(others[0]):
            # A nullable value keeps its own keywords (bounds, format…), which apply to it only.
            return others[0] | {"type": [others[0]["type"], "null"]}
        return {"anyOf": schemas}


def _keywords(mark: Schema) -> dict:
    out = {}
    for f in dataclasses.fields(mark):
        value = getattr(mark, f.name)
        if value is None or f.name == "component":
            continue
        out[_KEYWORDS.get(f.name, f.name)] = list(value) if f.name == "enum" else value
    return out


def _typed(schema: dict) -> bool:
    """Whether adding ``null`` to ``type`` makes null valid (an enum or const would not)."""
    return "enum" not in schema and "const" not in schema


def _unwrap(hint: Any) -> Any:
    """The type inside ``NotRequired[...]`` / ``Required[...]``."""
    while typing.get_origin(hint) in (NotRequired, Required):
        hint = typing.get_args(hint)[0]
    return hint


def _required(tp: Any, key: str, hint: Any) -> bool:
    # Read from the hint too: the class misses NotRequired in string annotations (3.11).
    origin = typing.get_origin(hint)
    return origin is Required or (origin is not NotRequired and key in tp.__required_keys__)
