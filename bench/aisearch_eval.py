"""AI Search retrieval quality and ingest speed, measured.

Corpus: the 79 topics of Python's own documentation that ship with every Python (`pydoc_data.topics`, the
text `help("with")` shows), one item each (~465k characters). Questions: 50 written for this benchmark, in
words of our own (not copied from the topics), each with the topic(s) that answer it; `compound` and `types`
(long topics that contain many statements and types) also count where they hold the answer.

Runs kumo's AI Search service in process (real embedding model: the bundled MiniLM stand-in for
@cf/baai/bge-small-en-v1.5; Vectorize and the SQLite FTS5 keyword index as `kumo serve` uses them) and prints,
per retrieval type, recall@5 (a chunk of an answer topic among the first 5) and MRR@10 (1/rank of the first
chunk of an answer topic), and ingest throughput in chunks/s.

    .venv/bin/python bench/aisearch_eval.py [--chunk-size 256] [--json out.json] [--database-url postgresql://...]

With `--database-url` (an empty database of your own: the run leaves its rows there) the store is PostgreSQL:
Vectorize on pgvector, the keyword index a `tsvector` column ranked by ts_rank_cd.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

QUESTIONS: list[tuple[str, list[str]]] = [
    ("How do I run cleanup code whether or not an exception happened?", ["try", "compound"]),
    ("What methods does an object need so it can be used in a with block?", ["context-managers", "with", "compound"]),
    ("How can a function hand back values one at a time lazily instead of building a list?", ["yield"]),
    ("How do I write a small anonymous function inline?", ["lambda"]),
    ("How can an inner function rebind a variable of the function around it?", ["nonlocal"]),
    ("How do I change a module level variable from inside a function?", ["global"]),
    ("Which values count as false when tested in an if condition?", ["truth"]),
    ("How do I format a number with a thousands separator and two decimals?", ["formatstrings"]),
    ("How do I look up a dictionary key and get a fallback when it is missing?", ["typesmapping"]),
    ("How do I strip whitespace from both ends of a string?", ["string-methods"]),
    ("What is the statement that does nothing, used as a placeholder?", ["pass"]),
    ("How do I import something from a module under another name?", ["import"]),
    ("How are keyword arguments matched to parameters in a call?", ["calls"]),
    ("How do I define a class that derives from a base class?", ["class", "compound"]),
    ("How do I remove a name binding or delete an item from a list?", ["del"]),
    ("How do I raise a new exception while keeping the original cause attached?", ["raise"]),
    ("What is the difference between identity and equality comparisons?", ["comparisons"]),
    ("What does the power operator return for a negative exponent?", ["power"]),
    ("What do the left and right shift operators compute?", ["shifting"]),
    ("How do I take every second element between two indexes of a sequence?", ["slicings"]),
    ("How is a complex number literal with an imaginary part written?", ["imaginary", "numbers"]),
    ("What does a floating point literal with an exponent look like?", ["floating", "numbers"]),
    ("How do asynchronous for loops and asynchronous context managers work?", ["async", "compound"]),
    ("What does awaiting an awaitable object do in a coroutine?", ["await"]),
    ("Which method is called when normal attribute lookup fails?", ["attribute-access"]),
    ("Which special method must an object define to be hashable and usable as a dict key?", ["customization"]),
    ("Which methods should a class implement to behave like a container with len and indexing?",
     ["sequence-types"]),
    ("What happens to assert statements when Python runs with optimization?", ["assert"]),
    ("Does x += y modify a mutable object in place?", ["augassign"]),
    ("Which operators bind more tightly than others?", ["operator-summary"]),
    ("How do I inspect a program after it crashed with the debugger?", ["debugger"]),
    ("How does Python decide which scope a name belongs to?", ["naming", "execmodel", "dynamic-features"]),
    ("Which operations change a list in place, such as adding several items at the end?", ["typesseq-mutable"]),
    ("How do I test whether a value is contained in a collection?", ["in"]),
    ("What is the built-in constant written as three dots?", ["bltin-ellipsis-object"]),
    ("What does a function return when it has no return statement?", ["bltin-null-object", "return"]),
    ("How do I skip the rest of the current loop iteration?", ["continue"]),
    ("How do I leave a loop early?", ["break"]),
    ("How do I unpack a tuple into several variables in one assignment?", ["assignment"]),
    ("How are hexadecimal, octal and binary integer literals written?", ["integers"]),
    ("What does an r prefix change in a string literal?", ["strings"]),
    ("Which words are reserved keywords and cannot be used as identifiers?", ["identifiers"]),
    ("What sign does the result of the modulo operator take with negative operands?", ["binary"]),
    ("How do I invert the bits of an integer?", ["unary"]),
    ("What attributes does a module object have, such as its dictionary?", ["typesmodules"]),
    ("What is a bound method and how does it pass the instance?", ["typesmethods"]),
    ("How does the for statement iterate and what does its else clause do?", ["for", "compound"]),
    ("How does a while loop repeat as long as a condition holds?", ["while", "compound"]),
    ("How do the and and or operators short-circuit?", ["booleans"]),
    ("How do I build a dictionary with a comprehension?", ["dict"]),
]

RUNS = [  # (label, retrieval options)
    ("vector", {"retrieval_type": "vector"}),
    ("keyword (or)", {"retrieval_type": "keyword", "keyword_match_mode": "or"}),
    ("keyword (and)", {"retrieval_type": "keyword", "keyword_match_mode": "and"}),
    ("hybrid rrf (or)", {"retrieval_type": "hybrid", "keyword_match_mode": "or", "fusion_method": "rrf"}),
    ("hybrid max (or)", {"retrieval_type": "hybrid", "keyword_match_mode": "or", "fusion_method": "max"}),
]


async def run(chunk_size: int, database_url: str | None = None) -> dict:
    from kumo.config import Settings
    from kumo.platform import Platform

    with tempfile.TemporaryDirectory(prefix="kumo-aisearch-eval-") as tmp:
        return await _measure(Platform(Settings(data_dir=Path(tmp), database_url=database_url)), chunk_size)


async def _measure(platform, chunk_size: int) -> dict:
    import pydoc_data.topics

    platform.start()
    await platform.start_async()
    service = platform.aisearch
    account = "eval"
    try:
        await service.create_instance(account, "default", {"id": "pydocs", "chunk_size": chunk_size})
        record = service.instance(account, "default", "pydocs")
        topics = pydoc_data.topics.topics
        await service.ai.run(record.config["embedding_model"], {"text": ["warm up"]})  # load time is not ingest
        started = time.perf_counter()
        chunks = 0
        for name, text in sorted(topics.items()):
            item = await service.items.upload(record, f"{name}.txt", text.encode(), None, wait=True)
            assert item["status"] == "completed", item
            chunks += item["chunks_count"]
        ingest_s = time.perf_counter() - started

        results = {}
        for label, retrieval in RUNS:
            recall, reciprocal, search_s = 0, 0.0, 0.0
            for question, answers in QUESTIONS:
                wanted = {f"{a}.txt" for a in answers}
                t0 = time.perf_counter()
                found = await service.search(account, "default", "pydocs", {
                    "query": question,
                    "ai_search_options": {"retrieval": {**retrieval, "max_num_results": 10, "match_threshold": 0}}})
                search_s += time.perf_counter() - t0
                ranked = [c["item"]["key"] for c in found["chunks"]]
                first = next((i for i, key in enumerate(ranked, start=1) if key in wanted), None)
                recall += first is not None and first <= 5
                reciprocal += 1 / first if first else 0.0
            n = len(QUESTIONS)
            results[label] = {"recall@5": recall / n, "mrr@10": reciprocal / n, "ms_per_query": 1000 * search_s / n}
        return {"documents": len(topics), "characters": sum(len(t) for t in topics.values()), "chunks": chunks,
                "chunk_size": chunk_size, "ingest_seconds": ingest_s, "chunks_per_second": chunks / ingest_s,
                "questions": len(QUESTIONS), "results": results, "cpus": os.cpu_count()}
    finally:
        await platform.stop_async()
        platform.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk-size", type=int, default=256)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    parser.add_argument("--database-url", default=None, help="an empty PostgreSQL database (default: SQLite)")
    args = parser.parse_args()
    out = asyncio.run(run(args.chunk_size, args.database_url))
    print(f"corpus: {out['documents']} Python doc topics, {out['characters']:,} characters -> {out['chunks']} chunks "
          f"(chunk_size {out['chunk_size']}); {out['questions']} questions")
    print(f"ingest: {out['ingest_seconds']:.1f} s, {out['chunks_per_second']:.0f} chunks/s "
          f"(convert + chunk + embed + Vectorize + keyword index, {out['cpus']} CPUs)")
    print(f"{'retrieval':<18}{'recall@5':>10}{'MRR@10':>9}{'ms/query':>10}")
    for label, r in out["results"].items():
        print(f"{label:<18}{r['recall@5']:>10.3f}{r['mrr@10']:>9.3f}{r['ms_per_query']:>10.1f}")
    best_single = max(out["results"]["vector"]["recall@5"],
                      *(r["recall@5"] for label, r in out["results"].items() if label.startswith("keyword")))
    hybrid = out["results"]["hybrid rrf (or)"]["recall@5"]
    verdict = "beats" if hybrid > best_single else "does NOT beat"
    print(f"hybrid (rrf) recall@5 {hybrid:.3f} {verdict} the better single method ({best_single:.3f})")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    sys.exit(0)


if __name__ == "__main__":
    main()
