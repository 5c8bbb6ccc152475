"""S3 object operations: PutObject, GetObject, HeadObject, DeleteObject, CopyObject."""

from __future__ import annotations

from urllib.parse import unquote

from kumo.r2 import errors
from kumo.r2.credentials import check_scope
from kumo.r2.s3 import xml
from kumo.r2.s3.auth import Authorized
from kumo.r2.s3.body import incoming
from kumo.r2.s3.request import S3Request, http_date, respond, respond_xml, stream
from kumo.r2.preconditions import Conditions, parse_range
from kumo.r2.store import HttpMetadata, ObjectInfo, ObjectMeta

# headers that ask for features R2 (or kumo's R2) does not have: refused by name, never ignored
UNSUPPORTED_HEADERS = {
    "x-amz-tagging": "object tagging",
    "x-amz-server-side-encryption": "server-side encryption settings",
    "x-amz-server-side-encryption-customer-algorithm": "SSE-C",
    "x-amz-object-lock-mode": "object lock",
    "x-amz-object-lock-retain-until-date": "object lock",
    "x-amz-object-lock-legal-hold": "object lock",
    "x-amz-website-redirect-location": "website redirects",
    "x-amz-grant-full-control": "ACL grants",
    "x-amz-grant-read": "ACL grants",
    "x-amz-grant-read-acp": "ACL grants",
    "x-amz-grant-write-acp": "ACL grants",
}
ACLS_ACCEPTED = ("private",)  # R2 has no per-object ACLs; "private" is what every object is anyway
STORAGE_CLASSES = {"STANDARD": "Standard", "Standard": "Standard", "InfrequentAccess": "InfrequentAccess",
                   "STANDARD_IA": "InfrequentAccess"}
RESPONSE_OVERRIDES = {
    "response-content-type": "content-type",
    "response-content-language": "content-language",
    "response-expires": "expires",
    "response-cache-control": "cache-control",
    "response-content-disposition": "content-disposition",
    "response-content-encoding": "content-encoding",
}


def refuse_unsupported(req: S3Request) -> None:
    for name, feature in UNSUPPORTED_HEADERS.items():
        if req.header(name) is not None:
            raise errors.NotImplementedYet(f"{name}: {feature} is not supported by R2 on kumo.", Header=name)
    acl = req.header("x-amz-acl")
    if acl is not None and acl not in ACLS_ACCEPTED:
        raise errors.NotImplementedYet(f"x-amz-acl {acl!r}: R2 has no object ACLs (only 'private').",
                                       Header="x-amz-acl")


def meta_from_headers(req: S3Request) -> ObjectMeta:
    encoding = ",".join(e.strip() for e in (req.header("content-encoding") or "").split(",")
                        if e.strip() and e.strip() != "aws-chunked") or None
    http = HttpMetadata(
        content_type=req.header("content-type"),
        content_language=req.header("content-language"),
        content_disposition=req.header("content-disposition"),
        content_encoding=encoding,
        cache_control=req.header("cache-control"),
        expires=req.header("expires"),
    )
    custom = {name[len("x-amz-meta-"):]: value for name, value in req.headers.items()
              if name.startswith("x-amz-meta-")}
    size = sum(len(k) + len(v) for k, v in custom.items())
    if size > 2048:
        raise errors.MetadataTooLarge("Your metadata headers exceed the maximum allowed metadata size (2 KiB).")
    storage = req.header("x-amz-storage-class") or "Standard"
    if storage not in STORAGE_CLASSES:
        raise errors.InvalidStorageClass(f"The storage class {storage!r} is not Standard or InfrequentAccess.")
    return ObjectMeta(http=http, custom=custom, storage_class=STORAGE_CLASSES[storage])


def checksum_headers(checksums: dict[str, str]) -> dict[str, str]:
    return {f"x-amz-checksum-{algorithm}": value for algorithm, value in checksums.items()}


def object_headers(info: ObjectInfo, req: S3Request) -> dict[str, str | None]:
    """The object's headers; a field it has no value for is None (left out of the answer)."""
    http = info.meta.http
    headers: dict[str, str | None] = {
        "etag": info.http_etag,
        "last-modified": http_date(info.uploaded),
        "accept-ranges": "bytes",
        "content-type": http.content_type or "application/octet-stream",
        "content-language": http.content_language,
        "content-disposition": http.content_disposition,
        "content-encoding": http.content_encoding,
        "cache-control": http.cache_control,
        "expires": http.expires,
    }
    if info.meta.storage_class != "Standard":
        headers["x-amz-storage-class"] = "STANDARD_IA" if info.meta.storage_class == "InfrequentAccess" \
            else info.meta.storage_class
    for name, value in info.meta.custom.items():
        headers[f"x-amz-meta-{name}"] = value
    if "-" in info.etag:
        headers["x-amz-mp-parts-count"] = info.etag.rsplit("-", 1)[1]
    for query, header in RESPONSE_OVERRIDES.items():
        if query in req.q:
            headers[header] = req.q[query]
    return headers


def _conditions(req: S3Request) -> Conditions | None:
    if not any(req.header(h) for h in ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since")):
        return None
    return Conditions.from_headers(req.header)


async def put_object(req: S3Request, auth: Authorized) -> None:
    if req.header("x-amz-copy-source") is not None:
        await copy_object(req, auth)
        return
    refuse_unsupported(req)
    meta = meta_from_headers(req)
    digests, body = incoming(req, auth)
    conditions = _conditions(req)
    info = await req.service.put_object(req.account, req.bucket, req.key, body, meta, digests, conditions)
    await respond(req, 200, headers={"etag": info.http_etag, **checksum_headers(info.checksums)})


def _refuse_get_extras(req: S3Request) -> None:
    if "partNumber" in req.q:
        raise errors.NotImplementedYet("partNumber: reading one part of a multipart object is not supported; "
                                       "use a Range.", ArgumentName="partNumber")
    if "versionId" in req.q and req.q["versionId"] != "null":
        raise errors.InvalidArgument("R2 does not keep object versions.", ArgumentName="versionId")


async def get_object(req: S3Request, auth: Authorized) -> None:
    _refuse_get_extras(req)
    result = await req.service.get_object(req.account, req.bucket, req.key, req.header("range"), _conditions(req))
    info = result.info
    headers = object_headers(info, req)
    if result.range is not None:
        status = 206
        headers["content-range"] = result.range.content_range
        headers["content-length"] = str(result.range.end - result.range.start)
    else:
        status = 200
        headers["content-length"] = str(info.size)
        if (req.header("x-amz-checksum-mode") or "").upper() == "ENABLED":
            headers.update(checksum_headers(info.checksums))
    await stream(req, status, headers, result.reader.chunks())


async def head_object(req: S3Request, auth: Authorized) -> None:
    _refuse_get_extras(req)
    info = await req.service.head_object(req.account, req.bucket, req.key, _conditions(req))
    headers = object_headers(info, req)
    wanted = parse_range(req.header("range"), info.size)
    status = 200
    if wanted is not None:
        status = 206
        headers["content-range"] = wanted.content_range
        headers["content-length"] = str(wanted.end - wanted.start)
    else:
        headers["content-length"] = str(info.size)
        if (req.header("x-amz-checksum-mode") or "").upper() == "ENABLED":
            headers.update(checksum_headers(info.checksums))
    await respond(req, status, b"", headers, content_type=None)


async def delete_object(req: S3Request, auth: Authorized) -> None:
    await req.service.delete_object(req.account, req.bucket, req.key)
    await respond(req, 204)


def parse_copy_source(value: str) -> tuple[str, str]:
    source, _, query = value.partition("?")
    if query and not query.startswith("versionId=null"):
        raise errors.InvalidArgument("R2 does not keep object versions.", ArgumentName="x-amz-copy-source")
    try:
        source = unquote(source, errors="strict")
    except UnicodeDecodeError:
        raise errors.InvalidArgument("x-amz-copy-source is not valid UTF-8.") from None
    bucket, _, key = source.lstrip("/").partition("/")
    if not bucket or not key:
        raise errors.InvalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey.",
                                     ArgumentName="x-amz-copy-source")
    return bucket, key


async def copy_object(req: S3Request, auth: Authorized) -> None:
    refuse_unsupported(req)
    if req.header("x-amz-copy-source-range") is not None:
        raise errors.InvalidArgument("x-amz-copy-source-range applies to UploadPartCopy only.")
    source_bucket, source_key = parse_copy_source(req.header("x-amz-copy-source") or "")
    check_scope(auth.grant, "GET", source_bucket)
    directive = (req.header("x-amz-metadata-directive") or "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise errors.InvalidArgument("x-amz-metadata-directive must be COPY or REPLACE.")
    meta = meta_from_headers(req) if directive == "REPLACE" else None
    if directive == "COPY" and source_bucket == req.bucket and source_key == req.key:
        raise errors.InvalidRequest("This copy request is illegal because it is trying to copy an object to itself "
                                    "without changing the object's metadata.")
    conditions = Conditions.from_headers(req.header, prefix="x-amz-copy-source-")
    info = await req.service.copy_object(req.account, source_bucket, source_key, req.bucket, req.key, meta,
                                         conditions)
    await respond_xml(req, "CopyObjectResult", xml.element("LastModified", info.uploaded) +
                      xml.element("ETag", info.http_etag))
