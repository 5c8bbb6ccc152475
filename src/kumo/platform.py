"""The services of one kumo, built once from Settings. The HTTP app, `kumo.Env` and the CLI's
in-process mode all hold a Platform; backends are chosen here and nowhere else."""

from __future__ import annotations

from kumo.config import Settings
from kumo.storage.sqlite_vectors import SqliteVectorStore
from kumo.vectorize.service import VectorizeService
from kumo.vectorize.space import AnnParams


class Platform:
    def __init__(self, settings: Settings):
        self.settings = settings
        data_dir = settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        ann = AnnParams(
            threshold=settings.vectorize_ann_threshold,
            m=settings.vectorize_hnsw_m,
            ef_construction=settings.vectorize_hnsw_ef_construction,
            ef_search=settings.vectorize_hnsw_ef_search,
        )
        self.vectorize = VectorizeService(
            SqliteVectorStore(data_dir / "vectorize.sqlite3"), data_dir / "vectorize-snapshots", ann
        )
        self._started = False

    def start(self) -> None:
        if not self._started:
            self.vectorize.start()
            self._started = True

    def close(self) -> None:
        self.vectorize.close()
