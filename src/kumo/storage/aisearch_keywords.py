"""AI Search's keyword index, the one part of its storage that differs between SQLite and PostgreSQL.

SQLite: an FTS5 table beside the chunks (rowid = the chunk's pk, porter stemming), ranked by BM25.
PostgreSQL: a `tsvector` column of the chunk (the 'english' configuration: Snowball stemming, English stop
words) with a GIN index, ranked by `ts_rank(..., 1)`: term frequency over 1 + log(chunk length). Both match
the same words in `and` and `or` mode; the ranking differs: BM25 weighs rare words up, ts_rank has no such
statistics (on bench/aisearch_eval.py, keyword `or` recall@5 0.76 against BM25's 0.82; ts_rank_cd and
unnormalised ts_rank measured lower). Scores only order the hits: retrieval divides them by the best one.

Instances may ask for the `trigram` tokenizer instead (substring matching: "config" finds "configuration").
SQLite: a second FTS5 table with FTS5's trigram tokenizer, ranked by BM25. PostgreSQL: pg_trgm's GIN index
over the text of trigram instances' chunks answers case-insensitive substring matches (ILIKE), ranked by how
often the words occur over 1 + log of the chunk's length. Words shorter than 3 characters match nothing, as
with FTS5's trigram tokenizer.
"""

from __future__ import annotations

import re
from typing import Any

_WORD_SPLIT = re.compile(r"[^\w]+", re.UNICODE)


def words(terms: list[str]) -> list[str]:
    """The query's words, punctuation dropped (so nothing in them is read as query syntax), once each."""
    return list(dict.fromkeys(w for term in terms for w in _WORD_SPLIT.split(term) if w))


def trigram_words(terms: list[str]) -> list[str]:
    return [w.lower() for w in words(terms) if len(w) >= 3]


_FTS_TABLES = {"porter": "aisearch_fts", "trigram": "aisearch_fts_trigram"}


class Fts5Keywords:
    def index_item(self, conn: Any, item_pk: int, tokenizer: str = "porter") -> None:
        conn.execute(f"INSERT INTO {_FTS_TABLES[tokenizer]} (rowid, text) SELECT pk, text FROM aisearch_chunks"
                     " WHERE item_pk = ?", (item_pk,))

    def unindex(self, conn: Any, column: str, value: int) -> None:
        """Drop the keyword rows of the chunks whose `column` (item_pk or instance_pk) is `value`."""
        for table in _FTS_TABLES.values():
            conn.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT pk FROM aisearch_chunks WHERE {column} = ?)",
                         (value,))

    def search(self, terms: list[str], mode: str, tokenizer: str = "porter") -> tuple[str, list[Any]] | None:
        """(SELECT of chunk_id, score over chunks `c` with a trailing `WHERE ...`, its arguments)."""
        found = trigram_words(terms) if tokenizer == "trigram" else words(terms)
        quoted = ['"' + w.replace('"', "") + '"' for w in found]  # quoted: AND/NEAR are plain words
        if not quoted:
            return None
        expression = (" AND " if mode == "and" else " OR ").join(quoted)
        table = _FTS_TABLES[tokenizer]
        return (f"SELECT c.chunk_id, -bm25({table}) AS score FROM {table}"
                f" JOIN aisearch_chunks c ON c.pk = {table}.rowid WHERE {table} MATCH ?", [expression])


def _like(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class TsvectorKeywords:
    def index_item(self, conn: Any, item_pk: int, tokenizer: str = "porter") -> None:
        if tokenizer == "trigram":
            conn.execute("UPDATE aisearch_chunks SET trigram = true WHERE item_pk = ?", (item_pk,))
            return
        conn.execute("UPDATE aisearch_chunks SET keywords = to_tsvector('english', text) WHERE item_pk = ?",
                     (item_pk,))

    def unindex(self, conn: Any, column: str, value: int) -> None:
        pass  # the column leaves with its row

    def search(self, terms: list[str], mode: str, tokenizer: str = "porter") -> tuple[str, list[Any]] | None:
        if tokenizer == "trigram":
            return self._substrings(trigram_words(terms), mode)
        found = words(terms)
        if not found:
            return None
        # one plainto_tsquery per word (it reads no operators), joined by && or ||: the FTS5 expression's twin
        query = (" && " if mode == "and" else " || ").join("plainto_tsquery('english', ?)" for _ in found)
        return (f"SELECT c.chunk_id, ts_rank(c.keywords, k.q, 1) AS score FROM aisearch_chunks c,"
                f" (SELECT {query} AS q) AS k WHERE c.keywords @@ k.q", found)

    def _substrings(self, found: list[str], mode: str) -> tuple[str, list[Any]] | None:
        if not found:
            return None
        where = (" AND " if mode == "and" else " OR ").join("c.text ILIKE ? ESCAPE '\\'" for _ in found)
        # occurrences of each word, over 1 + log of the chunk's length (ts_rank's normalisation 1)
        count = " + ".join("(length(c.text) - length(replace(lower(c.text), ?::text, '')))"
                           " / length(?::text)" for _ in found)
        args: list[Any] = [a for w in found for a in (w, w)] + [_like(w) for w in found]
        return (f"SELECT c.chunk_id, ({count})::float / (1 + ln(1 + length(c.text))) AS score"
                f" FROM aisearch_chunks c WHERE c.trigram AND ({where})", args)
