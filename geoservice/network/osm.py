"""Read OpenStreetMap road data: ``.osm.pbf``, ``.osm``, ``.osm.bz2`` (and ``.osm.xml``/``.xml``)
straight into arrays with pyosmium; ``.graphml`` files and downloads through osmnx.

:func:`read_osm` is the reader every OSM file goes through: one pass over the file keeps
the ways with a ``highway`` tag, the coordinates of the nodes they use and the ``place=*``
nodes (villages, neighbourhoods …) as numpy arrays (:class:`OsmData`). No XML detour, no
networkx. Extracts cut along a bounding box or polygon reference nodes that are not in the
file; such a way is cut where its nodes are missing and the parts with at least two nodes
are kept (the counts are reported).

:func:`read_graph` is the older osmnx path, kept for GraphML files and downloads
(:func:`fetch_graph`) and as the baseline of ``bench/bench_osm.py``: it returns an
*unsimplified* osmnx ``MultiDiGraph`` and fails on clipped extracts, as osmnx does.
"""

from __future__ import annotations

import array
import bz2
import contextlib
import logging
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import osmium
import osmium.filter
import pandas as pd

from geoservice.errors import OsmError
from geoservice.network.simplify import unique

if TYPE_CHECKING:  # networkx: imported where a graph is read or built, not at start
    import networkx as nx

    from geoservice.jobs.capped import Progress

log = logging.getLogger(__name__)

#: Way tags kept from OSM (osmnx keeps only ``settings.useful_tags_way``).
WAY_TAGS = (
    "highway",
    "name",
    "ref",
    "oneway",
    "junction",
    "maxspeed",
    "lanes",
    "access",
    "foot",
    "bicycle",
    "motor_vehicle",
    "motorcar",
    "service",
    "oneway:bicycle",
    "bridge",
    "tunnel",
    "area",
)
#: The way tags the network build reads (:mod:`geoservice.network`); :func:`read_osm`
#: keeps only these.
ROUTING_TAGS = (
    "highway",
    "name",
    "oneway",
    "junction",
    "maxspeed",
    "area",
    "access",
    "foot",
    "bicycle",
    "motor_vehicle",
    "motorcar",
)

SUFFIXES = (".osm", ".osm.bz2", ".osm.pbf", ".graphml", ".xml", ".osm.xml")

#: The value of ``<osm generator=…>`` that marks the embedded schematic network.
SCHEMATIC_GENERATOR = "geoservice.schematic"

#: ``place=*`` values read as settlements (villages, communities, town seats).
PLACE_TYPES = (
    "town",
    "village",
    "hamlet",
    "isolated_dwelling",
    "suburb",
    "quarter",
    "neighbourhood",
    "city_block",
)
#: Tags that carry a 12-digit NBS (统计用区划代码) code of a village or community, in order
#: of preference: the OSM wiki's ``ref:admin:CN:nbs`` and ``ref:cadc:<year>`` keys, then
#: ``ref:NBS`` and a plain ``ref``. A trailing ``*`` stands for any suffix.
PLACE_CODE_TAGS = ("ref:admin:CN:nbs", "ref:cadc:*", "ref:NBS", "ref")
#: Tags that name the town (乡镇/街道) a place belongs to.
PLACE_TOWN_TAGS = ("is_in:town", "is_in:township", "addr:town", "addr:subdistrict", "is_in")

#: Highway ways read between two reports of :func:`read_osm`'s progress.
PROGRESS_WAYS = 100_000

#: Format names used in messages, per :func:`source_kind`.
FORMAT_NAMES = {"pbf": "OSM PBF", "xml": "OSM XML", "graphml": "GraphML"}

# libosmium's value of an unknown coordinate (a node reference not in the file).
_UNDEFINED = 2_147_483_647
_NBS_CODE = re.compile(r"^\d{12}$")


def source_kind(path: str | Path) -> str:
    """Return ``xml``, ``pbf`` or ``graphml`` for a file name, or raise :class:`OsmError`."""
    name = Path(path).name.lower()
    if name.endswith((".osm", ".osm.bz2", ".xml", ".osm.xml", ".xml.bz2")):
        return "xml"
    if name.endswith(".pbf"):
        return "pbf"
    if name.endswith(".graphml"):
        return "graphml"
    msg = (
        f"不支持的路网文件 {Path(path).name!r}，请使用 .osm、.osm.bz2、.osm.pbf 或 .graphml / "
        f"unsupported network file {Path(path).name!r}; use .osm, .osm.bz2, .osm.pbf or .graphml"
    )
    raise OsmError(msg)


def _source(path: str | Path, name: str | None) -> tuple[Path, str, str]:
    """A road file to read: its path, its name in messages (``name`` or the file's own) and
    its kind (`source_kind`).

    Raises
    ------
    OsmError
        The file is missing or its extension is not a road format.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"找不到路网文件 / network file not found: {path}"
        raise OsmError(msg)
    return path, name or path.name, source_kind(path)


def unreadable(name: str, kind: str, exc: BaseException | str) -> OsmError:
    """The error for a file ``name`` that is not readable in the format its name promises."""
    fmt = FORMAT_NAMES[kind]
    msg = f"不是可读的 {fmt} 文件 / not a readable {fmt} file: {name}: {exc}"
    return OsmError(msg)


def no_roads(name: str) -> OsmError:
    """The error for a readable file ``name`` without any road."""
    msg = f"{name}: 文件中没有道路 / no roads (no ways with a highway tag)"
    return OsmError(msg)


def is_schematic(path: str | Path) -> bool:
    """True when an OSM XML file was written by :mod:`tools.schematic`."""
    path = Path(path)
    if source_kind(path) != "xml":
        return False
    opener = bz2.open if path.name.lower().endswith(".bz2") else open
    try:
        with opener(path, "rb") as f:
            head = f.read(2048).decode("utf-8", "replace")
    except (OSError, EOFError, ValueError):  # a corrupt .bz2 is reported by the reader
        return False
    match = re.search(r"<osm[^>]*generator=\"([^\"]*)\"", head)
    return bool(match and match.group(1).startswith(SCHEMATIC_GENERATOR))


# -- the array reader -----------------------------------------------------------------------


@dataclass
class OsmData:
    """The roads and places of an OSM file as arrays (see :func:`read_osm`).

    Attributes
    ----------
    source : str
        File name.
    schematic : bool
        Written by :mod:`tools.schematic`.
    node_id : ndarray (N,) int64
        OSM ids of the nodes used by highway ways and present in the file, ascending.
    node_xy : ndarray (N, 2)
        Their lon/lat (WGS84), exactly as libosmium stores them (1e-7°).
    way_id : ndarray (W,) int64
        OSM ids of the highway ways, in file order.
    way_tags : dict of str to ndarray (W,)
        The :data:`ROUTING_TAGS` of every way (``""`` where absent).
    seg_u, seg_v, seg_way : ndarray (S,) int64
        Every way's consecutive node pairs in way order, as node indices, with the index
        of their way. Consecutive duplicate nodes are dropped (as osmnx does) and a way is
        cut where it references a node missing from the file.
    n_refs : int
        Node references of all highway ways.
    dropped_refs : int
        References to nodes missing from the file (a clipped extract).
    cut_ways : int
        Highway ways with at least one missing node.
    places : DataFrame
        ``place=*`` nodes (see :func:`places_frame`).
    """

    source: str
    schematic: bool
    node_id: np.ndarray
    node_xy: np.ndarray
    way_id: np.ndarray
    way_tags: dict[str, np.ndarray]
    seg_u: np.ndarray
    seg_v: np.ndarray
    seg_way: np.ndarray
    n_refs: int = 0
    dropped_refs: int = 0
    cut_ways: int = 0
    places: pd.DataFrame = field(default_factory=lambda: places_frame([]))

    @property
    def n_ways(self) -> int:
        return len(self.way_id)

    def report(self) -> dict:
        """Counts for network metadata and the import report."""
        return {
            "ways": self.n_ways,
            "node_refs": self.n_refs,
            "dropped_refs": self.dropped_refs,
            "cut_ways": self.cut_ways,
            "places": len(self.places),
        }


#: Columns of the places table.
PLACE_COLUMNS = ("osmid", "lon", "lat", "place", "name", "name_zh", "code", "town")


def places_frame(rows: list[dict]) -> pd.DataFrame:
    """The places table: one row per ``place=*`` node.

    Columns: ``osmid``, ``lon``, ``lat``, ``place`` (the tag value), ``name``, ``name_zh``
    (``name:zh``), ``code`` (a 12-digit NBS code from :data:`PLACE_CODE_TAGS`, or ``""``)
    and ``town`` (the town named by :data:`PLACE_TOWN_TAGS`, or ``""``).
    """
    frame = pd.DataFrame(rows, columns=list(PLACE_COLUMNS))
    return frame.astype(
        {"osmid": "int64", "lon": "float64", "lat": "float64"}
        | dict.fromkeys(PLACE_COLUMNS[3:], "str")
    )


def _place_row(node: osmium.osm.Node) -> dict | None:
    tags = {t.k: t.v for t in node.tags}
    if tags.get("place") not in PLACE_TYPES or not node.location.valid():
        return None
    town = next((tags[k].strip() for k in PLACE_TOWN_TAGS if tags.get(k, "").strip()), "")
    return {
        "osmid": node.id,
        "lon": node.location.lon,
        "lat": node.location.lat,
        "place": tags["place"],
        "name": tags.get("name", "").strip(),
        "name_zh": tags.get("name:zh", "").strip(),
        "code": _place_code(tags),
        "town": town,
    }


def _place_code(tags: dict[str, str]) -> str:
    """The first 12-digit NBS code found under :data:`PLACE_CODE_TAGS`, or ``""``."""
    for key in PLACE_CODE_TAGS:
        prefix = key.endswith("*")
        for k, v in tags.items():
            if (k.startswith(key[:-1]) if prefix else k == key) and _NBS_CODE.match(v.strip()):
                return v.strip()
    return ""


def _osmium_file(path: Path, kind: str) -> osmium.io.File:
    # The format comes from our reading of the name, not libosmium's (it knows no .xml.bz2).
    if kind == "pbf":
        return osmium.io.File(str(path), "pbf")
    return osmium.io.File(str(path), "osm.bz2" if path.name.lower().endswith(".bz2") else "osm")


def read_osm(
    path: str | Path, *, name: str | None = None, progress: Progress | None = None
) -> OsmData:
    """Read the highway ways, their nodes and the place nodes of an OSM file into arrays.

    Parameters
    ----------
    path : str or Path
        ``.osm.pbf``, ``.osm``, ``.osm.bz2``, ``.osm.xml`` or ``.xml``.
    name : str, optional
        The file's name in messages and ``OsmData.source`` (default: ``path``'s name).
    progress : callable, optional
        ``progress("read", ways, 0)`` at the start and every :data:`PROGRESS_WAYS` highway
        ways read (the total is not known before the end), then ``progress("read", ways,
        ways)``.

    Returns
    -------
    OsmData

    Raises
    ------
    OsmError
        The file is missing, not readable in its format (the message names the format), or
        has no roads.

    Notes
    -----
    One pass with libosmium's node location cache gives every way its coordinates. If some
    reference is still without a location after it (a node outside a clipped extract, or a
    node stored after the way in an unsorted file), a second pass over the nodes looks them
    up; only references missing from the whole file are dropped.
    """
    path, name, kind = _source(path, name)
    if kind == "graphml":
        msg = f"{name}: GraphML 由 read_graph 读取 / GraphML is read with read_graph"
        raise OsmError(msg)
    report = progress or (lambda step, done, total: None)
    report("read", 0, 0)
    try:
        scan = _scan(_osmium_file(path, kind), report)
        # Views of the scan's buffers, no copy (and writable: _locate_late_nodes fills in).
        refs, x, y = (np.frombuffer(a, dtype=np.int64) for a in (scan.refs, scan.xs, scan.ys))
        if (x == _UNDEFINED).any():
            _locate_late_nodes(_osmium_file(path, kind), refs, x, y)
    except Exception as exc:  # libosmium raises RuntimeError (and friends) for bad input
        raise unreadable(name, kind, exc) from exc
    if not scan.ways:
        raise no_roads(name)
    report("read", len(scan.ways), len(scan.ways))
    return _arrays(path, name, scan, refs, x, y)


def _int64s() -> array.array:
    return array.array("q")


@dataclass
class _Scan:
    """What one pass over an OSM file collects, appended as it comes (appending is what
    the pass costs): the highway ways' ids, node references and their fixed-point
    coordinates (libosmium's ``Location.x``/``y``), node counts and :data:`ROUTING_TAGS`,
    and the place rows. The numbers go to typed arrays, 8 bytes an item (a list of Python
    ints takes about 40: 2.5 GB for a city of 5 million nodes)."""

    ways: array.array = field(default_factory=_int64s)
    refs: array.array = field(default_factory=_int64s)
    xs: array.array = field(default_factory=_int64s)
    ys: array.array = field(default_factory=_int64s)
    counts: array.array = field(default_factory=_int64s)
    tags: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in ROUTING_TAGS})
    places: list[dict] = field(default_factory=list)


def _scan(source: osmium.io.File, progress: Progress) -> _Scan:
    """One pass: highway ways (node ids, fixed-point x/y, tags) and place nodes.

    libosmium filters the objects (in C++) so that Python only sees highway ways and place
    nodes; every other node only feeds the location cache. ``progress("read", ways, 0)``
    is told every :data:`PROGRESS_WAYS` ways.
    """
    out = _Scan()
    columns = [(k, out.tags[k].append) for k in ROUTING_TAGS]
    highways = osmium.filter.KeyFilter("highway")
    highways.enable_for(osmium.osm.WAY)
    place_nodes = osmium.filter.KeyFilter("place")
    place_nodes.enable_for(osmium.osm.NODE)
    processor = (
        osmium.FileProcessor(source, osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(highways)
        .with_filter(place_nodes)
    )
    add_ref, add_x, add_y = out.refs.append, out.xs.append, out.ys.append
    next_report = PROGRESS_WAYS
    for obj in processor:
        if isinstance(obj, osmium.osm.Way):
            nodes = obj.nodes
            for n in nodes:
                loc = n.location
                add_ref(n.ref)
                add_x(loc.x)
                add_y(loc.y)
            out.counts.append(len(nodes))
            out.ways.append(obj.id)
            t = obj.tags
            for key, append in columns:
                append(t.get(key) or "")  # (typed optional even with a default)
            if len(out.ways) == next_report:
                progress("read", next_report, 0)
                next_report += PROGRESS_WAYS
        else:
            # Only nodes and ways are read; pyosmium's stubs type every object as any kind.
            row = _place_row(cast(osmium.osm.Node, obj))
            if row is not None:
                out.places.append(row)
    return out


def _locate_late_nodes(
    source: osmium.io.File, refs: np.ndarray, x: np.ndarray, y: np.ndarray
) -> None:
    """Fill in (in place) the locations of referenced nodes the first pass did not know.

    A second pass stores every node's location in an index whose lookups do not depend on
    the order of the file (libosmium's ``sparse_mem_map``; no node reaches Python), then
    looks up the missing references: those still unknown are not in the file. (An
    ``IdFilter`` of the missing ids would allocate dense id chunks across the whole id
    range: hundreds of MB for scattered ids.)
    """
    missing = np.flatnonzero(x == _UNDEFINED)
    processor = (
        osmium.FileProcessor(source, osmium.osm.NODE)
        .with_locations("sparse_mem_map")
        .with_filter(osmium.filter.EntityFilter(osmium.osm.NOTHING))
    )
    for _ in processor:
        pass
    store = processor.node_location_storage
    assert store is not None  # made by with_locations
    wanted, inverse = unique(refs[missing], return_inverse=True)
    found_x = np.full(len(wanted), _UNDEFINED, dtype=np.int64)
    found_y = np.full(len(wanted), _UNDEFINED, dtype=np.int64)
    for k, node in enumerate(wanted.tolist()):
        with contextlib.suppress(KeyError):
            loc = store.get(node)
            found_x[k], found_y[k] = loc.x, loc.y
    x[missing] = found_x[inverse]
    y[missing] = found_y[inverse]


def _arrays(
    path: Path, name: str, scan: _Scan, refs: np.ndarray, x: np.ndarray, y: np.ndarray
) -> OsmData:
    """The arrays of a scan whose node references and coordinates (``refs``, ``x``, ``y``;
    ``_UNDEFINED`` for nodes missing from the file) are already numpy arrays."""
    counts = np.array(scan.counts, dtype=np.int64)
    way_of_ref = np.repeat(np.arange(len(scan.ways)), counts)
    present = x != _UNDEFINED
    node_id, first, inverse = unique(refs[present], return_index=True, return_inverse=True)
    node_idx = np.full(len(refs), -1, dtype=np.int64)
    node_idx[present] = inverse
    # Fixed-point → degrees exactly as libosmium's Location.lon/lat (int / 1e7).
    node_xy = np.column_stack([x[present][first] / 1e7, y[present][first] / 1e7])
    # A segment joins consecutive references of the same way that are both present and
    # distinct: this cuts ways at missing nodes and drops consecutive duplicates.
    a, b = node_idx[:-1], node_idx[1:]
    keep = (way_of_ref[:-1] == way_of_ref[1:]) & (a >= 0) & (b >= 0) & (a != b)
    cut = unique(way_of_ref[~present])
    if len(cut):
        log.info(
            "%s: %d of %d node references are not in the file; %d ways cut there",
            name,
            int((~present).sum()),
            len(refs),
            len(cut),
        )
    return OsmData(
        source=name,
        schematic=is_schematic(path),
        node_id=node_id,
        node_xy=node_xy,
        way_id=np.array(scan.ways, dtype=np.int64),
        way_tags={k: np.array(v, dtype=object) for k, v in scan.tags.items()},
        seg_u=a[keep],
        seg_v=b[keep],
        seg_way=way_of_ref[:-1][keep],
        n_refs=len(refs),
        dropped_refs=int((~present).sum()),
        cut_ways=len(cut),
        places=places_frame(scan.places),
    )


# -- the osmnx path (GraphML, downloads, benchmark baseline) ---------------------------------


def read_graph(path: str | Path, *, name: str | None = None) -> nx.MultiDiGraph:
    """Read a road file into an unsimplified osmnx MultiDiGraph (one-way ways one way only).

    The osmnx path: GraphML files and the baseline of ``bench/bench_osm.py``. OSM files
    are normally read with :func:`read_osm`; here osmnx reads them and, like osmnx, fails
    on clipped extracts.

    Parameters
    ----------
    path : str or Path
        ``.osm`` / ``.osm.bz2`` (osmnx ``graph_from_xml``), ``.osm.pbf`` (converted to
        OSM XML with pyosmium first) or ``.graphml`` (osmnx ``load_graphml``; may already
        be simplified, see ``G.graph["simplified"]``).
    name : str, optional
        The file's name in messages (default: ``path``'s name).
    """
    import osmnx as ox  # 0.9 s with its imports: only where a graph is read or fetched

    path, name, kind = _source(path, name)
    if kind == "graphml":
        try:
            G = ox.load_graphml(path)
        except Exception as exc:  # networkx/lxml raise many kinds for a bad file
            raise unreadable(name, kind, exc) from exc
    elif kind == "pbf":
        with tempfile.TemporaryDirectory() as tmp:
            xml = Path(tmp) / (path.name.removesuffix(".pbf") + ".xml")
            pbf_to_xml(path, xml, name=name)
            G = _from_xml(xml, name, "pbf")
    else:
        G = _from_xml(path, name, kind)
    if G.number_of_edges() == 0:
        raise no_roads(name)
    return G


def _from_xml(path: Path, name: str, kind: str) -> nx.MultiDiGraph:
    import osmnx as ox  # 0.9 s with its imports: only where a graph is read or fetched

    with _way_tags():
        try:
            return ox.graph_from_xml(path, bidirectional=False, simplify=False, retain_all=True)
        except ox._errors.InsufficientResponseError as exc:
            raise no_roads(name) from exc
        except Exception as exc:  # XML parser errors, osmnx's "missing nodes" and the like
            raise unreadable(name, kind, exc) from exc


@contextlib.contextmanager
def _way_tags() -> Iterator[None]:
    """Temporarily widen the way tags osmnx keeps to :data:`WAY_TAGS`."""
    import osmnx as ox  # 0.9 s with its imports: only where a graph is read or fetched

    saved = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = list(WAY_TAGS)
    try:
        yield
    finally:
        ox.settings.useful_tags_way = saved


def pbf_to_xml(pbf: Path, xml: Path, *, name: str | None = None) -> None:
    """Convert an ``.osm.pbf`` extract to OSM XML with pyosmium (highway ways and their
    nodes only), for osmnx's XML reader (``name`` is the file's name in messages)."""
    try:
        ways = []
        wanted: set[int] = set()
        for w in osmium.FileProcessor(str(pbf), osmium.osm.WAY):
            if isinstance(w, osmium.osm.Way) and "highway" in w.tags:
                nodes = [n.ref for n in w.nodes]
                wanted.update(nodes)
                ways.append(osmium.osm.mutable.Way(id=w.id, nodes=nodes, tags=dict(w.tags)))
        with osmium.SimpleWriter(str(xml)) as writer:
            for n in osmium.FileProcessor(str(pbf), osmium.osm.NODE):
                if n.id in wanted:
                    writer.add_node(n)
            for way in ways:
                writer.add_way(way)
    except RuntimeError as exc:
        raise unreadable(name or pbf.name, "pbf", exc) from exc


def fetch_graph(place: str, timeout: float = 20.0) -> nx.MultiDiGraph:
    """Download a place's road network with osmnx (needs the internet).

    Fails fast when offline: osmnx's Overpass rate-limit probe (which waits 60 s when it
    cannot connect) is switched off and the request timeout is ``timeout`` seconds.
    """
    import osmnx as ox  # 0.9 s with its imports: only where a graph is read or fetched

    saved = (
        ox.settings.overpass_rate_limit,
        ox.settings.requests_timeout,
        list(ox.settings.useful_tags_way),
    )
    ox.settings.overpass_rate_limit = False
    ox.settings.requests_timeout = timeout
    ox.settings.useful_tags_way = list(WAY_TAGS)
    try:
        return ox.graph_from_place(place, network_type="all", simplify=False, retain_all=True)
    except Exception as exc:  # requests' connection errors, osmnx response errors
        msg = (
            f"无法下载 {place!r} 的路网 / could not download the road network for {place!r}: {exc}"
        )
        raise OsmError(msg) from exc
    finally:
        (
            ox.settings.overpass_rate_limit,
            ox.settings.requests_timeout,
            ox.settings.useful_tags_way,
        ) = saved
