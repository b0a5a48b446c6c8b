"""geoservice.params: the one parameter parser, on hostile input, without Flask."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import SHORT, assert_refused

from geoservice import params
from geoservice.errors import EXCERPT_CHARS, ParameterError, excerpt
from geoservice.model import AMENITIES, STATION_KINDS
from geoservice.network import MODE_LABELS

# -- numbers ---------------------------------------------------------------------------------

HOSTILE_NUMBERS = [
    "NaN", "nan", "inf", "-inf", "Infinity", "1e309", "-1e309", "²", "١٢", "９", "一",
    "1_000", "0x10", "1,5", "116.8;40.3", "", " ", "\x00", "1e", "--1", "5" * 5000,
    True, False, [116.8], ["116.8"], {"x": 1}, float("nan"), float("inf"), 10**400,
]  # fmt: skip


@pytest.mark.parametrize("raw", HOSTILE_NUMBERS)
def test_number_refuses_hostile_values(raw):
    err = assert_refused(params.number, raw, "lon", -180, 180, parameter="lon")
    assert "5" * (EXCERPT_CHARS + 2) not in err.message  # a long input is cut


@pytest.mark.parametrize(
    ("raw", "value"),
    [("116.8", 116.8), (" 116.8 ", 116.8), ("+1.5", 1.5), (".5", 0.5), ("1e2", 100.0),
     ("-180", -180.0), (12, 12.0), (40.5, 40.5)],
)  # fmt: skip
def test_number_accepts_ascii_decimals(raw, value):
    assert params.number(raw, "x", -180, 180) == value


def test_number_bounds_and_default():
    assert_refused(params.number, "180.0001", "lon", -180, 180, parameter="lon")
    assert params.number(None, "k", default=3.0) == 3.0
    err = assert_refused(params.number, None, "lat", parameter="lat")
    assert "缺少参数 lat" in err.zh


@pytest.mark.parametrize(
    "raw", ["²", "٣", "３", "3.0", "3.5", "-1", "0x3", "5" * 5000, "1e1", True, [3], 3.5, None]
)
def test_integer_refuses_hostile_values(raw):
    err = assert_refused(params.integer, raw, "k", 1, 20, parameter="k")
    assert len(err.message) < SHORT


def test_integer_accepts_and_bounds():
    assert params.integer("3", "k", 1, 20) == 3
    assert params.integer(" +7 ", "k", 1, 20) == 7
    assert params.integer(4.0, "k", 1, 20) == 4
    assert params.integer(np.int64(5), "k", 1, 20) == 5
    assert params.integer("", "k", 1, 20, default=3) == 3
    assert_refused(params.integer, "21", "k", 1, 20, parameter="k")
    assert_refused(params.integer, 10**30, "k", 1, 20, parameter="k")
    assert_refused(params.integer, "9" * 10, "k", 1, 20, parameter="k")  # over MAX_INT_DIGITS


# -- vocabularies ----------------------------------------------------------------------------


def test_choice_is_case_insensitive_and_takes_chinese_labels():
    assert params.choice("WALK", "mode", MODE_LABELS) == "walk"
    assert params.choice(" 驾车 ", "mode", MODE_LABELS) == "drive"
    assert params.choice(None, "mode", MODE_LABELS, default="walk") == "walk"


@pytest.mark.parametrize("raw", [["walk"], {"walk": 1}, 1, True, "boat", "w" * 5000])
def test_choice_refuses_wrong_types_and_lists_labels(raw):
    err = assert_refused(params.choice, raw, "mode", MODE_LABELS, parameter="mode")
    assert "walk（步行）" in err.zh
    assert len(err.message) < SHORT


def test_names_lists_chinese_labels_for_unknown_values():
    err = assert_refused(params.names, "sauna", "amenity", AMENITIES, parameter="amenity")
    assert "hot_water（热水）" in err.zh
    assert "'sauna'" in err.zh
    assert "hot_water" in err.en


def test_names_accepts_lists_repeats_commas_and_labels():
    assert params.names(["wifi,热水", "WIFI"], "amenity", AMENITIES) == ["wifi", "hot_water"]
    assert params.names("暖心驿站", "kind", STATION_KINDS) == ["warm_station"]
    assert params.names(None, "kind") is None
    assert params.names([""], "kind") is None
    assert params.names(",,", "kind") is None


@pytest.mark.parametrize(
    "raw",
    [
        [["wifi"]],
        [1],
        [None],
        {"a": "b"},
        5,
        True,
        ["x"] * 301,
        "a," * 400,
        ["x" * 65],
        "x" * 10**6,
    ],
)
def test_names_refuses_wrong_types_and_sizes(raw):
    err = assert_refused(params.names, raw, "kind", parameter="kind")
    assert len(err.message) < SHORT


def test_coordinate_system_aliases():
    assert params.coordinate_system(None) == "wgs84"
    assert params.coordinate_system("GCJ-02") == "gcj02"
    assert params.coordinate_system("baidu") == "bd09"
    for raw in ("mars", ["gcj02"], 2, "x" * 5000):
        err = assert_refused(params.coordinate_system, raw, parameter="crs")
        assert "gcj02（高德、腾讯 GCJ-02）" in err.zh


@pytest.mark.parametrize(
    ("raw", "value"),
    [("1", True), ("ON", True), ("yes", True), (True, True), (1, True), ("0", False),
     ("off", False), (False, False), (0, False), ("", True), (None, True)],
)  # fmt: skip
def test_flag(raw, value):
    assert params.flag(raw, "open", True) is value


@pytest.mark.parametrize("raw", ["maybe", "2", 2, ["1"], {}, 1.5])
def test_flag_refuses(raw):
    assert_refused(params.flag, raw, "open", True, parameter="open")


def test_text():
    assert params.text(" 鼓楼 ", "name") == "鼓楼"
    assert_refused(params.text, "x" * 501, "name", parameter="name")
    assert_refused(params.text, 5, "name", parameter="name")
    assert_refused(params.text, "", "name", parameter="name")


# -- times -----------------------------------------------------------------------------------


def test_time_forms_and_limits():
    assert params.time(None) is None
    at = params.time("2026-11-25T13:00")
    assert (at.hour, str(at.tzinfo)) == (13, "Asia/Shanghai")
    assert params.time("2026-11-25T05:00Z").hour == 13
    assert params.time("2026-11-25").hour == 0
    for raw in ("yesterday", "2026-02-30T25:61", "0001-01-01T00:00+14:00",
                "9999-12-31T23:59-12:00", "1900-01-01", "2101-01-01", "x" * 5000, 20261125,
                ["2026-11-25"]):  # fmt: skip
        err = assert_refused(params.time, raw, parameter="open_at")
        assert len(err.message) < SHORT


# -- query strings ---------------------------------------------------------------------------


def test_arg_refuses_a_parameter_repeated_with_different_values():
    assert params.arg({"k": ["3"]}, "k") == "3"
    assert params.arg({"k": ["3", "3"]}, "k") == "3"
    assert params.arg({}, "k") is None
    assert params.arg({"k": []}, "k") is None
    err = assert_refused(params.arg, {"k": ["3", "4"]}, "k", parameter="k")
    assert "'3'" in err.zh
    assert "'4'" in err.zh
    assert params.arg_list({"kind": ["a", "b,c"]}, "kind") == ["a", "b,c"]
    assert params.arg_list({}, "kind") is None


# -- points ----------------------------------------------------------------------------------


def test_points():
    xy = params.points([[116.8, 40.3], [0, 0]], max_items=10)
    assert xy.shape == (2, 2)
    assert xy.dtype == float
    assert params.points(np.zeros((0, 2)), max_items=5, min_items=0).shape == (0, 2)


@pytest.mark.parametrize(
    ("raw", "parameter"),
    [
        ("x", "origins"),
        ({"lon": 1}, "origins"),
        ([], "origins"),
        ([[1, 2]] * 11, "origins"),
        ([[1, 2, 3]], "origins[0]"),
        ([[0, 0], ["116", "40"]], "origins[1]"),
        ([[True, 40]], "origins[0]"),
        ([[[116.8, 40.3]]], "origins[0]"),
        ([[116.8, None]], "origins[0]"),
        ([[0, 0], [0, 0], [181, 0]], "origins[2]"),
        ([[0, 91]], "origins[0]"),
        ([[float("nan"), 0]], "origins[0]"),
        ([[float("inf"), 0]], "origins[0]"),
        ([[10**400, 0]], "origins[0]"),
        (None, "origins"),
    ],
)
def test_points_refuses(raw, parameter):
    err = assert_refused(params.points, raw, max_items=10, parameter=parameter)
    assert len(err.message) < SHORT


# -- JSON bodies -----------------------------------------------------------------------------


def test_parse_json_depth_limit_before_decoding():
    assert params.parse_json("[" * 10 + "]" * 10) == eval("[" * 10 + "]" * 10)
    for body in ("[" * 11 + "]" * 11, "[" * 10_000 + "]" * 10_000, '{"a":' * 10_000, "[" * 10**6):
        err = assert_refused(params.parse_json, body, parameter="body")
        assert "10" in err.zh
    # Brackets inside strings (escaped quotes too) do not count.
    deep_text = json.dumps({"origins": "[" * 100 + '\\"' + "{" * 100})
    assert params.parse_json(deep_text)["origins"].startswith("[[[")


@pytest.mark.parametrize(
    "raw",
    [b"", b"   ", b"\xff\xfe\x00", "\udcff".encode("utf-8", "surrogatepass"), b"NaN",
     b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}', b"{'a': 1}", b'{"a": 1',
     b"1" * 5000, b'"' + b'\\"' * 500_000, b'"' * 100_001, b"\x00"],
)  # fmt: skip
def test_parse_json_refuses(raw):
    err = assert_refused(params.parse_json, raw, parameter="body")
    assert len(err.message) < SHORT


def test_parse_json_accepts_a_byte_order_mark():
    assert params.parse_json(b"\xef\xbb\xbf" + b'{"a": 1}') == {"a": 1}


def test_json_body_media_type_size_and_keys():
    ok = params.json_body(b'{"origins": []}', "application/json; charset=utf-8", max_bytes=100)
    assert ok == {"origins": []}
    assert params.json_body(b"{}", "application/geo+json", max_bytes=10) == {}
    for media in (None, "", "text/plain", "application/x-www-form-urlencoded", "x" * 500):
        err = assert_refused(params.json_body, b"{}", media, max_bytes=10, status=415)
        assert len(err.message) < SHORT
    assert_refused(params.json_body, b"[" + b" " * 200 + b"]", "application/json", max_bytes=100,
             status=413, parameter="body")  # fmt: skip
    for raw in (b"[]", b'"x"', b"3", b"null"):
        assert_refused(params.json_body, raw, "application/json", max_bytes=100, parameter="body")
    err = assert_refused(
        params.json_body,
        b'{"origins": [], "amenities": ["wifi"]}',
        "application/json",
        max_bytes=100,
        allowed=("origins", "amenity"),
        parameter="amenities",
    )
    assert "amenity" in err.zh


def test_check_depth_is_iterative():
    value: list = []
    for _ in range(10_000):
        value = [value]
    assert_refused(params.check_depth, value, parameter="body")
    params.check_depth([[[]]])


def test_excerpt_is_short_for_any_value():
    class Hostile:
        def __repr__(self):
            raise RuntimeError("no")

    for value in ("x" * 10_000, 10**4000, [1] * 10_000, Hostile(), "\x00\n\u202e"):
        assert len(excerpt(value)) <= EXCERPT_CHARS + 10
    assert "\\x00" in excerpt("\x00")


def test_parameter_error_statuses():
    with pytest.raises(ValueError, match="status"):
        ParameterError("k", "坏", "bad", status=500)
    err = ParameterError("k", "坏", "bad", status=422)
    assert err.to_dict() == {
        "error": "坏 / bad",
        "message": "坏",
        "message_zh": "坏",
        "message_en": "bad",
        "parameter": "k",
        "status": 422,
    }


# -- declarations ------------------------------------------------------------------------


def test_a_declaration_reads_query_strings_bodies_and_cli_values_alike():
    from geoservice import service

    args = {"lon": ["116.8"], "lat": ["40.3"], "kind": ["暖心驿站,worker_home"], "open": ["0"]}
    q = params.parse_query(service.NearestQuery, args)
    assert (q.lon, q.lat, q.mode, q.k, q.crs) == (116.8, 40.3, "walk", 3, "wgs84")
    assert q.stations.kinds == ("warm_station", "worker_home")
    assert q.stations.open_only is False
    assert q.stations.amenities is None
    values = {"lon": 116.8, "lat": "40.3", "kind": ["warm_station", "worker_home"], "open": False}
    assert params.parse_values(service.NearestQuery, values) == q
    with pytest.raises(ParameterError) as exc:
        params.parse_query(service.NearestQuery, {"lat": ["40.3"]})
    assert exc.value.parameter == "lon"


def test_a_body_declaration_refuses_unknown_keys_listing_its_own():
    from geoservice import service

    body = b'{"origins": [[116.8, 40.3]], "modes": "walk"}'
    with pytest.raises(ParameterError) as exc:
        params.parse_body(service.BatchQuery, body, "application/json", max_bytes=1000)
    assert exc.value.parameter == "modes"
    assert "origins, mode, crs, kind, amenity, open_at, open" in exc.value.en
    q = params.parse_body(
        service.BatchQuery, b'{"origins": [[116.8, 40.3]]}', "application/json", max_bytes=100
    )
    assert q.origins.shape == (1, 2)
    schema = params.body_schema(service.BatchQuery)
    assert schema["required"] == ["origins"]
    assert schema["additionalProperties"] is False
    assert list(schema["properties"]) == ["origins", "mode", "crs", "kind", "amenity",
                                          "open_at", "open"]  # fmt: skip


def test_nested_declarations_and_their_overrides():
    from geoservice import service
    from geoservice.coverage import siting

    r = params.parse_query(service.CoverageRequest, {"mode": ["bike"], "layers": ["stations"]})
    assert r.query.minutes == (5.0, 10.0)  # the mode's defaults, known once mode is read
    assert r.layers == ("stations",)
    names = [prm.name for prm in params.parameters(service.CoverageRequest)]
    assert names[:6] == ["mode", "minutes", "kind", "amenity", "open_at", "buffer_m"]
    buffer = next(p for p in params.parameters(service.CoverageRequest) if p.name == "buffer_m")
    assert buffer.json_schema()["enum"] == list(service.COVERAGE_BUFFERS)
    s = params.parse_query(siting.SitingQuery, {"mode": ["bike"]})
    assert s.coverage.minutes == (10.0,)  # siting's own default: the mode's largest
    documented = [prm.name for prm in params.parameters(siting.SitingQuery, documented=True)]
    assert "buffer_m" not in documented
    with pytest.raises(ParameterError) as exc:
        params.parse_query(service.CoverageRequest, {"layers": ["none", "cross"]})
    assert exc.value.parameter == "layers"
