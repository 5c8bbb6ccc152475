"""`env.VECTORIZE`: the Workers binding's shape (insert, upsert, query, queryById, getByIds, deleteByIds,
describe), in process, on the same service the HTTP API uses. snake_case aliases are there for Python."""

from __future__ import annotations

from typing import Any

import numpy as np

from kumo.errors import InvalidRequest
from kumo.vectorize.batch import parse_items
from kumo.vectorize.query_rules import QueryOptions
from kumo.vectorize.service import VectorizeService

MAX_BINDING_BATCH = 1000  # the Workers binding's limit (HTTP allows 5000)


def _plain(vector: Any) -> Any:
    if isinstance(vector, dict):
        vector = dict(vector)
        if isinstance(vector.get("values"), (np.ndarray, tuple)):
            vector["values"] = np.asarray(vector["values"]).tolist()
    return vector


def _options(options: dict | None) -> QueryOptions:
    options = options or {}
    unknown = set(options) - {"topK", "namespace", "returnValues", "returnMetadata", "filter"}
    if unknown:
        raise InvalidRequest(f"unknown query option(s): {', '.join(sorted(unknown))}")
    return QueryOptions(
        top_k=options.get("topK", 5),
        return_values=options.get("returnValues", False),
        return_metadata=options.get("returnMetadata", "none"),
        namespace=options.get("namespace"),
        filter=options.get("filter"),
    )


class VectorizeBinding:
    def __init__(self, service: VectorizeService, account_id: str, index_name: str):
        self._service = service
        self._account = account_id
        self._index = index_name

    def describe(self) -> dict:
        return self._service.info(self._account, self._index)

    def _write(self, vectors: list[dict], upsert: bool) -> dict:
        if not isinstance(vectors, list):
            raise InvalidRequest("vectors must be a list of {id, values, namespace?, metadata?}")
        if len(vectors) > MAX_BINDING_BATCH:
            raise InvalidRequest(f"{len(vectors)} vectors in one call; the binding's limit is {MAX_BINDING_BATCH}")
        dims = self.describe()["dimensions"]
        batch = parse_items(list(enumerate((_plain(v) for v in vectors), start=1)), dims)
        return self._service.write(self._account, self._index, batch, upsert=upsert)

    def insert(self, vectors: list[dict]) -> dict:
        return self._write(vectors, upsert=False)

    def upsert(self, vectors: list[dict]) -> dict:
        return self._write(vectors, upsert=True)

    def query(self, vector: Any, options: dict | None = None) -> dict:
        if isinstance(vector, (np.ndarray, tuple)):
            vector = np.asarray(vector).tolist()
        return self._service.query(self._account, self._index, vector=vector, options=_options(options))

    def queryById(self, vector_id: str, options: dict | None = None) -> dict:  # noqa: N802 (Workers name)
        return self._service.query(self._account, self._index, vector_id=vector_id, options=_options(options))

    def getByIds(self, ids: list[str]) -> list[dict]:  # noqa: N802
        return self._service.get_by_ids(self._account, self._index, ids)

    def deleteByIds(self, ids: list[str]) -> dict:  # noqa: N802
        return self._service.delete_by_ids(self._account, self._index, ids)

    query_by_id = queryById
    get_by_ids = getByIds
    delete_by_ids = deleteByIds
