"""`kumo vectorize ...`: manage indexes and vectors, with readable tables and a progress bar on inserts."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from kumo.cli.client import client_options, make_client
from kumo.cli.output import console, print_json, print_table

BATCH = 1000


@click.group()
def vectorize() -> None:
    """Manage Vectorize indexes and their vectors."""


@vectorize.command("create")
@click.argument("name")
@click.option("--dimensions", type=int, help="Vector size (1-1536).")
@click.option("--metric", type=click.Choice(["cosine", "euclidean", "dot-product"]), help="Distance metric.")
@click.option("--preset", help="An embedding model preset, e.g. @cf/baai/bge-small-en-v1.5.")
@click.option("--description", default=None)
@client_options
def create(name, dimensions, metric, preset, description, **kw):
    """Create an index."""
    config = {"preset": preset} if preset else {"dimensions": dimensions, "metric": metric}
    body = {"name": name, "config": config}
    if description:
        body["description"] = description
    with make_client(kw) as api:
        index = api.request("POST", "/vectorize/v2/indexes", json=body)
    console.print(f"Created index [bold]{index['name']}[/] ({index['config']['dimensions']} dims, "
                  f"{index['config']['metric']}).")


@vectorize.command("list")
@client_options
def list_(**kw):
    """List indexes."""
    with make_client(kw) as api:
        indexes = api.request("GET", "/vectorize/v2/indexes")
    print_table(["name", "dimensions", "metric", "created", "description"],
                ([ix["name"], ix["config"]["dimensions"], ix["config"]["metric"], ix["created_on"], ix.get("description")]
                 for ix in indexes))


@vectorize.command("get")
@click.argument("name")
@client_options
def get(name, **kw):
    """Show an index's configuration."""
    with make_client(kw) as api:
        print_json(api.request("GET", f"/vectorize/v2/indexes/{name}"))


@vectorize.command("info")
@click.argument("name")
@client_options
def info(name, **kw):
    """Show vector count and last mutation."""
    with make_client(kw) as api:
        result = api.request("GET", f"/vectorize/v2/indexes/{name}/info")
    print_table(["field", "value"], ((key, str(value)) for key, value in result.items()))


@vectorize.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@client_options
def delete(name, yes, **kw):
    """Delete an index and all its vectors."""
    if not yes:
        click.confirm(f"Delete index {name} and all its vectors?", abort=True)
    with make_client(kw) as api:
        api.request("DELETE", f"/vectorize/v2/indexes/{name}")
    console.print(f"Deleted index [bold]{name}[/].")


def _send_file(name: str, path: Path, upsert: bool, kw: dict) -> None:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    api = make_client(kw)
    op = "upsert" if upsert else "insert"
    mutation = None
    try:
        with Progress(TextColumn(f"{op} {path.name}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console, disable=len(lines) <= BATCH) as progress:
            task = progress.add_task(op, total=len(lines))
            for start in range(0, len(lines), BATCH):
                chunk = lines[start : start + BATCH]
                result = api.request(
                    "POST", f"/vectorize/v2/indexes/{name}/{op}", content="\n".join(chunk).encode(),
                    headers={"content-type": "application/x-ndjson"},
                )
                mutation = result["mutationId"]
                progress.advance(task, len(chunk))
    finally:
        api.close()
    console.print(f"{op}: {len(lines)} vectors sent to [bold]{name}[/] (last mutation {mutation}).")


@vectorize.command("insert")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@client_options
def insert(name, file, **kw):
    """Insert vectors from an NDJSON file (existing ids are kept)."""
    _send_file(name, file, False, kw)


@vectorize.command("upsert")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@client_options
def upsert(name, file, **kw):
    """Upsert vectors from an NDJSON file (existing ids are replaced)."""
    _send_file(name, file, True, kw)


@vectorize.command("query")
@click.argument("name")
@click.option("--vector", help="Query vector as a JSON array.")
@click.option("--vector-id", help="Query with the values of a stored vector.")
@click.option("--top-k", type=int, default=5, show_default=True)
@click.option("--namespace")
@click.option("--filter", "filter_", help='Metadata filter as JSON, e.g. \'{"genre": "drama"}\'.')
@click.option("--return-metadata", type=click.Choice(["none", "indexed", "all"]), default="none", show_default=True)
@click.option("--return-values", is_flag=True)
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON result.")
@client_options
def query(name, vector, vector_id, top_k, namespace, filter_, return_metadata, return_values, as_json, **kw):
    """Find the nearest vectors."""
    if bool(vector) == bool(vector_id):
        raise click.UsageError("give exactly one of --vector or --vector-id")
    body: dict = {"topK": top_k, "returnMetadata": return_metadata, "returnValues": return_values}
    try:
        if vector:
            body["vector"] = json.loads(vector)
        if filter_:
            body["filter"] = json.loads(filter_)
    except json.JSONDecodeError as exc:
        raise click.UsageError(f"not valid JSON: {exc}") from None
    if vector_id:
        body["vectorId"] = vector_id
    if namespace:
        body["namespace"] = namespace
    with make_client(kw) as api:
        result = api.request("POST", f"/vectorize/v2/indexes/{name}/query", json=body)
    if as_json:
        print_json(result)
        return
    print_table(["id", "score", "namespace", "metadata"],
                ([m["id"], f"{m['score']:.6f}", m.get("namespace"), json.dumps(m["metadata"]) if "metadata" in m else ""]
                 for m in result["matches"]))


@vectorize.command("get-vectors")
@click.argument("name")
@click.argument("ids", nargs=-1, required=True)
@client_options
def get_vectors(name, ids, **kw):
    """Print stored vectors by id."""
    with make_client(kw) as api:
        print_json(api.request("POST", f"/vectorize/v2/indexes/{name}/get_by_ids", json={"ids": list(ids)}))


@vectorize.command("delete-vectors")
@click.argument("name")
@click.argument("ids", nargs=-1, required=True)
@client_options
def delete_vectors(name, ids, **kw):
    """Delete vectors by id."""
    with make_client(kw) as api:
        result = api.request("POST", f"/vectorize/v2/indexes/{name}/delete_by_ids", json={"ids": list(ids)})
    console.print(f"Deleted {len(ids)} id(s) (mutation {result['mutationId']}).")


@vectorize.command("list-vectors")
@click.argument("name")
@click.option("--count", type=int, default=100, show_default=True)
@click.option("--cursor", default=None)
@client_options
def list_vectors(name, count, cursor, **kw):
    """List vector ids, a page at a time."""
    params = {"count": count}
    if cursor:
        params["cursor"] = cursor
    with make_client(kw) as api:
        result = api.request("GET", f"/vectorize/v2/indexes/{name}/list", params=params)
    for v in result["vectors"]:
        click.echo(v["id"])
    console.print(f"[dim]{result['count']} of {result['totalCount']}"
                  + (f"; next page: --cursor {result['nextCursor']}" if result["isTruncated"] else "") + "[/]")


@vectorize.group("metadata-index")
def metadata_index() -> None:
    """Manage metadata indexes (what filters can use)."""


@metadata_index.command("create")
@click.argument("name")
@click.option("--property", "property_name", required=True)
@click.option("--type", "index_type", type=click.Choice(["string", "number", "boolean"]), required=True)
@client_options
def mi_create(name, property_name, index_type, **kw):
    """Index a metadata property so queries can filter on it."""
    with make_client(kw) as api:
        api.request("POST", f"/vectorize/v2/indexes/{name}/metadata_index/create",
                    json={"propertyName": property_name, "indexType": index_type})
    console.print(f"Metadata index on [bold]{property_name}[/] ({index_type}) created. Vectors written before "
                  "now are not indexed until they are upserted again.")


@metadata_index.command("list")
@click.argument("name")
@client_options
def mi_list(name, **kw):
    """List an index's metadata indexes."""
    with make_client(kw) as api:
        result = api.request("GET", f"/vectorize/v2/indexes/{name}/metadata_index/list")
    print_table(["property", "type"], ([m["propertyName"], m["indexType"]] for m in result["metadataIndexes"]))


@metadata_index.command("delete")
@click.argument("name")
@click.option("--property", "property_name", required=True)
@client_options
def mi_delete(name, property_name, **kw):
    """Delete a metadata index."""
    with make_client(kw) as api:
        api.request("POST", f"/vectorize/v2/indexes/{name}/metadata_index/delete",
                    json={"propertyName": property_name})
    console.print(f"Metadata index on [bold]{property_name}[/] deleted.")
