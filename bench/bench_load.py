"""Load tests of the served app (``python app.py``), on loopback, bounded in time.

Run: ``.venv/bin/python bench/bench_load.py [--seconds 10] [--questions 500]
[--processes 2] [--threads 4]`` (needs Debian's ``wrk``). The app runs as the README starts
it (``python app.py``: a supervisor and its web processes), on a fresh instance in a
temporary folder, rate limits off, and this prints one JSON line per case::

    {"case", "requests_per_s", "ratio_to_healthz", "p50_ms", "p99_ms", "errors",
     "timeouts", "rss_mb_before", "rss_mb_after"}

with RSS summed over the server's process tree (the supervisor, the web processes and any
companion such as the job worker). The cases:

(a) ``wrk``, 50 connections, ``/api/nearest`` at random points of the district (walk, bike,
    drive), between two of the same ``wrk`` runs on the liveness answer ``/healthz``: the
    baseline of the ratio (their mean). ``wrk`` runs one thread: on a 2-core machine its own
    CPU is taken from the server's, the same in every run;
(b) an open loop at 200 requests/s on ``/api/nearest`` (each request sent on its schedule,
    whatever the answers before it: latency is measured from the scheduled moment);
(c) the same open loop while 4 clients send heavy jobs without pause (300-stop tours,
    uncached coverage and siting; each client follows its job to its end, then sends the
    next), with the job worker at ``nice 19`` and ``OMP_NUM_THREADS=NUMBA_NUM_THREADS=1``;
    how the jobs ended and their longest run against the cap are printed too;
(d) ``--questions`` distinct coverage questions, one after another (each a job followed to
    its end): RSS before and after.

A client gives up on a request after 10 s (a timeout). Build tool, not runtime code.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from _common import load_average

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 10.0
MODES = ("walk", "bike", "drive")


# -- the served app ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """``python app.py`` on a fresh instance (a temporary folder), rate limits off."""

    def __init__(self, folder: Path, processes: int = 2, threads: int = 4) -> None:
        self.port = _free_port()
        self.processes = processes
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "GEOSERVICE_PORT": str(self.port),
            "GEOSERVICE_STORE_PATH": str(folder / "live.gpkg"),
            "GEOSERVICE_NETWORK_DIR": str(folder / "networks"),
            "GEOSERVICE_TOURS_DIR": str(folder / "tours"),
            "GEOSERVICE_RATELIMIT_ENABLED": "false",
            "GEOSERVICE_LOG_FORMAT": "text",
            # The 4 heavy clients of (c) are 4 people, though all on loopback: the one-address
            # bound on jobs (JOBS_PER_CLIENT) is off, as the rate limits are.
            "GEOSERVICE_JOBS_PER_CLIENT": "null",
            # One job worker at the lowest CPU priority, its compiled code on one thread.
            "GEOSERVICE_JOBS_WORKERS": "1",
            "GEOSERVICE_JOBS_NICE": "19",
            "OMP_NUM_THREADS": "1",
            "NUMBA_NUM_THREADS": "1",
        }
        self.log = open(folder / "server.log", "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "app.py"),
                "--processes",
                str(processes),
                "--threads",
                str(threads),
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, seconds: float = 300) -> None:
        """Until every web process has loaded its networks and the job worker its networks
        and coverage tables (their start-up would otherwise take CPU from the first case)."""
        deadline = time.time() + seconds
        log = Path(self.log.name)
        while time.time() < deadline:
            text = log.read_text(errors="replace")
            done = text.count("routing ready in") + text.count("road networks unavailable")
            worker = "worker(s) ready in" in text
            if done >= self.processes and worker and _request(f"{self.base}/readyz")[0] == 200:
                return
            time.sleep(0.5)
        msg = "the app did not become ready"
        raise RuntimeError(msg)

    def rss_mb(self) -> float:
        """RSS of the server and every process under it, in MB."""
        return sum(_rss_kb(pid) for pid in _tree(self.proc.pid)) / 1024

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=30)
        self.log.close()


def _tree(pid: int) -> list[int]:
    children = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        ppid = re.search(r"^PPid:\s+(\d+)", text, re.M)
        if ppid:
            children.setdefault(int(ppid[1]), []).append(int(status.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def _rss_kb(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    m = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
    return int(m[1]) if m else 0


def _request(url: str, body: bytes | None = None) -> tuple[int, dict, dict | None]:
    """(status, headers, JSON body) of one request (status 0: no answer)."""
    req = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    if body:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as r:
            return r.status, dict(r.headers), json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), None
    except (OSError, ValueError):
        return 0, {}, None


# -- (a) wrk ----------------------------------------------------------------------------------

_WRK_SCRIPT = """
math.randomseed(%(seed)d)
local points = {%(points)s}
local modes = {"walk", "bike", "drive"}
request = function()
  local p = points[math.random(#points)]
  local path = string.format("/api/nearest?lon=%%.5f&lat=%%.5f&mode=%%s&k=3",
                             p[1], p[2], modes[math.random(3)])
  return wrk.format("GET", path)
end
"""


def _points(base: str, n: int, seed: int) -> np.ndarray:
    """``n`` random points of the district within about 300 m of a major road (from
    ``/api/network/roads``): where people are, and never a 422 for being far from roads."""
    with urllib.request.urlopen(f"{base}/api/network/roads", timeout=60) as r:
        roads = json.load(r)
    vertices = np.array(
        [xy for f in roads["features"] for xy in _coordinates(f["geometry"])], dtype=float
    )
    rng = np.random.default_rng(seed)
    picked = vertices[rng.integers(len(vertices), size=n)]
    return picked + rng.uniform(-0.003, 0.003, size=picked.shape)


def _coordinates(geometry: dict) -> list:
    if geometry["type"] == "LineString":
        return geometry["coordinates"]
    return [xy for line in geometry["coordinates"] for xy in line]


def _wrk(url: str, seconds: int, script: Path | None = None) -> dict:
    cmd = ["wrk", "-t1", "-c50", f"-d{seconds}s", f"--timeout={int(TIMEOUT_S)}s", "--latency"]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests_per_s": round(rate, 1),
        "p50_ms": _wrk_ms(out, "50%"),
        "p99_ms": _wrk_ms(out, "99%"),
        "errors": (int(non2xx[1]) if non2xx else 0)
        + (sum(int(errors[i]) for i in (1, 2, 3)) if errors else 0),
        "timeouts": int(errors[4]) if errors else 0,
    }


def _wrk_ms(out: str, label: str) -> float:
    value, unit = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
    return round(float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 2)


# -- (b), (c) an open loop ----------------------------------------------------------------------


async def _one(port: int, path: str) -> tuple[int, bool]:
    """One GET on a fresh connection: (status, timed out)."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n")
        await reader.read()
        writer.close()
        return int(head.split()[1]), False
    except (OSError, asyncio.IncompleteReadError, ValueError):
        return 0, False


async def _open_loop(served: Served, rate: float, seconds: float, seed: int) -> dict:
    port = served.port
    n = int(rate * seconds)
    lon, lat = _points(served.base, n, seed).T
    modes = np.random.default_rng(seed).choice(MODES, n)
    latencies: list[float] = []
    statuses: list[int] = []
    timeouts = 0
    start = time.perf_counter() + 0.2

    async def fire(i: int) -> None:
        nonlocal timeouts
        at = start + i / rate
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        path = f"/api/nearest?lon={lon[i]:.5f}&lat={lat[i]:.5f}&mode={modes[i]}&k=3"
        try:
            status, _ = await asyncio.wait_for(_one(port, path), TIMEOUT_S)
        except TimeoutError:
            timeouts += 1
            return
        latencies.append(time.perf_counter() - at)  # from the scheduled moment
        statuses.append(status)

    await asyncio.gather(*(fire(i) for i in range(n)))
    lat_ms = np.array(latencies) * 1000
    return {
        "requests_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(float(np.percentile(lat_ms, 50)), 2) if len(lat_ms) else None,
        "p99_ms": round(float(np.percentile(lat_ms, 99)), 2) if len(lat_ms) else None,
        "errors": sum(1 for s in statuses if s != 200),
        "timeouts": timeouts,
        "statuses": {str(s): statuses.count(s) for s in sorted(set(statuses))},
    }


def _heavy_requests(base: str, seed: int) -> Iterator[tuple[str, str, bytes | None]]:
    """Heavy requests without end: 300-stop tours, uncached coverage and siting."""
    rng = np.random.default_rng(seed)
    with urllib.request.urlopen(f"{base}/api/sites?kind=village&located=1", timeout=60) as r:
        villages = [f["id"] for f in json.load(r)["features"]]
    for n in itertools.count(seed):  # clients start on different kinds
        kind = n % 3
        if kind == 0:  # the most a plan takes: 300 stops in one day (the 71 s case)
            stops = [str(v) for v in rng.permutation(villages)[:300]]
            body = {"stops": stops, "days": 1, "start_date": "2026-03-02"}
            yield "tour", f"{base}/api/tours", json.dumps(body).encode()
        elif kind == 1:
            minutes = int(rng.integers(5, 120))
            mode = MODES[int(rng.integers(3))]
            yield "coverage", f"{base}/api/coverage?mode={mode}&minutes={minutes}", None
        else:
            minutes = int(rng.integers(15, 120))
            yield "suggest", f"{base}/api/coverage/suggest?n=50&mode=bike&minutes={minutes}", None


def _job(base: str, url: str, body: bytes | None = None, poll: float = 1.0) -> dict:
    """Ask, and follow the job the answer points to (looking every ``poll`` seconds) until it
    ends: its kind of ending (``done``, ``failed``, ``cancelled``, or the status when no job
    was made: 200 cached, 503 queue full), seconds from asking, and the job's own run time
    against its cap."""
    t = time.perf_counter()
    status, headers, job = _request(url, body)
    if status != 202 or job is None:
        return {
            "end": str(status),
            "s": time.perf_counter() - t,
            "retry": headers.get("Retry-After"),
        }
    location = base + headers["Location"]
    while job["state"] in ("queued", "running"):
        time.sleep(poll)
        status, _, polled = _request(location)
        if status != 200 or polled is None:
            return {"end": f"poll {status}", "s": time.perf_counter() - t}
        job = polled
    return {
        "end": job["state"],
        "s": time.perf_counter() - t,
        "run_s": job["elapsed_seconds"] or 0.0,
        "cap_s": job["cap_seconds"],
        "error": (job["error"] or {}).get("status"),
    }


def _heavy_client(base: str, seed: int, stop: threading.Event, outcomes: list) -> None:
    """One client sending heavy jobs without pause: the next once its last has ended (a
    503 or 429 is waited out as its Retry-After says, at most 5 s)."""
    for name, url, body in _heavy_requests(base, seed):
        if stop.is_set():
            return
        outcome = _job(base, url, body)
        outcomes.append((name, outcome))
        if outcome["end"] in ("503", "429"):
            time.sleep(min(float(outcome.get("retry") or 1), 5))


def _summary(outcomes: list) -> dict:
    """Per kind of heavy job: how many, how they ended, the longest run against the cap,
    and how many ran past their cap (by more than the second a worker takes to look)."""
    heavy: dict[str, dict] = {}
    for name, o in outcomes:
        h = heavy.setdefault(name, {"n": 0, "ends": {}, "max_run_s": 0.0, "over_cap": 0})
        h["n"] += 1
        h["ends"][o["end"]] = h["ends"].get(o["end"], 0) + 1
        if "run_s" in o:
            h["max_run_s"] = round(max(h["max_run_s"], o["run_s"]), 1)
            h["cap_s"] = o["cap_s"]
            h["over_cap"] += o["run_s"] > o["cap_s"] + 1.5
    return heavy


# -- the cases ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of each load case")
    parser.add_argument("--questions", type=int, default=500, help="coverage questions of (d)")
    parser.add_argument("--cases", default="abcd", help="which cases to run (default abcd)")
    parser.add_argument("--processes", type=int, default=2, help="web processes (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per web process")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench_load needs wrk: apt install wrk")
    print(f"# load average {load_average()}", file=sys.stderr)
    # Stopped (timeout, kill): the server started below is stopped too, not left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="bench-load-") as folder:
        served = Served(Path(folder), args.processes, args.threads)
        try:
            served.wait_ready()
            for case in args.cases:
                line = CASES[case](served, args)
                print(json.dumps(line, ensure_ascii=False), flush=True)
        finally:
            served.stop()
    print(f"# load average {load_average()}", file=sys.stderr)


def case_a(served: Served, args: argparse.Namespace) -> dict:
    points = ",".join(f"{{{x:.5f},{y:.5f}}}" for x, y in _points(served.base, 2000, seed=1))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_WRK_SCRIPT % {"seed": 1, "points": points})
    script = Path(f.name)
    try:
        rss = served.rss_mb()
        # The baseline before and after, averaged: on a shared machine the load of others
        # changes during a run, and a ratio must not follow it.
        before = _wrk(served.base + "/healthz", args.seconds)
        nearest = _wrk(served.base + "/api/nearest", args.seconds, script)
        after = _wrk(served.base + "/healthz", args.seconds)
    finally:
        script.unlink()
    health = (before["requests_per_s"] + after["requests_per_s"]) / 2
    return {
        "case": f"a: /api/nearest, wrk 50 connections, {args.processes}x{args.threads}",
        **nearest,
        "ratio_to_healthz": round(nearest["requests_per_s"] / health, 3),
        "healthz_requests_per_s": [before["requests_per_s"], after["requests_per_s"]],
        "rss_mb_before": round(rss),
        "rss_mb_after": round(served.rss_mb()),
    }


def case_b(served: Served, args: argparse.Namespace) -> dict:
    rss = served.rss_mb()
    out = asyncio.run(_open_loop(served, 200, args.seconds, seed=2))
    return {
        "case": "b: /api/nearest, open loop 200/s",
        **out,
        "ratio_to_healthz": None,
        "rss_mb_before": round(rss),
        "rss_mb_after": round(served.rss_mb()),
    }


def case_c(served: Served, args: argparse.Namespace) -> dict:
    rss = served.rss_mb()
    stop = threading.Event()
    outcomes: list = []
    clients = [
        threading.Thread(target=_heavy_client, args=(served.base, i, stop, outcomes), daemon=True)
        for i in range(4)
    ]
    for c in clients:
        c.start()
    time.sleep(2)  # the heavy work under way
    out = asyncio.run(_open_loop(served, 200, max(args.seconds, 20), seed=3))
    stop.set()
    for c in clients:
        c.join(timeout=330)
    heavy = _summary(outcomes)
    return {
        "case": "c: /api/nearest, open loop 200/s, 4 heavy clients",
        **out,
        "ratio_to_healthz": None,
        "rss_mb_before": round(rss),
        "rss_mb_after": round(served.rss_mb()),
        "heavy": heavy,
    }


def case_d(served: Served, args: argparse.Namespace) -> dict:
    rss = served.rss_mb()
    # Distinct answers: 50 m is the default buffer, so the second is 100 m (696 in all).
    questions = itertools.product(range(5, 121), MODES, ("", "&buffer_m=100"))
    started = time.perf_counter()
    ends: dict[str, int] = {}
    for (minutes, mode, extra), _ in zip(questions, range(args.questions), strict=False):
        url = f"{served.base}/api/coverage?mode={mode}&minutes={minutes}{extra}"
        end = _job(served.base, url, poll=0.2)["end"]  # (a page looks every second)
        ends[end] = ends.get(end, 0) + 1
    return {
        "case": f"d: {args.questions} distinct coverage questions (jobs, one at a time)",
        "requests_per_s": round(args.questions / (time.perf_counter() - started), 2),
        "ratio_to_healthz": None,
        "p50_ms": None,
        "p99_ms": None,
        "errors": sum(n for e, n in ends.items() if e not in ("done", "200")),
        "timeouts": ends.get("0", 0),
        "ends": ends,
        "rss_mb_before": round(rss),
        "rss_mb_after": round(served.rss_mb()),
    }


CASES = {"a": case_a, "b": case_b, "c": case_c, "d": case_d}

if __name__ == "__main__":
    main()
