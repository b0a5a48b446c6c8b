"""OSM file → road networks: the pyosmium array path beside the osmnx path, same process.

Run: ``.venv/bin/python bench/bench_osm.py [--network FILE] [--repeat 3]``.

On the shipped schematic Miyun network (default) it times, cold (no cache; reading the file
included), building the walk, bike and drive :class:`~geoservice.network.Network`:

- new: ``osm.read_osm`` (pyosmium straight into arrays) + ``network.build_from_osm``
  (vectorised osmnx semantics), best and median of ``--repeat`` runs;
- baseline: ``osm.read_graph`` (osmnx ``graph_from_xml``) + ``network.build`` per mode
  (``_mode_graph`` + ``ox.simplify_graph`` + arrays), the path used before, run once;

and prints per mode the node and edge counts of both, whether they are equal, and the
largest relative travel-time difference with edges matched by (OSM u id, OSM v id) and
time; then both timings and the ratio. Last, the parse time of the test PBF extracts
(``tests/data``, clipped real OSM data) beside the old path's PBF → XML conversion.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geoservice import network
from geoservice.network import MODES, osm
from geoservice.web import DEFAULT_NETWORK

TEST_DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def _new(path: Path) -> tuple[dict[str, network.Network], float, float]:
    t = time.perf_counter()
    data = osm.read_osm(path)
    read = time.perf_counter() - t
    nets = network.build_from_osm(data)
    return nets, read, time.perf_counter() - t


def _old(path: Path) -> tuple[dict[str, network.Network], float, float]:
    t = time.perf_counter()
    G = osm.read_graph(path)
    read = time.perf_counter() - t
    nets = {m: network.build(G, m) for m in MODES}
    return nets, read, time.perf_counter() - t


def _edges(net: network.Network) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u, v = net.node_osmid[net.edge_u], net.node_osmid[net.edge_v]
    order = np.lexsort((net.edge_time, v, u))
    return u[order], v[order], net.edge_time[order]


def _compare(new: network.Network, old: network.Network) -> tuple[bool, float]:
    """(same nodes and edges, max relative travel-time difference)."""
    if (new.n_nodes, new.n_edges) != (old.n_nodes, old.n_edges):
        return False, float("nan")
    (ua, va, ta), (ub, vb, tb) = _edges(new), _edges(old)
    same = bool(
        (ua == ub).all()
        and (va == vb).all()
        and (np.sort(new.node_osmid) == np.sort(old.node_osmid)).all()
    )
    rel = float(np.max(np.abs(ta - tb) / np.maximum(np.abs(tb), 1e-300))) if len(ta) else 0.0
    return same, rel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", type=Path, default=DEFAULT_NETWORK)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    path = args.network
    print(f"network file {path.name} ({path.stat().st_size:,} bytes)")

    runs = [_new(path) for _ in range(max(1, args.repeat))]
    new, _, _ = runs[0]
    totals = [total for _, _, total in runs]
    reads = [read for _, read, _ in runs]
    old, old_read, old_total = _old(path)

    ok = True
    for mode in MODES:
        same, rel = _compare(new[mode], old[mode])
        ok &= same and rel <= 1e-6
        print(
            f"  {mode:5s} new {new[mode].n_nodes:,} nodes / {new[mode].n_edges:,} edges; "
            f"osmnx {old[mode].n_nodes:,} / {old[mode].n_edges:,}; "
            f"equal {'yes' if same else 'NO'}; max rel. travel-time diff {rel:.1e}"
        )
    best, median = min(totals), statistics.median(totals)
    print(
        f"new (pyosmium arrays, 3 modes, cold): best {best:.2f} s, median {median:.2f} s "
        f"of {len(totals)} (read {statistics.median(reads):.2f} s, "
        f"build {statistics.median(t - r for t, r in zip(totals, reads, strict=True)):.2f} s)"
    )
    print(
        f"baseline (osmnx read_graph + build ×3): {old_total:.2f} s "
        f"(read {old_read:.2f} s, build {old_total - old_read:.2f} s)"
    )
    print(f"ratio {old_total / median:.1f}× (median), {old_total / best:.1f}× (best)")
    print(f"same networks: {'yes' if ok else 'NO'}")

    print("PBF parse of the test extracts (clipped real OSM data):")
    for pbf in sorted(TEST_DATA.glob("*.osm.pbf")):
        times = []
        for _ in range(5):
            t = time.perf_counter()
            data = osm.read_osm(pbf)
            times.append(time.perf_counter() - t)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            osm.pbf_to_xml(pbf, Path(tmp) / "x.osm")
            detour = time.perf_counter() - t
        t = time.perf_counter()
        nets = network.build_from_osm(data)
        build = time.perf_counter() - t
        print(
            f"  {pbf.name}: read_osm {statistics.median(times) * 1000:.0f} ms "
            f"({data.n_ways:,} ways, {data.n_refs:,} node refs, {data.dropped_refs:,} outside "
            f"the file, {len(data.places)} places); 3 modes built in {build * 1000:.0f} ms "
            f"(walk {nets['walk'].n_nodes:,} nodes); the old path's PBF → XML step alone "
            f"{detour * 1000:.0f} ms, and osmnx then fails on the missing nodes"
        )


if __name__ == "__main__":
    main()
