"""What Vectorize needs from durable storage. The database is the source of truth; the embedded engine's
in-memory `VectorSpace` is rebuilt from it. Implementations live in `kumo.storage`: `SqliteVectorStore`
(all of `VectorStore`) and `PgVectorStore` (the index records and reads by id that `VectorizeService`
uses, plus the transactional writes and SQL queries of the pgvector engine)."""

from __future__ import annotations

from collections.abc import Iterator
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


class VectorStore(Protocol):
    def create_index(
        self, account: str, name: str, description: str | None, dimensions: int, metric: str,
        preset: str | None, now: str,
    ) -> IndexRecord | None: ...  # None: the name is taken

    def get_index(self, account: str, name: str) -> IndexRecord | None: ...
    def list_indexes(self, account: str) -> list[IndexRecord]: ...
    def delete_index(self, pk: int) -> None: ...

    def write_vectors(self, pk: int, vectors: list[StoredVector], mutation: Mutation) -> int: ...
    def delete_vectors(self, pk: int, ids: list[str], mutation: Mutation) -> int: ...
    def get_vectors(self, pk: int, ids: list[str]) -> list[StoredVector]: ...
    def iter_vectors(self, pk: int) -> Iterator[StoredVector]: ...
    def count_vectors(self, pk: int) -> int: ...
    def list_ids(self, pk: int, after: str | None, count: int) -> tuple[list[str], int]: ...

    def metadata_indexes(self, pk: int) -> list[MetadataIndexRecord]: ...
    def create_metadata_index(self, pk: int, property_name: str, index_type: str, mutation: Mutation) -> int: ...
    def delete_metadata_index(self, pk: int, property_name: str, mutation: Mutation) -> int: ...
    def close(self) -> None: ...
