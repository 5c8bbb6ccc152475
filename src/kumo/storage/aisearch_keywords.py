"""AI Search's keyword index, the one part of its storage that differs between SQLite and PostgreSQL.

SQLite: an FTS5 table beside the chunks (rowid = the chunk's pk, porter stemming), ranked by BM25.
PostgreSQL: a `tsvector` column of the chunk (the 'english' configuration: Snowball stemming, English stop
words) with a GIN index, ranked by `ts_rank(..., 1)`: term frequency over 1 + log(chunk length). Both match
the same words in `and` and `or` mode; the ranking differs: BM25 weighs rare words up, ts_rank has no such
statistics (on bench/aisearch_eval.py, keyword `or` recall@5 0.76 against BM25's 0.82; ts_rank_cd and
unnormalised ts_rank measured lower). Scores only order the hits: retrieval divides them by the best one.
"""

from __future__ import annotations

import re
from typing import Any

_WORD_SPLIT = re.compile(r"[^\w]+", re.UNICODE)


def words(terms: list[str]) -> list[str]:
    """The query's words, punctuation dropped (so nothing in them is read as query syntax), once each."""
    return list(dict.fromkeys(w for term in terms for w in _WORD_SPLIT.split(term) if w))


class Fts5Keywords:
    def index_item(self, conn: Any, item_pk: int) -> None:
        conn.execute("INSERT INTO aisearch_fts (rowid, text) SELECT pk, text FROM aisearch_chunks WHERE item_pk = ?",
                     (item_pk,))

    def unindex(self, conn: Any, column: str, value: int) -> None:
        """Drop the keyword rows of the chunks whose `column` (item_pk or instance_pk) is `value`."""
        conn.execute(f"DELETE FROM aisearch_fts WHERE rowid IN (SELECT pk FROM aisearch_chunks WHERE {column} = ?)",
                     (value,))

    def search(self, terms: list[str], mode: str) -> tuple[str, list[Any]] | None:
        """(SELECT of chunk_id, score over chunks `c` with a trailing `WHERE ...`, its arguments)."""
        quoted = ['"' + w.replace('"', "") + '"' for w in words(terms)]  # quoted: AND/NEAR are plain words
        if not quoted:
            return None
        expression = (" AND " if mode == "and" else " OR ").join(quoted)
        return ("SELECT c.chunk_id, -bm25(aisearch_fts) AS score FROM aisearch_fts"
                " JOIN aisearch_chunks c ON c.pk = aisearch_fts.rowid WHERE aisearch_fts MATCH ?", [expression])


class TsvectorKeywords:
    def index_item(self, conn: Any, item_pk: int) -> None:
        conn.execute("UPDATE aisearch_chunks SET keywords = to_tsvector('english', text) WHERE item_pk = ?",
                     (item_pk,))

    def unindex(self, conn: Any, column: str, value: int) -> None:
        pass  # the column leaves with its row

    def search(self, terms: list[str], mode: str) -> tuple[str, list[Any]] | None:
        found = words(terms)
        if not found:
            return None
        # one plainto_tsquery per word (it reads no operators), joined by && or ||: the FTS5 expression's twin
        query = (" && " if mode == "and" else " || ").join("plainto_tsquery('english', ?)" for _ in found)
        return (f"SELECT c.chunk_id, ts_rank(c.keywords, k.q, 1) AS score FROM aisearch_chunks c,"
                f" (SELECT {query} AS q) AS k WHERE c.keywords @@ k.q", found)
