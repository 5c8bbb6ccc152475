"""The in-memory search structure of one index: exact float32 scans plus an HNSW graph.

Each vector lives in a *slot*: a row of `matrix`. Slots are never reused while the process runs
(an upsert writes a new slot and retires the old one); they are compacted when the space is rebuilt
from the database at start-up.

Queries are exact whenever exactness matters: a query with a namespace or a metadata filter scores
every matching vector with BLAS, so it always returns the true top-K: a narrow filter gathers its rows, a
wide one scans them all under a mask, or, once it has been seen twice on an unchanged space, a contiguous
copy of its rows (kumo.vectorize.subsets). Long scans are shared out over every core. An unfiltered query on a large
space asks the HNSW graph for candidates, adds the slots written since the graph last caught up (the
graph is built behind the writes, so ingest is not slowed by it), and re-scores them all exactly.
"""

from __future__ import annotations

import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import NamedTuple

import hnswlib
import numpy as np

from kumo.vectorize.filters import MetadataFilter
from kumo.vectorize.metadata import MetadataColumn
from kumo.vectorize.rwlock import SharedLock
from kumo.vectorize.scores import best_first, exact_scores
from kumo.vectorize.subsets import RowSubset, SubsetCache

METRICS = ("cosine", "euclidean", "dot-product")
HNSW_SPACE = {"cosine": "cosine", "euclidean": "l2", "dot-product": "ip"}
_GATHER_FRACTION = 0.25  # above this share of matching slots, score everything and mask instead
_MARGIN = 8  # float32 keys pick top_k + this many; float64 scores rank them (near-ties at the boundary)
_SPLIT_FLOATS = 4_000_000  # scans of more than this many floats (~10k rows of 384) run on every core


@dataclass(frozen=True)
class AnnParams:
    threshold: int = 20_000
    m: int = 16
    ef_construction: int = 128
    ef_search: int = 160


@dataclass(frozen=True)
class AnnBatch:
    start: int
    stop: int
    slots: np.ndarray
    rows: np.ndarray


class Match(NamedTuple):  # ten per query: a tuple costs a quarter of a frozen dataclass
    slot: int
    score: float


class VectorSpace:
    def __init__(self, dimensions: int, metric: str, ann: AnnParams | None = None,
                 scan_pool: Executor | None = None, scan_parts: int = 1):
        """`scan_pool` (with `scan_parts - 1` threads) shares long scans out: numpy's matrix products release
        the GIL, so a query scanning 50k rows reads memory from every core."""
        if metric not in METRICS:
            raise ValueError(metric)
        self.dimensions = dimensions
        self.metric = metric
        self.ann = ann or AnnParams()
        self.size = 0  # slots used so far
        self.count = 0  # live vectors
        self.matrix = np.zeros((0, dimensions), dtype=np.float32)
        self.sqnorms = np.zeros(0, dtype=np.float32)
        self.inv_norms = np.zeros(0, dtype=np.float32)  # 1/|x| (0 for a zero vector): cosine keys in one multiply
        self.alive = np.zeros(0, dtype=bool)
        self.namespaces = np.zeros(0, dtype=np.int32)
        self.ids: list[str | None] = []
        self.slot_of: dict[str, int] = {}
        self._namespace_codes: dict[str, int] = {}
        self._namespace_names: list[str] = []
        self.columns: dict[str, MetadataColumn] = {}
        self.hnsw: hnswlib.Index | None = None
        self.ann_upto = 0  # slots [0, ann_upto) are in the graph (or were dead when it passed)
        self.live_in_graph = 0  # live vectors among slots [0, ann_upto)
        # hnswlib allows neither queries nor deletions while add_items runs: the graph has its own lock, so
        # writers (which never touch the graph) are not held up by the builder; deletions wait in a list.
        # Queries share it (knn_query releases the GIL: two searches use two cores)
        self.graph_lock = SharedLock()
        self._graph_deletions: list[int] = []
        self._ef = 0
        self.last_query = 0.0  # time.monotonic() of the latest unfiltered query: the builder yields to them
        self.last_write = 0.0  # and of the latest write: while writes come, the builder leaves them a core
        self.ann_rate = 2000.0  # vectors/s one thread adds to the graph lately (sizes the builder's steps)
        self.scan_pool = scan_pool
        self.scan_parts = scan_parts if scan_pool is not None else 1
        self.version = 0  # bumped by every change a filter's answer may depend on
        self._subsets = SubsetCache()

    def _changed(self) -> None:
        self.version += 1
        self._subsets.clear()

    # ---- writes ---------------------------------------------------------------------------
    def _ensure_capacity(self, needed: int) -> None:
        capacity = len(self.alive)
        if needed <= capacity:
            return
        new = max(needed, int(capacity * 1.5), 1024)
        matrix = np.zeros((new, self.dimensions), dtype=np.float32)
        matrix[: self.size] = self.matrix[: self.size]
        self.matrix = matrix
        self.sqnorms = _grown(self.sqnorms, new, 0.0)
        self.inv_norms = _grown(self.inv_norms, new, 0.0)
        self.alive = _grown(self.alive, new, False)
        self.namespaces = _grown(self.namespaces, new, -1)
        for column in self.columns.values():
            column.resize(new)

    def namespace_code(self, name: str | None) -> int:
        if name is None:
            return -1
        code = self._namespace_codes.get(name)
        if code is None:
            code = self._namespace_codes[name] = len(self._namespace_names)
            self._namespace_names.append(name)
        return code

    def put(
        self,
        ids: list[str],
        values: np.ndarray,
        namespaces: list[str | None],
        metadatas: list[dict | None],
        indexed: dict[str, list[bool]] | None = None,
    ) -> None:
        """Write vectors (replacing any with the same id). `indexed[path][i]` says whether vector i is
        indexed on metadata path `path` (all True for a fresh write; history decides on reload)."""
        n = len(ids)
        if n == 0:
            return
        self.last_write = time.monotonic()
        self.remove(ids)
        self._changed()
        start = self.size
        self._ensure_capacity(start + n)
        stop = start + n
        self.matrix[start:stop] = values
        self.sqnorms[start:stop] = np.einsum("ij,ij->i", values, values)
        self.inv_norms[start:stop] = _inverse_norms(self.sqnorms[start:stop])
        self.alive[start:stop] = True
        self.namespaces[start:stop] = [self.namespace_code(ns) for ns in namespaces]
        for i, vid in enumerate(ids):
            self.slot_of[vid] = start + i
        self.ids.extend(ids)
        for path, column in self.columns.items():
            flags = indexed.get(path) if indexed is not None else None
            for i in range(n):
                if flags is None or flags[i]:
                    column.set(start + i, path, metadatas[i])
                else:
                    column.clear(start + i)
        self.size = stop
        self.count += n

    def begin_load(self, slots: int) -> None:
        """Start filling an empty space slot by slot (start-up), `slots` slots in all."""
        self._ensure_capacity(slots)
        self.ids = [None] * slots
        self.size = slots

    def place(
        self, slot: int, vid: str, values: np.ndarray, namespace: str | None, metadata: dict | None,
        indexed_paths: set[str],
    ) -> None:
        self.matrix[slot] = values
        self.sqnorms[slot] = float(values @ values)
        self.inv_norms[slot] = _inverse_norms(self.sqnorms[slot : slot + 1])[0]
        self.alive[slot] = True
        self.namespaces[slot] = self.namespace_code(namespace)
        self.ids[slot] = vid
        self.slot_of[vid] = slot
        for path, column in self.columns.items():
            if path in indexed_paths:
                column.set(slot, path, metadata)
        self.count += 1
        self.version += 1  # (start-up: nothing is cached yet)

    def attach_graph(self, graph: hnswlib.Index) -> None:
        """Use a graph loaded from a snapshot that covers every slot."""
        self.hnsw = graph
        self.ann_upto = self.size
        self.live_in_graph = self.count

    def remove(self, ids: list[str]) -> int:
        removed = 0
        for vid in ids:
            slot = self.slot_of.pop(vid, None)
            if slot is None:
                continue
            self.alive[slot] = False
            self.ids[slot] = None
            for column in self.columns.values():
                column.clear(slot)
            if slot < self.ann_upto:
                self.live_in_graph -= 1
                self._graph_deletions.append(slot)
            removed += 1
        self.count -= removed
        if removed:
            self._changed()
        return removed

    def add_column(self, path: str, kind: str) -> None:
        column = MetadataColumn(kind)
        column.resize(len(self.alive))
        self.columns[path] = column  # vectors already written stay unindexed, as on Cloudflare
        self._changed()

    def drop_column(self, path: str) -> None:
        self.columns.pop(path, None)
        self._changed()

    # ---- the ANN graph, built behind the writes ------------------------------------------
    @property
    def ann_pending(self) -> int:
        if self.count < self.ann.threshold and self.hnsw is None:
            return 0
        return self.size - self.ann_upto

    def ann_prepare(self, max_items: int = 256) -> AnnBatch | None:
        """(Under the index's lock) the next pending slots and a copy of their rows, or None."""
        if self.ann_pending == 0:
            return None
        with self.graph_lock:
            if self.hnsw is None:
                self.hnsw = hnswlib.Index(space=HNSW_SPACE[self.metric], dim=self.dimensions)
                self.hnsw.init_index(max_elements=max(len(self.alive), 1024), M=self.ann.m,
                                     ef_construction=self.ann.ef_construction)
            stop = min(self.size, self.ann_upto + max_items)
            if self.hnsw.get_max_elements() < stop:
                self.hnsw.resize_index(max(len(self.alive), stop))
        slots = np.arange(self.ann_upto, stop)
        slots = slots[self.alive[self.ann_upto : stop]]
        return AnnBatch(self.ann_upto, stop, slots, self.matrix[slots].copy())

    def ann_add(self, batch: AnnBatch, threads: int = 1) -> None:
        """(Without the index's lock) put the rows into the graph; writers go on meanwhile."""
        with self.graph_lock:
            assert self.hnsw is not None  # made by ann_prepare
            if len(batch.slots):
                started = time.perf_counter()
                self.hnsw.add_items(batch.rows, batch.slots, num_threads=threads)
                rate = len(batch.slots) / max(time.perf_counter() - started, 1e-6) / threads
                self.ann_rate = 0.7 * self.ann_rate + 0.3 * rate
            self._apply_deletions()

    def ann_commit(self, batch: AnnBatch) -> None:
        """(Under the index's lock) the graph now covers the batch's slots."""
        self.ann_upto = batch.stop
        alive = self.alive[batch.slots]
        self.live_in_graph += int(alive.sum())
        self._graph_deletions.extend(int(s) for s in batch.slots[~alive])  # deleted while being added

    def ann_step(self, max_items: int = 256, threads: int = 1) -> int:
        """prepare + add + commit in one go (single-threaded callers: tests, benchmarks, start-up)."""
        batch = self.ann_prepare(max_items)
        if batch is None:
            return 0
        self.ann_add(batch, threads)
        self.ann_commit(batch)
        return batch.stop - batch.start

    @property
    def graph_progress(self) -> tuple[int, int] | None:
        """(live vectors the graph covers, live vectors it does not yet), or None while the space has no
        graph (below the ANN threshold: every query is an exact scan)."""
        if self.hnsw is None and self.ann_pending == 0:
            return None
        return self.live_in_graph, self.count - self.live_in_graph

    def _apply_deletions(self) -> None:
        """(Holding graph_lock alone.)"""
        graph = self.hnsw
        while self._graph_deletions:
            assert graph is not None  # only slots already in a graph are queued
            slot = self._graph_deletions.pop()
            try:
                graph.mark_deleted(slot)
            except RuntimeError:
                pass  # never added: it was dead when the builder passed

    # ---- reads (callers hold the index's lock, shared or whole) ----------------------------
    def query(
        self,
        vector: np.ndarray,
        top_k: int,
        namespace: str | None = None,
        metadata_filter: MetadataFilter | None = None,
    ) -> list[Match]:
        if self.count == 0:
            return []
        size = self.size
        if namespace is None and metadata_filter is None:
            # while the graph covers less than half of the vectors a scan of them all costs at most twice the
            # scan of its tail: leave the graph to the builder (queries would hold it up) and scan
            if self.hnsw is not None and self.count >= self.ann.threshold and 2 * self.live_in_graph >= self.count:
                self.last_query = time.monotonic()
                try:
                    candidates, in_order = self._ann_candidates(vector, top_k)
                except RuntimeError:  # hnswlib found fewer than k (a sparse or heavily deleted graph): scan
                    return self._rank(vector, None, top_k)
                if in_order:  # the graph's own distances already rank them: score only the top-K
                    return self._ordered(vector, candidates[:top_k])
                return self._rank(vector, candidates, top_k)
            return self._rank(vector, None, top_k)
        key = repr((namespace, metadata_filter))
        subset = self._subsets.get(key, self.version)
        if subset is not None:
            return self._rank_subset(vector, subset, top_k)
        mask = self.alive[:size].copy()
        if namespace is not None:
            code = self._namespace_codes.get(namespace)
            if code is None:
                return []
            mask &= self.namespaces[:size] == code
        if metadata_filter is not None and mask.any():
            mask &= metadata_filter.mask(self.columns, size)
        slots = np.flatnonzero(mask)
        if len(slots) == 0:
            return []
        if len(slots) <= _GATHER_FRACTION * size:
            return self._rank(vector, slots, top_k)
        if not self._subsets.should_copy(key, self.version, len(slots), budget_rows=size):
            return self._rank(vector, None, top_k, mask=mask)
        subset = RowSubset(slots, self.matrix[slots], self.sqnorms[slots], self.inv_norms[slots])
        self._subsets.store(key, self.version, subset)
        return self._rank_subset(vector, subset, top_k)

    def _rank_subset(self, vector: np.ndarray, subset: RowSubset, top_k: int) -> list[Match]:
        keys = self._score_keys(vector, subset.rows, subset.sqnorms, subset.inv_norms)
        part = _smallest(keys, min(top_k + _MARGIN, len(subset.slots)))
        return self._ordered(vector, subset.slots[part])[:top_k]

    def _ann_candidates(self, vector: np.ndarray, top_k: int) -> tuple[np.ndarray, bool]:
        """Candidate slots, and whether they are already in the graph's distance order (no unindexed tail)."""
        assert self.hnsw is not None
        k = min(max(top_k * 2, 32), self.live_in_graph)
        parts = []
        if k > 0:
            if self._graph_deletions or self._ef != self.ann.ef_search:
                with self.graph_lock:  # alone: hnswlib's deletions and ef are not safe beside a search
                    self._apply_deletions()
                    if self._ef != self.ann.ef_search:
                        self.hnsw.set_ef(self.ann.ef_search)  # knn_query searches with max(ef, k) itself
                        self._ef = self.ann.ef_search
            with self.graph_lock.shared():
                labels, _ = self.hnsw.knn_query(vector, k=k, num_threads=1)
            parts.append(labels[0].astype(np.int64))
        if self.ann_upto < self.size:  # written after the graph last caught up: scan exactly
            tail = np.arange(self.ann_upto, self.size)
            parts.append(tail[self.alive[self.ann_upto : self.size]])
        if not parts:
            return np.zeros(0, dtype=np.int64), True
        in_order = len(parts) == 1 and self.ann_upto >= self.size
        candidates = parts[0] if len(parts) == 1 else np.unique(np.concatenate(parts))
        return candidates[self.alive[candidates]], in_order  # a deletion may not have reached the graph yet

    def _keys(self, vector: np.ndarray, slots: np.ndarray | None) -> np.ndarray:
        """Lower is better for every metric, so one argpartition serves all three (float32, for choosing;
        terms the same for every row, such as the query's norm, are left out)."""
        if slots is None:
            return self._score_keys(vector, self.matrix[: self.size], self.sqnorms[: self.size],
                                    self.inv_norms[: self.size])
        return self._score_keys(vector, self.matrix[slots], self.sqnorms[slots], self.inv_norms[slots])

    def _score_keys(self, vector: np.ndarray, rows: np.ndarray, sqnorms: np.ndarray,
                    inv_norms: np.ndarray) -> np.ndarray:
        dots = self._products(rows, vector)
        if self.metric == "dot-product":
            return np.negative(dots, out=dots)
        if self.metric == "euclidean":
            dots *= -2
            dots += sqnorms
            return dots
        dots *= inv_norms
        return np.negative(dots, out=dots)

    def _products(self, rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
        n = len(rows)
        parts = min(self.scan_parts, rows.size // _SPLIT_FLOATS + 1)
        pool = self.scan_pool
        if parts < 2 or pool is None:
            return rows @ vector
        out = np.empty(n, dtype=np.result_type(rows, vector))
        bounds = np.linspace(0, n, parts + 1).astype(int)
        pieces = [(rows[a:b], out[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
        futures = [pool.submit(np.matmul, part, vector, out=dest) for part, dest in pieces[1:]]
        np.matmul(pieces[0][0], vector, out=pieces[0][1])
        for future in futures:
            future.result()
        return out

    def _rank(
        self, vector: np.ndarray, slots: np.ndarray | None, top_k: int, mask: np.ndarray | None = None
    ) -> list[Match]:
        keys = self._keys(vector, slots)
        if slots is None:
            keep = self.alive[: self.size] if mask is None else mask
            keys[~keep] = np.inf
            valid = int(np.count_nonzero(keep))
        else:
            valid = len(slots)
        # float32 keys pick a few more than asked; float64 scores decide among them
        part = _smallest(keys, min(top_k + _MARGIN, valid))
        return self._ordered(vector, part if slots is None else slots[part])[:top_k]

    def _ordered(self, vector: np.ndarray, chosen: np.ndarray) -> list[Match]:
        """Matches ordered by the exact float64 score; ties by slot (older first) so results are stable."""
        scores = self.exact_scores(chosen, vector)
        order = best_first(scores, self.metric, chosen)
        return [Match(slot, score) for slot, score in zip(chosen[order].tolist(), scores[order].tolist())]

    def exact_scores(self, slots: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """Cloudflare's scores for some vectors, computed in float64."""
        return exact_scores(self.matrix[slots], vector, self.metric)

    def score(self, slot: int, vector: np.ndarray) -> float:
        return float(self.exact_scores(np.array([slot]), vector)[0])

    def values(self, slot: int) -> list[float]:
        return self.matrix[slot].astype(np.float64).tolist()

    def has_namespace(self, name: str) -> bool:
        return name in self._namespace_codes

    @property
    def namespace_count(self) -> int:
        return len(self._namespace_names)

    def indexed_metadata(self, slot: int) -> dict:
        """Only the metadata-indexed properties of a vector, as indexed: `returnMetadata: indexed`."""
        out: dict = {}
        for path, column in self.columns.items():
            if not column.present[slot]:
                continue
            value = column.values[slot]
            value = bool(value) if column.kind == "boolean" else float(value) if column.kind == "number" else value
            node = out
            *parents, leaf = path.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        return out

    def namespace_of(self, slot: int) -> str | None:
        code = int(self.namespaces[slot])
        return self._namespace_names[code] if code >= 0 else None


def _smallest(keys: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k smallest keys (unordered)."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    if k >= len(keys):
        return np.arange(len(keys))
    return np.argpartition(keys, k - 1)[:k]


def _inverse_norms(sqnorms: np.ndarray) -> np.ndarray:
    norms = np.sqrt(sqnorms.astype(np.float64))
    with np.errstate(divide="ignore"):
        return np.where(norms > 0, 1.0 / norms, 0.0).astype(np.float32)


def _grown(array: np.ndarray, capacity: int, fill) -> np.ndarray:
    out = np.full(capacity, fill, dtype=array.dtype)
    out[: len(array)] = array
    return out
