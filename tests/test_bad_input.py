"""The AWS endpoint under malformed, oversized and badly signed requests.

Every case sends raw HTTP to a real server and checks the error's protocol
shape, HTTP status and message. No case may get HTTP 500 or a closed
connection without a response.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import cbor2
import httpx
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tocsin.protocol.handlers import RequestContext, ServiceHandlers
from tocsin.testing import Keys, RunningServer

REGION = "us-east-1"
FORM = "application/x-www-form-urlencoded"
JSON_11 = "application/x-amz-json-1.1"
JSON_10 = "application/x-amz-json-1.0"
CBOR = "application/cbor"
CLOUDWATCH_PREFIX = "GraniteServiceVersion20100801"
DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
STS_CALLER_IDENTITY = b"Action=GetCallerIdentity&Version=2011-06-15"
IAM_VERSION = "Version=2010-05-08"


def contacts_headers(operation: str) -> dict[str, str]:
    return {"X-Amz-Target": f"SSMContacts.{operation}", "Content-Type": JSON_11}


def cloudwatch_json_headers(operation: str) -> dict[str, str]:
    return {"X-Amz-Target": f"{CLOUDWATCH_PREFIX}.{operation}", "Content-Type": JSON_10}


CBOR_HEADERS = {"smithy-protocol": "rpc-v2-cbor", "Content-Type": CBOR, "Accept": CBOR}


def cbor_path(operation: str) -> str:
    return f"/service/{CLOUDWATCH_PREFIX}/operation/{operation}"


# --- sending and reading ------------------------------------------------------


@dataclass(frozen=True)
class WireError:
    """An error response as a client reads it, whatever the protocol."""

    status: int
    code: str
    message: str
    document: dict[str, Any]


def send(
    server: RunningServer,
    keys: Keys,
    service: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    path: str = "/",
    method: str = "POST",
    secret: str | None = None,
    access_key: str | None = None,
    signed_at: datetime | None = None,
) -> httpx.Response:
    """Sign a request with SigV4 for ``service`` as botocore does, send it, return the response.

    ``signed_at`` replaces the signer's clock, to sign with a skewed X-Amz-Date.
    """
    request = AWSRequest(method=method, url=server.url + path, data=body, headers=headers or {})
    credentials = Credentials(access_key or keys.access_key_id, secret or keys.secret_access_key)
    signer = SigV4Auth(credentials, service, REGION)
    if signed_at is None:
        signer.add_auth(request)
    else:
        naive_utc = signed_at.astimezone(UTC).replace(tzinfo=None)
        with mock.patch("botocore.auth.get_current_datetime", return_value=naive_utc):
            signer.add_auth(request)
    prepared = request.prepare()
    return httpx.request(
        method, prepared.url, headers=dict(prepared.headers), content=body, timeout=10
    )


def send_unsigned(
    server: RunningServer, body: bytes, headers: dict[str, str], path: str = "/"
) -> httpx.Response:
    return httpx.post(server.url + path, headers=headers, content=body, timeout=10)


def _xml_child_text(element: ElementTree.Element, name: str) -> str:
    for child in element.iter():
        if child.tag.rpartition("}")[2] == name:
            return child.text or ""
    raise AssertionError(f"no <{name}> element in {ElementTree.tostring(element)!r}")


def wire_error(response: httpx.Response) -> WireError:
    """Read the code and message of an error response in any of the four protocols.

    Raises AssertionError when the body is not a well-formed error of the
    protocol that the Content-Type names.
    """
    content_type = response.headers.get("content-type", "")
    if content_type.startswith("text/xml"):
        root = ElementTree.fromstring(response.content)
        code = _xml_child_text(root, "Code")
        message = _xml_child_text(root, "Message")
        return WireError(response.status_code, code, message, {"Code": code})
    if content_type.startswith(CBOR):
        document = cbor2.loads(response.content)
    else:
        document = json.loads(response.content)
    assert isinstance(document, dict), response.content
    # rest-json sends the code in a header, but json and CBOR send it in "__type".
    code = document.get("__type") or response.headers.get("x-amzn-errortype", "")
    code = str(code).rpartition("#")[2].partition(":")[0]
    message = str(document.get("message") or document.get("Message") or "")
    return WireError(response.status_code, code, message, document)


def assert_error(response: httpx.Response, status: int, code: str, fragment: str) -> WireError:
    """Check the status, code and a fragment of the message of an error response."""
    error = wire_error(response)
    assert error.status == status, error
    assert error.code == code, error
    assert fragment in error.message, error
    return error


# --- fixtures -----------------------------------------------------------------


@pytest.fixture
def keys(server: RunningServer) -> Keys:
    return server.create_account(name="abuse")


def _stand_in_handlers() -> dict[str, ServiceHandlers]:
    contacts = ServiceHandlers("ssm-contacts")

    @contacts.operation("CreateContact")
    def create_contact(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        arn = f"arn:aws:ssm-contacts:{ctx.region}:{ctx.account_id}:contact/{params['Alias']}"
        return {"ContactArn": arn}

    cloudwatch = ServiceHandlers("cloudwatch")
    cloudwatch.operation("ListDashboards")(lambda _ctx, _params: {"DashboardEntries": []})
    cloudwatch.operation("GetMetricStatistics")(lambda _ctx, _params: {})
    cloudwatch.operation("PutMetricAlarm")(lambda _ctx, _params: None)

    incidents = ServiceHandlers("ssm-incidents")
    incidents.operation("UpdateResponsePlan")(lambda _ctx, _params: {})
    return {handlers.service: handlers for handlers in (contacts, cloudwatch, incidents)}


@pytest.fixture
def stand_ins(server: RunningServer) -> RunningServer:
    """The server with stand-in handlers for a few operations that Tocsin does not serve yet.

    An unimplemented operation returns the unknown-operation error before its
    body is read, so the JSON, CBOR and rest-json decoders and the validator
    are reachable only through an implemented operation. The stand-ins return
    empty or fixed output. They replace the handlers of their whole service in
    this server only.
    """
    server.runtime.handlers.update(_stand_in_handlers())
    return server


# --- awsJson (ssm-contacts) ---------------------------------------------------


VALID_CONTACT: dict[str, Any] = {"Alias": "on-call", "Type": "PERSONAL", "Plan": {"Stages": []}}


def test_json_unimplemented_ignores_body(server: RunningServer, keys: Keys) -> None:
    # The operation is looked up before the body is decoded, so a broken body of
    # an operation the server lacks gets the unknown-operation error.
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AmazonSSM.DescribeInstanceInformation",
    }
    response = send(server, keys, "ssm", b"{not json", headers)
    assert_error(
        response, 400, "UnknownOperationException", "DescribeInstanceInformation is not implemented"
    )


def test_json_malformed_bodies(stand_ins: RunningServer, keys: Keys) -> None:
    headers = contacts_headers("CreateContact")
    good = send(stand_ins, keys, "ssm-contacts", json.dumps(VALID_CONTACT).encode(), headers)
    assert good.status_code == 200, good.text
    cases = [
        (b"{not json", "not valid JSON"),
        (b'{"Alias": "on-call",}', "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"on-call"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b"42", "must be a JSON object"),
        (b"\xff\xfe{}", "not valid UTF-8"),
        (b'{"Alias": "\xc3"}', "not valid UTF-8"),
        (b"[" * 100_000, "nested too deeply"),
        (b'{"Alias": ' + b"9" * 5000 + b"}", "a number with too many digits"),
    ]
    for body, fragment in cases:
        response = send(stand_ins, keys, "ssm-contacts", body, headers)
        error = assert_error(response, 400, "SerializationException", fragment)
        assert "sys." not in error.message


def test_json_wrong_content_type(stand_ins: RunningServer, keys: Keys) -> None:
    body = json.dumps(VALID_CONTACT).encode()
    for content_type in ("text/plain", "application/xml", FORM):
        headers = {**contacts_headers("CreateContact"), "Content-Type": content_type}
        response = send(stand_ins, keys, "ssm-contacts", body, headers)
        assert_error(response, 400, "SerializationException", "Unsupported Content-Type")


def test_json_empty_body_lists_required(stand_ins: RunningServer, keys: Keys) -> None:
    for body in (b"", b"{}", b"  \n"):
        response = send(stand_ins, keys, "ssm-contacts", body, contacts_headers("CreateContact"))
        error = assert_error(response, 400, "ValidationException", "3 validation errors")
        for member in ("alias", "type", "plan"):
            assert f"Value null at '{member}'" in error.message
        # ssm-contacts names the failed members in Reason and Fields.
        assert error.document.get("Reason") == "FIELD_VALIDATION_FAILED"
        fields = [field["Name"] for field in error.document.get("Fields", [])]
        assert fields == ["alias", "type", "plan"]


def test_json_member_violations(stand_ins: RunningServer, keys: Keys) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"Alias": 5}, "alias", "Member must be a string"),
        ({"Alias": {"first": "on-call"}}, "alias", "Member must be a string"),
        ({"Alias": ["on-call"]}, "alias", "Member must be a string"),
        ({"Alias": "a" * 256}, "alias", "length less than or equal to 255"),
        ({"Alias": ""}, "alias", "length greater than or equal to 1"),
        ({"Alias": "On Call"}, "alias", "regular expression pattern"),
        ({"Type": "MANAGER"}, "type", "enum value set: [PERSONAL, ESCALATION, ONCALL_SCHEDULE]"),
        ({"Type": 1}, "type", "Member must be a string"),
        ({"Plan": "all hands"}, "plan", "Member must be a structure"),
        ({"Plan": {"Stages": "first"}}, "plan.stages", "Member must be a list"),
        ({"Tags": [{"Key": "k", "Value": "v"}] * 51}, "tags", "less than or equal to 50"),
    ]
    for override, path, constraint in cases:
        body = json.dumps({**VALID_CONTACT, **override}).encode()
        response = send(stand_ins, keys, "ssm-contacts", body, contacts_headers("CreateContact"))
        error = assert_error(response, 400, "ValidationException", constraint)
        assert f"at '{path}'" in error.message


def test_json_unknown_targets(server: RunningServer, keys: Keys) -> None:
    cases = [
        ("SSMContacts.DeleteEverything", "'SSMContacts.DeleteEverything'"),
        # A real operation under another served service's prefix.
        ("AmazonSSM.ListDocuments", "expected X-Amz-Target SSMContacts.<Operation>"),
        ("AWSEvents.ListRules", "expected X-Amz-Target SSMContacts.<Operation>"),
        ("ListContacts", "expected X-Amz-Target SSMContacts.<Operation>"),
        ("SSMContacts.", "expected X-Amz-Target SSMContacts.<Operation>"),
    ]
    for target, fragment in cases:
        headers = {"X-Amz-Target": target, "Content-Type": JSON_11}
        response = send(server, keys, "ssm-contacts", b"{}", headers)
        assert_error(response, 400, "UnknownOperationException", fragment)

    response = send(server, keys, "ssm-contacts", b"{}", {"Content-Type": JSON_11})
    assert_error(response, 400, "UnknownOperationException", "Missing X-Amz-Target")


# --- awsQuery (IAM, STS) ------------------------------------------------------


def test_query_malformed_forms(server: RunningServer, keys: Keys) -> None:
    form = {"Content-Type": FORM}
    cases: list[tuple[bytes, dict[str, str], str, str]] = [
        (b"", {}, "MissingAction", "no Action parameter"),
        (b"Version=2010-05-08", form, "MissingAction", "no Action parameter"),
        (b"&&&=&", form, "MissingAction", "no Action parameter"),
        (
            b"Action=DeleteEverything&" + IAM_VERSION.encode(),
            form,
            "InvalidAction",
            "The action DeleteEverything is not valid",
        ),
        (b"Action=ListUsers&Version=1999-01-01", form, "InvalidAction", "version 1999-01-01"),
        (b"Action=GetUser&UserName=%E9", form, "ValidationError", "percent-encoded UTF-8"),
        (b"Action=GetUser&UserName=\xe9t\xe9", form, "ValidationError", "must be ASCII"),
        (
            b"Action=ListUsers&MaxItems=many",
            form,
            "ValidationError",
            "Invalid value 'many' for parameter MaxItems: expected an integer",
        ),
        (
            b"Action=ListUsers",
            {"Content-Type": "application/json"},
            "ValidationError",
            "Unsupported Content-Type 'application/json'",
        ),
    ]
    for body, headers, code, fragment in cases:
        response = send(server, keys, "iam", body, headers)
        assert_error(response, 400, code, fragment)


def test_query_member_violations(server: RunningServer, keys: Keys) -> None:
    role_arn = f"arn:aws:iam::{keys.account_id}:role/responder"
    assume = f"Action=AssumeRole&Version=2011-06-15&RoleArn={role_arn}&RoleSessionName=s"
    cases = [
        ("iam", "Action=CreateUser", "userName", "Member must not be null"),
        ("iam", "Action=CreateUser&UserName=" + "u" * 65, "userName", "less than or equal to 64"),
        ("iam", "Action=CreateUser&UserName=two+words", "userName", "regular expression"),
        ("iam", "Action=ListUsers&MaxItems=0", "maxItems", "greater than or equal to 1"),
        (
            "iam",
            "Action=ListUsers&MaxItems=99999999999999999999",
            "maxItems",
            "less than or equal to 1000",
        ),
        (
            "iam",
            "Action=UpdateAccessKey&AccessKeyId=AKIAEXAMPLEEXAMPLE00&Status=Maybe",
            "status",
            "enum value set: [Active, Inactive, Expired]",
        ),
        ("sts", assume + "&DurationSeconds=60", "durationSeconds", "greater than or equal to 900"),
        ("sts", "Action=AssumeRole&RoleArn=x&RoleSessionName=s", "roleArn", "greater than or"),
        ("sts", "Action=AssumeRole&RoleSessionName=s", "roleArn", "Member must not be null"),
    ]
    for service, form, path, constraint in cases:
        version = IAM_VERSION if service == "iam" else "Version=2011-06-15"
        body = f"{form}&{version}".encode()
        response = send(server, keys, service, body, {"Content-Type": FORM})
        error = assert_error(response, 400, "ValidationError", constraint)
        assert f"at '{path}'" in error.message


def test_query_xml_special_characters(server: RunningServer, keys: Keys) -> None:
    special = "<x>&\"']]>"
    form = {"Content-Type": FORM}
    encoded = httpx.QueryParams({"Action": "GetUser", "UserName": special})
    response = send(server, keys, "iam", f"{encoded}&{IAM_VERSION}".encode(), form)
    # The message quotes the value, so it must come back intact after XML parsing.
    assert_error(response, 400, "ValidationError", f"Value '{special}' at 'userName'")

    # The IAM path pattern allows every printable ASCII character.
    path = "/a<b>&'\"]]>/"
    create = httpx.QueryParams(
        {"Action": "CreateUser", "UserName": "xml-user", "Path": path, "Version": "2010-05-08"}
    )
    created = send(server, keys, "iam", str(create).encode(), form)
    assert created.status_code == 200, created.text
    root = ElementTree.fromstring(created.content)
    assert _xml_child_text(root, "Path") == path

    iam = server.client("iam", keys)
    assert iam.get_user(UserName="xml-user")["User"]["Path"] == path


def test_query_control_characters(server: RunningServer, keys: Keys) -> None:
    # XML 1.0 cannot carry NUL or most C0 controls even escaped, so the server
    # must still send a well-formed document when a value contains them.
    for value in ("a\x00b", "a\x1bb", "a\ufffeb"):
        encoded = httpx.QueryParams({"Action": "GetUser", "UserName": value})
        response = send(
            server, keys, "iam", f"{encoded}&{IAM_VERSION}".encode(), {"Content-Type": FORM}
        )
        if value == "a\x00b":
            # PostgreSQL stores no NUL, so it is rejected as the parameter is read.
            error = assert_error(response, 400, "ValidationError", "parameter UserName")
            assert "'a\\x00b'" in error.message
            assert "NUL character" in error.message
            continue
        error = assert_error(response, 400, "ValidationError", "at 'userName'")
        assert "\ufffd" in error.message


# --- Smithy RPC v2 CBOR (CloudWatch) ------------------------------------------


def test_cbor_malformed_bodies(stand_ins: RunningServer, keys: Keys) -> None:
    path = cbor_path("ListDashboards")
    good = send(stand_ins, keys, "monitoring", cbor2.dumps({}), CBOR_HEADERS, path=path)
    assert good.status_code == 200, good.content
    cases = [
        (b"\xff\xff", "not valid CBOR"),
        (b"\xa1", "not valid CBOR"),
        (b"\x9f" * 5000, "not valid CBOR"),
        (cbor2.dumps([1, 2]), "must be a CBOR map"),
        (cbor2.dumps("dashboards"), "must be a CBOR map"),
        (cbor2.dumps({}) + b"\x00", "1 bytes after the CBOR map"),
    ]
    for body, fragment in cases:
        response = send(stand_ins, keys, "monitoring", body, CBOR_HEADERS, path=path)
        assert_error(response, 400, "SerializationException", fragment)
        # CloudWatch keeps its query error codes, which botocore reads from this header.
        assert response.headers["x-amzn-query-error"] == "SerializationException;Sender"


def test_cbor_wrong_headers(stand_ins: RunningServer, keys: Keys) -> None:
    path = cbor_path("ListDashboards")
    body = cbor2.dumps({})
    wrong_type = {**CBOR_HEADERS, "Content-Type": "application/json"}
    response = send(stand_ins, keys, "monitoring", body, wrong_type, path=path)
    assert_error(response, 400, "SerializationException", "Unsupported Content-Type")

    no_protocol = {"Content-Type": CBOR}
    response = send(stand_ins, keys, "monitoring", body, no_protocol, path=path)
    assert_error(response, 400, "SerializationException", "smithy-protocol must be")


def test_cbor_member_violations(stand_ins: RunningServer, keys: Keys) -> None:
    path = cbor_path("ListDashboards")
    cases = [
        ({"DashboardNamePrefix": 5}, "dashboardNamePrefix", "Member must be a string"),
        ({"DashboardNamePrefix": b"\xff"}, "dashboardNamePrefix", "Member must be a string"),
        ({"NextToken": ["a"]}, "nextToken", "Member must be a string"),
    ]
    for document, member, constraint in cases:
        response = send(
            stand_ins, keys, "monitoring", cbor2.dumps(document), CBOR_HEADERS, path=path
        )
        error = assert_error(response, 400, "InvalidParameterValueException", constraint)
        assert f"at '{member}'" in error.message


def test_cbor_unknown_operation(server: RunningServer, keys: Keys) -> None:
    body = cbor2.dumps({})
    cases = [
        (cbor_path("DeleteEverything"), "'DeleteEverything'"),
        ("/service/AmazonSSM/operation/ListDocuments", "'AmazonSSM'"),
    ]
    for path, fragment in cases:
        response = send(server, keys, "monitoring", body, CBOR_HEADERS, path=path)
        assert_error(response, 404, "UnknownOperationException", fragment)


# --- restJson1 (ssm-incidents, RAM) -------------------------------------------


def test_rest_json_unknown_paths(server: RunningServer, keys: Keys) -> None:
    json_type = {"Content-Type": "application/json"}
    cases = [
        ("ssm-incidents", "POST", "/deleteEverything", 404, "No operation of ssm-incidents"),
        ("ram", "POST", "/deleteeverything", 404, "No operation of ram matches"),
        ("ssm-incidents", "PUT", "/tags/x", 405, "Method PUT is not allowed on /tags/x"),
    ]
    for service, method, path, status, fragment in cases:
        response = send(server, keys, service, b"{}", json_type, path=path, method=method)
        assert_error(response, status, "UnknownOperationException", fragment)


def test_rest_json_malformed_bodies(stand_ins: RunningServer, keys: Keys) -> None:
    json_type = {"Content-Type": "application/json"}
    path = "/updateResponsePlan"
    plan_arn = f"arn:aws:ssm-incidents::{keys.account_id}:response-plan/web"
    cases: list[tuple[bytes, str, str]] = [
        (b"{not json", "SerializationException", "not valid JSON"),
        (b"[]", "SerializationException", "must be a JSON object"),
        (b"\xff", "SerializationException", "not valid UTF-8"),
        (b'{"arn": 5}', "ValidationException", "Member must be a string"),
        (b"{}", "ValidationException", "Value null at 'arn'"),
        (
            json.dumps({"arn": plan_arn, "displayName": "d" * 201}).encode(),
            "ValidationException",
            "length less than or equal to 200",
        ),
    ]
    for body, code, fragment in cases:
        response = send(stand_ins, keys, "ssm-incidents", body, json_type, path=path)
        assert_error(response, 400, code, fragment)


# --- body size ----------------------------------------------------------------


def test_body_over_limit(server: RunningServer, keys: Keys) -> None:
    padding = b"x" * DEFAULT_MAX_BODY_BYTES
    cases = [
        ("sts", STS_CALLER_IDENTITY + b"&Padding=" + padding, {"Content-Type": FORM}, "text/xml"),
        (
            "ssm-contacts",
            b'{"Alias": "' + padding + b'"}',
            contacts_headers("ListContacts"),
            JSON_11,
        ),
    ]
    for service, body, headers, content_type in cases:
        response = send(server, keys, service, body, headers)
        assert_error(response, 413, "RequestEntityTooLarge", "TOCSIN_MAX_BODY_BYTES")
        # The error comes in the protocol of the service that the signature names.
        assert response.headers["content-type"] == content_type


def test_body_at_limit_accepted(server: RunningServer, keys: Keys) -> None:
    body = STS_CALLER_IDENTITY + b"&Padding="
    body += b"x" * (DEFAULT_MAX_BODY_BYTES - len(body))
    response = send(server, keys, "sts", body, {"Content-Type": FORM})
    assert response.status_code == 200, response.text
    assert keys.account_id in response.text


def test_body_over_limit_streamed(server: RunningServer) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(30):
            yield b"x" * (100 * 1024)

    # Chunked transfer encoding sends no Content-Length, so the server counts.
    response = httpx.post(
        server.url + "/", content=chunks(), headers={"Content-Type": FORM}, timeout=10
    )
    assert_error(response, 413, "RequestEntityTooLarge", "maximum size of 2097152 bytes")


def _exchange(server: RunningServer, raw_request: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes on a new connection and return everything received until it closes."""
    received = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as connection:
        connection.sendall(raw_request)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
    return received


def test_declared_length_over_limit(server: RunningServer) -> None:
    # The body is not sent in full, so the server must respond from the header alone.
    raw_request = (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + FORM.encode() + b"\r\n"
        b"Content-Length: 100000000000\r\nConnection: close\r\n\r\nAction="
    )
    received = _exchange(server, raw_request)
    assert received.startswith(b"HTTP/1.1 413 "), received[:200]
    assert b"<Code>RequestEntityTooLarge</Code>" in received


def test_declared_length_shorter_than_body(server: RunningServer) -> None:
    # Only the declared 5 bytes ("Actio") belong to the request. It is unsigned,
    # and authentication comes before any reading of the body.
    raw_request = (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + FORM.encode() + b"\r\n"
        b"Content-Length: 5\r\nConnection: close\r\n\r\nAction=GetCallerIdentity"
    )
    received = _exchange(server, raw_request)
    assert received.startswith(b"HTTP/1.1 403 "), received[:200]
    assert b"<Code>MissingAuthenticationToken</Code>" in received


class _ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.arrived = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.arrived.set()


def test_truncated_body_logs_no_error(server: RunningServer) -> None:
    records = _ErrorRecords()
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.addHandler(records)
    try:
        raw_request = (
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + FORM.encode() + b"\r\n"
            b"Content-Length: 100\r\n\r\nAction=Get"
        )
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as connection:
            connection.sendall(raw_request)
            time.sleep(0.2)
        # A client that hangs up mid-body is routine, not a server error.
        records.arrived.wait(timeout=1.0)
    finally:
        uvicorn_log.removeHandler(records)
    assert [record.getMessage() for record in records.records] == []


# --- authentication -----------------------------------------------------------


def test_missing_authorization(server: RunningServer) -> None:
    cases = [
        (STS_CALLER_IDENTITY, {"Content-Type": FORM}, "MissingAuthenticationToken"),
        (b"{}", contacts_headers("ListContacts"), "MissingAuthenticationTokenException"),
        (b"{}", cloudwatch_json_headers("ListDashboards"), "MissingAuthenticationTokenException"),
    ]
    for body, headers, code in cases:
        response = send_unsigned(server, body, headers)
        assert_error(response, 403, code, "missing Authentication Token")


def test_missing_authorization_rest_json_cbor(server: RunningServer) -> None:
    cases = [
        ("/listResponsePlans", {"Content-Type": "application/json"}, b"{}"),
        (cbor_path("ListDashboards"), CBOR_HEADERS, cbor2.dumps({})),
    ]
    for path, headers, body in cases:
        error = wire_error(send_unsigned(server, body, headers, path))
        assert error.status == 403, error
        assert error.code.startswith("MissingAuthenticationToken"), error


GARBLED_AUTHORIZATION = [
    ("Basic dXNlcjpwYXNz", "Unsupported Authorization algorithm 'Basic'"),
    ("AWS4-ECDSA-P256-SHA256 Credential=x", "only AWS4-HMAC-SHA256 is accepted"),
    ("AWS4-HMAC-SHA256", "is not of the form name=value"),
    ("AWS4-HMAC-SHA256 , , ,", "is not of the form name=value"),
    ("AWS4-HMAC-SHA256 Credential=x", "requires a 'SignedHeaders' parameter"),
    ("AWS4-HMAC-SHA256 Credential=x, SignedHeaders=host", "requires a 'Signature' parameter"),
    ("AWS4-HMAC-SHA256 Credential=, SignedHeaders=host, Signature=ab", "requires a 'Credential'"),
    ("AWS4-HMAC-SHA256 Credential=AKID/20200101, SignedHeaders=host, Signature=ab", "malformed"),
    (
        "AWS4-HMAC-SHA256 Credential=AKID//us-east-1/sts/aws4_request, SignedHeaders=host, "
        "Signature=ab",
        "malformed",
    ),
    (
        "AWS4-HMAC-SHA256 Credential=AKID/20200101/us-east-1/sts/aws5_request, "
        "SignedHeaders=host, Signature=ab",
        "valid terminator: 'aws4_request', not 'aws5_request'",
    ),
    (
        "AWS4-HMAC-SHA256 Credential=AKID/20191231/us-east-1/sts/aws4_request, "
        "SignedHeaders=host, Signature=ab",
        "'20191231' != '20200101'",
    ),
    (
        "AWS4-HMAC-SHA256 Credential=AKID/20200101/us-east-1/sts/aws4_request, "
        "SignedHeaders=Host;X-Amz-Date, Signature=ab",
        "must list lower-case names",
    ),
    (
        "AWS4-HMAC-SHA256 Credential=AKID/20200101/us-east-1/sts/aws4_request, "
        "SignedHeaders=host;;x-amz-date, Signature=ab",
        "contains an empty header name",
    ),
    ("A" * 6000, "Unsupported Authorization algorithm"),
]


def test_garbled_authorization(server: RunningServer) -> None:
    for authorization, fragment in GARBLED_AUTHORIZATION:
        headers = {
            "Content-Type": FORM,
            "X-Amz-Date": "20200101T000000Z",
            "Authorization": authorization,
        }
        response = send_unsigned(server, STS_CALLER_IDENTITY, headers)
        assert_error(response, 403, "IncompleteSignature", fragment)

        json_headers = {**headers, **contacts_headers("ListContacts")}
        response = send_unsigned(server, b"{}", json_headers)
        assert_error(response, 403, "IncompleteSignatureException", fragment)


def test_authorization_date_headers(server: RunningServer) -> None:
    authorization = (
        "AWS4-HMAC-SHA256 Credential=AKID/20200101/us-east-1/sts/aws4_request, "
        "SignedHeaders=host, Signature=ab"
    )
    cases = [
        ({}, "either an 'X-Amz-Date' or a 'Date' header"),
        ({"X-Amz-Date": "yesterday"}, "'yesterday' is not a valid ISO 8601 basic date"),
        ({"X-Amz-Date": "2020-01-01T00:00:00Z"}, "is not a valid ISO 8601 basic date"),
        ({"Date": "someday"}, "'someday' is not a valid RFC 7231 date"),
    ]
    for extra, fragment in cases:
        headers = {"Content-Type": FORM, "Authorization": authorization, **extra}
        response = send_unsigned(server, STS_CALLER_IDENTITY, headers)
        assert_error(response, 403, "IncompleteSignature", fragment)


def test_unserved_service_scope_json(server: RunningServer, keys: Keys) -> None:
    for service in ("s3", "dynamodb", "SSM-CONTACTS"):
        response = send(server, keys, service, b"{}", contacts_headers("ListContacts"))
        error = assert_error(response, 400, "UnknownOperationException", f"'{service}'")
        assert "served services: events, iam, monitoring" in error.message


def test_unserved_service_scope_query(server: RunningServer, keys: Keys) -> None:
    response = send(server, keys, "s3", STS_CALLER_IDENTITY, {"Content-Type": FORM})
    assert_error(response, 400, "InvalidAction", "'s3'")


def test_wrong_secret(server: RunningServer, keys: Keys) -> None:
    wrong = "x" * 40
    response = send(server, keys, "sts", STS_CALLER_IDENTITY, {"Content-Type": FORM}, secret=wrong)
    assert_error(response, 403, "SignatureDoesNotMatch", "does not match the signature")

    headers = contacts_headers("ListContacts")
    response = send(server, keys, "ssm-contacts", b"{}", headers, secret=wrong)
    assert_error(response, 403, "InvalidSignatureException", "does not match the signature")


def test_unknown_access_key(server: RunningServer, keys: Keys) -> None:
    unknown = "AKIAIOSFODNN7EXAMPLE"
    response = send(
        server, keys, "sts", STS_CALLER_IDENTITY, {"Content-Type": FORM}, access_key=unknown
    )
    error = wire_error(response)
    assert error.status == 403, error
    assert error.code == "InvalidClientTokenId", error
    assert error.message, error

    headers = contacts_headers("ListContacts")
    response = send(server, keys, "ssm-contacts", b"{}", headers, access_key=unknown)
    error = wire_error(response)
    assert error.status == 403, error
    assert error.code == "UnrecognizedClientException", error


def test_body_swapped_after_signing(server: RunningServer, keys: Keys) -> None:
    request = AWSRequest(
        method="POST",
        url=server.url + "/",
        data=STS_CALLER_IDENTITY,
        headers={"Content-Type": FORM},
    )
    SigV4Auth(Credentials(keys.access_key_id, keys.secret_access_key), "sts", REGION).add_auth(
        request
    )
    swapped = b"Action=GetCallerIdentity&Version=2011-06-15&Extra=1"
    # Content-Length is not signed, so the new body's length is sent in its place.
    headers = {
        name: value
        for name, value in request.prepare().headers.items()
        if name.lower() != "content-length"
    }
    response = httpx.post(server.url + "/", headers=headers, content=swapped, timeout=10)
    assert_error(response, 403, "SignatureDoesNotMatch", "does not match")


def test_clock_skew_twenty_minutes(server: RunningServer, keys: Keys) -> None:
    now = datetime.now(UTC)
    cases = [
        (now - timedelta(minutes=20), "Signature expired"),
        (now + timedelta(minutes=20), "Signature not yet current"),
    ]
    for signed_at, fragment in cases:
        response = send(
            server, keys, "sts", STS_CALLER_IDENTITY, {"Content-Type": FORM}, signed_at=signed_at
        )
        assert_error(response, 403, "SignatureDoesNotMatch", fragment)

        headers = contacts_headers("ListContacts")
        response = send(server, keys, "ssm-contacts", b"{}", headers, signed_at=signed_at)
        assert_error(response, 403, "InvalidSignatureException", fragment)

    # Ten minutes is inside the 15-minute window.
    response = send(
        server,
        keys,
        "sts",
        STS_CALLER_IDENTITY,
        {"Content-Type": FORM},
        signed_at=now - timedelta(minutes=10),
    )
    assert response.status_code == 200, response.text


def _presigned_url(server: RunningServer, keys: Keys, expires: int, signed_at: datetime) -> str:
    url = f"{server.url}/?{STS_CALLER_IDENTITY.decode()}"
    request = AWSRequest(method="GET", url=url)
    credentials = Credentials(keys.access_key_id, keys.secret_access_key)
    naive_utc = signed_at.astimezone(UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=naive_utc):
        SigV4QueryAuth(credentials, "sts", REGION, expires).add_auth(request)
    return str(request.prepare().url)


def test_presigned_url_expired(server: RunningServer, keys: Keys) -> None:
    now = datetime.now(UTC)
    fresh = httpx.get(_presigned_url(server, keys, 300, now), timeout=10)
    assert fresh.status_code == 200, fresh.text

    expired = httpx.get(_presigned_url(server, keys, 60, now - timedelta(minutes=5)), timeout=10)
    assert_error(expired, 403, "SignatureDoesNotMatch", "Request has expired")

    # Presigned URLs may last up to seven days, beyond the 15-minute skew window.
    week_old = _presigned_url(server, keys, 7 * 24 * 3600, now - timedelta(days=6))
    assert httpx.get(week_old, timeout=10).status_code == 200

    too_long = _presigned_url(server, keys, 7 * 24 * 3600 + 1, now)
    assert_error(httpx.get(too_long, timeout=10), 403, "IncompleteSignature", "X-Amz-Expires")


# --- decoding limits that reach the handler layer -----------------------------


def test_double_member_huge_integer(stand_ins: RunningServer, keys: Keys) -> None:
    alarm = {
        "AlarmName": "cpu",
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 10**400,
    }
    headers = cloudwatch_json_headers("PutMetricAlarm")
    response = send(stand_ins, keys, "monitoring", json.dumps(alarm).encode(), headers)
    error = wire_error(response)
    assert error.status == 400, error
    assert "threshold" in error.message.lower(), error


def test_timestamp_out_of_range(stand_ins: RunningServer, keys: Keys) -> None:
    statistics = {"Namespace": "web", "MetricName": "latency", "Period": 60, "EndTime": 2}
    statistics["Statistics"] = ["Sum"]
    headers = cloudwatch_json_headers("GetMetricStatistics")
    for start in (1e20, -1e20, "99999999999999999999", "9999-12-31T23:59:59-01:00"):
        body = json.dumps({**statistics, "StartTime": start}).encode()
        error = wire_error(send(stand_ins, keys, "monitoring", body, headers))
        assert error.status == 400, (start, error)

    form = (
        "Action=GetMetricStatistics&Version=2010-08-01&Namespace=web&MetricName=latency"
        "&Period=60&Statistics.member.1=Sum&EndTime=2&StartTime=99999999999999999999"
    )
    response = send(stand_ins, keys, "monitoring", form.encode(), {"Content-Type": FORM})
    assert wire_error(response).status == 400


# --- unimplemented operations through boto3 -----------------------------------


def test_unimplemented_operations_boto3(server: RunningServer, keys: Keys) -> None:
    cases = [
        ("sns", "list_platform_applications", "InvalidAction"),
        ("ssm", "describe_instance_information", "UnknownOperationException"),
        ("ram", "list_replace_permission_associations_work", "UnknownOperationException"),
        ("cloudwatch", "list_dashboards", "UnknownOperationException"),
    ]
    for service, method, code in cases:
        client = server.client(service, keys)
        with pytest.raises(ClientError) as caught:
            getattr(client, method)()
        response = caught.value.response
        assert response["Error"]["Code"] == code, (service, response)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 400, (service, response)
        assert "is not implemented" in response["Error"]["Message"], (service, response)


# --- the server after all of the above ----------------------------------------


def test_server_survives_abuse(server: RunningServer, keys: Keys) -> None:
    iam = server.client("iam", keys)
    iam.create_user(UserName="survivor", Path="/kept/")

    volley: list[tuple[str, bytes, dict[str, str]]] = [
        ("ssm-contacts", b"{not json", contacts_headers("CreateContact")),
        ("ssm-contacts", b"\xff" * 1000, contacts_headers("CreateContact")),
        ("iam", b"Action=DeleteUser&UserName=%E9", {"Content-Type": FORM}),
        ("iam", b"Action=DeleteUser&UserName=" + b"u" * 100, {"Content-Type": FORM}),
        ("iam", b"Action=DeleteUser", {"Content-Type": FORM}),
        ("monitoring", b"\xff\xff", CBOR_HEADERS),
        (
            "sts",
            STS_CALLER_IDENTITY + b"&P=" + b"x" * DEFAULT_MAX_BODY_BYTES,
            {"Content-Type": FORM},
        ),
    ]
    for _round in range(3):
        for service, body, headers in volley:
            response = send(server, keys, service, body, headers)
            assert 400 <= response.status_code < 500, (service, body[:40], response.text[:200])
        for authorization, _fragment in GARBLED_AUTHORIZATION:
            headers = {"Content-Type": FORM, "Authorization": authorization}
            response = send_unsigned(server, STS_CALLER_IDENTITY, headers)
            assert response.status_code == 403, response.text[:200]
        response = send(
            server,
            keys,
            "iam",
            b"Action=DeleteUser&UserName=survivor&" + IAM_VERSION.encode(),
            {"Content-Type": FORM},
            secret="x" * 40,
        )
        assert response.status_code == 403, response.text[:200]

    user = iam.get_user(UserName="survivor")["User"]
    assert user["Path"] == "/kept/"
    identity = server.client("sts", keys).get_caller_identity()
    assert identity["Account"] == keys.account_id
    health = httpx.get(server.url + "/healthz", timeout=10)
    assert health.status_code == 200
