"""The static coverage site: deterministic bytes, opens from file:// offline, escaping,
the sample guard, atomic replacement, and the coverage CLI."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from conftest import needs_chromium
from test_coverage import toy_engine

from geoservice.coverage import publish
from geoservice.errors import PublishError

#: Every test here publishes the Miyun coverage site: seconds each.
pytestmark = pytest.mark.slow

HOSTILE = "站</script><script>window.pwned=1</script>`${alert(1)}`=1+1"
ARGS = {"mode": "walk", "minutes": "10,20", "n": "1"}


@pytest.fixture
def toy(store):
    return toy_engine(store, names=["一号站", HOSTILE])


@pytest.fixture
def site(toy, tmp_path):
    out = tmp_path / "site"
    out.mkdir()
    (out / "README.md").write_text("# maps\n")
    report = publish.publish(toy, out, ARGS, now=dt.datetime(2026, 11, 25, 9, 0))
    assert "published" in report
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_site_contents(site):
    names = set(_files(site))
    for name in ("index.html", "areas.geojson", "cross.geojson", "catchments.geojson",
                 "uncovered.geojson", "stations.geojson", "suggested_sites.geojson",
                 "coverage.json", "coverage_by_town.csv", "coverage_by_town.xlsx",
                 "charts/district.png", "vendor/leaflet/leaflet.js", "README.md"):  # fmt: skip
        assert name in names, name
    html = (site / "index.html").read_text()
    assert '<html lang="zh-Hans">' in html
    assert "https://" not in html.split("<body>")[0]  # every script and style is local
    assert "vendor/leaflet/leaflet.js" in html
    assert "近似" in html
    rows = list(csv.reader((site / "coverage_by_town.csv").read_text("utf-8-sig").splitlines()))
    assert rows[0][:2] == ["乡镇代码", "乡镇（街道，近似）"]
    assert rows[-1][1] == "密云区（全区）"


def test_data_strings_are_escaped(site):
    html = (site / "index.html").read_text()
    assert "<script>window.pwned" not in html
    assert "${alert(1)}" not in html
    assert "&lt;/script&gt;" in html.replace("\\u0026", "&")


def test_second_publish_same_bytes_but_the_date_line(toy, site, tmp_path):
    first = _files(site)
    publish.publish(toy, site, ARGS, now=dt.datetime(2027, 1, 2, 3, 4))
    second = _files(site)
    assert first.keys() == second.keys()
    differing = [k for k in first if first[k] != second[k]]
    assert differing == ["index.html"]
    a = first["index.html"].decode().splitlines()
    b = second["index.html"].decode().splitlines()
    assert len(a) == len(b)
    changed = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
    assert len(changed) == 1
    assert "2026-11-25 09:00" in changed[0][0]
    assert "2027-01-02 03:04" in changed[0][1]


def test_sample_data_needs_allow_sample(toy, tmp_path):
    toy.networks["walk"].meta["schematic"] = True
    with pytest.raises(PublishError, match="allow-sample"):
        publish.publish(toy, tmp_path / "x", ARGS)
    assert not (tmp_path / "x").exists()
    publish.publish(toy, tmp_path / "x", {**ARGS, "n": "0"}, allow_sample=True)
    assert "示意路网" in (tmp_path / "x" / "index.html").read_text()


def test_failed_publish_keeps_the_old_site(toy, site, monkeypatch):
    before = _files(site)

    def broken(*_args, **_kwargs):
        msg = "disk full"
        raise OSError(msg)

    monkeypatch.setattr(publish, "_charts", broken)
    with pytest.raises(OSError, match="disk full"):
        publish.publish(toy, site, ARGS)
    assert _files(site) == before
    assert [p.name for p in site.parent.iterdir() if p.name.startswith(".")] == []


def test_missing_cjk_font_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(publish, "CJK_FONTS", ("No Such Font CJK",))
    monkeypatch.setattr(publish, "CJK_FILES", ("no-such-font-file",))
    with pytest.raises(PublishError, match="fonts-noto-cjk"):
        publish.find_cjk_font()


@needs_chromium
def test_site_opens_from_file_offline(site, browser):
    page = browser.new_page()
    errors, remote = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "request",
        lambda r: remote.append(r.url) if not r.url.startswith(("file:", "data:")) else None,
    )
    page.goto((site / "index.html").as_uri(), wait_until="load")
    page.wait_for_selector(".leaflet-overlay-pane path")
    assert errors == []
    assert remote == []
    assert page.evaluate("window.pwned") is None
    assert page.locator(".coverage-legend").inner_text().count("分钟内可达") == 2
    assert "全区" in page.locator(".coverage-towns").text_content()
    page.close()


# -- the CLI ------------------------------------------------------------------------------


def test_cli_stats_and_suggest(runner):
    result = runner.invoke(args=["coverage", "stats", "--mode", "walk", "--minutes", "15"])
    assert result.exit_code == 0, result.output
    assert "全区 district" in result.output
    result = runner.invoke(args=["coverage", "suggest", "--n", "2", "--minutes", "10"])
    assert result.exit_code == 0, result.output
    assert "HiGHS" in result.output
    assert "贪心 greedy" in result.output


@pytest.mark.parametrize(
    ("args", "parameter"),
    [
        (["coverage", "stats", "--mode", "plane"], "mode"),
        (["coverage", "stats", "--minutes", "0"], "minutes"),
        (["coverage", "stats", "--minutes", "200"], "minutes"),
        (["coverage", "stats", "--minutes", "soon"], "minutes"),
        (["coverage", "stats", "--open-at", "25:99"], "open_at"),
        (["coverage", "suggest", "--n", "0"], "n"),
        (["coverage", "suggest", "--n", "999"], "n"),
        (["coverage", "suggest", "--objective", "fun"], "objective"),
        (["coverage", "suggest", "--kind", "bakery"], "kind"),
    ],
)
def test_cli_bad_parameters(runner, args, parameter):
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    assert f"parameter {parameter}" in result.output


def test_cli_publish_refuses_sample_then_publishes(runner, tmp_path):
    out = tmp_path / "maps"
    result = runner.invoke(args=["coverage", "publish", "--out", str(out), "--n", "0"])
    assert result.exit_code != 0
    assert "--allow-sample" in result.output
    assert not out.exists()
    result = runner.invoke(
        args=["coverage", "publish", "--out", str(out), "--allow-sample", "--n", "1"]
    )
    assert result.exit_code == 0, result.output
    assert (out / "index.html").is_file()
    assert "示例数据" in (out / "index.html").read_text()
