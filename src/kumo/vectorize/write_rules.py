"""The rules a write follows, with Cloudflare's limits. Engines apply them under their own lock (a
process lock embedded, the index's row lock on PostgreSQL), so both answer the same and a rule is never
checked against state that another writer is changing."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kumo.vectorize.errors import INVALID_QUERY, TOO_MANY_METADATA_INDEXES, invalid

MAX_VECTORS_PER_INDEX = 20_000_000
MAX_NAMESPACES_PER_INDEX = 50_000
MAX_METADATA_INDEXES = 10


def rows_to_write(ids: list[str], *, upsert: bool, stored: Callable[[str], bool]) -> list[int]:
    """Positions of the batch rows to write: upsert keeps the last of duplicate ids; insert keeps the
    first, and none whose id is already `stored` (insert never replaces)."""
    if upsert:
        return sorted({vid: i for i, vid in enumerate(ids)}.values())
    seen: set[str] = set()
    keep = []
    for i, vid in enumerate(ids):
        if vid not in seen and not stored(vid):
            seen.add(vid)
            keep.append(i)
    return keep


def check_vector_count(count: int, new_ids: int) -> None:
    if count + new_ids > MAX_VECTORS_PER_INDEX:
        raise invalid("invalid_vector", f"an index holds at most {MAX_VECTORS_PER_INDEX} vectors", INVALID_QUERY)


def check_namespace_count(count: int, fresh: int) -> None:
    if count + fresh > MAX_NAMESPACES_PER_INDEX:
        raise invalid(
            "invalid_vector", f"an index holds at most {MAX_NAMESPACES_PER_INDEX} namespaces", INVALID_QUERY
        )


def metadata_index_is_new(existing: dict[str, str], property_name: str, index_type: str) -> bool:
    """Whether creating this metadata index changes anything (the same index again is a no-op, as on
    Cloudflare); raises if it may not be created."""
    current = existing.get(property_name)
    if current == index_type:
        return False
    if current is not None:
        raise invalid(
            "invalid_metadata_index",
            f"property {property_name!r} already has a {current} index; delete it first",
            INVALID_QUERY,
        )
    if len(existing) >= MAX_METADATA_INDEXES:
        raise invalid(
            "metadata_index.limit",
            f"an index may have at most {MAX_METADATA_INDEXES} metadata indexes",
            TOO_MANY_METADATA_INDEXES,
        )
    return True


def fresh_namespaces(namespaces: Iterable[str | None], known: Callable[[str], bool]) -> set[str]:
    return {ns for ns in namespaces if ns is not None and not known(ns)}
