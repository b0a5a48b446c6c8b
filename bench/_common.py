"""Helpers shared by the benchmarks (build tools, not runtime code).

Imported as ``from _common import …``: a benchmark runs as ``python bench/bench_x.py``, so
this folder is on ``sys.path``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np

if TYPE_CHECKING:
    from geoservice.network import Network


def load_average() -> str:
    """The machine's 1, 5 and 15 minute load averages (``"1.52 0.98 0.61"``).

    The machine is shared: a benchmark prints them first and last, so a slow run can be
    told from a busy machine.
    """
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def best_seconds(fn: Callable[[], object], repeat: int = 1) -> float:
    """The shortest wall time, in seconds, of ``repeat`` calls of ``fn`` (one by default)."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def percentile_ms(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) of durations in seconds, in milliseconds."""
    return float(np.percentile(np.asarray(samples) * 1000, q))


def networkx_graph(net: Network) -> nx.MultiDiGraph:
    """A network as the osmnx-style graph the baselines run on.

    Parameters
    ----------
    net : Network
        A routing network of one mode.

    Returns
    -------
    networkx.MultiDiGraph
        Nodes numbered as in ``net`` with ``x``/``y`` (WGS84); one edge per network edge
        with its time in seconds as ``travel_time`` (osmnx's name).
    """
    G = nx.MultiDiGraph(crs="EPSG:4326")
    for i, (x, y) in enumerate(net.node_xy):
        G.add_node(i, x=float(x), y=float(y))
    for u, v, t in zip(
        net.edge_u.tolist(), net.edge_v.tolist(), net.edge_time.tolist(), strict=True
    ):
        G.add_edge(u, v, travel_time=t)
    return G
