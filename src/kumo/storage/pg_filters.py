"""Vectorize's metadata filter as a PostgreSQL condition, with the embedded engine's semantics
(`kumo.vectorize.filters`): only properties with a metadata index filter; a vector is filterable on a
property when it was written after the index was created (`seq > created_seq`) and the value has the
index's type; strings compare by their first 64 bytes in byte order; `$ne`/`$nin` also match vectors
without the property and `{"$eq": null}` matches exactly those.

Values are written as literals, not parameters, so the planner matches the partial expression indexes
made by `PgVectorStore` (their expression is `metadata_expression`, the same text).
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from kumo.vectorize.filters import Condition, MetadataFilter
from kumo.vectorize.metadata import truncate_utf8
from kumo.vectorize.store import MetadataIndexRecord

_SQL_TYPES = {"string": "text", "number": "float8", "boolean": "boolean"}
_COMPARE = {"$lt": "<", "$lte": "<=", "$gt": ">", "$gte": ">="}
TRUE, FALSE = sql.SQL("TRUE"), sql.SQL("FALSE")


def metadata_expression(path: str, kind: str, *, collate: bool = True) -> sql.Composable:
    """A metadata index's view of property `path`: its value if of type `kind`, else NULL."""
    expr = sql.SQL("kumo_vectorize_{kind}(metadata, {path}::text[])").format(
        kind=sql.SQL(kind), path=sql.Literal(path.split("."))
    )
    return sql.SQL('{} COLLATE "C"').format(expr) if collate and kind == "string" else expr


def _coerce(kind: str, value: Any) -> Any:
    """The filter value as the index stores it, or None if it can never match (filters._coerce)."""
    if kind == "string":
        return truncate_utf8(value) if isinstance(value, str) else None
    if kind == "number":
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    return value if isinstance(value, bool) else None


def filter_sql(flt: MetadataFilter, indexes: dict[str, MetadataIndexRecord]) -> sql.Composable:
    return sql.SQL("({})").format(
        sql.SQL(" AND ").join(_condition(c, indexes.get(c.key)) for c in flt.conditions)
    )


def _condition(cond: Condition, index: MetadataIndexRecord | None) -> sql.Composable:
    op, value = cond.op, cond.value
    negated = op in ("$ne", "$nin")
    if index is None:  # no metadata index: as if no vector had the property
        if value is None:
            return TRUE if op == "$eq" else FALSE
        return TRUE if negated else FALSE
    kind = index.index_type
    expr = metadata_expression(cond.key, kind)
    written_after = sql.SQL("seq > {}").format(sql.Literal(index.created_seq))
    if value is None:  # {"$eq": null}: lacks it; {"$ne": null}: has it
        present = sql.SQL("({} AND {} IS NOT NULL)").format(written_after, expr)
        return sql.SQL("NOT {}").format(present) if op == "$eq" else present
    if op in ("$eq", "$ne"):
        target = _coerce(kind, value)
        if target is None:
            return TRUE if negated else FALSE
        hit = sql.SQL("{} = {}").format(expr, sql.Literal(target))
    elif op in ("$in", "$nin"):
        targets = [t for t in (_coerce(kind, v) for v in value) if t is not None]
        if not targets:
            return TRUE if negated else FALSE
        hit = sql.SQL("{} = ANY({}::{}[])").format(expr, sql.Literal(targets), sql.SQL(_SQL_TYPES[kind]))
    else:
        target = _coerce(kind, value)
        if kind == "boolean" or target is None:
            return FALSE
        hit = sql.SQL("{} {} {}").format(expr, sql.SQL(_COMPARE[op]), sql.Literal(target))
    matched = sql.SQL("({} AND {})").format(written_after, hit)
    return sql.SQL("({} IS NOT TRUE)").format(matched) if negated else matched
