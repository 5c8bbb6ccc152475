"""How each kind of model scores a slice of a dataset: a custom model's version over numeric feature columns,
a catalog embeddings model over a text column, a catalog text generation model over a prompt column. Each
checks the input's columns when the job is submitted (`check`), so a job never fails on them half way."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pyarrow as pa

from kumo.errors import InvalidRequest
from kumo.api.threads import blocking


def _bad(message: str) -> InvalidRequest:
    return InvalidRequest(message, code=10042)


def _column(schema: pa.Schema, name: str, role: str) -> pa.Field:
    if name not in schema.names:
        raise _bad(f"the input has no column {name!r} ({role}); its columns are {', '.join(schema.names)}")
    return schema.field(name)


def _no_nulls(table: pa.Table, name: str) -> None:
    nulls = table.column(name).null_count
    if nulls:
        raise _bad(f"column {name!r} has {nulls} empty value(s); every row needs one to be scored")


class CustomScorer:
    """A custom model's version: `columns` are the input columns fed as its features, in its order."""

    def __init__(self, model: Any, columns: list[str]):
        self.model = model
        self.columns = columns
        classes = model.signature.get("classes")
        self.prediction_columns = ["prediction"] + [f"probability_{c}" for c in classes or []]

    @staticmethod
    def choose_columns(model: Any, requested: list[str] | None) -> list[str]:
        names, width = model.signature.get("features"), model.signature.get("n_features")
        if requested is None:
            if names is None:
                raise _bad(f"this model does not name its features: send \"columns\", the {width or 'feature'} "
                           "input columns in the model's feature order")
            return list(names)
        if width is not None and len(requested) != width:
            expected = f" ({', '.join(names)})" if names else ""
            raise _bad(f"{len(requested)} columns given, the model takes {width} features{expected}")
        return requested

    def check(self, table: pa.Table) -> None:
        for name in self.columns:
            field = _column(table.schema, name, "a feature of the model")
            if not (pa.types.is_integer(field.type) or pa.types.is_floating(field.type)
                    or pa.types.is_boolean(field.type)):
                raise _bad(f"column {name!r} holds {field.type}, the model takes numbers")
            _no_nulls(table, name)

    async def score(self, table: pa.Table) -> dict[str, pa.Array]:
        rows = np.column_stack([table.column(c).to_numpy(zero_copy_only=False).astype(np.float64)
                                for c in self.columns])
        predictions, probabilities = await blocking(self.model.predict_arrays, rows)
        out = {"prediction": pa.array(predictions)}
        if probabilities is not None:
            for i, name in enumerate(self.prediction_columns[1:]):
                out[name] = pa.array(probabilities[:, i])
        return out


class _CatalogScorer:
    """A catalog model over one text column: `field` is the model input the column's values go to."""
    field = ""
    output = ""

    def __init__(self, ai, model: str, column: str, parameters: dict[str, Any]):
        self.ai = ai
        self.model = model
        self.columns = [column]
        self.parameters = parameters
        self.prediction_columns = [self.output]

    def check(self, table: pa.Table) -> None:
        name = self.columns[0]
        field = _column(table.schema, name, f"the {self.field} of each row")
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            raise _bad(f"column {name!r} holds {field.type}, {self.model} takes text")
        _no_nulls(table, name)
        import pyarrow.compute as pc

        empty = pc.sum(pc.equal(pc.utf8_length(table.column(name)), 0)).as_py() or 0
        if empty:
            raise _bad(f"column {name!r} has {empty} empty text(s); every row needs text to be scored")

    def texts(self, table: pa.Table) -> list[str]:
        return table.column(self.columns[0]).to_pylist()


class EmbeddingScorer(_CatalogScorer):
    field, output = "text", "embedding"
    per_call = 100  # the task's limit on texts per call

    async def score(self, table: pa.Table) -> dict[str, pa.Array]:
        texts, vectors = self.texts(table), []
        for start in range(0, len(texts), self.per_call):
            result = await self.ai.run(self.model, {"text": texts[start:start + self.per_call], **self.parameters})
            vectors.extend(result.output.result["data"])
        return {"embedding": pa.array(vectors, pa.list_(pa.float32()))}


class TextScorer(_CatalogScorer):
    field, output = "prompt", "response"
    in_flight = 8  # prompts of one chunk generating at once (they share the runtime's micro-batches)

    async def score(self, table: pa.Table) -> dict[str, pa.Array]:
        limit = asyncio.Semaphore(self.in_flight)

        async def one(prompt: str) -> str:
            async with limit:
                result = await self.ai.run(self.model, {"prompt": prompt, **self.parameters})
            return result.output.result.get("response", "")

        return {"response": pa.array(await asyncio.gather(*(one(p) for p in self.texts(table))), pa.string())}


# catalog task slug -> scorer: one line to score with another kind of catalog model
CATALOG_SCORERS: dict[str, type[_CatalogScorer]] = {"text-embeddings": EmbeddingScorer,
                                                    "text-generation": TextScorer}
