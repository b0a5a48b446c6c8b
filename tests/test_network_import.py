"""``flask network import``: its progress display, and the switch a running service sees."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from geoservice.network import NetworkLibrary
from geoservice.web.cli_progress import ImportProgress
from tests.conftest import SMALL_OSM

ROOT = Path(__file__).resolve().parent.parent
SCHEMATIC = ROOT / "data" / "network" / "miyun_schematic.osm.bz2"
#: A point of 鼓楼 (密云), on both the small extract and the schematic Miyun network.
GULOU = "lon=116.83&lat=40.37&open=0"

STEPS = [
    "导入路网 / importing gulou_small.osm",
    "复制文件 / copying the file",
    "读取道路 / reading the roads",
    "条道路 / ways",
    "建立道路图 / building the road graph",
    "建立步行路网 / building the walk network",
    "简化步行路网 / simplifying the walk network",
    "建立电动自行车路网 / building the bike network",
    "简化电动自行车路网 / simplifying the bike network",
    "建立驾车路网 / building the drive network",
    "简化驾车路网 / simplifying the drive network",
    "写入路网文件 / writing the network files",
]


def test_import_shows_its_steps_on_stderr_one_line_each(app):
    r = app.test_cli_runner().invoke(args=["network", "import", str(SMALL_OSM)])
    assert r.exit_code == 0, r.output
    lines = r.stderr.splitlines()
    # One line per step, in order, each with the time since the start.
    assert len(lines) == len(STEPS), r.stderr
    for line, step in zip(lines, STEPS, strict=True):
        assert step in line
        assert line.startswith("[")
        assert " s] " in line
    ways = len(SMALL_OSM.read_text(encoding="utf-8").split("<way ")) - 1
    assert lines[3].split("] ")[1].split() == [f"{ways:,}", "条道路", "/", "ways"]
    # Not a terminal: no counter redrawn in place.
    assert "\r" not in r.stderr
    assert "ways read" not in r.stderr
    # The summary stays on stdout.
    assert "已导入路网 / imported gulou_small.osm" in r.stdout
    assert "reading" not in r.stdout


def test_a_failed_import_shows_the_steps_it_reached(app, tmp_path):
    bad = tmp_path / "broken.osm"
    bad.write_text("<osm><node id='1' lat='x'")
    r = app.test_cli_runner().invoke(args=["network", "import", str(bad)])
    assert r.exit_code == 1
    assert "读取道路 / reading the roads" in r.stderr
    assert "building" not in r.stderr
    assert "not imported" in r.output


def test_library_reports_every_step_with_counts(tmp_path):
    seen: list[tuple[str, int, int]] = []
    library = NetworkLibrary(tmp_path / "networks", SMALL_OSM)
    nets = library.import_file(SMALL_OSM, lambda *step: seen.append(step))
    steps = [s for s, _, _ in seen]
    assert steps[:3] == ["copy", "read", "read"]
    ways = seen[2][1]
    assert ways > 0
    assert seen[2] == ("read", ways, ways)
    assert steps[3:10] == ["graph"] + [f"{k}:{m}" for m in nets for k in ("build", "simplify")]
    assert seen[10:] == [("save", 0, 4), ("save", 1, 4), ("save", 2, 4), ("save", 3, 4)]


@pytest.mark.slow
def test_a_running_service_answers_from_the_old_network_until_the_switch(app, tmp_path):
    """An import in another process (the command an operator runs) while the app answers:
    every answer during the import comes from the previous network; after the switch the
    same app answers from the new one, without a restart and without an error."""
    client = app.test_client()
    first = client.get(f"/api/nearest?{GULOU}")
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["network"]["source"] == SMALL_OSM.name
    env = os.environ | {
        "GEOSERVICE_STORE_PATH": app.config["STORE_PATH"],
        "GEOSERVICE_NETWORK_DIR": app.config["NETWORK_DIR"],
        "GEOSERVICE_NETWORK_DEFAULT": app.config["NETWORK_DEFAULT"],
        "GEOSERVICE_TOURS_DIR": app.config["TOURS_DIR"],
        "GEOSERVICE_TILES": "",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "network", "import", str(SCHEMATIC)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    steps: list[str] = []
    reader = threading.Thread(target=lambda: steps.extend(proc.stderr or ()), daemon=True)
    reader.start()
    answers = []  # (asked, answered: time.time_ns(), steps seen when asked, status, source)
    try:
        while proc.poll() is None:
            asked, seen = time.time_ns(), len(steps)
            r = client.get(f"/api/nearest?{GULOU}")
            source = (r.get_json().get("network") or {}).get("source")
            answers.append((asked, time.time_ns(), seen, r.status_code, source))
            time.sleep(0.05)
        out = proc.stdout.read() if proc.stdout else ""
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
    reader.join(timeout=10)
    assert proc.returncode == 0, "".join(steps) + out
    # The switch: active.json replaced (its time is taken before the rename, so an answer
    # given before it was given before the switch).
    switch = (Path(app.config["NETWORK_DIR"]) / "active.json").stat().st_mtime_ns
    assert all(status == 200 for *_, status, _ in answers), answers
    before = [source for _, answered, _, _, source in answers if answered < switch]
    assert set(before) == {SMALL_OSM.name}
    # Asked once the file was being read, answered before the switch: there were some.
    assert [a for a in answers if a[2] >= 3 and a[1] < switch], (answers, steps)
    # One switch, never back; asked well after it (0.1 s): the new network.
    sources = [source for *_, source in answers]
    assert sources == sorted(sources, key=lambda s: s == SCHEMATIC.name)
    after = [source for asked, *_, source in answers if asked > switch + 100_000_000]
    assert set(after) <= {SCHEMATIC.name}
    # After the switch: the new network, in the same app.
    r = client.get(f"/api/nearest?{GULOU}")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["network"]["source"] == SCHEMATIC.name
    assert body["results"]
    assert client.get("/api/network").get_json()["source"] == SCHEMATIC.name


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_also_gets_a_running_count_of_the_ways(monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    progress = ImportProgress()
    for done, total in [(0, 0), (100_000, 0), (200_000, 0), (250_000, 250_000)]:
        progress("read", done, total)
    progress("graph", 0, 1)
    out = terminal.getvalue()
    assert "\r  已读道路 / ways read: 200k" in out  # redrawn in place
    lines = [line.split("\r")[-1] for line in out.split("\n")]
    assert "250,000 条道路 / ways" in lines[-3]
    assert "building the road graph" in lines[-2]


def test_district_set_shows_the_rebuild_of_an_imported_network(app, tmp_path):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["network", "import", str(SMALL_OSM)]).exit_code == 0
    box = [[116.80, 40.35], [116.88, 40.35], [116.88, 40.40], [116.80, 40.40], [116.80, 40.35]]
    boundary = tmp_path / "b.geojson"
    boundary.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {},
                        "geometry": {"type": "Polygon", "coordinates": [box]},
                    }
                ],
            }
        )
    )
    r = runner.invoke(
        args=["district", "set", "--boundary", str(boundary), "--name", "鼓楼区", "--code", "999"]
    )
    assert r.exit_code == 0, r.output
    assert "已按新区界重建路网" in r.stdout
    for step in STEPS[1:]:
        assert step in r.stderr
