"""S3 bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation,
ListObjects (V1 and V2) and DeleteObjects."""

from __future__ import annotations

from kumo.r2 import errors
from kumo.r2.credentials import visible_buckets
from kumo.r2.s3 import xml
from kumo.r2.s3.auth import Authorized
from kumo.r2.s3.body import small_verified_body
from kumo.r2.s3.request import S3Request, respond, respond_xml
from kumo.r2.service import MAX_LIST_KEYS, decode_token, encode_token
from kumo.r2.store import ObjectInfo


def _owner(account: str) -> str:
    return f"<Owner><ID>{xml.text(account)}</ID><DisplayName>{xml.text(account)}</DisplayName></Owner>"


async def list_buckets(req: S3Request, auth: Authorized) -> None:
    buckets = visible_buckets(auth.grant, await req.service.list_buckets(req.account))
    body = "".join(f"<Bucket><Name>{xml.text(b.name)}</Name><CreationDate>{b.created}</CreationDate></Bucket>"
                   for b in buckets)
    await respond_xml(req, "ListAllMyBucketsResult", f"{_owner(req.account)}<Buckets>{body}</Buckets>")


async def create_bucket(req: S3Request, auth: Authorized) -> None:
    body = await small_verified_body(req, auth)
    location = None
    if body.strip():
        config = xml.parse(body, "CreateBucketConfiguration")
        location = xml.child_text(config, "LocationConstraint")
        for unsupported in ("Location", "Bucket"):
            if config.find(unsupported) is not None:
                raise errors.NotImplementedYet(f"CreateBucketConfiguration/{unsupported} is not supported.")
    if req.header("x-amz-bucket-object-lock-enabled", ) in ("true", "True"):
        raise errors.NotImplementedYet("x-amz-bucket-object-lock-enabled: object lock is not supported.")
    if location and location.lower() in ("auto", "us-east-1"):
        location = None
    bucket = await req.service.create_bucket(req.account, req.bucket, location)
    await respond(req, 200, headers={"location": f"/{bucket.name}"})


async def head_bucket(req: S3Request, auth: Authorized) -> None:
    await req.service.bucket(req.account, req.bucket)
    await respond(req, 200, headers={"x-amz-bucket-region": "auto"})


async def delete_bucket(req: S3Request, auth: Authorized) -> None:
    await req.service.delete_bucket(req.account, req.bucket)
    await respond(req, 204)


async def get_location(req: S3Request, auth: Authorized) -> None:
    bucket = await req.service.bucket(req.account, req.bucket)
    await respond(req, 200, f'{xml.HEADER}<LocationConstraint xmlns="{xml.NS}">{xml.text(bucket.location)}'
                  f'</LocationConstraint>'.encode())


def _max_keys(req: S3Request, name: str = "max-keys") -> int:
    value = req.q.get(name, str(MAX_LIST_KEYS))
    if not (value.isascii() and value.isdigit() and len(value) <= 19):
        raise errors.InvalidArgument(f"{name} must be a non-negative integer.", ArgumentName=name,
                                     ArgumentValue=value)
    return min(int(value), MAX_LIST_KEYS)


def _contents(objects: list[ObjectInfo], url: bool, owner: str | None) -> str:
    return "".join(
        f"<Contents><Key>{xml.text(xml.key_text(o.key, url))}</Key><LastModified>{o.uploaded}</LastModified>"
        f"<ETag>{xml.text(o.http_etag)}</ETag><Size>{o.size}</Size>"
        f"<StorageClass>{'STANDARD_IA' if o.meta.storage_class == 'InfrequentAccess' else 'STANDARD'}</StorageClass>"
        f"{owner or ''}</Contents>" for o in objects)


def _prefixes(prefixes: list[str], url: bool) -> str:
    return "".join(f"<CommonPrefixes><Prefix>{xml.text(xml.key_text(p, url))}</Prefix></CommonPrefixes>"
                   for p in prefixes)


async def list_objects(req: S3Request, auth: Authorized) -> None:
    q = req.q
    v2 = q.get("list-type") == "2"
    if "list-type" in q and not v2:
        raise errors.InvalidArgument("list-type must be 2.", ArgumentName="list-type")
    encoding = q.get("encoding-type")
    if encoding not in (None, "url"):
        raise errors.InvalidArgument("Invalid Encoding Method specified in Request", ArgumentName="encoding-type")
    url = encoding == "url"
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    max_keys = _max_keys(req)
    if v2:
        token = q.get("continuation-token")
        after = decode_token(token) if token is not None else q.get("start-after", "").encode()
    else:
        marker = q.get("marker", "")
        after = marker.encode()
        if delimiter and marker.endswith(delimiter):
            after += b"\xff"  # a marker that is a common prefix: resume past everything rolled up in it
    listing = await req.service.list_objects(req.account, req.bucket, prefix, delimiter, after, max_keys)
    count = len(listing.objects) + len(listing.prefixes)
    enc = (lambda v: xml.key_text(v, url))
    head = (xml.element("Name", req.bucket) + f"<Prefix>{xml.text(enc(prefix))}</Prefix>"
            + (xml.element("Delimiter", enc(delimiter)) if delimiter else "")
            + xml.element("MaxKeys", max_keys) + (xml.element("EncodingType", encoding) if url else "")
            + xml.element("IsTruncated", "true" if listing.truncated else "false"))
    owner = _owner(req.account)
    if v2:
        head += xml.element("KeyCount", count)
        if "continuation-token" in q:
            head += xml.element("ContinuationToken", q["continuation-token"])
        if "start-after" in q:
            head += xml.element("StartAfter", enc(q["start-after"]))
        if listing.truncated and listing.next_after is not None:
            head += xml.element("NextContinuationToken", encode_token(listing.next_after))
        show_owner = q.get("fetch-owner") == "true"
    else:
        head += f"<Marker>{xml.text(enc(q.get('marker', '')))}</Marker>"
        if listing.truncated and delimiter and listing.last is not None:
            head += xml.element("NextMarker", enc(listing.last))
        show_owner = True
    body = head + _contents(listing.objects, url, owner if show_owner else None) + _prefixes(listing.prefixes, url)
    await respond_xml(req, "ListBucketResult", body)


async def delete_objects(req: S3Request, auth: Authorized) -> None:
    document = xml.parse(await small_verified_body(req, auth), "Delete")
    quiet = (xml.child_text(document, "Quiet") or "").strip().lower() == "true"
    keys = []
    for node in document.findall("Object"):
        key = xml.child_text(node, "Key")
        if key is None:
            raise errors.MalformedXML("Each <Object> needs a <Key>.")
        if node.find("VersionId") is not None and (xml.child_text(node, "VersionId") or "null") != "null":
            raise errors.InvalidArgument("R2 does not keep object versions.", ArgumentName="VersionId")
        keys.append(key)
    if not keys:
        raise errors.MalformedXML("A DeleteObjects request needs at least one <Object>.")
    results = await req.service.delete_objects(req.account, req.bucket, keys)
    parts = []
    for key, error in results:
        if error is None:
            if not quiet:
                parts.append(f"<Deleted><Key>{xml.text(key)}</Key></Deleted>")
        else:
            parts.append(f"<Error><Key>{xml.text(key)}</Key><Code>{error.s3_code}</Code>"
                         f"<Message>{xml.text(error.message)}</Message></Error>")
    await respond_xml(req, "DeleteResult", "".join(parts))
