"""The cost to a station along every road, split into pieces of constant coverage.

Along a road the time to a station is the lower envelope of a few linear functions: through
either end node (best and second-best station) and straight to a station standing on that
road. The envelope is split at every crossing and threshold, so partially reached roads are
cut at the exact cut-off point and lengths are exact to floating-point precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from geoservice.coverage.engine import ModeCache
    from geoservice.coverage.paths import Field
    from geoservice.coverage.roads import Roads


@dataclass
class Pieces:
    """Road pieces with constant coverage: road ``r`` from ``g0`` to ``g1`` (fractions
    from its ``u`` end), reached at threshold index ``lvl1`` (``K``: beyond every
    threshold) by nearest source ``s1``; ``lvl2`` likewise for the second-nearest distinct
    source; ``t0``/``t1`` the cost to the nearest source at the two ends."""

    r: np.ndarray
    g0: np.ndarray
    g1: np.ndarray
    lvl1: np.ndarray
    lvl2: np.ndarray
    s1: np.ndarray
    t0: np.ndarray
    t1: np.ndarray

    def length(self, roads: Roads) -> np.ndarray:
        return (self.g1 - self.g0) * roads.lf[self.r]

    def take(self, mask: np.ndarray) -> Pieces:
        return Pieces(*(getattr(self, f)[mask] for f in _FIELDS))


_FIELDS = ("r", "g0", "g1", "lvl1", "lvl2", "s1", "t0", "t1")


def _functions(roads: Roads, f: Field, todo: np.ndarray) -> tuple[np.ndarray, ...]:
    """The linear cost functions ``a + b·g`` on ``[lo, hi]`` of roads ``todo``, sorted by
    road: through each end (first and second label) and to each source on the road."""
    u, v = roads.u[todo], roads.v[todo]
    wf, wb = f.wf[todo], f.wb[todo]
    parts = [
        (todo, f.d1[v] + wf, -wf, np.zeros(len(todo)), np.ones(len(todo)), f.s1[v]),
        (todo, f.d1[u], wb, np.zeros(len(todo)), np.ones(len(todo)), f.s1[u]),
    ]
    if f.d2 is not None and f.s2 is not None:  # set together (second_limit given)
        parts += [
            (todo, f.d2[v] + wf, -wf, np.zeros(len(todo)), np.ones(len(todo)), f.s2[v]),
            (todo, f.d2[u], wb, np.zeros(len(todo)), np.ones(len(todo)), f.s2[u]),
        ]
    # Sources on the roads themselves: straight along the road to them.
    pos = np.searchsorted(todo, f.src_r)
    # A sentinel end (no road is -1): `todo` may be empty (a threshold nothing reaches).
    on = np.append(todo, -1)[pos] == f.src_r
    k = np.flatnonzero(on)
    if len(k):
        r, g, c = f.src_r[k], f.src_g[k], f.src_cost[k]
        parts.append((r, c + g * f.wf[r], -f.wf[r], np.zeros(len(k)), g, k))
        parts.append((r, c - g * f.wb[r], f.wb[r], g, np.ones(len(k)), k))
    fr, fa, fb, flo, fhi, fs = (np.concatenate(x) for x in zip(*parts, strict=True))
    # Infinite intercepts (unreachable end, one-way) and NaN (inf - inf) drop out.
    ok = np.isfinite(fa) & np.isfinite(fb) & (fs >= 0)
    fr, fa, fb, flo, fhi, fs = fr[ok], fa[ok], fb[ok], flo[ok], fhi[ok], fs[ok]
    order = np.argsort(fr, kind="stable")
    return fr[order], fa[order], fb[order], flo[order], fhi[order], fs[order]


def envelope(
    roads: Roads,
    f: Field,
    taus: np.ndarray,
    *,
    reached_only: bool = False,
    only: np.ndarray | None = None,
) -> Pieces:
    """Split every road into pieces of constant coverage (exact, vectorised).

    Breakpoints are the domain ends, every crossing of two functions of a road and every
    crossing of a threshold; between two breakpoints the order of the functions is fixed,
    so evaluating at the midpoint is exact for the whole interval. ``reached_only`` leaves
    out the roads nothing reaches within the largest threshold (their one piece each);
    ``only`` (a boolean mask) limits the work to those roads. A road's pieces depend on
    nothing but its own functions.
    """
    K = len(taus)
    tmax = float(taus[-1])
    # Roads something reaches within the largest threshold.
    near_u = (f.d1[roads.u] <= tmax) & np.isfinite(f.wb)
    near_v = f.d1[roads.v] <= tmax
    touched = near_u | near_v
    touched[f.src_r[f.src_cost <= tmax]] = True
    if only is not None:
        touched &= only
    todo = np.flatnonzero(touched)
    rest = np.flatnonzero(~touched if only is None else only & ~touched)
    # Untouched roads: one unreached piece; costs at the ends for the gap figures.
    rest_t0 = np.minimum(f.d1[roads.u[rest]], f.d1[roads.v[rest]] + f.wf[rest])
    rest_t1 = np.minimum(f.d1[roads.u[rest]] + f.wb[rest], f.d1[roads.v[rest]])
    fr, fa, fb, flo, fhi, fs = _functions(roads, f, todo)
    nf = len(fr)
    gstart = np.searchsorted(fr, todo, side="left")
    gend = np.searchsorted(fr, todo, side="right")
    # Pairs of functions of the same road.
    pos_in = np.arange(nf) - np.repeat(gstart, gend - gstart)
    size = np.repeat(gend - gstart, gend - gstart)
    npair = size - pos_in - 1
    i = np.repeat(np.arange(nf), npair)
    j = i + 1 + (np.arange(len(i)) - np.repeat(np.cumsum(npair) - npair, npair))
    db = fb[i] - fb[j]
    with np.errstate(divide="ignore", invalid="ignore"):
        gx = np.where(db != 0, (fa[j] - fa[i]) / np.where(db != 0, db, 1.0), -1.0)
        gt = np.where(fb[:, None] != 0, (taus[None, :] - fa[:, None]) / fb[:, None], -1.0)
    bp_r = np.concatenate([todo, todo, fr, fr, fr[i], np.repeat(fr, K)])
    bp_g = np.concatenate([np.zeros(len(todo)), np.ones(len(todo)), flo, fhi, gx, gt.ravel()])
    inside = (bp_g >= 0) & (bp_g <= 1)
    bp_r, bp_g = bp_r[inside], bp_g[inside]
    # By road, then position: exactly (one float key 2r + g would round positions 1e-11
    # apart together on high road numbers, and order them by chance).
    order = np.lexsort((bp_g, bp_r))
    bp_r, bp_g = bp_r[order], bp_g[order]
    new = np.ones(len(bp_r), dtype=bool)
    new[1:] = (bp_r[1:] != bp_r[:-1]) | (bp_g[1:] != bp_g[:-1])
    bp_r, bp_g = bp_r[new], bp_g[new]
    same = bp_r[1:] == bp_r[:-1]
    ir = bp_r[:-1][same]
    g0 = bp_g[:-1][same]
    g1 = bp_g[1:][same]
    mid = (g0 + g1) / 2
    # Evaluate every function of the interval's road at its midpoint.
    slot = np.searchsorted(todo, ir)
    cnt = gend[slot] - gstart[slot]
    starts = np.concatenate([[0], np.cumsum(cnt)[:-1]])
    iv = np.repeat(np.arange(len(ir)), cnt)
    fi = np.repeat(gstart[slot] - starts, cnt) + np.arange(cnt.sum())
    m = mid[iv]
    val = np.where((m >= flo[fi]) & (m <= fhi[fi]), fa[fi] + fb[fi] * m, np.inf)
    # Every touched road has at least one function, so no group is empty.
    v1 = np.minimum.reduceat(val, starts) if len(val) else np.empty(0)
    # The first function attaining the minimum.
    cand = np.where(val == v1[iv], np.arange(len(val)), len(val))
    first = np.minimum.reduceat(cand, starts) if len(val) else np.empty(0, dtype=np.int64)
    bf = fi[np.minimum(first, max(len(val) - 1, 0))]
    finite = np.isfinite(v1)
    s1 = np.where(finite, fs[bf], -1)
    t0 = np.where(finite, fa[bf] + fb[bf] * g0, np.inf)
    t1 = np.where(finite, fa[bf] + fb[bf] * g1, np.inf)
    lvl1 = np.searchsorted(taus, v1, side="left")
    if f.d2 is not None and len(val):
        v2 = np.minimum.reduceat(np.where(fs[fi] == s1[iv], np.inf, val), starts)
        lvl2 = np.searchsorted(taus, v2, side="left")
    else:
        lvl2 = np.full(len(ir), K)
    s1 = np.where(lvl1 < K, s1, -1)
    # Merge neighbouring intervals with the same coverage.
    keep = np.ones(len(ir), dtype=bool)
    keep[1:] = (
        (ir[1:] != ir[:-1])
        | (lvl1[1:] != lvl1[:-1])
        | (lvl2[1:] != lvl2[:-1])
        | (s1[1:] != s1[:-1])
    )
    head = np.flatnonzero(keep)
    # [: len(head)]: no interval at all (no station reaches any road) gives no tail.
    tail = (np.concatenate([head[1:], [len(ir)]]) - 1)[: len(head)]
    if reached_only:
        ends = (ir[head], g0[head], g1[tail], lvl1[head], lvl2[head], s1[head], t0[head])
        pieces = Pieces(*ends, t1[tail])
        return pieces.take(pieces.g1 > pieces.g0)
    pieces = Pieces(
        r=np.concatenate([ir[head], rest]),
        g0=np.concatenate([g0[head], np.zeros(len(rest))]),
        g1=np.concatenate([g1[tail], np.ones(len(rest))]),
        lvl1=np.concatenate([lvl1[head], np.full(len(rest), K)]),
        lvl2=np.concatenate([lvl2[head], np.full(len(rest), K)]),
        s1=np.concatenate([s1[head], np.full(len(rest), -1)]),
        t0=np.concatenate([t0[head], rest_t0]),
        t1=np.concatenate([t1[tail], rest_t1]),
    )
    # Pieces of a road are already in order: a stable sort by road merges the two lists.
    pieces = pieces.take(np.argsort(pieces.r, kind="stable"))
    return pieces.take(pieces.g1 > pieces.g0)


def envelope_again(
    cache: ModeCache,
    key: tuple[str, ...],
    f: Field,
    taus: np.ndarray,
    *,
    reached_only: bool = False,
) -> Pieces:
    """:func:`envelope`, redoing only the roads whose functions changed since the last
    call with the same ``key`` and thresholds (after a station edit, the roads near it):
    the others keep their pieces, which a full run would make again bit for bit."""
    roads = cache.roads
    last = cache.envelopes.get(key)
    changed = None
    if last is not None and np.array_equal(last[1], taus) and len(last[0].src_r) == len(f.src_r):
        old = last[0]
        node = (old.d1 != f.d1) | (old.s1 != f.s1)
        if f.d2 is not None:
            node |= (old.d2 != f.d2) | (old.s2 != f.s2)
        changed = node[roads.u] | node[roads.v]
        moved = (old.src_r != f.src_r) | (old.src_g != f.src_g) | (old.src_cost != f.src_cost)
        changed[old.src_r[moved]] = True
        changed[f.src_r[moved]] = True
    if last is None or changed is None or changed.mean() > 0.5:
        pieces = envelope(roads, f, taus, reached_only=reached_only)
    else:
        kept = last[2].take(~changed[last[2].r])
        new = envelope(roads, f, taus, reached_only=reached_only, only=changed)
        pieces = Pieces(*(np.concatenate([getattr(kept, x), getattr(new, x)]) for x in _FIELDS))
        # Both runs are in road order: a stable sort merges them.
        pieces = pieces.take(np.argsort(pieces.r, kind="stable"))
    cache.envelopes[key] = (f, np.array(taus, dtype=float), pieces)
    return pieces


def cost_at(roads: Roads, f: Field, r: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cost from points on roads ``r`` at ``g`` to the nearest source, and which source."""
    a = f.d1[roads.v[r]] + (1 - g) * f.wf[r]
    b = f.d1[roads.u[r]] + g * f.wb[r]
    cost = np.where(b < a, b, a)
    src = np.where(b < a, f.s1[roads.u[r]], f.s1[roads.v[r]])
    cost = np.where(np.isnan(cost), np.inf, cost)
    if len(f.src_r) and len(r):
        order = np.argsort(f.src_r, kind="stable")
        sr = f.src_r[order]
        lo = np.searchsorted(sr, r, "left")
        hi = np.searchsorted(sr, r, "right")
        for p in np.flatnonzero(hi > lo):
            for k in order[lo[p] : hi[p]]:
                gs = f.src_g[k]
                c = f.src_cost[k] + (
                    (gs - g[p]) * f.wf[r[p]] if gs >= g[p] else (g[p] - gs) * f.wb[r[p]]
                )
                if c < cost[p]:
                    cost[p], src[p] = c, k
    return cost, np.where(np.isfinite(cost), src, -1)
