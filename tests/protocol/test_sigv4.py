"""SigV4 verification against requests signed by botocore itself."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from tocsin.protocol.codec import HttpRequest
from tocsin.protocol.errors import AuthError
from tocsin.protocol.sigv4 import (
    SignedRequest,
    canonical_query_string,
    canonical_uri,
    derive_signing_key,
    parse_signature,
    verify_signature,
)

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLETOKEN+/=="
REGION = "us-east-1"
ENDPOINT = "http://127.0.0.1:4566"
INCIDENT_ARN = "arn:aws:ssm-incidents::111122223333:response-plan/critical/web"


def to_http_request(method: str, url: str, headers: Any, body: bytes | str | None) -> HttpRequest:
    """Present a client request the way an ASGI server hands it to the application."""
    parts = urlsplit(url)
    lowered = {
        name.lower(): value.decode() if isinstance(value, bytes) else str(value)
        for name, value in headers.items()
    }
    # The HTTP client adds Host from the URL, which is also what botocore signs.
    lowered.setdefault("host", parts.netloc)
    if isinstance(body, str):
        body = body.encode()
    return HttpRequest(
        method=method,
        raw_path=parts.path or "/",
        query_string=parts.query,
        headers=lowered,
        body=body or b"",
    )


def sign(
    method: str,
    url: str,
    *,
    service: str = "ssm-incidents",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    token: str | None = None,
    secret: str = SECRET_KEY,
) -> HttpRequest:
    request = AWSRequest(method=method, url=url, headers=headers or {}, data=body)
    SigV4Auth(Credentials(ACCESS_KEY, secret, token), service, REGION).add_auth(request)
    prepared = request.prepare()
    return to_http_request(prepared.method, prepared.url, prepared.headers, prepared.body)


def presign(url: str, *, expires: int = 300, token: str | None = None) -> HttpRequest:
    request = AWSRequest(method="GET", url=url)
    auth = SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET_KEY, token), "sts", REGION, expires)
    auth.add_auth(request)
    prepared = request.prepare()
    return to_http_request(prepared.method, prepared.url, prepared.headers, prepared.body)


def parsed(request: HttpRequest) -> SignedRequest:
    signed = parse_signature(request)
    assert signed is not None
    return signed


def verify(
    request: HttpRequest, *, secret: str = SECRET_KEY, shift: timedelta = timedelta()
) -> None:
    signed = parsed(request)
    verify_signature(request, signed, secret, now=signed.amz_date + shift)


def json_post() -> HttpRequest:
    return sign(
        "POST",
        f"{ENDPOINT}/",
        service="ssm-contacts",
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "SSMContacts.ListContacts",
        },
        body=b'{"MaxResults": 10}',
    )


# Requests signed by botocore.


def test_json_post_verifies() -> None:
    request = json_post()
    signed = parsed(request)
    assert signed.access_key_id == ACCESS_KEY
    assert signed.region == REGION
    assert signed.service == "ssm-contacts"
    assert signed.presigned is False
    assert signed.session_token is None
    assert "host" in signed.signed_headers
    assert "x-amz-target" in signed.signed_headers
    verify(request)


def test_rest_json_get_with_encoded_arn() -> None:
    encoded_arn = INCIDENT_ARN.replace(":", "%3A").replace("/", "%2F")
    request = sign("GET", f"{ENDPOINT}/tags/{encoded_arn}?maxResults=5&nextToken=a%2Bb%3D")
    assert "%2F" in request.raw_path
    assert request.query_string
    verify(request)


def test_query_form_post_verifies() -> None:
    request = sign(
        "POST",
        f"{ENDPOINT}/",
        service="sts",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        body=b"Action=GetCallerIdentity&Version=2011-06-15",
    )
    verify(request)


def test_presigned_get_verifies() -> None:
    request = presign(f"{ENDPOINT}/?Action=GetCallerIdentity&Version=2011-06-15", expires=600)
    signed = parsed(request)
    assert signed.presigned is True
    assert signed.expires_seconds == 600
    assert signed.service == "sts"
    verify(request)
    verify(request, shift=timedelta(seconds=599))


def test_presigned_with_session_token() -> None:
    request = presign(f"{ENDPOINT}/?Action=GetCallerIdentity", token=SESSION_TOKEN)
    assert parsed(request).session_token == SESSION_TOKEN
    verify(request)


def test_session_token_header_is_signed() -> None:
    request = sign("GET", f"{ENDPOINT}/responsePlans", token=SESSION_TOKEN)
    signed = parsed(request)
    assert signed.session_token == SESSION_TOKEN
    assert "x-amz-security-token" in signed.signed_headers
    verify(request)


def test_changed_session_token_fails() -> None:
    request = sign("GET", f"{ENDPOINT}/responsePlans", token=SESSION_TOKEN)
    tampered = dataclasses.replace(
        request, headers={**request.headers, "x-amz-security-token": "other"}
    )
    with pytest.raises(AuthError) as error:
        verify(tampered)
    assert error.value.kind == "signature"


def test_date_header_instead_of_x_amz_date() -> None:
    # botocore signs with Date, and sends no X-Amz-Date, when Date is already set.
    request = sign("GET", f"{ENDPOINT}/responsePlans", headers={"Date": "placeholder"})
    assert "x-amz-date" not in request.headers
    assert "date" in parsed(request).signed_headers
    verify(request)


# Failures.


def test_wrong_secret_fails() -> None:
    with pytest.raises(AuthError) as error:
        verify(json_post(), secret="not-the-secret")
    assert error.value.kind == "signature"
    assert error.value.message.startswith("The request signature we calculated does not match")


def test_tampered_body_fails() -> None:
    request = dataclasses.replace(json_post(), body=b'{"MaxResults": 11}')
    with pytest.raises(AuthError) as error:
        verify(request)
    assert error.value.kind == "signature"


def test_body_not_matching_content_sha256() -> None:
    request = sign(
        "POST",
        f"{ENDPOINT}/",
        headers={"X-Amz-Content-SHA256": "0" * 64},
        body=b"{}",
    )
    with pytest.raises(AuthError) as error:
        verify(request)
    assert error.value.kind == "signature"
    assert "x-amz-content-sha256" in error.value.message


def test_unsigned_payload_header_rejected() -> None:
    request = sign("POST", f"{ENDPOINT}/", headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    with pytest.raises(AuthError) as error:
        verify(request)
    assert error.value.kind == "signature"


def test_tampered_header_fails() -> None:
    request = json_post()
    tampered = dataclasses.replace(
        request, headers={**request.headers, "x-amz-target": "SSMContacts.DeleteContact"}
    )
    with pytest.raises(AuthError) as error:
        verify(tampered)
    assert error.value.kind == "signature"


def test_tampered_query_fails() -> None:
    request = sign("GET", f"{ENDPOINT}/responsePlans?maxResults=5")
    tampered = dataclasses.replace(request, query_string="maxResults=50")
    with pytest.raises(AuthError) as error:
        verify(tampered)
    assert error.value.kind == "signature"


def test_tampered_path_fails() -> None:
    request = sign("GET", f"{ENDPOINT}/tags/arn%3Aaws%3Aa%2Fb")
    tampered = dataclasses.replace(request, raw_path="/tags/arn%3Aaws%3Aa/b")
    with pytest.raises(AuthError) as error:
        verify(tampered)
    assert error.value.kind == "signature"


def test_unsigned_host_rejected() -> None:
    request = json_post()
    signed = dataclasses.replace(
        parsed(request),
        signed_headers=tuple(name for name in parsed(request).signed_headers if name != "host"),
    )
    with pytest.raises(AuthError) as error:
        verify_signature(request, signed, SECRET_KEY, now=signed.amz_date)
    assert error.value.kind == "signature"
    assert "Host" in error.value.message


def test_skew_past_rejected() -> None:
    request = json_post()
    signed = parsed(request)
    now = signed.amz_date + timedelta(minutes=16)
    with pytest.raises(AuthError) as error:
        verify_signature(request, signed, SECRET_KEY, now=now)
    assert error.value.kind == "skew"
    stamp = signed.amz_date.strftime("%Y%m%dT%H%M%SZ")
    limit = (now - timedelta(minutes=15)).strftime("%Y%m%dT%H%M%SZ")
    assert error.value.message == (
        f"Signature expired: {stamp} is now earlier than {limit} "
        f"({now.strftime('%Y%m%dT%H%M%SZ')} - 15 min.)"
    )


def test_skew_future_rejected() -> None:
    request = json_post()
    with pytest.raises(AuthError) as error:
        verify(request, shift=-timedelta(minutes=16))
    assert error.value.kind == "skew"
    assert error.value.message.startswith("Signature not yet current: ")
    assert error.value.message.endswith(" + 15 min.)")


def test_skew_within_limit_accepted() -> None:
    request = json_post()
    verify(request, shift=timedelta(minutes=14))
    verify(request, shift=-timedelta(minutes=14))


def test_presigned_expired() -> None:
    request = presign(f"{ENDPOINT}/?Action=GetCallerIdentity", expires=60)
    with pytest.raises(AuthError) as error:
        verify(request, shift=timedelta(seconds=61))
    assert error.value.kind == "skew"
    assert error.value.message.startswith("Request has expired")


def test_presigned_valid_past_skew() -> None:
    request = presign(f"{ENDPOINT}/?Action=GetCallerIdentity", expires=3600)
    verify(request, shift=timedelta(minutes=30))


def test_presigned_expires_over_seven_days() -> None:
    request = presign(f"{ENDPOINT}/?Action=GetCallerIdentity", expires=604801)
    with pytest.raises(AuthError) as error:
        parse_signature(request)
    assert error.value.kind == "incomplete"


def test_presigned_tampered_query_fails() -> None:
    request = presign(f"{ENDPOINT}/?Action=GetCallerIdentity&Version=2011-06-15")
    tampered = dataclasses.replace(
        request, query_string=request.query_string.replace("GetCallerIdentity", "GetSessionToken")
    )
    with pytest.raises(AuthError) as error:
        verify(tampered)
    assert error.value.kind == "signature"


def test_no_signature_returns_none() -> None:
    request = HttpRequest("GET", "/", "Action=GetCallerIdentity", {"host": "127.0.0.1"})
    assert parse_signature(request) is None


def _with_authorization(value: str, **extra_headers: str) -> HttpRequest:
    headers = {"host": "127.0.0.1:4566", "x-amz-date": "20260101T000000Z", "authorization": value}
    headers.update(extra_headers)
    return HttpRequest("POST", "/", "", headers)


GOOD_CREDENTIAL = f"Credential={ACCESS_KEY}/20260101/us-east-1/ssm-incidents/aws4_request"
GOOD_SIGNED_HEADERS = "SignedHeaders=host;x-amz-date"
GOOD_SIGNATURE = "Signature=" + "ab" * 32

GARBLED_AUTHORIZATION = {
    "other-algorithm": f"AWS4-HMAC-SHA1 {GOOD_CREDENTIAL}, {GOOD_SIGNED_HEADERS}, {GOOD_SIGNATURE}",
    "sigv4a": f"AWS4-ECDSA-P256-SHA256 {GOOD_CREDENTIAL}, {GOOD_SIGNED_HEADERS}, {GOOD_SIGNATURE}",
    "sigv2": f"AWS {ACCESS_KEY}:c2lnbmF0dXJl",
    "algorithm-only": "AWS4-HMAC-SHA256",
    "missing-credential": f"AWS4-HMAC-SHA256 {GOOD_SIGNED_HEADERS}, {GOOD_SIGNATURE}",
    "missing-signed-headers": f"AWS4-HMAC-SHA256 {GOOD_CREDENTIAL}, {GOOD_SIGNATURE}",
    "missing-signature": f"AWS4-HMAC-SHA256 {GOOD_CREDENTIAL}, {GOOD_SIGNED_HEADERS}",
    "empty-signature": f"AWS4-HMAC-SHA256 {GOOD_CREDENTIAL}, {GOOD_SIGNED_HEADERS}, Signature=",
    "parameter-without-equals": (
        f"AWS4-HMAC-SHA256 {GOOD_CREDENTIAL}, {GOOD_SIGNED_HEADERS}, Signature"
    ),
    "short-scope": (
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20260101/us-east-1/aws4_request, "
        f"{GOOD_SIGNED_HEADERS}, {GOOD_SIGNATURE}"
    ),
    "wrong-terminator": (
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20260101/us-east-1/ssm-incidents/aws4, "
        f"{GOOD_SIGNED_HEADERS}, {GOOD_SIGNATURE}"
    ),
    "scope-date-mismatch": (
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20260102/us-east-1/ssm-incidents/aws4_request, "
        f"{GOOD_SIGNED_HEADERS}, {GOOD_SIGNATURE}"
    ),
    "empty-region": (
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20260101//ssm-incidents/aws4_request, "
        f"{GOOD_SIGNED_HEADERS}, {GOOD_SIGNATURE}"
    ),
    "empty-signed-header-name": (
        f"AWS4-HMAC-SHA256 {GOOD_CREDENTIAL}, SignedHeaders=host;;x-amz-date, {GOOD_SIGNATURE}"
    ),
    "upper-case-signed-header": (
        f"AWS4-HMAC-SHA256 {GOOD_CREDENTIAL}, SignedHeaders=Host;x-amz-date, {GOOD_SIGNATURE}"
    ),
}


@pytest.mark.parametrize(
    "authorization", GARBLED_AUTHORIZATION.values(), ids=GARBLED_AUTHORIZATION.keys()
)
def test_garbled_authorization_incomplete(authorization: str) -> None:
    with pytest.raises(AuthError) as error:
        parse_signature(_with_authorization(authorization))
    assert error.value.kind == "incomplete"


GOOD_AUTHORIZATION = f"AWS4-HMAC-SHA256 {GOOD_CREDENTIAL}, {GOOD_SIGNED_HEADERS}, {GOOD_SIGNATURE}"


def test_well_formed_authorization_parses() -> None:
    signed = parsed(_with_authorization(GOOD_AUTHORIZATION))
    assert signed.date == "20260101"
    assert signed.service == "ssm-incidents"
    assert signed.signed_headers == ("host", "x-amz-date")
    assert signed.amz_date == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "headers",
    [
        {"x-amz-date": ""},
        {"x-amz-date": "2026-01-01T00:00:00Z"},
        {"x-amz-date": "20261301T000000Z"},
    ],
    ids=["no-date", "extended-iso-date", "month-13"],
)
def test_bad_request_date_incomplete(headers: dict[str, str]) -> None:
    with pytest.raises(AuthError) as error:
        parse_signature(_with_authorization(GOOD_AUTHORIZATION, **headers))
    assert error.value.kind == "incomplete"


def test_unparsable_date_header_incomplete() -> None:
    with pytest.raises(AuthError) as error:
        parse_signature(_with_authorization(GOOD_AUTHORIZATION, **{"x-amz-date": "", "date": "x"}))
    assert error.value.kind == "incomplete"


def test_header_and_query_signature_rejected() -> None:
    request = dataclasses.replace(
        _with_authorization(GOOD_AUTHORIZATION), query_string="X-Amz-Signature=abc"
    )
    with pytest.raises(AuthError) as error:
        parse_signature(request)
    assert error.value.kind == "incomplete"


@pytest.mark.parametrize(
    "missing",
    ["X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders"],
)
def test_presigned_missing_parameter_incomplete(missing: str) -> None:
    request = presign(f"{ENDPOINT}/?Action=GetCallerIdentity")
    query = "&".join(
        pair for pair in request.query_string.split("&") if not pair.startswith(missing + "=")
    )
    with pytest.raises(AuthError) as error:
        parse_signature(dataclasses.replace(request, query_string=query))
    assert error.value.kind == "incomplete"


# Canonical forms.


def test_canonical_uri_encodes_again() -> None:
    assert canonical_uri("/tags/arn%3Aaws%2Fx") == "/tags/arn%253Aaws%252Fx"
    assert canonical_uri("") == "/"
    assert canonical_uri("/a/./b/../c//d/") == "/a/c/d/"


def test_canonical_query_sorted_and_normalised() -> None:
    assert canonical_query_string("b=2&a=x%20y&a=1&flag") == "a=1&a=x%20y&b=2&flag="
    assert canonical_query_string("k=a+b") == "k=a%2Bb"
    assert canonical_query_string("k=%7e") == "k=~"


def test_signing_key_cached() -> None:
    derive_signing_key.cache_clear()
    first = derive_signing_key(SECRET_KEY, "20260101", REGION, "sts")
    second = derive_signing_key(SECRET_KEY, "20260101", REGION, "sts")
    assert first is second
    assert derive_signing_key.cache_info().hits == 1
    assert derive_signing_key(SECRET_KEY, "20260102", REGION, "sts") != first


# Round trips through real boto3 clients: the prepared request is captured
# before it is sent, so nothing leaves the process.


class _Captured(Exception):
    def __init__(self, request: AWSPreparedRequest) -> None:
        super().__init__("request captured")
        self.request = request


def _capture(request: AWSPreparedRequest, **_: Any) -> None:
    raise _Captured(request)


def _client(service: str, token: str | None = None) -> Any:
    session = boto3.session.Session(
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        aws_session_token=token,
        region_name=REGION,
    )
    client = session.client(
        service,
        endpoint_url=ENDPOINT,
        config=Config(retries={"max_attempts": 0}),
    )
    client.meta.events.register("before-send", _capture)
    return client


def _captured_request(call: Any, **kwargs: Any) -> HttpRequest:
    with pytest.raises(_Captured) as captured:
        call(**kwargs)
    sent = captured.value.request
    return to_http_request(sent.method, sent.url, sent.headers, sent.body)


def test_boto3_sts_get_caller_identity() -> None:
    request = _captured_request(_client("sts").get_caller_identity)
    assert request.method == "POST"
    assert parsed(request).service == "sts"
    verify(request)


def test_boto3_list_tags_with_arn() -> None:
    client = _client("ssm-incidents", token=SESSION_TOKEN)
    request = _captured_request(client.list_tags_for_resource, resourceArn=INCIDENT_ARN)
    assert "%2F" in request.raw_path
    assert parsed(request).session_token == SESSION_TOKEN
    verify(request)


def test_boto3_list_contacts() -> None:
    request = _captured_request(_client("ssm-contacts").list_contacts, MaxResults=5)
    assert parsed(request).service == "ssm-contacts"
    verify(request)
    with pytest.raises(AuthError):
        verify(request, secret=SECRET_KEY + "x")
