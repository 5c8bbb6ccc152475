"""Snapshots of an index's HNSW graph, so a restart need not rebuild it. A snapshot is trusted only when its
mutation sequence equals the database's: anything else (a crash after later writes, a torn file) is dropped
and the graph is rebuilt in the background while queries stay exact.

A graph's labels are slots, and slots are not reused while the process runs: an upsert writes a new one and
retires the old. A snapshot keeps those holes, so a space restored from it is as large as every write ever
made. One whose slots are mostly holes is dropped instead: the space is rebuilt compact from the database and
its graph rebuilt behind, as after a crash."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import hnswlib

from kumo.vectorize.space import HNSW_SPACE, VectorSpace
from kumo.vectorize.store import IndexRecord

log = logging.getLogger("kumo.vectorize")
COMPACT_MIN_HOLES = 1024  # fewer retired slots than this are kept, however many there are to live ones


class GraphSnapshots:
    def __init__(self, directory: Path):
        self.directory = directory

    def _paths(self, pk: int) -> tuple[Path, Path]:
        return self.directory / f"{pk}.hnsw", self.directory / f"{pk}.json"

    def save(self, record: IndexRecord, space: VectorSpace) -> None:
        if space.hnsw is None or space.ann_pending:
            return
        graph_path, meta_path = self._paths(record.pk)
        self.directory.mkdir(parents=True, exist_ok=True)
        space.hnsw.save_index(str(graph_path))
        tmp = meta_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"seq": record.seq, "ids": space.ids[: space.size]}))
        tmp.replace(meta_path)  # the metadata lands last: without it the graph file is ignored

    def read(self, record: IndexRecord) -> tuple[list, hnswlib.Index] | None:
        """(slot -> id, graph) when a snapshot matches the database, else None."""
        graph_path, meta_path = self._paths(record.pk)
        if not (graph_path.exists() and meta_path.exists()):
            return None
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("seq") != record.seq:
                self.drop(record.pk)
                return None
            holes = meta["ids"].count(None)
            if holes >= COMPACT_MIN_HOLES and holes > len(meta["ids"]) - holes:
                log.info("index %s: %d of its %d slots are retired; rebuilt compact, with a new graph",
                         record.name, holes, len(meta["ids"]))
                self.drop(record.pk)
                return None
            graph = hnswlib.Index(space=HNSW_SPACE[record.metric], dim=record.dimensions)
            graph.load_index(str(graph_path), max_elements=max(len(meta["ids"]), 1024))
            return meta["ids"], graph
        except Exception as exc:  # a torn or foreign snapshot only costs a rebuild
            log.warning("index %s: unreadable snapshot (%s), rebuilding", record.name, exc)
            self.drop(record.pk)
            return None

    def drop(self, pk: int) -> None:
        for path in self._paths(pk):
            path.unlink(missing_ok=True)
