"""What Vectorize's service needs from durable storage (`IndexCatalog`), and the records it holds. The database
is the source of truth. Each engine declares what else it needs next to itself: `EmbeddedStore`
(kumo.vectorize.embedded: vectors written and read back to rebuild the in-memory space) and `SqlVectors`
(kumo.vectorize.pg_engine: transactional writes and SQL queries). Implementations live in `kumo.storage`:
`SqliteVectorStore` (IndexCatalog + EmbeddedStore) and `PgVectorStore` (IndexCatalog + SqlVectors)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class IndexRecord:
    pk: int
    account: str
    name: str
    description: str | None
    dimensions: int
    metric: str
    preset: str | None
    created_on: str
    modified_on: str
    mutation_id: str | None
    mutation_at: str | None
    seq: int
    vector_count: int | None = None  # kept on the row by PostgreSQL; embedded, the space counts


@dataclass(frozen=True)
class MetadataIndexRecord:
    property_name: str
    index_type: str
    created_seq: int


@dataclass(frozen=True)
class StoredVector:
    id: str
    namespace: str | None
    values: bytes  # float32, native byte order
    metadata: dict | None
    seq: int


@dataclass(frozen=True)
class Mutation:
    id: str
    at: str


class IndexCatalog(Protocol):
    """What `VectorizeService` reads and creates: index records, metadata-index records, vectors by id."""

    def create_index(
        self, account: str, name: str, description: str | None, dimensions: int, metric: str,
        preset: str | None, now: str,
    ) -> IndexRecord | None: ...  # None: the name is taken

    def get_index(self, account: str, name: str) -> IndexRecord | None: ...
    def list_indexes(self, account: str) -> list[IndexRecord]: ...
    def get_vectors(self, pk: int, ids: list[str]) -> list[StoredVector]: ...
    def list_ids(self, pk: int, after: str | None, count: int) -> tuple[list[str], int]: ...
    def metadata_indexes(self, pk: int) -> list[MetadataIndexRecord]: ...
    def close(self) -> None: ...
