"""Several processes behind one port: ``python app.py`` under its supervisor."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SMALL_OSM = ROOT / "tests" / "data" / "gulou_small.osm"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> set[int]:
    out = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("PPid:") and int(line.split()[1]) == pid:
                out.add(int(status.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state  # a zombie has exited


def _until(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _access_pids(log: Path) -> set[int]:
    """The processes that wrote an access line (the JSON log lines carry the pid)."""
    pids = set()
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == "request":
                pids.add(record["pid"])
    return pids


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


# A driver around app.main with a trivial companion: it writes its pid and then waits.
_DRIVER = """
import os, sys, time
sys.argv = ["app.py", *sys.argv[1:]]
import app

def marker():
    with open(os.environ["MARKER"], "w") as f:
        f.write(str(os.getpid()))
    while True:
        time.sleep(1)

app.main(companions=[("marker", marker)])
"""


def _start(tmp_path: Path, *args: str, **env: str) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / "server.log"
    environ = {
        **os.environ,
        "GEOSERVICE_STORE_PATH": str(tmp_path / "live.gpkg"),
        "GEOSERVICE_NETWORK_DIR": str(tmp_path / "networks"),
        "GEOSERVICE_NETWORK_DEFAULT": str(SMALL_OSM),
        "GEOSERVICE_TOURS_DIR": str(tmp_path / "tours"),
        "MARKER": str(tmp_path / "companion.pid"),
        **env,
    }
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", _DRIVER, *args],
            cwd=ROOT,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, log


@pytest.mark.slow
def test_two_web_processes_a_restart_a_companion_and_a_clean_stop(tmp_path):
    port = _free_port()
    proc, log = _start(tmp_path, "--processes", "2", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        # The companion runs, as a child of the supervisor.
        marker = tmp_path / "companion.pid"
        _until(marker.exists, 60, "the companion")
        companion = int(_until(marker.read_text, 5, "its pid"))
        assert companion in _children(proc.pid)
        # Answers come from both web processes (each connection goes to one of them).
        _until(lambda: _get(base + "/readyz") == 200, 90, "a ready process")

        def both_answered() -> bool:
            for _ in range(20):
                _get(base + "/healthz")
            return len(_access_pids(log)) >= 2

        _until(both_answered, 90, "answers from two processes")
        web = _access_pids(log)
        assert len(web) == 2
        assert web <= _children(proc.pid)
        assert companion not in web
        # A web process that dies is replaced, and the port keeps answering meanwhile.
        victim = min(web)
        os.kill(victim, signal.SIGKILL)
        _until(lambda: len(_children(proc.pid) - web - {companion}) == 1, 30, "a new process")
        (fresh,) = _children(proc.pid) - web - {companion}
        # Connections the kernel hands to the dead process's socket wait for its successor.
        assert [_get(base + "/healthz") for _ in range(10)] == [200] * 10
        assert "exited with signal 9; restarting" in log.read_text()

        def fresh_answered() -> bool:
            for _ in range(20):
                _get(base + "/healthz")
            return fresh in _access_pids(log)

        _until(fresh_answered, 90, "answers from the new process")
        # SIGTERM stops every process, and the supervisor exits cleanly.
        everyone = _children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert not [pid for pid in everyone if _alive(pid)]
        assert _get(base + "/healthz") == 0  # the port is closed
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize(
    "setting",
    [
        {"GEOSERVICE_TILES": "nonsense"},
        # A store database that cannot be reached: named, without its password.
        {"GEOSERVICE_STORE_URL": "postgresql://geo:s3cret-Pa55@127.0.0.1:1/geoservice"},
    ],
)
def test_a_bad_setting_stops_the_service_instead_of_restarting_it(tmp_path, setting):
    from geoservice.processes import EX_CONFIG

    proc, log = _start(tmp_path, "--processes", "2", "--port", str(_free_port()), **setting)
    try:
        assert proc.wait(timeout=60) == EX_CONFIG
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = log.read_text()
    assert "cannot start" in text
    assert "restarting" not in text
    assert "s3cret" not in text


# The supervisor alone, with trivial children (no app): fast.
_SUPERVISED = """
import os, signal, sys, time
from geoservice import processes

folder = sys.argv[1]
sockets = processes.listen("127.0.0.1", 0, 2)
fds = [sock.fileno() for sock in sockets]
assert len({sock.getsockname() for sock in sockets}) == 1  # one port

def _states():
    states = []
    for fd in fds:
        try:
            os.fstat(fd)
            states.append("open")
        except OSError:
            states.append("closed")
    return " ".join(states)

def web(sock):
    # Each start leaves a file naming its socket and what is open; the first start of
    # each slot dies at once.
    path = os.path.join(folder, f"web-{os.getpid()}")
    state = f"{fds.index(sock.fileno())}: {_states()}"  # before open() takes a free fd
    open(path, "w").write(state)
    if len([n for n in os.listdir(folder) if n.startswith("web-")]) <= 2:
        raise RuntimeError("dies young")
    while True:
        time.sleep(1)


def companion():
    # The listening sockets are the web processes', closed here.
    state = _states()
    open(os.path.join(folder, "companion"), "w").write(state)
    while True:
        time.sleep(1)

os.makedirs(folder)
sys.exit(processes.supervise(web, sockets, companions=[("c", companion)], grace=2))
"""


def test_supervisor_restarts_dead_children_and_stops_on_sigterm(tmp_path):
    folder = tmp_path / "starts"
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_SUPERVISED), str(folder)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        # Two web starts that die, then two restarts that live, and the companion.
        _until(lambda: folder.exists() and len(list(folder.glob("web-*"))) >= 4, 20, "restarts")
        _until(
            lambda: (folder / "companion").exists() and (folder / "companion").read_text(),
            10,
            "the companion",
        )
        assert (folder / "companion").read_text() == "closed closed"
        # Each web process keeps its own socket only, and a restart gets the same one.
        starts = sorted(p.read_text() for p in folder.glob("web-*"))
        assert starts == ["0: open closed"] * 2 + ["1: closed open"] * 2
        time.sleep(0.3)
        assert len(_children(proc.pid)) == 3
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    err = proc.stderr.read()
    assert err.count("exited with status 1; restarting in 0.5 s") == 2
    assert "supervisor" in err
    assert "stopped" in err
