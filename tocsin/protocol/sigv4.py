"""Server-side verification of AWS Signature Version 4.

``parse_signature`` reads the signing parameters from the Authorization
header or, for presigned URLs, from the query string. ``verify_signature``
rebuilds the canonical request the way botocore's ``SigV4Auth`` builds it for
every service except S3, checks the request time, and compares signatures.

Only the ``AWS4-HMAC-SHA256`` algorithm is supported. SigV4a (ECDSA) and the
chunked ``STREAMING-*`` payloads of S3 uploads are rejected.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from urllib.parse import quote, unquote

from tocsin.protocol.codec import HttpRequest
from tocsin.protocol.errors import AuthError

ALGORITHM = "AWS4-HMAC-SHA256"
SCOPE_TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
# The X-Amz-Expires limit of presigned URLs: seven days, in seconds.
MAX_PRESIGNED_EXPIRES = 7 * 24 * 3600
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

SIGNATURE_MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)

# Characters that SigV4's URI encoding leaves as they are (RFC 3986 unreserved).
_UNRESERVED = "-_.~"


@dataclass(frozen=True)
class SignedRequest:
    """The SigV4 parameters of one request, as the client sent them."""

    access_key_id: str
    date: str  # YYYYMMDD from the credential scope
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    session_token: str | None
    amz_date: datetime  # aware UTC
    presigned: bool
    expires_seconds: int | None  # X-Amz-Expires of a presigned URL, None otherwise

    @property
    def credential_scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{SCOPE_TERMINATOR}"


def parse_signature(request: HttpRequest) -> SignedRequest | None:
    """Read the SigV4 parameters of ``request``.

    Returns None when the request carries no SigV4 at all. Raises
    ``AuthError("incomplete")`` when it carries a signature whose parameters
    are missing or malformed.
    """
    authorization = request.header("authorization")
    query_params = _split_query(request.query_string)
    query_names = {name for name, _ in query_params}
    has_query_signature = "X-Amz-Signature" in query_names
    if authorization and has_query_signature:
        raise AuthError(
            "incomplete",
            "Only one authentication mechanism is allowed: send either the Authorization "
            "header or the X-Amz-Signature query parameter, not both.",
        )
    if authorization:
        return _parse_authorization_header(request, authorization)
    if has_query_signature or "X-Amz-Algorithm" in query_names:
        return _parse_presigned_query(request, dict(query_params))
    return None


def _parse_authorization_header(request: HttpRequest, authorization: str) -> SignedRequest:
    algorithm, _, parameter_text = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise AuthError(
            "incomplete",
            f"Unsupported Authorization algorithm {algorithm!r}: only {ALGORITHM} is accepted.",
        )
    parameters: dict[str, str] = {}
    for item in parameter_text.split(","):
        name, separator, value = item.strip().partition("=")
        if not separator or not name:
            raise AuthError(
                "incomplete",
                f"Authorization header parameter {item.strip()!r} is not of the form name=value.",
            )
        parameters[name] = value
    for required in ("Credential", "SignedHeaders", "Signature"):
        if not parameters.get(required):
            raise AuthError(
                "incomplete", f"Authorization header requires a '{required}' parameter."
            )

    amz_date = _header_request_date(request)
    access_key_id, date, region, service = _parse_credential(parameters["Credential"], amz_date)
    return SignedRequest(
        access_key_id=access_key_id,
        date=date,
        region=region,
        service=service,
        signed_headers=_parse_signed_headers(parameters["SignedHeaders"]),
        signature=parameters["Signature"],
        session_token=request.header("x-amz-security-token") or None,
        amz_date=amz_date,
        presigned=False,
        expires_seconds=None,
    )


def _parse_presigned_query(request: HttpRequest, params: dict[str, str]) -> SignedRequest:
    for required in (
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
    ):
        if not params.get(required):
            raise AuthError(
                "incomplete", f"A presigned URL requires the {required} query parameter."
            )
    algorithm = params["X-Amz-Algorithm"]
    if algorithm != ALGORITHM:
        raise AuthError(
            "incomplete",
            f"Unsupported X-Amz-Algorithm {algorithm!r}: only {ALGORITHM} is accepted.",
        )
    amz_date = _parse_amz_date(params["X-Amz-Date"], "X-Amz-Date")
    expires_text = params["X-Amz-Expires"]
    if not expires_text.isdigit():
        raise AuthError(
            "incomplete", f"X-Amz-Expires must be a number of seconds, got {expires_text!r}."
        )
    expires_seconds = int(expires_text)
    if not 1 <= expires_seconds <= MAX_PRESIGNED_EXPIRES:
        raise AuthError(
            "incomplete",
            f"X-Amz-Expires must be between 1 and {MAX_PRESIGNED_EXPIRES} seconds (seven days), "
            f"got {expires_seconds}.",
        )
    access_key_id, date, region, service = _parse_credential(params["X-Amz-Credential"], amz_date)
    return SignedRequest(
        access_key_id=access_key_id,
        date=date,
        region=region,
        service=service,
        signed_headers=_parse_signed_headers(params["X-Amz-SignedHeaders"]),
        signature=params["X-Amz-Signature"],
        session_token=params.get("X-Amz-Security-Token") or None,
        amz_date=amz_date,
        presigned=True,
        expires_seconds=expires_seconds,
    )


def _header_request_date(request: HttpRequest) -> datetime:
    """Return the signing time from X-Amz-Date, or from Date when X-Amz-Date is absent."""
    amz_date = request.header("x-amz-date")
    if amz_date:
        return _parse_amz_date(amz_date, "X-Amz-Date")
    http_date = request.header("date")
    if not http_date:
        raise AuthError(
            "incomplete",
            "Authorization header requires the existence of either an 'X-Amz-Date' "
            "or a 'Date' header.",
        )
    try:
        parsed = parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        raise AuthError(
            "incomplete", f"Date header {http_date!r} is not a valid RFC 7231 date."
        ) from None
    if parsed.tzinfo is None:
        # RFC 5322 reads a "-0000" offset, which botocore's formatdate writes, as UTC.
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _parse_amz_date(text: str, name: str) -> datetime:
    try:
        return datetime.strptime(text, AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise AuthError(
            "incomplete",
            f"{name} {text!r} is not a valid ISO 8601 basic date such as 20260101T000000Z.",
        ) from None


def _parse_credential(credential: str, amz_date: datetime) -> tuple[str, str, str, str]:
    """Split ``AKID/YYYYMMDD/region/service/aws4_request`` and check it against ``amz_date``."""
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts):
        raise AuthError(
            "incomplete",
            f"Credential {credential!r} is malformed: expected "
            f"<access key id>/<YYYYMMDD>/<region>/<service>/{SCOPE_TERMINATOR}.",
        )
    access_key_id, date, region, service, terminator = parts
    if terminator != SCOPE_TERMINATOR:
        raise AuthError(
            "incomplete",
            f"Credential should be scoped with a valid terminator: "
            f"'{SCOPE_TERMINATOR}', not '{terminator}'.",
        )
    request_day = amz_date.strftime("%Y%m%d")
    if date != request_day:
        raise AuthError(
            "incomplete",
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{date}' != '{request_day}', "
            f"from '{amz_date.strftime(AMZ_DATE_FORMAT)}'.",
        )
    return access_key_id, date, region, service


def _parse_signed_headers(text: str) -> tuple[str, ...]:
    names = tuple(text.split(";"))
    if not all(names):
        raise AuthError("incomplete", f"SignedHeaders {text!r} contains an empty header name.")
    if any(name != name.lower() for name in names):
        raise AuthError("incomplete", f"SignedHeaders {text!r} must list lower-case names.")
    return names


def verify_signature(
    request: HttpRequest,
    signed: SignedRequest,
    secret_access_key: str,
    *,
    now: datetime,
    max_skew: timedelta = timedelta(minutes=15),
) -> None:
    """Raise ``AuthError`` unless ``request`` was signed with ``secret_access_key`` in time.

    Checks, in order: the request time against ``now`` (``max_skew`` either
    way, or the X-Amz-Expires window of a presigned URL), that the Host header
    is signed, that X-Amz-Content-SHA256 matches the body, and the signature.
    """
    _check_request_time(signed, now, max_skew)
    if "host" not in signed.signed_headers:
        raise AuthError("signature", "The Host header must be included in SignedHeaders.")

    signing_key = derive_signing_key(secret_access_key, signed.date, signed.region, signed.service)
    for payload_hash in _payload_hashes(request, signed):
        canonical = canonical_request(request, signed, payload_hash)
        expected = hmac.new(
            signing_key, string_to_sign(signed, canonical).encode(), hashlib.sha256
        ).hexdigest()
        if hmac.compare_digest(expected, signed.signature):
            return
    raise AuthError("signature", SIGNATURE_MISMATCH_MESSAGE)


def _check_request_time(signed: SignedRequest, now: datetime, max_skew: timedelta) -> None:
    signed_at = signed.amz_date
    minutes = int(max_skew.total_seconds() // 60)
    if signed_at > now + max_skew:
        raise AuthError(
            "skew",
            f"Signature not yet current: {_amz(signed_at)} is still later than "
            f"{_amz(now + max_skew)} ({_amz(now)} + {minutes} min.)",
        )
    if signed.presigned:
        # A presigned URL stays valid for X-Amz-Expires seconds, however far in
        # the past it was signed. S3 reports an expired URL as AccessDenied
        # "Request has expired". This returns the skew kind instead, which is
        # InvalidSignatureException or SignatureDoesNotMatch like any other
        # out-of-date signature, because AccessDenied reads as an authorization
        # failure and the non-S3 services define no code for this case.
        expires_at = signed_at + timedelta(seconds=signed.expires_seconds or 0)
        if now > expires_at:
            raise AuthError(
                "skew",
                f"Request has expired: signed at {_amz(signed_at)} for "
                f"{signed.expires_seconds} seconds, which ended at {_amz(expires_at)}, "
                f"and it is now {_amz(now)}.",
            )
        return
    if signed_at < now - max_skew:
        raise AuthError(
            "skew",
            f"Signature expired: {_amz(signed_at)} is now earlier than "
            f"{_amz(now - max_skew)} ({_amz(now)} - {minutes} min.)",
        )


def _amz(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(AMZ_DATE_FORMAT)


def _payload_hashes(request: HttpRequest, signed: SignedRequest) -> tuple[str, ...]:
    """Return the payload hashes the client may have signed, most likely first.

    A declared X-Amz-Content-SHA256 is what the client signed, so it must be
    the SHA-256 of the body: otherwise the body could be swapped under a valid
    signature. UNSIGNED-PAYLOAD is accepted only for presigned URLs.
    """
    declared = request.header("x-amz-content-sha256")
    body_hash = hashlib.sha256(request.body).hexdigest() if request.body else EMPTY_SHA256
    if not declared:
        # botocore signs the body hash of a presigned URL, but S3 presigners sign
        # UNSIGNED-PAYLOAD, so both are tried.
        return (body_hash, UNSIGNED_PAYLOAD) if signed.presigned else (body_hash,)
    if declared == UNSIGNED_PAYLOAD:
        if not signed.presigned:
            raise AuthError(
                "signature",
                "X-Amz-Content-SHA256 UNSIGNED-PAYLOAD is accepted only for presigned URLs; "
                "sign the SHA-256 of the body instead.",
            )
        return (declared,)
    if not hmac.compare_digest(declared.lower(), body_hash):
        raise AuthError(
            "signature",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    return (declared,)


def canonical_request(request: HttpRequest, signed: SignedRequest, payload_hash: str) -> str:
    """Build the SigV4 canonical request of ``request`` as botocore's SigV4Auth does."""
    header_lines = "".join(
        f"{name}:{_trim_header_value(request.header(name))}\n" for name in signed.signed_headers
    )
    return "\n".join(
        (
            request.method.upper(),
            canonical_uri(request.raw_path),
            canonical_query_string(request.query_string, presigned=signed.presigned),
            header_lines,
            ";".join(signed.signed_headers),
            payload_hash,
        )
    )


def string_to_sign(signed: SignedRequest, canonical: str) -> str:
    return "\n".join(
        (
            ALGORITHM,
            _amz(signed.amz_date),
            signed.credential_scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        )
    )


def canonical_uri(raw_path: str) -> str:
    """Return the canonical URI of a path as received, still percent-encoded.

    Every service but S3 encodes the already-encoded path once more, so an
    ARN segment sent as ``%2F`` is signed as ``%252F``. Dot segments and
    repeated slashes are removed first, as botocore does before signing.
    """
    return quote(_remove_dot_segments(raw_path), safe="/~")


def _remove_dot_segments(path: str) -> str:
    if not path:
        return "/"
    segments: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    leading = "/" if path.startswith("/") else ""
    trailing = "/" if path.endswith("/") and segments else ""
    return leading + "/".join(segments) + trailing


def canonical_query_string(query_string: str, *, presigned: bool = False) -> str:
    """Return the sorted, uniformly encoded query string that SigV4 signs.

    Each name and value is decoded and encoded again with only the RFC 3986
    unreserved characters left bare, so the result does not depend on how the
    client encoded them. A presigned URL's own X-Amz-Signature is left out.
    """
    pairs = []
    for name, value in _split_query(query_string):
        if presigned and name == "X-Amz-Signature":
            continue
        pairs.append((quote(name, safe=_UNRESERVED), quote(value, safe=_UNRESERVED)))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def _split_query(query_string: str) -> list[tuple[str, str]]:
    """Decode a raw query string into (name, value) pairs, keeping blanks and order.

    Unlike form decoding, "+" stays a plus sign, as in SigV4's canonical form.
    """
    pairs = []
    for item in query_string.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((unquote(name), unquote(value)))
    return pairs


def _trim_header_value(value: str) -> str:
    """Strip a header value and collapse each inner run of whitespace to one space."""
    return " ".join(value.split())


@lru_cache(maxsize=256)
def derive_signing_key(secret_access_key: str, date: str, region: str, service: str) -> bytes:
    """Return the SigV4 signing key for one secret and credential scope.

    The four-step HMAC chain is cached because a client reuses the same scope
    for a whole day. The cache stores at most 256 keys.
    """
    key = hmac.new(f"AWS4{secret_access_key}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, SCOPE_TERMINATOR):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key
