"""S3 multipart uploads: CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload,
ListParts, ListMultipartUploads."""

from __future__ import annotations

from kumo.r2 import errors
from kumo.r2.digests import ALGORITHMS
from kumo.r2.s3 import xml
from kumo.r2.s3.auth import Authorized
from kumo.r2.s3.body import incoming, small_verified_body
from kumo.r2.s3.objects import checksum_headers, meta_from_headers, refuse_unsupported
from kumo.r2.s3.request import S3Request, respond, respond_xml

MAX_PARTS_LISTED = 1000


def _checksum_elements(checksums: dict[str, str]) -> str:
    return "".join(xml.element(f"Checksum{a.upper()}", v) for a, v in checksums.items())


async def create_upload(req: S3Request, auth: Authorized) -> None:
    refuse_unsupported(req)
    algorithm = req.header("x-amz-checksum-algorithm")
    if algorithm is not None:
        algorithm = algorithm.lower()
        if algorithm not in ALGORITHMS:
            raise errors.InvalidArgument(f"Checksum algorithm {algorithm.upper()} is not supported.",
                                         ArgumentName="x-amz-checksum-algorithm")
    upload = await req.service.create_multipart_upload(req.account, req.bucket, req.key, meta_from_headers(req),
                                                       algorithm)
    headers = {"x-amz-checksum-algorithm": algorithm.upper()} if algorithm else {}
    await respond_xml(req, "InitiateMultipartUploadResult", xml.element("Bucket", req.bucket) +
                      xml.element("Key", req.key) + xml.element("UploadId", upload.upload_id), headers=headers)


def _part_number(req: S3Request) -> int:
    value = req.q.get("partNumber", "")
    if not (value.isascii() and value.isdigit() and len(value) <= 19):
        raise errors.InvalidArgument("Part number must be an integer between 1 and 10000, inclusive.",
                                     ArgumentName="partNumber", ArgumentValue=value)
    return int(value)


async def upload_part(req: S3Request, auth: Authorized) -> None:
    if req.header("x-amz-copy-source") is not None:
        raise errors.NotImplementedYet("UploadPartCopy is not supported by R2 on kumo; upload the part's bytes.",
                                       Header="x-amz-copy-source")
    number = _part_number(req)
    digests, body = incoming(req, auth)
    part = await req.service.upload_part(req.account, req.bucket, req.key, req.q["uploadId"], number, body,
                                         digests)
    await respond(req, 200, headers={"etag": f'"{part.etag}"', **checksum_headers(part.checksums)})


async def complete_upload(req: S3Request, auth: Authorized) -> None:
    document = xml.parse(await small_verified_body(req, auth), "CompleteMultipartUpload")
    chosen = []
    for node in document.findall("Part"):
        number, etag = xml.child_text(node, "PartNumber"), xml.child_text(node, "ETag")
        digits = (number or "").strip()
        if number is None or etag is None or not (digits.isascii() and digits.isdigit() and len(digits) <= 5):
            raise errors.MalformedXML("Each <Part> needs a <PartNumber> and an <ETag>.")
        chosen.append((int(number), etag.strip()))
    info = await req.service.complete_multipart_upload(req.account, req.bucket, req.key, req.q["uploadId"], chosen)
    location = f"/{req.bucket}/{req.key}"
    await respond_xml(req, "CompleteMultipartUploadResult", xml.element("Location", location) +
                      xml.element("Bucket", req.bucket) + xml.element("Key", req.key) +
                      xml.element("ETag", info.http_etag))


async def abort_upload(req: S3Request, auth: Authorized) -> None:
    await req.service.abort_multipart_upload(req.account, req.bucket, req.key, req.q["uploadId"])
    await respond(req, 204)


def _int(req: S3Request, name: str, default: int) -> int:
    value = req.q.get(name, str(default))
    if not (value.isascii() and value.isdigit() and len(value) <= 19):
        raise errors.InvalidArgument(f"{name} must be a non-negative integer.", ArgumentName=name)
    return int(value)


async def list_parts(req: S3Request, auth: Authorized) -> None:
    upload, parts = await req.service.list_parts(req.account, req.bucket, req.key, req.q["uploadId"])
    marker = _int(req, "part-number-marker", 0)
    limit = min(_int(req, "max-parts", MAX_PARTS_LISTED), MAX_PARTS_LISTED)
    after = [p for p in parts if p.number > marker]
    shown, truncated = after[:limit], len(after) > limit
    body = (xml.element("Bucket", req.bucket) + xml.element("Key", req.key) + xml.element("UploadId", upload.upload_id)
            + xml.element("PartNumberMarker", marker)
            + xml.element("NextPartNumberMarker", shown[-1].number if shown else marker)
            + xml.element("MaxParts", limit) + xml.element("IsTruncated", "true" if truncated else "false")
            + xml.element("StorageClass", "STANDARD")
            + (xml.element("ChecksumAlgorithm", upload.checksum_algorithm.upper()) if upload.checksum_algorithm
               else "")
            + "".join(f"<Part><PartNumber>{p.number}</PartNumber><LastModified>{p.uploaded}</LastModified>"
                      f"<ETag>\"{p.etag}\"</ETag><Size>{p.size}</Size>{_checksum_elements(p.checksums)}</Part>"
                      for p in shown))
    await respond_xml(req, "ListPartsResult", body)


async def list_uploads(req: S3Request, auth: Authorized) -> None:
    prefix = req.q.get("prefix", "")
    if req.q.get("delimiter"):
        raise errors.NotImplementedYet("delimiter is not supported when listing multipart uploads.",
                                       ArgumentName="delimiter")
    key_marker = req.q.get("key-marker", "")
    limit = _int(req, "max-uploads", MAX_PARTS_LISTED)
    uploads, truncated = await req.service.list_multipart_uploads(req.account, req.bucket, prefix, key_marker, limit)
    body = (xml.element("Bucket", req.bucket) + xml.element("KeyMarker", key_marker)
            + xml.element("UploadIdMarker", req.q.get("upload-id-marker", ""))
            + xml.element("NextKeyMarker", uploads[-1].key if uploads else "")
            + xml.element("NextUploadIdMarker", uploads[-1].upload_id if uploads else "")
            + xml.element("Prefix", prefix) + xml.element("MaxUploads", limit)
            + xml.element("IsTruncated", "true" if truncated else "false")
            + "".join(f"<Upload><Key>{xml.text(u.key)}</Key><UploadId>{u.upload_id}</UploadId>"
                      f"<Initiated>{u.initiated}</Initiated><StorageClass>STANDARD</StorageClass></Upload>"
                      for u in uploads))
    await respond_xml(req, "ListMultipartUploadsResult", body)
