"""`kumo aisearch ...`: AI Search instances from the command line: create one (optionally on a local folder),
ingest files with a progress bar, sync, search and ask questions, through the same HTTP API the SDK uses."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from kumo.cli.client import ApiClient, client_options, make_client
from kumo.cli.output import console, print_table, table
namespace_option = click.option("--namespace", default="default", show_default=True, help="AI Search namespace.")


def _base(namespace: str) -> str:
    return f"/ai-search/namespaces/{namespace}/instances"


def _json_option(value: str | None, what: str) -> dict | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"{what} must be JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise click.BadParameter(f"{what} must be a JSON object")
    return parsed


@click.group()
def aisearch() -> None:
    """AI Search (RAG): index documents, search them, answer questions with sources."""


@aisearch.command("create")
@click.argument("instance_id")
@click.option("--source", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A local folder on the server to index (kumo's addition); synced on `sync` and every "
                   "--sync-interval seconds.")
@click.option("--bucket", default=None, help="An R2 bucket of the account to index (Cloudflare's R2 source); synced "
                                             "like --source, by ETag.")
@click.option("--prefix", default=None, help="Only keys under this prefix (with --bucket or --source).")
@click.option("--embedding-model", default=None, help="[default: @cf/baai/bge-small-en-v1.5]")
@click.option("--model", "chat_model", default=None, help="LLM for answers [default: @cf/meta/llama-3.3-70b-instruct-fp8-fast].")
@click.option("--chunk-size", type=int, default=None, help="Tokens per chunk [default: 256].")
@click.option("--chunk-overlap", type=int, default=None, help="Overlap between chunks, percent 0-30 [default: 10].")
@click.option("--no-keyword", is_flag=True, help="Vector index only (no keyword/hybrid retrieval).")
@click.option("--sync-interval", type=int, default=None, help="Seconds between automatic syncs of --source.")
@click.option("--custom-metadata", multiple=True, metavar="NAME:TYPE",
              help="A filterable custom field (type text, number, boolean or datetime); repeatable.")
@namespace_option
@client_options
def create(instance_id, source, bucket, prefix, embedding_model, chat_model, chunk_size, chunk_overlap, no_keyword, sync_interval,
           custom_metadata, namespace, **kw):
    """Create an instance; with --source or --bucket, index it and show progress."""
    body: dict = {"id": instance_id}
    optional = {"embedding_model": embedding_model, "ai_search_model": chat_model, "chunk_size": chunk_size,
                "chunk_overlap": chunk_overlap, "sync_interval": sync_interval}
    body.update({k: v for k, v in optional.items() if v is not None})
    if source is not None and bucket is not None:
        raise click.UsageError("give --source (a folder) or --bucket (an R2 bucket), not both")
    if source is not None:
        body.update(source=str(source.resolve()), type="r2")
    if bucket is not None:
        body.update(source=bucket, type="r2")
    if prefix is not None:
        body["source_params"] = {"prefix": prefix}
    if no_keyword:
        body["index_method"] = {"vector": True, "keyword": False}
    if custom_metadata:
        fields = []
        for spec in custom_metadata:
            name, _, kind = spec.partition(":")
            fields.append({"field_name": name, "data_type": kind or "text"})
        body["custom_metadata"] = fields
    with make_client(kw) as api:
        instance = api.request("POST", _base(namespace), json=body)
        console.print(f"Created AI Search instance [bold]{escape(instance['id'])}[/] (embeddings "
                      f"{instance['embedding_model']}, answers {instance['ai_search_model']}).")
        if source is not None or bucket is not None:
            jobs = api.request("GET", f"{_base(namespace)}/{instance_id}/jobs", params={"per_page": 1})
            if jobs:
                _follow(api, namespace, instance_id, jobs[0]["id"])


def _follow(api: ApiClient, namespace: str, instance_id: str, job_id: str) -> None:
    """Show a running job's progress until it ends, then what it did."""
    path = f"{_base(namespace)}/{instance_id}/jobs/{job_id}"
    with Progress(TextColumn("syncing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console) as progress:
        task = progress.add_task("sync", total=None)
        while True:
            job = api.request("GET", path)
            if job.get("progress"):
                progress.update(task, completed=job["progress"]["done"], total=job["progress"]["total"] or None)
            if job.get("ended_at"):
                total = progress.tasks[0].total
                if total:
                    progress.update(task, completed=total)
                break
            time.sleep(0.3)
    logs = api.request("GET", path + "/logs", params={"per_page": 100})
    for entry in logs:
        style = {0: "", 1: "yellow", 2: "red"}.get(entry["message_type"], "")
        console.print(f"[{style}]{escape(entry['message'])}[/]" if style else escape(entry["message"]))
    console.print(f"Job {job_id} ended: [bold]{job['end_reason']}[/].")


@aisearch.command("list")
@namespace_option
@client_options
def list_(namespace, **kw):
    """List instances."""
    with make_client(kw) as api:
        instances = api.request("GET", _base(namespace), params={"per_page": 100})
    rows = []
    for i in instances:
        method = i["index_method"]
        kinds = "+".join(k for k in ("vector", "keyword") if method[k])
        rows.append([i["id"], i.get("source") or "(uploads)", i["embedding_model"], i["ai_search_model"], kinds,
                     i["created_at"]])
    print_table(["id", "source", "embedding model", "answers with", "index", "created"], rows)


@aisearch.command("delete")
@click.argument("instance_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@namespace_option
@client_options
def delete(instance_id, yes, namespace, **kw):
    """Delete an instance, its items and its indexes."""
    if not yes:
        click.confirm(f"Delete AI Search instance {instance_id} and everything it indexed?", abort=True)
    with make_client(kw) as api:
        api.request("DELETE", f"{_base(namespace)}/{instance_id}")
    console.print(f"Deleted AI Search instance [bold]{escape(instance_id)}[/].")


def _files(paths: tuple[Path, ...]) -> list[tuple[Path, str]]:
    """(file, key) for every file given or inside a folder given (keys relative to that folder)."""
    out = []
    for path in paths:
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                rel = file.relative_to(path)
                if not any(part.startswith(".") for part in rel.parts):
                    out.append((file, rel.as_posix()))
        else:
            out.append((path, path.name))
    return out


@aisearch.command("ingest")
@click.argument("instance_id")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--metadata", default=None, help='Custom metadata for every file, as JSON: \'{"category": "docs"}\'.')
@namespace_option
@client_options
def ingest(instance_id, paths, metadata, namespace, **kw):
    """Upload files (or every file in folders) and index them, with a progress bar."""
    custom = _json_option(metadata, "--metadata")
    files = _files(paths)
    indexed, chunks, failed = 0, 0, []
    started = time.perf_counter()
    with make_client(kw) as api, Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                          TimeRemainingColumn(), console=console) as progress:
        task = progress.add_task("ingesting", total=len(files))
        for file, key in files:
            progress.update(task, description=f"ingesting {key[:40]}")
            data = {"wait_for_completion": "true"}
            if custom:
                data["metadata"] = json.dumps(custom)
            try:
                item = api.request("POST", f"{_base(namespace)}/{instance_id}/items",
                                   files={"file": (key, file.read_bytes())}, data=data)
            except click.ClickException as exc:
                failed.append((key, exc.message))
            else:
                if item["status"] == "error":
                    failed.append((key, item.get("error") or "error"))
                else:
                    indexed += 1
                    chunks += item.get("chunks_count") or 0
            progress.advance(task)
    elapsed = time.perf_counter() - started
    console.print(f"Indexed {indexed} of {len(files)} files: {chunks} chunks in {elapsed:.1f} s "
                  f"({chunks / elapsed if elapsed else 0:.0f} chunks/s).")
    if failed:
        print_table(["file", "could not be indexed"], failed, title="Errors")
    if failed and not indexed:  # nothing got in: scripts must see the failure
        raise click.exceptions.Exit(1)


@aisearch.command("sync")
@click.argument("instance_id")
@namespace_option
@client_options
def sync(instance_id, namespace, **kw):
    """Sync the instance with its folder (only changed files are embedded again) and show progress."""
    with make_client(kw) as api:
        job = api.request("POST", f"{_base(namespace)}/{instance_id}/jobs", json={"description": "kumo aisearch sync"})
        _follow(api, namespace, instance_id, job["id"])


def _options(kind, max_results, threshold, filters, rerank) -> dict:
    retrieval: dict = {}
    if kind:
        retrieval["retrieval_type"] = kind
    if max_results:
        retrieval["max_num_results"] = max_results
    if threshold is not None:
        retrieval["match_threshold"] = threshold
    if filters:
        retrieval["filters"] = filters
    options: dict = {"retrieval": retrieval}
    if rerank:
        options["reranking"] = {"enabled": True}
    return options


retrieval_options = [
    click.option("--type", "kind", type=click.Choice(["vector", "keyword", "hybrid"]), default=None,
                 help="Retrieval type [default: the instance's]."),
    click.option("--max", "max_results", type=int, default=None, help="Chunks to retrieve (1-50)."),
    click.option("--threshold", type=float, default=None, help="Minimum score (0-1) [default: 0.4]."),
    click.option("--filter", "filters", default=None, help='Metadata filter as JSON: \'{"folder": "guides/"}\'.'),
    click.option("--rerank", is_flag=True, help="Rerank with the instance's reranker model."),
]


def with_retrieval_options(fn):
    for option in reversed(retrieval_options):
        fn = option(fn)
    return fn


@aisearch.command("search")
@click.argument("instance_id")
@click.argument("query")
@with_retrieval_options
@namespace_option
@client_options
def search(instance_id, query, kind, max_results, threshold, filters, rerank, namespace, **kw):
    """Search the instance's chunks."""
    options = _options(kind, max_results, threshold, _json_option(filters, "--filter"), rerank)
    with make_client(kw) as api:
        result = api.request("POST", f"{_base(namespace)}/{instance_id}/search",
                             json={"query": query, "ai_search_options": options})
    rows = []
    for n, chunk in enumerate(result["chunks"], start=1):
        text = " ".join(chunk["text"].split())
        rows.append([n, f"{chunk['score']:.3f}", chunk["item"]["key"], text[:300] + ("…" if len(text) > 300 else "")])
    found = table(["#", "score", "file", "text"], rows, title=f"Results for {result['search_query']!r}", show_lines=True)
    console.print(found if rows else "No chunk matched.")


@aisearch.command("ask")
@click.argument("instance_id")
@click.argument("question")
@click.option("--max-tokens", type=int, default=256, show_default=True, help="Length limit of the answer.")
@click.option("--no-stream", is_flag=True, help="Print the answer at once instead of as it is written.")
@with_retrieval_options
@namespace_option
@client_options
def ask(instance_id, question, max_tokens, no_stream, kind, max_results, threshold, filters, rerank, namespace, **kw):
    """Answer a question from the instance's documents, citing them."""
    body = {"messages": [{"role": "user", "content": question}], "max_tokens": max_tokens,
            "ai_search_options": _options(kind, max_results, threshold, _json_option(filters, "--filter"), rerank),
            "stream": not no_stream}
    with make_client(kw) as api:
        url = f"/client/v4/accounts/{api.account}{_base(namespace)}/{instance_id}/chat/completions"
        chunks = _ask_stream(api, url, body) if not no_stream else _ask_once(api, url, body)
    if chunks:
        console.print("\n[bold]Sources[/]")
        for n, chunk in enumerate(chunks, start=1):
            console.print(f"  [{n}] {escape(chunk['item']['key'])} (score {chunk['score']:.3f})")
    else:
        console.print("\n[yellow]No document matched the question; the answer is not grounded in any source.[/]")


def _fail(response) -> None:
    try:
        errors = response.json().get("errors") or []
        message = "; ".join(f"[{e.get('code')}] {e.get('message')}" for e in errors)
    except ValueError:
        message = response.text[:300]
    raise click.ClickException(message or f"HTTP {response.status_code}")


def _ask_once(api: ApiClient, url: str, body: dict) -> list:
    response = api.http.post(url, json=body)
    if response.status_code >= 400:
        _fail(response)
    answer = response.json()
    console.print(answer["choices"][0]["message"]["content"] or "")
    return answer.get("chunks") or []


def _ask_stream(api: ApiClient, url: str, body: dict) -> list:
    """Prints the answer as it streams: first `event: chunks` (the sources), then the completion chunks."""
    chunks: list = []
    name = None
    with api.http.stream("POST", url, json=body) as response:
        if response.status_code >= 400:
            response.read()
            _fail(response)
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:].strip()
                continue
            if not line.startswith("data: ") or line == "data: [DONE]":
                name = None if not line else name
                continue
            event = json.loads(line[6:])
            named, name = name, None
            if named == "chunks":
                chunks = event
                continue
            if "error" in event:
                raise click.ClickException(f"[{event.get('code')}] {event['error']}")
            for choice in event.get("choices") or []:
                text = (choice.get("delta") or {}).get("content")
                if text:
                    console.print(text, end="", markup=False, highlight=False)
    console.print()
    return chunks
