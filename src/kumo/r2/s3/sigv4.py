"""AWS Signature Version 4 as S3 checks it: the `Authorization` header form and the presigned-query form.

The server recomputes the signature from the request it received (method, path, query, the signed headers,
the payload hash the client declared) with the secret it knows for the Access Key ID, and compares in
constant time. The payload hash is checked later, against the body as it streams (r2/digests.py); aws-chunked
bodies carry a signature per chunk (r2/s3/chunked.py), chained from the request's seed signature.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, unquote

from kumo.r2 import errors
from kumo.timestamps import iso

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
_CREDENTIAL = re.compile(r"^([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class SignedRequest:
    """What a request claims: who signed it, what, and how its body is hashed."""

    access_key: str
    date: str  # yyyymmdd
    region: str
    service: str
    amz_date: str  # yyyymmddThhmmssZ
    signed_headers: tuple[str, ...]
    signature: str
    payload: str  # the declared payload hash: hex SHA-256, UNSIGNED-PAYLOAD or a STREAMING-* mode
    presigned: bool
    expires: int | None = None

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


def _parse_amz_date(value: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise errors.AccessDenied("X-Amz-Date must be in the ISO8601 basic format yyyyMMdd'T'HHmmss'Z'.") from None


def _credential(value: str) -> tuple[str, str, str, str]:
    match = _CREDENTIAL.match(value.strip())
    if not match:
        raise errors.AuthorizationMalformed(f"The credential {value!r} is malformed; expected "
                                            "<key id>/<yyyymmdd>/<region>/s3/aws4_request.")
    return match[1], match[2], match[3], match[4]


def parse(headers: dict[str, str], query: list[tuple[str, str]]) -> SignedRequest | None:
    """The request's SigV4 claim, or None when it carries no credentials at all."""
    auth = headers.get("authorization")
    if auth is not None:
        if auth.startswith("AWS "):
            raise errors.InvalidRequest("Signature Version 2 is not supported; use AWS Signature Version 4.")
        scheme, _, rest = auth.partition(" ")
        if scheme != ALGORITHM:
            raise errors.InvalidArgument(f"Unsupported Authorization Type {scheme!r}; use {ALGORITHM}.")
        fields = {}
        for part in rest.split(","):
            name, _, value = part.strip().partition("=")
            fields[name] = value
        if not {"Credential", "SignedHeaders", "Signature"} <= set(fields):
            raise errors.AuthorizationMalformed("The authorization header is malformed; it needs Credential, "
                                                "SignedHeaders and Signature.")
        key, date, region, service = _credential(fields["Credential"])
        amz_date = headers.get("x-amz-date")
        if amz_date is None:
            raise errors.AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
        payload = headers.get("x-amz-content-sha256")
        if payload is None:
            raise errors.InvalidRequest("Missing required header for this request: x-amz-content-sha256")
        return SignedRequest(key, date, region, service, amz_date, tuple(fields["SignedHeaders"].split(";")),
                             fields["Signature"], payload, presigned=False)
    params = dict(query)
    if "X-Amz-Algorithm" not in params and "X-Amz-Signature" not in params:
        return None
    if params.get("X-Amz-Algorithm") != ALGORITHM:
        raise errors.InvalidArgument(f"X-Amz-Algorithm must be {ALGORITHM}; only Signature Version 4 is supported.")
    missing = [p for p in ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
                           "X-Amz-Signature") if p not in params]
    if missing:
        raise errors.AuthorizationQueryParametersError(f"Query-string authentication needs {', '.join(missing)}.")
    key, date, region, service = _credential(params["X-Amz-Credential"])
    try:
        expires = int(params["X-Amz-Expires"])
    except ValueError:
        expires = -1
    if not 1 <= expires <= MAX_PRESIGN_SECONDS:
        raise errors.AuthorizationQueryParametersError(
            f"X-Amz-Expires must be between 1 and {MAX_PRESIGN_SECONDS} seconds.")
    payload = headers.get("x-amz-content-sha256") or params.get("X-Amz-Content-Sha256") or UNSIGNED
    return SignedRequest(key, date, region, service, params["X-Amz-Date"],
                         tuple(params["X-Amz-SignedHeaders"].split(";")), params["X-Amz-Signature"], payload,
                         presigned=True, expires=expires)


def check_time(claim: SignedRequest, now: datetime | None = None) -> None:
    now = now or datetime.now(timezone.utc)
    signed_at = _parse_amz_date(claim.amz_date)
    if claim.amz_date[:8] != claim.date:
        raise errors.SignatureDoesNotMatch("The date of the credential scope does not match X-Amz-Date.")
    if claim.presigned:
        if now > signed_at + timedelta(seconds=claim.expires or 0):
            raise errors.AccessDenied("Request has expired", XAmzExpires=str(claim.expires),
                                      Expires=iso(signed_at + timedelta(seconds=claim.expires or 0), "seconds"))
        if signed_at - now > MAX_SKEW:
            raise errors.AccessDenied("Request is not valid yet")
    elif abs(now - signed_at) > MAX_SKEW:
        raise errors.RequestTimeTooSkewed("The difference between the request time and the server's time is too "
                                          "large.", RequestTime=claim.amz_date)


def signing_key(secret: str, claim: SignedRequest) -> bytes:
    key = hmac.new(("AWS4" + secret).encode(), claim.date.encode(), hashlib.sha256).digest()
    for part in (claim.region, claim.service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def sign(key: bytes, string_to_sign: str) -> str:
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def _uri_encode(value: str, safe: str) -> str:
    return quote(value, safe=safe)


def canonical_query(query: list[tuple[str, str]], presigned: bool) -> str:
    pairs = sorted((_uri_encode(k, "-_.~"), _uri_encode(v, "-_.~")) for k, v in query
                   if not (presigned and k == "X-Amz-Signature"))
    return "&".join(f"{k}={v}" for k, v in pairs)


def canonical_headers(claim: SignedRequest, raw_headers: list[tuple[bytes, bytes]]) -> str:
    values: dict[str, list[str]] = {}
    wanted = set(claim.signed_headers)
    for name, value in raw_headers:
        lower = name.decode("latin-1").lower()
        if lower in wanted:
            values.setdefault(lower, []).append(" ".join(value.decode("latin-1").split()))
    missing = wanted - set(values)
    if missing:
        raise errors.SignatureDoesNotMatch(f"Signed header(s) missing from the request: {', '.join(sorted(missing))}")
    return "".join(f"{name}:{','.join(values[name])}\n" for name in claim.signed_headers)


def string_to_sign(claim: SignedRequest, method: str, path: str, query: list[tuple[str, str]],
                   raw_headers: list[tuple[bytes, bytes]]) -> str:
    payload = UNSIGNED if claim.presigned and claim.payload == UNSIGNED else claim.payload
    canonical = "\n".join([method, path, canonical_query(query, claim.presigned),
                           canonical_headers(claim, raw_headers), ";".join(claim.signed_headers), payload])
    return "\n".join([ALGORITHM, claim.amz_date, claim.scope, hashlib.sha256(canonical.encode()).hexdigest()])


def verify(claim: SignedRequest, secret: str, method: str, raw_path: str, query: list[tuple[str, str]],
           raw_headers: list[tuple[bytes, bytes]]) -> bytes:
    """Raise SignatureDoesNotMatch unless the claim's signature is right; the signing key (for chunk
    signatures) when it is. The path is tried as sent and in AWS's canonical encoding of its decoded form."""
    if "host" not in claim.signed_headers:
        raise errors.AccessDenied("The host header must be signed.")
    if not claim.presigned and claim.payload not in (UNSIGNED, STREAMING_SIGNED, STREAMING_SIGNED_TRAILER,
                                                     STREAMING_UNSIGNED_TRAILER) and not _HEX64.match(claim.payload):
        raise errors.InvalidArgument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-* or a SHA-256 in "
                                     "hex.")
    key = signing_key(secret, claim)
    for path in dict.fromkeys([raw_path, _uri_encode(unquote(raw_path), "/~")]):
        expected = sign(key, string_to_sign(claim, method, path, query, raw_headers))
        if hmac.compare_digest(expected.encode(), claim.signature.encode()):
            return key
    raise errors.SignatureDoesNotMatch("The request signature we calculated does not match the signature you "
                                       "provided. Check your key and signing method.")


def chunk_string_to_sign(claim: SignedRequest, previous: str, chunk_sha256: str) -> str:
    return "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", claim.amz_date, claim.scope, previous, EMPTY_SHA256,
                      chunk_sha256])


def trailer_string_to_sign(claim: SignedRequest, previous: str, trailer_sha256: str) -> str:
    return "\n".join(["AWS4-HMAC-SHA256-TRAILER", claim.amz_date, claim.scope, previous, trailer_sha256])


def sign_headers(method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str], access_key: str,
                 secret: str, region: str = "auto", payload: str = UNSIGNED,
                 now: datetime | None = None) -> dict[str, str]:
    """The client side: `headers` (which must include host) plus x-amz-date, x-amz-content-sha256 and the
    Authorization header for a request to `path` (already percent-encoded as it will be sent)."""
    now = now or datetime.now(timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    out = {**{k.lower(): v for k, v in headers.items()}, "x-amz-date": amz_date, "x-amz-content-sha256": payload}
    names = tuple(sorted(out))
    claim = SignedRequest(access_key, amz_date[:8], region, "s3", amz_date, names, "", payload, presigned=False)
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in out.items()]
    signature = sign(signing_key(secret, claim), string_to_sign(claim, method, path, query, raw))
    out["authorization"] = (f"{ALGORITHM} Credential={access_key}/{claim.scope}, SignedHeaders={';'.join(names)}, "
                            f"Signature={signature}")
    return out
