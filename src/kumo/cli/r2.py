"""`kumo r2 ...`: buckets (through the REST API) and objects (through the S3 wire, signed with SigV4 from the
API token, as any S3 client would), with progress bars on large transfers."""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote, urlsplit

import click
import httpx
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from kumo.cli.client import client_options, make_client
from kumo.cli.output import console, print_table
from kumo.r2.credentials import s3_credentials
from kumo.r2.s3 import sigv4

BLOCK = 1024 * 1024
SINGLE_PUT_LIMIT = 5 * 1024 ** 3  # R2's largest single PUT; bigger files go up in parts
PART_SIZE = 256 * 1024 * 1024
PROGRESS_FROM = 8 * 1024 * 1024  # smaller transfers need no bar


def _split(target: str) -> tuple[str, str]:
    bucket, _, key = target.partition("/")
    if not bucket:
        raise click.BadParameter(f"{target!r}: expected BUCKET/KEY")
    return bucket, key


class S3Session:
    """Signed S3 requests over the CLI's HTTP client (a server, or the in-process app with --local)."""

    def __init__(self, http, account: str, token: str | None):
        self.http = http
        self.account = account
        self.key_id, self.secret = s3_credentials(token or "local")

    def send(self, method: str, bucket: str, key: str = "", query: list[tuple[str, str]] | None = None,
             headers: dict[str, str] | None = None, content=None, stream: bool = False):
        query = query or []
        path = "/r2/" + quote(self.account, safe="") + ("/" + quote(bucket, safe="") if bucket else "") + \
            ("/" + quote(key, safe="/~") if key else "")
        host = urlsplit(str(self.http.base_url)).netloc
        signed = sigv4.sign_headers(method, path, query, {"host": host, **(headers or {})}, self.key_id,
                                    self.secret)
        qs = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in query)
        request = self.http.build_request(method, path + (f"?{qs}" if qs else ""), headers=signed, content=content)
        try:
            response = self.http.send(request, stream=stream)
        except httpx.ConnectError:
            raise click.ClickException(f"cannot reach kumo at {self.http.base_url}: start it with `kumo serve`") \
                from None
        if response.status_code >= 300:
            if stream:
                response.read()
            raise click.ClickException(_s3_error(response))
        return response


def _s3_error(response) -> str:
    try:
        root = ET.fromstring(response.content)
        return f"[{root.findtext('Code')}] {root.findtext('Message')}"
    except ET.ParseError:
        return f"HTTP {response.status_code}"


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    console=console, transient=True)


def _file_chunks(path: Path, start: int, size: int, advance):
    with open(path, "rb") as f:
        f.seek(start)
        left = size
        while left:
            block = f.read(min(BLOCK, left))
            if not block:
                break
            left -= len(block)
            advance(len(block))
            yield block


@click.group()
def r2() -> None:
    """R2 object storage: buckets and objects."""


@r2.group()
def bucket() -> None:
    """Create, list and delete buckets."""


@bucket.command("create")
@click.argument("name")
@click.option("--location", type=click.Choice(["apac", "eeur", "enam", "weur", "wnam", "oc"]), default=None)
@click.option("--storage-class", type=click.Choice(["Standard", "InfrequentAccess"]), default=None)
@client_options
def bucket_create(name, location, storage_class, **kw):
    """Create a bucket."""
    body = {"name": name, **({"locationHint": location} if location else {}),
            **({"storageClass": storage_class} if storage_class else {})}
    with make_client(kw) as api:
        created = api.request("POST", "/r2/buckets", json=body)
    console.print(f"Created bucket [bold]{created['name']}[/].")


@bucket.command("list")
@client_options
def bucket_list(**kw):
    """List buckets."""
    with make_client(kw) as api:
        result = api.request("GET", "/r2/buckets", params={"per_page": 1000})
    print_table(["name", "created", "location", "storage class"],
                ([b["name"], b["creation_date"], b.get("location", "auto"), b["storage_class"]] for b in result["buckets"]))


@bucket.command("delete")
@click.argument("name")
@client_options
def bucket_delete(name, **kw):
    """Delete an empty bucket."""
    with make_client(kw) as api:
        api.request("DELETE", f"/r2/buckets/{quote(name, safe='')}")
    console.print(f"Deleted bucket [bold]{name}[/].")


def _session(kw) -> tuple:
    token = kw.get("token")
    api = make_client(kw)
    return api, S3Session(api.http, api.account, token)


@r2.command("put")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("target")
@click.option("--content-type", default=None, help="Content-Type to keep with the object.")
@client_options
def put(file: Path, target: str, content_type, **kw):
    """Upload FILE to BUCKET/KEY (KEY defaults to the file's name)."""
    bucket_name, key = _split(target)
    key = key or file.name
    size = file.stat().st_size
    headers = {"content-type": content_type} if content_type else {}
    api, s3 = _session(kw)
    with api, _progress() as progress:
        task = progress.add_task(key, total=size, visible=size >= PROGRESS_FROM)
        advance = lambda n: progress.advance(task, n)  # noqa: E731
        if size <= SINGLE_PUT_LIMIT:
            response = s3.send("PUT", bucket_name, key, headers={**headers, "content-length": str(size)},
                               content=_file_chunks(file, 0, size, advance))
            etag = response.headers.get("etag")
        else:
            etag = _put_in_parts(s3, bucket_name, key, file, size, headers, advance)
    console.print(f"Uploaded [bold]{bucket_name}/{key}[/] ({size} bytes, ETag {etag}).")


def _put_in_parts(s3: S3Session, bucket_name: str, key: str, file: Path, size: int, headers: dict, advance) -> str:
    created = s3.send("POST", bucket_name, key, [("uploads", "")], headers)
    upload_id = ET.fromstring(created.content).findtext("{*}UploadId")
    if upload_id is None:
        raise click.ClickException(f"the server started no multipart upload: {created.text[:200]}")
    parts = []
    try:
        for number, start in enumerate(range(0, size, PART_SIZE), start=1):
            length = min(PART_SIZE, size - start)
            response = s3.send("PUT", bucket_name, key, [("partNumber", str(number)), ("uploadId", upload_id)],
                               {"content-length": str(length)}, _file_chunks(file, start, length, advance))
            parts.append(f"<Part><PartNumber>{number}</PartNumber><ETag>{response.headers['etag']}</ETag></Part>")
        document = f"<CompleteMultipartUpload>{''.join(parts)}</CompleteMultipartUpload>".encode()
        done = s3.send("POST", bucket_name, key, [("uploadId", upload_id)], content=document)
    except BaseException:
        s3.send("DELETE", bucket_name, key, [("uploadId", upload_id)])
        raise
    return ET.fromstring(done.content).findtext("{*}ETag") or ""


@r2.command("get")
@click.argument("source")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@client_options
def get(source: str, file: Path | None, **kw):
    """Download BUCKET/KEY to FILE (default: the key's last part, in this directory; '-' for stdout)."""
    bucket_name, key = _split(source)
    if not key:
        raise click.BadParameter("expected BUCKET/KEY")
    api, s3 = _session(kw)
    with api:
        response = s3.send("GET", bucket_name, key, stream=True)
        try:
            size = int(response.headers.get("content-length", "0"))
            if file is not None and str(file) == "-":
                stdout = sys.stdout.buffer
                for chunk in response.iter_bytes(BLOCK):
                    stdout.write(chunk)
                stdout.flush()
                return
            target = file or Path(key.rsplit("/", 1)[-1])
            partial = target.with_name(target.name + ".part")
            with _progress() as progress, open(partial, "wb") as out:
                task = progress.add_task(key, total=size, visible=size >= PROGRESS_FROM)
                for chunk in response.iter_bytes(BLOCK):
                    out.write(chunk)
                    progress.advance(task, len(chunk))
            os.replace(partial, target)  # a download cut short never looks finished
        finally:
            response.close()
    console.print(f"Downloaded [bold]{bucket_name}/{key}[/] to {target} ({size} bytes).")


@r2.command("ls")
@click.argument("target")
@click.option("--recursive", "-r", is_flag=True, help="List every key under the prefix, not one level.")
@client_options
def ls(target: str, recursive: bool, **kw):
    """List objects in BUCKET[/PREFIX]."""
    bucket_name, prefix = _split(target)
    api, s3 = _session(kw)
    rows = []
    with api:
        token = None
        while True:
            query = [("list-type", "2"), ("prefix", prefix)] + ([] if recursive else [("delimiter", "/")])
            if token:
                query.append(("continuation-token", token))
            root = ET.fromstring(s3.send("GET", bucket_name, query=query).content)
            for p in root.iterfind("{*}CommonPrefixes"):
                rows.append([p.findtext("{*}Prefix"), "", "", ""])
            for c in root.iterfind("{*}Contents"):
                rows.append([c.findtext("{*}Key"), c.findtext("{*}Size"), c.findtext("{*}LastModified"),
                             (c.findtext("{*}ETag") or "").strip('"')])
            token = root.findtext("{*}NextContinuationToken")
            if root.findtext("{*}IsTruncated") != "true" or not token:
                break
    print_table(["key", "size", "uploaded", "etag"], rows)


@r2.command("rm")
@click.argument("target")
@client_options
def rm(target: str, **kw):
    """Delete BUCKET/KEY."""
    bucket_name, key = _split(target)
    if not key:
        raise click.BadParameter("expected BUCKET/KEY (delete buckets with `kumo r2 bucket delete`)")
    api, s3 = _session(kw)
    with api:
        s3.send("DELETE", bucket_name, key)
    console.print(f"Deleted [bold]{bucket_name}/{key}[/].")


@r2.command("credentials")
@click.option("--token", envvar=["KUMO_API_TOKEN", "CLOUDFLARE_API_TOKEN"], required=True,
              help="The API token whose S3 credentials to show.")
def credentials(token: str):
    """Print the S3 Access Key ID and Secret Access Key of an API token (R2's rule)."""
    key_id, secret = s3_credentials(token)
    click.echo(f"aws_access_key_id = {key_id}\naws_secret_access_key = {secret}")
