"""Wire-protocol codecs checked against botocore, which is the client they must satisfy.

Requests come from botocore's own serializers, or from a real boto3 client
whose ``before-send`` hook hands the prepared request to the codec and
returns the codec's response. botocore's parsers read the responses back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import boto3  # type: ignore[import-untyped]
import botocore.exceptions
import cbor2
import pytest
from botocore.awsrequest import (
    AWSPreparedRequest,
    AWSResponse,
    HeadersDict,
    create_request_object,
    prepare_request_dict,
)
from botocore.config import Config
from botocore.model import OperationModel, ServiceModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from tocsin.protocol.codec import Codec, HttpRequest, HttpResponse
from tocsin.protocol.codecs import codec_for, detect_protocol
from tocsin.protocol.errors import (
    AuthError,
    ConflictException,
    InternalFailure,
    ResourceNotFoundException,
    ServiceError,
    ValidationException,
)
from tocsin.protocol.services import ServiceSpec, load_spec
from tocsin.protocol.shapes import resolve_error

ENDPOINT = "http://127.0.0.1:9"
REQUEST_ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
ARN = "arn:aws:ssm-incidents::123456789012:response-plan/rp1"
ENCODED_ARN = "arn%3Aaws%3Assm-incidents%3A%3A123456789012%3Aresponse-plan%2Frp1"

Handler = Callable[[str, dict[str, Any]], Mapping[str, Any] | None]


# --- harness ----------------------------------------------------------------


def to_http_request(prepared: AWSPreparedRequest) -> HttpRequest:
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    headers = {
        name.lower(): value.decode() if isinstance(value, bytes) else str(value)
        for name, value in prepared.headers.items()
    }
    return HttpRequest(prepared.method, url.path, url.query, headers, body)


def serialize_request(
    spec: ServiceSpec, protocol: str, operation: str, params: Mapping[str, Any]
) -> HttpRequest:
    """Build the HTTP request that botocore's ``protocol`` serializer writes."""
    model = spec.model
    if protocol != spec.protocols[0]:
        model = service_model_as(spec, protocol)
    request_dict = create_serializer(protocol, include_validation=False).serialize_to_request(
        dict(params), model.operation_model(operation)
    )
    prepare_request_dict(request_dict, endpoint_url=ENDPOINT)
    return to_http_request(create_request_object(request_dict).prepare())


@cache
def service_model_as(spec: ServiceSpec, protocol: str) -> ServiceModel:
    """Return ``spec``'s model with ``protocol`` as its only protocol (CloudWatch speaks three)."""
    from botocore.loaders import Loader

    data = Loader().load_service_model(spec.name, "service-2")
    data["metadata"]["protocol"] = protocol
    data["metadata"]["protocols"] = [protocol]
    return ServiceModel(data, service_name=spec.name)


def parse_response(
    protocol: str, response: HttpResponse, operation: OperationModel
) -> dict[str, Any]:
    """Parse ``response`` the way a botocore client does, modeled error fields included."""
    parser = create_parser(protocol)
    response_dict = {
        "status_code": response.status,
        "headers": HeadersDict(response.headers),
        "body": response.body,
        "context": {"operation_name": operation.name},
    }
    parsed: dict[str, Any] = parser.parse(response_dict, operation.output_shape)
    if response.status >= 300:
        code = parsed.get("Error", {}).get("Code")
        error_shape = operation.service_model.shape_for_error_code(code)
        if error_shape is not None:
            parsed.update(parser.parse(response_dict, error_shape))
    return parsed


def decode(codec: Codec, request: HttpRequest) -> tuple[str, dict[str, Any]]:
    operation = codec.resolve_operation(request)
    return operation.name, codec.parse_request(operation, request)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def loopback_client(service: str, handler: Handler, seen: list[tuple[str, dict[str, Any]]]) -> Any:
    """Return a boto3 client whose requests go through Tocsin's codecs to ``handler``."""
    spec = load_spec(service)
    client = boto3.client(
        service,
        region_name="eu-west-1",
        endpoint_url=ENDPOINT,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(retries={"total_max_attempts": 1}, parameter_validation=False),
    )

    def before_send(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        http_request = to_http_request(request)
        codec = codec_for(spec, http_request)
        try:
            operation = codec.resolve_operation(http_request)
            params = codec.parse_request(operation, http_request)
            seen.append((operation.name, params))
            output = handler(operation.name, params) or {}
            response = codec.serialize_response(operation, output, REQUEST_ID)
        except ServiceError as error:
            response = codec.serialize_error(error, REQUEST_ID)
        return AWSResponse(request.url, response.status, response.headers, _Raw(response.body))

    client.meta.events.register("before-send", before_send)
    return client


def canned(output: Mapping[str, Any] | None = None) -> Handler:
    return lambda _operation, _params: output


def raising(error: ServiceError) -> Handler:
    def handler(_operation: str, _params: dict[str, Any]) -> None:
        raise error

    return handler


def error_of(excinfo: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> dict[str, Any]:
    response: dict[str, Any] = excinfo.value.response
    return response


T0 = datetime(2024, 5, 17, 8, 30, 15, 123000, tzinfo=UTC)


# --- rest-json --------------------------------------------------------------


def test_rest_json_arn_label_keeps_encoded_slash() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    client = loopback_client("ssm-incidents", canned({"tags": {"team": "sre"}}), seen)
    result = client.list_tags_for_resource(resourceArn=ARN)
    assert seen == [("ListTagsForResource", {"resourceArn": ARN})]
    assert result["tags"] == {"team": "sre"}


def test_rest_json_tag_resource_returns_204() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    client = loopback_client("ssm-incidents", canned(), seen)
    result = client.tag_resource(resourceArn=ARN, tags={"a": "1", "b": ""})
    assert seen == [("TagResource", {"resourceArn": ARN, "tags": {"a": "1", "b": ""}})]
    assert result["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_rest_json_untag_uses_repeated_query_keys() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    client = loopback_client("ssm-incidents", canned(), seen)
    client.untag_resource(resourceArn=ARN, tagKeys=["a", "b c", "d&e"])
    assert seen == [("UntagResource", {"resourceArn": ARN, "tagKeys": ["a", "b c", "d&e"]})]


def test_rest_json_raw_path_routing() -> None:
    codec = codec_for(load_spec("ssm-incidents"), HttpRequest("GET", "/", "", {}))
    request = HttpRequest("GET", f"/tags/{ENCODED_ARN}", "", {})
    assert decode(codec, request) == ("ListTagsForResource", {"resourceArn": ARN})


def test_rest_json_create_returns_201() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    arn = "arn:aws:ssm-incidents::123456789012:replication-set/abc"
    client = loopback_client("ssm-incidents", canned({"arn": arn}), seen)
    result = client.create_replication_set(
        regions={"eu-west-1": {"sseKmsKeyId": "DefaultKey"}}, clientToken="tok"
    )
    assert result["arn"] == arn
    assert result["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert seen[0][1]["regions"] == {"eu-west-1": {"sseKmsKeyId": "DefaultKey"}}


def test_rest_json_get_with_querystring() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    record = {
        "arn": "arn:aws:ssm-incidents::123456789012:incident-record/rp/1",
        "title": "Disk full",
        "status": "OPEN",
        "impact": 2,
        "creationTime": T0,
        "lastModifiedTime": T0,
        "lastModifiedBy": "arn:aws:iam::123456789012:user/alice",
        "dedupeString": "d",
        "incidentRecordSource": {"createdBy": "me", "source": "aws.ssm-incidents.custom"},
    }
    client = loopback_client("ssm-incidents", canned({"incidentRecord": record}), seen)
    result = client.get_incident_record(arn=record["arn"])
    assert seen == [("GetIncidentRecord", {"arn": record["arn"]})]
    assert result["incidentRecord"]["creationTime"] == T0
    assert result["incidentRecord"]["impact"] == 2


def test_rest_json_ram_tag_resource_by_body_arn() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    arn = "arn:aws:ram:eu-west-1:123456789012:resource-share/7ab63972"
    client = loopback_client("ram", canned({}), seen)
    client.tag_resource(resourceShareArn=arn, tags=[{"key": "k", "value": "v"}])
    assert seen == [
        ("TagResource", {"resourceShareArn": arn, "tags": [{"key": "k", "value": "v"}]})
    ]


def test_rest_json_ram_delete_querystring() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    arn = "arn:aws:ram:eu-west-1:123456789012:resource-share/7ab63972"
    client = loopback_client("ram", canned({"returnValue": True, "clientToken": "t"}), seen)
    result = client.delete_resource_share(resourceShareArn=arn, clientToken="t")
    assert seen == [("DeleteResourceShare", {"resourceShareArn": arn, "clientToken": "t"})]
    assert result["returnValue"] is True


def test_rest_json_error_status_from_model() -> None:
    client = loopback_client("ssm-incidents", raising(ResourceNotFoundException("gone")), [])
    with pytest.raises(client.exceptions.ResourceNotFoundException) as excinfo:
        client.get_response_plan(arn=ARN)
    error = error_of(excinfo)
    assert error["Error"]["Code"] == "ResourceNotFoundException"
    assert error["Error"]["Message"] == "gone"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert error["ResponseMetadata"]["RequestId"] == REQUEST_ID


def test_rest_json_error_fields_typed_by_shape() -> None:
    fields = {"resourceIdentifier": ARN, "resourceType": "RESPONSE_PLAN", "retryAfter": T0}
    client = loopback_client("ssm-incidents", raising(ConflictException("busy", fields=fields)), [])
    with pytest.raises(client.exceptions.ConflictException) as excinfo:
        client.delete_response_plan(arn=ARN)
    error = error_of(excinfo)
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert error["resourceIdentifier"] == ARN
    assert error["retryAfter"] == T0


def test_rest_json_unknown_path_is_404() -> None:
    codec = codec_for(load_spec("ssm-incidents"), HttpRequest("GET", "/", "", {}))
    with pytest.raises(ServiceError) as excinfo:
        codec.resolve_operation(HttpRequest("POST", "/noSuchOperation", "", {}))
    assert excinfo.value.instance_code == "UnknownOperationException"
    assert excinfo.value.status == 404


def test_rest_json_wrong_method_is_405() -> None:
    codec = codec_for(load_spec("ssm-incidents"), HttpRequest("GET", "/", "", {}))
    with pytest.raises(ServiceError) as excinfo:
        codec.resolve_operation(HttpRequest("PUT", f"/tags/{ENCODED_ARN}", "", {}))
    assert excinfo.value.instance_code == "UnknownOperationException"
    assert excinfo.value.status == 405


def test_rest_json_unknown_operation_error_response() -> None:
    spec = load_spec("ssm-incidents")
    codec = codec_for(spec, HttpRequest("GET", "/", "", {}))
    operation = spec.model.operation_model("GetResponsePlan")
    with pytest.raises(ServiceError) as excinfo:
        codec.resolve_operation(HttpRequest("PUT", f"/tags/{ENCODED_ARN}", "", {}))
    parsed = parse_response("rest-json", codec.serialize_error(excinfo.value, "r"), operation)
    assert parsed["Error"]["Code"] == "UnknownOperationException"
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == 405


# --- json ---------------------------------------------------------------------


def test_json_contacts_roundtrip_with_timestamps() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    page: dict[str, Any] = {
        "PageArn": "arn:p",
        "EngagementArn": "arn:e",
        "ContactArn": "arn:c",
        "Sender": "s",
    }
    page |= {"SentTime": T0, "DeliveryTime": T0, "ReadTime": T0, "IncidentId": "i"}
    client = loopback_client("ssm-contacts", canned({"Pages": [page], "NextToken": "n"}), seen)
    result = client.list_pages_by_contact(ContactId="arn:c", MaxResults=5)
    assert seen == [("ListPagesByContact", {"ContactId": "arn:c", "MaxResults": 5})]
    assert result["Pages"] == [page]
    assert result["NextToken"] == "n"


@pytest.mark.parametrize(
    ("service", "operation", "params"),
    [
        ("events", "PutRule", {"Name": "r", "EventPattern": "{}", "State": "ENABLED"}),
        ("ssm", "StartAutomationExecution", {"DocumentName": "d", "Parameters": {"a": ["1"]}}),
        ("organizations", "DescribeAccount", {"AccountId": "123456789012"}),
        ("ssm-contacts", "AcceptPage", {"PageId": "p", "AcceptType": "READ", "AcceptCode": "1"}),
    ],
)
def test_json_services_parse_requests(service: str, operation: str, params: dict[str, Any]) -> None:
    spec = load_spec(service)
    request = serialize_request(spec, "json", operation, params)
    assert request.header("content-type") == "application/x-amz-json-1.1"
    assert decode(codec_for(spec, request), request) == (operation, params)


def test_json_no_input_body_is_empty_object() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    account = {"Id": "123456789012", "JoinedTimestamp": T0, "Status": "ACTIVE"}
    client = loopback_client("organizations", canned({"Account": account}), seen)
    spec = load_spec("organizations")
    codec = codec_for(spec, HttpRequest("POST", "/", "", {"x-amz-target": "x"}))
    target = {"x-amz-target": "AWSOrganizationsV20161128.DescribeOrganization"}
    for body in (b"", b"{}"):
        assert decode(codec, HttpRequest("POST", "/", "", target, body)) == (
            "DescribeOrganization",
            {},
        )
    result = client.describe_account(AccountId="123456789012")
    assert result["Account"]["JoinedTimestamp"] == T0


def test_json_error_code_and_status_per_service() -> None:
    client = loopback_client("ssm-contacts", raising(ResourceNotFoundException("no contact")), [])
    with pytest.raises(client.exceptions.ResourceNotFoundException) as excinfo:
        client.get_contact(ContactId="arn:c")
    error = error_of(excinfo)
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Message"] == "no contact"


def test_json_error_fields() -> None:
    fields = {"Reason": "FIELD_VALIDATION_FAILED", "Fields": [{"Name": "Alias", "Message": "bad"}]}
    error = ValidationException("invalid", fields=fields)
    client = loopback_client("ssm-contacts", raising(error), [])
    with pytest.raises(client.exceptions.ValidationException) as excinfo:
        client.get_contact(ContactId="arn:c")
    response = error_of(excinfo)
    assert response["Reason"] == "FIELD_VALIDATION_FAILED"
    assert response["Fields"] == [{"Name": "Alias", "Message": "bad"}]


def test_json_auth_error_code() -> None:
    client = loopback_client("events", raising(AuthError("unknown_key", "no such key")), [])
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        client.list_rules()
    error = error_of(excinfo)
    assert error["Error"]["Code"] == "UnrecognizedClientException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_json_internal_failure_is_500() -> None:
    client = loopback_client("ssm", raising(InternalFailure("boom")), [])
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        client.describe_automation_executions()
    error = error_of(excinfo)
    assert error["Error"]["Code"] == "InternalFailure"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 500


@pytest.mark.parametrize(
    "target",
    ["SSMContacts.NoSuchOperation", "AWSEvents.ListRules", "ListContacts", ""],
)
def test_json_unknown_target(target: str) -> None:
    spec = load_spec("ssm-contacts")
    codec = codec_for(spec, HttpRequest("POST", "/", "", {"x-amz-target": "x"}))
    with pytest.raises(ServiceError) as excinfo:
        codec.resolve_operation(HttpRequest("POST", "/", "", {"x-amz-target": target}, b"{}"))
    assert excinfo.value.instance_code == "UnknownOperationException"
    assert excinfo.value.status == 400


# --- query ---------------------------------------------------------------------


def test_query_sns_publish_message_attributes() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    client = loopback_client("sns", canned({"MessageId": "m-1"}), seen)
    attributes = {
        "severity": {"DataType": "String", "StringValue": "high"},
        "raw": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
    }
    result = client.publish(TopicArn="arn:t", Message="a & b <c>", MessageAttributes=attributes)
    assert result["MessageId"] == "m-1"
    assert seen == [
        (
            "Publish",
            {"TopicArn": "arn:t", "Message": "a & b <c>", "MessageAttributes": attributes},
        )
    ]


def test_query_sns_lists_and_maps_out() -> None:
    topics = [{"TopicArn": "arn:1"}, {"TopicArn": "arn:2"}]
    client = loopback_client("sns", canned({"Topics": topics, "NextToken": "n"}), [])
    assert client.list_topics()["Topics"] == topics
    attributes = {"Policy": '{"a": "<b>"}', "DisplayName": "x"}
    client = loopback_client("sns", canned({"Attributes": attributes}), [])
    assert client.get_topic_attributes(TopicArn="arn:1")["Attributes"] == attributes


def test_query_sns_not_found_code() -> None:
    error = ServiceError("Topic does not exist", code="NotFoundException")
    client = loopback_client("sns", raising(error), [])
    with pytest.raises(client.exceptions.NotFoundException) as excinfo:
        client.get_topic_attributes(TopicArn="arn:1")
    response = error_of(excinfo)
    assert response["Error"]["Code"] == "NotFound"
    assert response["Error"]["Type"] == "Sender"
    assert response["Error"]["Message"] == "Topic does not exist"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert response["ResponseMetadata"]["RequestId"] == REQUEST_ID


def test_query_sts_timestamps_and_auth_code() -> None:
    credentials = {
        "AccessKeyId": "ASIA1",
        "SecretAccessKey": "s",
        "SessionToken": "t",
        "Expiration": T0,
    }
    output = {
        "Credentials": credentials,
        "AssumedRoleUser": {"AssumedRoleId": "AROA:s", "Arn": "arn:aws:sts::1:assumed-role/r/s"},
    }
    seen: list[tuple[str, dict[str, Any]]] = []
    client = loopback_client("sts", canned(output), seen)
    result = client.assume_role(
        RoleArn="arn:aws:iam::1:role/r", RoleSessionName="s", DurationSeconds=900
    )
    assert seen[0][1]["DurationSeconds"] == 900
    assert result["Credentials"] == credentials
    client = loopback_client("sts", raising(AuthError("unknown_key", "bad key")), [])
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        client.get_caller_identity()
    assert error_of(excinfo)["Error"]["Code"] == "InvalidClientTokenId"
    assert error_of(excinfo)["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_query_iam_list_members() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    roles = [{"Path": "/", "RoleName": "r", "RoleId": "AROA", "Arn": "arn:r", "CreateDate": T0}]
    client = loopback_client("iam", canned({"Roles": roles, "IsTruncated": False}), seen)
    result = client.list_roles(PathPrefix="/", MaxItems=10)
    assert seen == [("ListRoles", {"PathPrefix": "/", "MaxItems": 10})]
    assert result["Roles"] == roles
    assert result["IsTruncated"] is False


def test_query_empty_list_and_nested_structures() -> None:
    spec = load_spec("iam")
    params = {
        "PolicyInputList": [],
        "ActionNames": ["sts:AssumeRole"],
        "ContextEntries": [
            {
                "ContextKeyName": "aws:CurrentTime",
                "ContextKeyValues": ["x"],
                "ContextKeyType": "date",
            }
        ],
    }
    request = serialize_request(spec, "query", "SimulateCustomPolicy", params)
    assert decode(codec_for(spec, request), request) == ("SimulateCustomPolicy", params)


def test_query_get_request_reads_query_string() -> None:
    spec = load_spec("sts")
    request = HttpRequest("GET", "/", "Action=GetCallerIdentity&Version=2011-06-15", {})
    assert decode(codec_for(spec, request), request) == ("GetCallerIdentity", {})


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"Action=Nope&Version=2011-06-15", "InvalidAction"),
        (b"Version=2011-06-15", "MissingAction"),
        (b"Action=GetCallerIdentity&Version=1999-01-01", "InvalidAction"),
    ],
)
def test_query_action_errors(body: bytes, code: str) -> None:
    spec = load_spec("sts")
    request = HttpRequest(
        "POST", "/", "", {"content-type": "application/x-www-form-urlencoded"}, body
    )
    with pytest.raises(ServiceError) as excinfo:
        codec_for(spec, request).resolve_operation(request)
    assert excinfo.value.instance_code == code
    assert resolve_error(spec, excinfo.value, "query")[1] == 400


def test_query_missing_version_accepted() -> None:
    spec = load_spec("sts")
    headers = {"content-type": "application/x-www-form-urlencoded"}
    request = HttpRequest("POST", "/", "", headers, b"Action=GetCallerIdentity")
    assert decode(codec_for(spec, request), request) == ("GetCallerIdentity", {})


@pytest.mark.parametrize(
    ("service", "body", "member"),
    [
        ("iam", "Action=ListRoles&Version=2010-05-08&MaxItems=ten", "MaxItems"),
        (
            "sts",
            "Action=AssumeRole&Version=2011-06-15&RoleArn=a&RoleSessionName=s&DurationSeconds=1.5",
            "DurationSeconds",
        ),
        (
            "sns",
            "Action=SetSubscriptionAttributes&Version=2010-03-31&SubscriptionArn=a&AttributeName=b&AttributeValue=c",
            None,
        ),
        (
            "cloudwatch",
            "Action=PutMetricData&Version=2010-08-01&Namespace=n&MetricData.member.1.MetricName=m&MetricData.member.1.Value=high",
            "MetricData.member.1.Value",
        ),
        (
            "cloudwatch",
            "Action=PutMetricData&Version=2010-08-01&Namespace=n&MetricData.member.1.MetricName=m&MetricData.member.1.Timestamp=yesterday",
            "MetricData.member.1.Timestamp",
        ),
        ("cloudwatch", "Action=DescribeAlarms&Version=2010-08-01&AlarmTypes=&MaxRecords=5", None),
    ],
)
def test_query_type_conversion(service: str, body: str, member: str | None) -> None:
    spec = load_spec(service)
    headers = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}
    request = HttpRequest("POST", "/", "", headers, body.encode())
    codec = codec_for(spec, request)
    assert codec.protocol == "query"
    if member is None:
        decode(codec, request)
        return
    with pytest.raises(ServiceError) as excinfo:
        decode(codec, request)
    assert excinfo.value.instance_code == spec.info.validation_error
    assert member in excinfo.value.message
    bad_value = dict(pair.split("=") for pair in body.split("&"))[member]
    assert repr(bad_value) in excinfo.value.message


def test_query_validation_error_response() -> None:
    spec = load_spec("sns")
    error = ValidationException("bad", code=spec.info.validation_error)
    codec = codec_for(
        spec, HttpRequest("POST", "/", "", {"content-type": "application/x-www-form-urlencoded"})
    )
    operation = spec.model.operation_model("Publish")
    parsed = parse_response("query", codec.serialize_error(error, "r"), operation)
    assert parsed["Error"]["Code"] == "InvalidParameter"
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == 400


# --- smithy rpc-v2 cbor -------------------------------------------------------


def test_cbor_cloudwatch_put_metric_data() -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    client = loopback_client("cloudwatch", canned({}), seen)
    datum = {
        "MetricName": "Latency",
        "Dimensions": [{"Name": "Service", "Value": "api"}],
        "Timestamp": T0,
        "Value": 1.5,
        "Values": [1.0, 2.25],
        "Counts": [3.0, 4.0],
        "StorageResolution": 60,
    }
    client.put_metric_data(Namespace="Tocsin", MetricData=[datum])
    assert seen == [("PutMetricData", {"Namespace": "Tocsin", "MetricData": [datum]})]


def test_cbor_cloudwatch_describe_alarms_output() -> None:
    alarm = {
        "AlarmName": "high-latency",
        "AlarmArn": "arn:aws:cloudwatch:eu-west-1:1:alarm:high-latency",
        "StateValue": "ALARM",
        "StateUpdatedTimestamp": T0,
        "ActionsEnabled": True,
        "AlarmActions": ["arn:aws:ssm-incidents::1:response-plan/rp"],
        "Threshold": 99.5,
        "EvaluationPeriods": 3,
    }
    seen: list[tuple[str, dict[str, Any]]] = []
    client = loopback_client("cloudwatch", canned({"MetricAlarms": [alarm]}), seen)
    result = client.describe_alarms(AlarmNames=["high-latency"], MaxRecords=10)
    assert seen == [("DescribeAlarms", {"AlarmNames": ["high-latency"], "MaxRecords": 10})]
    assert result["MetricAlarms"] == [alarm]


def test_cbor_request_shape() -> None:
    spec = load_spec("cloudwatch")
    request = serialize_request(spec, "smithy-rpc-v2-cbor", "ListDashboards", {})
    assert request.raw_path == "/service/GraniteServiceVersion20100801/operation/ListDashboards"
    assert request.header("smithy-protocol") == "rpc-v2-cbor"
    codec = codec_for(spec, request)
    assert codec.protocol == "smithy-rpc-v2-cbor"
    assert decode(codec, request) == ("ListDashboards", {})


def test_cbor_query_compatible_error() -> None:
    error = ServiceError("bad period", code="InvalidParameterValueException")
    client = loopback_client("cloudwatch", raising(error), [])
    with pytest.raises(client.exceptions.InvalidParameterValueException) as excinfo:
        client.describe_alarms()
    response = error_of(excinfo)
    assert response["Error"]["Code"] == "InvalidParameterValue"
    assert response["Error"]["QueryErrorCode"] == "InvalidParameterValueException"
    assert response["Error"]["Type"] == "Sender"
    assert response["Error"]["Message"] == "bad period"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_cbor_not_found_error_with_fields() -> None:
    fields = {"ResourceType": "Alarm", "ResourceId": "a"}
    error = ServiceError("no alarm", code="ResourceNotFoundException", fields=fields)
    client = loopback_client("cloudwatch", raising(error), [])
    with pytest.raises(client.exceptions.ResourceNotFoundException) as excinfo:
        client.describe_alarms()
    response = error_of(excinfo)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert response["ResourceType"] == "Alarm"


def test_cbor_error_body_has_type() -> None:
    spec = load_spec("cloudwatch")
    request = serialize_request(spec, "smithy-rpc-v2-cbor", "ListDashboards", {})
    codec = codec_for(spec, request)
    response = codec.serialize_error(ValidationException("nope", code="ValidationException"), "r")
    assert cbor2.loads(response.body)["__type"] == "ValidationException"
    assert response.headers["x-amzn-query-error"] == "ValidationError;Sender"
    assert response.headers["smithy-protocol"] == "rpc-v2-cbor"


@pytest.mark.parametrize(
    "path",
    [
        "/service/GraniteServiceVersion20100801/operation/Nope",
        "/service/Other/operation/ListDashboards",
    ],
)
def test_cbor_unknown_operation(path: str) -> None:
    spec = load_spec("cloudwatch")
    headers = {"smithy-protocol": "rpc-v2-cbor", "content-type": "application/cbor"}
    request = HttpRequest("POST", path, "", headers, cbor2.dumps({}))
    with pytest.raises(ServiceError) as excinfo:
        codec_for(spec, request).resolve_operation(request)
    assert excinfo.value.instance_code == "UnknownOperationException"


def test_cloudwatch_json_and_query_protocols() -> None:
    spec = load_spec("cloudwatch")
    params = {"AlarmNames": ["a", "b"], "StateValue": "ALARM", "MaxRecords": 5}
    for protocol in ("json", "query"):
        request = serialize_request(spec, protocol, "DescribeAlarms", params)
        codec = codec_for(spec, request)
        assert codec.protocol == protocol
        assert decode(codec, request) == ("DescribeAlarms", params)
        operation = spec.model.operation_model("DescribeAlarms")
        alarm = {"AlarmName": "a", "StateUpdatedTimestamp": T0, "Threshold": 2.5}
        response = codec.serialize_response(operation, {"MetricAlarms": [alarm]}, "r")
        parsed = parse_response(
            protocol, response, service_model_as(spec, protocol).operation_model("DescribeAlarms")
        )
        assert parsed["MetricAlarms"] == [alarm]
        error = ServiceError("gone", code="ResourceNotFound")
        parsed = parse_response(protocol, codec.serialize_error(error, "r"), operation)
        assert parsed["Error"]["Code"] == "ResourceNotFound"
        assert parsed["ResponseMetadata"]["HTTPStatusCode"] == 404


# --- protocol detection and malformed input ----------------------------------


def test_detect_protocol_per_service() -> None:
    cloudwatch = load_spec("cloudwatch")
    cbor = HttpRequest(
        "POST",
        "/service/GraniteServiceVersion20100801/operation/ListDashboards",
        "",
        {"smithy-protocol": "rpc-v2-cbor"},
    )
    assert detect_protocol(cloudwatch, cbor) == "smithy-rpc-v2-cbor"
    json_request = HttpRequest(
        "POST", "/", "", {"x-amz-target": "GraniteServiceVersion20100801.ListDashboards"}
    )
    assert detect_protocol(cloudwatch, json_request) == "json"
    form = HttpRequest("POST", "/", "", {"content-type": "application/x-www-form-urlencoded"})
    assert detect_protocol(cloudwatch, form) == "query"
    assert detect_protocol(load_spec("ram"), form) == "rest-json"
    assert codec_for(cloudwatch, form) is codec_for(cloudwatch, form)


JSON_TARGET = {
    "x-amz-target": "SSMContacts.ListContacts",
    "content-type": "application/x-amz-json-1.1",
}
CBOR_HEADERS = {"smithy-protocol": "rpc-v2-cbor", "content-type": "application/cbor"}
CBOR_PATH = "/service/GraniteServiceVersion20100801/operation/ListDashboards"


@pytest.mark.parametrize(
    ("service", "request_", "fragment"),
    [
        ("ssm-contacts", HttpRequest("POST", "/", "", JSON_TARGET, b"{not json"), "not valid JSON"),
        ("ssm-contacts", HttpRequest("POST", "/", "", JSON_TARGET, b"[1, 2]"), "JSON object"),
        ("ssm-contacts", HttpRequest("POST", "/", "", JSON_TARGET, b'"x"'), "JSON object"),
        ("ssm-contacts", HttpRequest("POST", "/", "", JSON_TARGET, b'{"a": "\xff"}'), "UTF-8"),
        (
            "ssm-contacts",
            HttpRequest("POST", "/", "", JSON_TARGET | {"content-type": "text/plain"}, b"{}"),
            "Content-Type",
        ),
        (
            "ssm-incidents",
            HttpRequest(
                "POST", "/listResponsePlans", "", {"content-type": "application/json"}, b"{"
            ),
            "not valid JSON",
        ),
        (
            "ssm-incidents",
            HttpRequest(
                "POST", "/listResponsePlans", "", {"content-type": "application/xml"}, b"<a/>"
            ),
            "Content-Type",
        ),
        (
            "ssm-incidents",
            HttpRequest(
                "POST", "/listResponsePlans", "", {"content-type": "application/json"}, b"null"
            ),
            "JSON object",
        ),
        (
            "cloudwatch",
            HttpRequest("POST", CBOR_PATH, "", CBOR_HEADERS, b"\xa1\x61"),
            "not valid CBOR",
        ),
        (
            "cloudwatch",
            HttpRequest("POST", CBOR_PATH, "", CBOR_HEADERS, cbor2.dumps([1])),
            "CBOR map",
        ),
        (
            "cloudwatch",
            HttpRequest("POST", CBOR_PATH, "", CBOR_HEADERS, b"\xa0\x00"),
            "after the CBOR map",
        ),
        (
            "cloudwatch",
            HttpRequest(
                "POST", CBOR_PATH, "", CBOR_HEADERS | {"content-type": "application/json"}, b"{}"
            ),
            "Content-Type",
        ),
        (
            "cloudwatch",
            HttpRequest("POST", CBOR_PATH, "", CBOR_HEADERS, b"\xa1\x63Max\xc1\x61x"),
            "not valid CBOR",
        ),
    ],
)
def test_malformed_bodies_are_serialization_errors(
    service: str, request_: HttpRequest, fragment: str
) -> None:
    spec = load_spec(service)
    codec = codec_for(spec, request_)
    with pytest.raises(ServiceError) as excinfo:
        decode(codec, request_)
    assert excinfo.value.instance_code == "SerializationException"
    assert fragment in excinfo.value.message
    assert resolve_error(spec, excinfo.value, codec.protocol)[1] == 400


def test_malformed_query_body() -> None:
    spec = load_spec("iam")
    headers = {"content-type": "application/x-www-form-urlencoded"}
    for body in (b"Action=ListRoles&PathPrefix=%FF", "Action=ListRoles&P=é".encode()):
        request = HttpRequest("POST", "/", "", headers, body)
        with pytest.raises(ServiceError) as excinfo:
            decode(codec_for(spec, request), request)
        assert excinfo.value.instance_code == "ValidationError"


def test_json_wrong_types_pass_through() -> None:
    spec = load_spec("ssm-contacts")
    body = json.dumps({"MaxResults": "ten", "AliasPrefix": 5}).encode()
    request = HttpRequest("POST", "/", "", JSON_TARGET, body)
    assert decode(codec_for(spec, request), request) == (
        "ListContacts",
        {"MaxResults": "ten", "AliasPrefix": 5},
    )


def test_json_blob_base64() -> None:
    spec = load_spec("ssm")
    target = "AmazonSSM.RegisterTaskWithMaintenanceWindow"
    headers = {"x-amz-target": target, "content-type": "application/x-amz-json-1.1"}
    for payload, expected in (("AP8=", b"\x00\xff"), ("not base64!", None)):
        lambda_parameters = {"Lambda": {"Payload": payload}}
        body = json.dumps({"WindowId": "w", "TaskInvocationParameters": lambda_parameters})
        request = HttpRequest("POST", "/", "", headers, body.encode())
        codec = codec_for(spec, request)
        if expected is None:
            with pytest.raises(ServiceError) as excinfo:
                decode(codec, request)
            assert excinfo.value.instance_code == "SerializationException"
            assert "TaskInvocationParameters.Lambda.Payload" in excinfo.value.message
        else:
            params = decode(codec, request)[1]
            assert params["TaskInvocationParameters"]["Lambda"]["Payload"] == expected


def test_output_unknown_member_is_value_error() -> None:
    for service, operation in (
        ("ssm-contacts", "ListContacts"),
        ("ssm-incidents", "ListResponsePlans"),
        ("sns", "ListTopics"),
        ("cloudwatch", "ListDashboards"),
    ):
        spec = load_spec(service)
        codec = codec_for(spec, HttpRequest("POST", "/", "", {}))
        with pytest.raises(ValueError, match="Bogus"):
            codec.serialize_response(spec.model.operation_model(operation), {"Bogus": 1}, "r")


def test_output_skips_none_values() -> None:
    spec = load_spec("ssm-contacts")
    codec = codec_for(spec, HttpRequest("POST", "/", "", JSON_TARGET))
    operation = spec.model.operation_model("ListContacts")
    response = codec.serialize_response(operation, {"NextToken": None, "Contacts": []}, "r")
    assert json.loads(response.body) == {"Contacts": []}
