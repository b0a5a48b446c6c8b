"""The JSON Schema generator (geoservice.web.jsonschema) on toy declarations, and the
answer declarations (geoservice.responses) it publishes in the OpenAPI description."""

from __future__ import annotations

import subprocess
import sys
import typing
from typing import Annotated, Literal, NotRequired, TypedDict

import jsonschema_rs  # the validator schemathesis itself uses
import pytest

from geoservice import __version__, responses
from geoservice.responses import Schema
from geoservice.web import jsonschema
from geoservice.web.openapi import spec

Lon = Annotated[float, Schema(minimum=-180, maximum=180)]
Pair = Annotated[tuple[Lon, float], Schema(component="Pair")]
Colour = Annotated[str, Schema(enum={"red": "红", "blue": "蓝"}, description="a colour")]


class Inner(TypedDict):
    """An inner object.

    Only the first paragraph becomes the description.
    """

    name: str


class Toy(TypedDict):
    kind: Literal["toy"]
    size: Literal["s", "m"]
    count: Annotated[int, Schema(minimum=0, description="how many")]
    price: float | None
    colour: Colour | None
    inner: Inner
    maybe_inner: Inner | None
    names: Annotated[list[str], Schema(max_items=3)]
    pairs: list[Pair]
    rest: tuple[int, ...]
    by_name: dict[str, Inner]
    by_colour: dict[Colour, int]
    either: int | str
    note: NotRequired[str]


def _validator(root: type) -> jsonschema_rs.Draft202012Validator:
    """A validator of `root`, its components under ``$defs``."""
    defs = jsonschema.components(root, prefix="#/$defs/")
    return jsonschema_rs.Draft202012Validator({"$ref": f"#/$defs/{root.__name__}", "$defs": defs})


def _toy(**changes: object) -> dict:
    toy = {
        "kind": "toy",
        "size": "s",
        "count": 2,
        "price": None,
        "colour": "red",
        "inner": {"name": "a"},
        "maybe_inner": None,
        "names": ["x"],
        "pairs": [[116.8, 40.4]],
        "rest": [1, 2, 3],
        "by_name": {"a": {"name": "a"}},
        "by_colour": {"blue": 1},
        "either": "one",
    }
    return toy | changes


def test_a_typeddict_is_a_closed_object_referenced_by_its_class_name():
    found = jsonschema.components(Toy)
    assert list(found) == ["Toy", "Inner", "Pair"]
    toy = found["Toy"]
    assert toy["type"] == "object"
    assert toy["additionalProperties"] is False
    assert toy["required"] == [k for k in typing.get_type_hints(Toy) if k != "note"]
    assert toy["properties"]["inner"] == {"$ref": "#/components/schemas/Inner"}
    assert "description" not in toy
    assert found["Inner"] == {
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
        "additionalProperties": False,
        "description": "An inner object.",
    }


def test_types_and_annotations_become_their_keywords():
    props = jsonschema.components(Toy)["Toy"]["properties"]
    assert props["kind"] == {"const": "toy"}
    assert props["size"] == {"enum": ["s", "m"]}
    assert props["count"] == {"type": "integer", "minimum": 0, "description": "how many"}
    assert props["price"] == {"type": ["number", "null"]}
    assert props["names"] == {"type": "array", "items": {"type": "string"}, "maxItems": 3}
    assert props["pairs"] == {"type": "array", "items": {"$ref": "#/components/schemas/Pair"}}
    assert props["rest"] == {"type": "array", "items": {"type": "integer"}}
    assert props["by_name"] == {
        "type": "object",
        "additionalProperties": {"$ref": "#/components/schemas/Inner"},
    }
    colour = {"type": "string", "enum": ["red", "blue"], "description": "a colour"}
    assert props["by_colour"] == {
        "type": "object",
        "additionalProperties": {"type": "integer"},
        "propertyNames": colour,
    }
    assert props["either"] == {"type": ["integer", "string"]}
    # An enum does not admit null by a type list: a nullable one is an anyOf.
    assert props["colour"] == {"anyOf": [colour, {"type": "null"}]}
    assert props["maybe_inner"] == {
        "anyOf": [{"$ref": "#/components/schemas/Inner"}, {"type": "null"}]
    }


def test_a_fixed_length_tuple_is_a_named_prefix_items_array():
    assert jsonschema.components(Toy)["Pair"] == {
        "type": "array",
        "prefixItems": [{"type": "number", "minimum": -180, "maximum": 180}, {"type": "number"}],
        "items": False,
        "minItems": 2,
        "maxItems": 2,
    }


def test_the_schemas_accept_what_the_types_allow_and_nothing_else():
    valid = _validator(Toy)
    assert valid.is_valid(_toy())
    assert valid.is_valid(_toy(note="n", price=1, colour=None, maybe_inner={"name": "b"}))
    for bad in (
        _toy(kind="game"),
        _toy(count=-1),
        _toy(colour="green"),
        _toy(inner={"name": "a", "extra": 1}),  # closed objects
        _toy(extra=1),
        _toy(names=["a", "b", "c", "d"]),
        _toy(pairs=[[200, 0]]),
        _toy(pairs=[[1, 2, 3]]),
        _toy(by_colour={"green": 1}),
        _toy(either=1.5),
        {k: v for k, v in _toy().items() if k != "inner"},  # required
    ):
        assert not valid.is_valid(bad), bad


def test_two_types_of_one_name_and_unknown_types_are_refused():
    class Twin(TypedDict):
        x: int

    Twin.__name__ = "Inner"
    with pytest.raises(ValueError, match="two types are named 'Inner'"):
        jsonschema.components(Toy, Twin)
    with pytest.raises(TypeError, match="no JSON Schema"):
        jsonschema.schema(set[int])


def test_every_answer_declaration_is_in_the_served_description():
    """No declaration is dead: each TypedDict of geoservice.responses is a component, or a
    part of one (a base such as StationFields, whose keys its subclass has)."""
    schemas = spec(__version__)["components"]["schemas"]
    declared = {
        name: set(typing.get_type_hints(value))
        for name, value in vars(responses).items()
        if typing.is_typeddict(value)
    }
    for name, keys in declared.items():
        assert name in schemas or any(
            keys < set(schemas[other]["properties"]) for other in declared if other in schemas
        ), name
    assert {"StationFields", "OpenStatusFields", "TourPlace"}.isdisjoint(schemas)
    lon = {"type": "number", "minimum": -180, "maximum": 180}
    assert schemas["Position"]["prefixItems"][0] == lon


@pytest.mark.slow
def test_the_answer_declarations_do_not_need_flask():
    code = "import sys, geoservice.responses; print('flask' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "False"
