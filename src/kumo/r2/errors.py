"""R2's errors: each has S3's code and status (the S3 wire renders them as S3's XML) and, for the bucket
REST API, Cloudflare's numeric code (the envelope). The service raises them without knowing the wire."""

from __future__ import annotations

from kumo.errors import KumoError


class R2Error(KumoError):
    status = 400
    code = 10001  # Cloudflare's envelope code (bucket REST API)
    s3_code = "InvalidRequest"

    def __init__(self, message: str, **extra: str):
        super().__init__(message)
        self.extra = extra  # extra XML elements (BucketName, Key, ...)


def _error(name: str, status: int, s3_code: str, code: int = 10001) -> type[R2Error]:
    return type(name, (R2Error,), {"status": status, "s3_code": s3_code, "code": code})


InvalidArgument = _error("InvalidArgument", 400, "InvalidArgument")
InvalidRequest = _error("InvalidRequest", 400, "InvalidRequest")
InvalidBucketName = _error("InvalidBucketName", 400, "InvalidBucketName", 10005)
KeyTooLong = _error("KeyTooLong", 400, "KeyTooLongError")
MalformedXML = _error("MalformedXML", 400, "MalformedXML")
BadDigest = _error("BadDigest", 400, "BadDigest")
InvalidDigest = _error("InvalidDigest", 400, "InvalidDigest")
ContentSha256Mismatch = _error("ContentSha256Mismatch", 400, "XAmzContentSHA256Mismatch")
IncompleteBody = _error("IncompleteBody", 400, "IncompleteBody")
EntityTooSmall = _error("EntityTooSmall", 400, "EntityTooSmall")
EntityTooLarge = _error("EntityTooLarge", 400, "EntityTooLarge")
InvalidPart = _error("InvalidPart", 400, "InvalidPart")
InvalidPartOrder = _error("InvalidPartOrder", 400, "InvalidPartOrder")
InvalidAccessKeyId = _error("InvalidAccessKeyId", 403, "InvalidAccessKeyId", 10000)
SignatureDoesNotMatch = _error("SignatureDoesNotMatch", 403, "SignatureDoesNotMatch", 10000)
AccessDenied = _error("AccessDenied", 403, "AccessDenied", 10000)
RequestTimeTooSkewed = _error("RequestTimeTooSkewed", 403, "RequestTimeTooSkewed", 10000)
NoSuchBucket = _error("NoSuchBucket", 404, "NoSuchBucket", 10006)
NoSuchKey = _error("NoSuchKey", 404, "NoSuchKey", 10007)
NoSuchUpload = _error("NoSuchUpload", 404, "NoSuchUpload", 10024)
MethodNotAllowed = _error("MethodNotAllowed", 405, "MethodNotAllowed", 10001)
BucketAlreadyOwnedByYou = _error("BucketAlreadyOwnedByYou", 409, "BucketAlreadyOwnedByYou", 10004)
BucketNotEmpty = _error("BucketNotEmpty", 409, "BucketNotEmpty", 10008)
MissingContentLength = _error("MissingContentLength", 411, "MissingContentLength")
PreconditionFailed = _error("PreconditionFailed", 412, "PreconditionFailed", 10031)
InvalidRange = _error("InvalidRange", 416, "InvalidRange")
NotImplementedYet = _error("NotImplementedYet", 501, "NotImplemented")
StorageUnavailable = _error("StorageUnavailable", 503, "ServiceUnavailable", 10043)  # the engine is unreachable


class NotModified(R2Error):
    """Not an error to the client: a conditional GET whose copy is current (304, no body)."""

    status = 304
    s3_code = "NotModified"
AuthorizationMalformed = _error("AuthorizationMalformed", 400, "AuthorizationHeaderMalformed", 10000)
AuthorizationQueryParametersError = _error("AuthorizationQueryParametersError", 400,
                                           "AuthorizationQueryParametersError", 10000)
MetadataTooLarge = _error("MetadataTooLarge", 400, "MetadataTooLarge")
InvalidStorageClass = _error("InvalidStorageClass", 400, "InvalidStorageClass")
InternalError = _error("InternalError", 500, "InternalError", 10002)
InvalidURI = _error("InvalidURI", 400, "InvalidURI")
