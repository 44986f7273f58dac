"""HTTP bindings that the served models do not use yet, on small synthetic models:
greedy labels, header and prefix-header members, payload members, statusCode,
literal query parts in a URI template, and flattened query lists and maps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.model import ServiceModel
from botocore.serialize import create_serializer

from tests.protocol.test_codecs import ENDPOINT, decode, parse_response, to_http_request
from tocsin.protocol.query import QueryCodec
from tocsin.protocol.rest_json import RestJsonCodec
from tocsin.protocol.services import SERVICE_INFO, ServiceSpec

T0 = datetime(2024, 5, 17, 8, 30, 15, tzinfo=UTC)

REST_MODEL: dict[str, Any] = {
    "metadata": {"protocol": "rest-json", "apiVersion": "2024-01-01", "endpointPrefix": "demo"},
    "operations": {
        "GetObject": {
            "name": "GetObject",
            "http": {"method": "GET", "requestUri": "/buckets/{Bucket}/objects/{Key+}"},
            "input": {"shape": "GetObjectInput"},
            "output": {"shape": "GetObjectOutput"},
        },
        "ListObjects": {
            "name": "ListObjects",
            "http": {"method": "GET", "requestUri": "/buckets/{Bucket}?list-type=2"},
            "input": {"shape": "ListObjectsInput"},
            "output": {"shape": "ListObjectsOutput"},
        },
        "GetBucket": {
            "name": "GetBucket",
            "http": {"method": "GET", "requestUri": "/buckets/{Bucket}"},
            "input": {"shape": "ListObjectsInput"},
        },
        "PutBlob": {
            "name": "PutBlob",
            "http": {"method": "PUT", "requestUri": "/blobs/{Id}", "responseCode": 201},
            "input": {"shape": "PutBlobInput"},
            "output": {"shape": "PutBlobOutput"},
        },
    },
    "shapes": {
        "String": {"type": "string"},
        "Integer": {"type": "integer"},
        "Boolean": {"type": "boolean"},
        "Blob": {"type": "blob"},
        "Time": {"type": "timestamp"},
        "StringList": {"type": "list", "member": {"shape": "String"}},
        "StringMap": {"type": "map", "key": {"shape": "String"}, "value": {"shape": "String"}},
        "JsonValue": {"type": "string", "jsonvalue": True},
        "GetObjectInput": {
            "type": "structure",
            "required": ["Bucket", "Key"],
            "members": {
                "Bucket": {"shape": "String", "location": "uri", "locationName": "Bucket"},
                "Key": {"shape": "String", "location": "uri", "locationName": "Key"},
                "IfModifiedSince": {
                    "shape": "Time",
                    "location": "header",
                    "locationName": "If-Modified-Since",
                },
                "Versions": {
                    "shape": "StringList",
                    "location": "header",
                    "locationName": "X-Versions",
                },
                "Meta": {"shape": "StringMap", "location": "headers", "locationName": "x-meta-"},
                "Limit": {"shape": "Integer", "location": "querystring", "locationName": "limit"},
                "Strict": {"shape": "Boolean", "location": "querystring", "locationName": "strict"},
                "Since": {"shape": "Time", "location": "querystring", "locationName": "since"},
                "Context": {
                    "shape": "JsonValue",
                    "location": "header",
                    "locationName": "X-Context",
                },
            },
        },
        "GetObjectOutput": {
            "type": "structure",
            "members": {
                "Body": {"shape": "Blob"},
                "ETag": {"shape": "String", "location": "header", "locationName": "ETag"},
                "LastModified": {
                    "shape": "Time",
                    "location": "header",
                    "locationName": "Last-Modified",
                },
                "Meta": {"shape": "StringMap", "location": "headers", "locationName": "x-meta-"},
                "Status": {"shape": "Integer", "location": "statusCode"},
            },
            "payload": "Body",
        },
        "ListObjectsInput": {
            "type": "structure",
            "required": ["Bucket"],
            "members": {
                "Bucket": {"shape": "String", "location": "uri", "locationName": "Bucket"},
                "Extra": {"shape": "StringMap", "location": "querystring"},
                "Prefix": {"shape": "String", "location": "querystring", "locationName": "prefix"},
            },
        },
        "ListObjectsOutput": {
            "type": "structure",
            "members": {"Keys": {"shape": "StringList"}, "Count": {"shape": "Integer"}},
        },
        "Document": {
            "type": "structure",
            "members": {"Name": {"shape": "String"}, "Created": {"shape": "Time"}},
        },
        "PutBlobInput": {
            "type": "structure",
            "required": ["Id"],
            "members": {
                "Id": {"shape": "String", "location": "uri", "locationName": "Id"},
                "Document": {"shape": "Document"},
            },
            "payload": "Document",
        },
        "PutBlobOutput": {
            "type": "structure",
            "members": {"Document": {"shape": "Document"}},
            "payload": "Document",
        },
    },
}

QUERY_MODEL: dict[str, Any] = {
    "metadata": {
        "protocol": "query",
        "apiVersion": "2024-01-01",
        "endpointPrefix": "demo",
        "xmlNamespace": "https://demo.example/doc/2024-01-01/",
    },
    "operations": {
        "Describe": {
            "name": "Describe",
            "http": {"method": "POST", "requestUri": "/"},
            "input": {"shape": "DescribeInput"},
            "output": {"shape": "DescribeOutput", "resultWrapper": "DescribeResult"},
        }
    },
    "shapes": {
        "String": {"type": "string"},
        "Integer": {"type": "integer"},
        "Time": {"type": "timestamp"},
        "Flat": {
            "type": "list",
            "member": {"shape": "String", "locationName": "Item"},
            "flattened": True,
        },
        "FlatPlain": {"type": "list", "member": {"shape": "String"}, "flattened": True},
        "Named": {"type": "list", "member": {"shape": "String", "locationName": "Name"}},
        "FlatMap": {
            "type": "map",
            "key": {"shape": "String", "locationName": "K"},
            "value": {"shape": "Integer", "locationName": "V"},
            "flattened": True,
        },
        "Nested": {
            "type": "structure",
            "members": {"When": {"shape": "Time"}, "Tags": {"shape": "Named"}},
        },
        "DescribeInput": {
            "type": "structure",
            "members": {
                "Items": {"shape": "Flat", "locationName": "Items"},
                "Plain": {"shape": "FlatPlain"},
                "Names": {"shape": "Named"},
                "Counts": {"shape": "FlatMap", "locationName": "Count"},
                "Nested": {"shape": "Nested", "locationName": "Inner"},
            },
        },
        "DescribeOutput": {
            "type": "structure",
            "members": {
                "Items": {"shape": "Flat"},
                "Names": {"shape": "Named"},
                "Counts": {"shape": "FlatMap", "locationName": "Count"},
                "Nested": {"shape": "Nested"},
            },
        },
    },
}


def spec_of(model: dict[str, Any]) -> ServiceSpec:
    return ServiceSpec(SERVICE_INFO["ssm-incidents"], ServiceModel(model, service_name="demo"))


def botocore_request(
    spec: ServiceSpec, protocol: str, operation: str, params: dict[str, Any]
) -> Any:
    request_dict = create_serializer(protocol, include_validation=False).serialize_to_request(
        params, spec.model.operation_model(operation)
    )
    prepare_request_dict(request_dict, endpoint_url=ENDPOINT)
    return to_http_request(create_request_object(request_dict).prepare())


def test_greedy_label_headers_and_querystring() -> None:
    spec = spec_of(REST_MODEL)
    params = {
        "Bucket": "my bucket",
        "Key": "a/b c/%2F.txt",
        "IfModifiedSince": T0,
        "Versions": ["v1", "v,2", 'v"3'],
        "Meta": {"owner": "alice", "team": "sre"},
        "Limit": 10,
        "Strict": False,
        "Since": T0,
        "Context": {"trace": [1, 2]},
    }
    request = botocore_request(spec, "rest-json", "GetObject", params)
    assert decode(RestJsonCodec(spec), request) == ("GetObject", params)


def test_blob_payload_header_and_status_out() -> None:
    spec = spec_of(REST_MODEL)
    operation = spec.model.operation_model("GetObject")
    output = {
        "Body": b"\x00binary",
        "ETag": '"abc"',
        "LastModified": T0,
        "Meta": {"owner": "alice"},
        "Status": 206,
    }
    response = RestJsonCodec(spec).serialize_response(operation, output, "r")
    assert response.status == 206
    assert response.body == b"\x00binary"
    parsed = parse_response("rest-json", response, operation)
    assert parsed["ETag"] == '"abc"'
    assert parsed["LastModified"] == T0
    assert parsed["Meta"] == {"owner": "alice"}
    assert parsed["Status"] == 206


def test_literal_query_and_query_map() -> None:
    spec = spec_of(REST_MODEL)
    codec = RestJsonCodec(spec)
    params = {"Bucket": "b", "Prefix": "logs/", "Extra": {"x": "1", "y": "two"}}
    request = botocore_request(spec, "rest-json", "ListObjects", params)
    assert decode(codec, request) == ("ListObjects", params)
    request = botocore_request(spec, "rest-json", "GetBucket", {"Bucket": "b"})
    assert decode(codec, request) == ("GetBucket", {"Bucket": "b"})


def test_structure_payload_in_and_out() -> None:
    spec = spec_of(REST_MODEL)
    codec = RestJsonCodec(spec)
    document = {"Name": "n", "Created": T0}
    request = botocore_request(spec, "rest-json", "PutBlob", {"Id": "i-1", "Document": document})
    assert decode(codec, request) == ("PutBlob", {"Id": "i-1", "Document": document})
    operation = spec.model.operation_model("PutBlob")
    response = codec.serialize_response(operation, {"Document": document}, "r")
    assert response.status == 201
    assert parse_response("rest-json", response, operation)["Document"] == document


def test_query_flattened_and_named_lists_and_maps() -> None:
    spec = spec_of(QUERY_MODEL)
    codec = QueryCodec(spec)
    params = {
        "Items": ["a", "b"],
        "Plain": ["p"],
        "Names": ["x", "y"],
        "Counts": {"k1": 1, "k2": -2},
        "Nested": {"When": T0, "Tags": ["t"]},
    }
    request = botocore_request(spec, "query", "Describe", params)
    assert "Item.1=a" in request.body.decode()
    assert "Names.Name.2=y" in request.body.decode()
    assert decode(codec, request) == ("Describe", params)
    output = {key: value for key, value in params.items() if key != "Plain"}
    operation = spec.model.operation_model("Describe")
    response = codec.serialize_response(operation, output, "r")
    parsed = parse_response("query", response, operation)
    parsed.pop("ResponseMetadata")
    assert parsed == output
