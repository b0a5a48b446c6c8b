"""The one town resolver: codes, full and short names and pinyin, the same everywhere."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import assert_bilingual_error

from geoservice.errors import ParameterError
from geoservice.store import GpkgStore
from geoservice.store.towns import Town, Towns, short_name
from geoservice.web import DEFAULT_GPKG


@pytest.fixture(scope="module")
def towns():
    return Towns.from_frame(GpkgStore(DEFAULT_GPKG).read("towns"))


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("110118001", "110118001"),
        ("鼓楼街道", "110118001"),
        ("鼓楼", "110118001"),
        ("鼓楼街道办事处", "110118001"),
        ("Gulou", "110118001"),
        ("gu lou", "110118001"),
        (" GULOU ", "110118001"),
        ("溪翁庄", "110118101"),
        ("Xiwengzhuang", "110118101"),
        # No English name stored: the pinyin of the short name.
        ("Mujiayu", "110118106"),
        ("檀营", "110118003"),
    ],
)
def test_every_spelling_names_the_town(towns, text, code):
    assert towns.resolve(text) == code


@pytest.mark.parametrize("text", ["", "  ", "鼓", "Beijing", "1101180019", None, 7])
def test_unknown_spellings_resolve_to_nothing(towns, text):
    assert towns.resolve(text) is None


def test_a_spelling_two_towns_share_names_neither():
    towns = Towns([Town("1", "东坝镇", "Dongba"), Town("2", "东坝乡", "Dongba")])
    assert towns.resolve("东坝") is None
    assert towns.resolve("Dongba") is None
    assert towns.resolve("东坝乡") == "2"


def test_short_name_drops_only_the_ending():
    assert short_name("西田各庄镇") == "西田各庄"
    assert short_name("镇") == "镇"
    assert short_name("中关村科技园区密云园") == "中关村科技园区密云园"


def test_stored_english_names_win_over_pinyin():
    frame = pd.DataFrame({"code": ["1"], "name": ["长哨营满族乡"], "name_en": ["Changshaoying"]})
    assert Towns.from_frame(frame).resolve("changshaoying") == "1"


def test_a_list_of_towns_is_codes_and_unknown_ones_are_named(towns):
    assert towns.codes("鼓楼,Xiwengzhuang,110118001") == ["110118001", "110118101"]
    assert towns.codes(None) is None
    with pytest.raises(ParameterError) as info:
        towns.codes(["鼓楼", "火星"])
    assert "火星" in info.value.zh
    assert "火星" in info.value.en
    assert info.value.parameter == "town"


def test_town_filters_of_the_api_take_every_spelling(client):
    def ids(town: str) -> list[str]:
        answer = client.get("/api/stations", query_string={"town": town}).get_json()
        return [f["id"] for f in answer["features"]]

    full = ids("鼓楼街道")
    assert full
    for spelling in ("鼓楼", "gulou", "110118001"):
        assert ids(spelling) == full
    sites = client.get("/api/sites", query_string={"town": "溪翁庄"}).get_json()
    assert sites["count"]
    assert {f["properties"]["town_code"] for f in sites["features"]} == {"110118101"}
    assert_bilingual_error(client.get("/api/stations?town=火星"), 400, "town")
