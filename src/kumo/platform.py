"""The services of one kumo, built once from Settings. The HTTP app, `kumo.Env` and the CLI's
in-process mode all hold a Platform; backends are chosen here and nowhere else."""

from __future__ import annotations

from kumo.ai.batch import BatchQueue
from kumo.ai.catalog import Catalog
from kumo.ai.service import AiService
from kumo.ai.weights import WeightsStore
from kumo.config import Settings
from kumo.storage.sqlite_batches import SqliteBatchStore
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
        self.ai = AiService(
            Catalog.load(settings.models),
            WeightsStore(settings.models_dir or data_dir / "models"),
            strict=settings.strict_models,
            threads=settings.threads,
        )
        self.batches = BatchQueue(SqliteBatchStore(data_dir / "ai-batches.sqlite3"), self.ai)
        self._started = False

    def start(self) -> None:
        """Start background threads (the ANN indexer). Async workers start in `start_async`."""
        if not self._started:
            self.vectorize.start()
            self._started = True

    async def start_async(self) -> None:
        """Start the workers that live on the event loop (batch inference)."""
        self.batches.start()

    async def stop_async(self) -> None:
        await self.batches.stop()

    def close(self) -> None:
        self.vectorize.close()
        self.ai.close()
        self.batches.store.close()
