"""SSM document operations through boto3: create, read, versions, listing, deletion and tags."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from tests.runbooks.conftest import MINIMAL, OWNER, create, error_of, fixture_text

SECOND = MINIMAL.replace("Wait a little.", "Wait a little longer.")
THIRD_CONTENT = MINIMAL.replace("Wait a little.", "Wait once more.")


def test_create_document_describes_version_one(ssm: Any) -> None:
    description = create(ssm, "restart-web", Tags=[{"Key": "team", "Value": "web"}])

    assert description["Name"] == "restart-web"
    assert description["Owner"] == OWNER
    assert description["Status"] == "Active"
    assert description["DocumentType"] == "Automation"
    assert description["DocumentFormat"] == "YAML"
    assert description["SchemaVersion"] == "0.3"
    assert description["DocumentVersion"] == "1"
    assert description["LatestVersion"] == "1"
    assert description["DefaultVersion"] == "1"
    assert description["HashType"] == "Sha256"
    assert description["Hash"] == hashlib.sha256(MINIMAL.encode()).hexdigest()
    assert description["Description"] == "Wait a little."
    assert description["Parameters"] == [
        {
            "Name": "Delay",
            "Type": "String",
            "Description": "How long to wait",
            "DefaultValue": "PT1S",
        }
    ]
    assert description["Tags"] == [{"Key": "team", "Value": "web"}]


def test_create_document_rejects_duplicates_and_reserved_names(ssm: Any) -> None:
    create(ssm, "restart-web")
    cases = [
        ("restart-web", "Automation", "DocumentAlreadyExists", "restart-web"),
        ("AWS-RestartEC2Instance", "Automation", "ValidationException", "reserved"),
        ("amazonThing", "Automation", "ValidationException", "reserved"),
        ("AMZN-thing", "Automation", "ValidationException", "reserved"),
        ("command-doc", "Command", "InvalidDocumentType", "Automation"),
    ]
    for name, document_type, code, fragment in cases:
        with pytest.raises(ClientError) as excinfo:
            ssm.create_document(
                Name=name, Content=MINIMAL, DocumentType=document_type, DocumentFormat="YAML"
            )
        error = error_of(excinfo)
        assert error[0] == code, name
        assert fragment in error[1], name
        assert error[2] == 400, name


def test_create_document_defaults_to_command_type(ssm: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        ssm.create_document(Name="no-type", Content=MINIMAL, DocumentFormat="YAML")
    code, message, _ = error_of(excinfo)
    assert code == "InvalidDocumentType"
    assert "Command" in message


def test_create_document_rejects_oversized_content(ssm: Any) -> None:
    padding = "#" + "x" * 70_000 + "\n"
    with pytest.raises(ClientError) as excinfo:
        create(ssm, "too-big", padding + MINIMAL)
    code, message, _ = error_of(excinfo)
    assert code == "MaxDocumentSizeExceeded"
    assert "65536" in message


def test_json_document_round_trips_and_converts(ssm: Any) -> None:
    content = json.dumps(yaml.safe_load(MINIMAL))
    ssm.create_document(Name="json-doc", Content=content, DocumentType="Automation")

    stored = ssm.get_document(Name="json-doc")
    assert stored["DocumentFormat"] == "JSON"
    assert stored["Content"] == content
    as_yaml = ssm.get_document(Name="json-doc", DocumentFormat="YAML")
    assert as_yaml["DocumentFormat"] == "YAML"
    assert yaml.safe_load(as_yaml["Content"]) == json.loads(content)


def test_yaml_content_sent_as_json_is_rejected(ssm: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        ssm.create_document(Name="wrong-format", Content=MINIMAL, DocumentType="Automation")
    code, message, _ = error_of(excinfo)
    assert code == "InvalidDocumentContent"
    assert "JSON not well-formed at line 1" in message


def test_update_document_adds_versions_keeping_default(ssm: Any) -> None:
    create(ssm, "runbook", VersionName="first", DisplayName="Runbook")
    second = ssm.update_document(
        Name="runbook", Content=SECOND, DocumentFormat="YAML", VersionName="second"
    )["DocumentDescription"]

    assert second["DocumentVersion"] == "2"
    assert second["LatestVersion"] == "2"
    assert second["DefaultVersion"] == "1"
    assert second["VersionName"] == "second"
    assert second["DisplayName"] == "Runbook"
    assert ssm.get_document(Name="runbook")["Content"] == MINIMAL
    assert ssm.get_document(Name="runbook", DocumentVersion="$LATEST")["Content"] == SECOND
    assert ssm.get_document(Name="runbook", VersionName="first")["DocumentVersion"] == "1"
    described = ssm.describe_document(Name="runbook", DocumentVersion="2")["Document"]
    assert described["Description"] == "Wait a little longer."


def test_update_document_failures(ssm: Any) -> None:
    create(ssm, "runbook", VersionName="first")
    ssm.update_document(Name="runbook", Content=SECOND, DocumentFormat="YAML")
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"Content": SECOND}, "DuplicateDocumentContent", "version 2"),
        (
            {"Content": THIRD_CONTENT, "VersionName": "first"},
            "DuplicateDocumentVersionName",
            "first",
        ),
        ({"Content": THIRD_CONTENT, "DocumentVersion": "1"}, "InvalidDocumentVersion", "latest"),
        ({"Content": "schemaVersion: '0.3'\n"}, "InvalidDocumentContent", "mainSteps"),
    ]
    for extra, code, fragment in cases:
        with pytest.raises(ClientError) as excinfo:
            ssm.update_document(Name="runbook", DocumentFormat="YAML", **extra)
        error = error_of(excinfo)
        assert error[0] == code, extra
        assert fragment in error[1], extra
    with pytest.raises(ClientError) as excinfo:
        ssm.update_document(Name="missing", Content=SECOND, DocumentFormat="YAML")
    assert error_of(excinfo)[0] == "InvalidDocument"


def test_update_default_version_and_version_listing(ssm: Any) -> None:
    create(ssm, "runbook", VersionName="first")
    ssm.update_document(Name="runbook", Content=SECOND, DocumentFormat="YAML", VersionName="v2")
    result = ssm.update_document_default_version(Name="runbook", DocumentVersion="2")

    assert result["Description"] == {
        "Name": "runbook",
        "DefaultVersion": "2",
        "DefaultVersionName": "v2",
    }
    assert ssm.get_document(Name="runbook")["Content"] == SECOND
    versions = ssm.list_document_versions(Name="runbook")["DocumentVersions"]
    assert [v["DocumentVersion"] for v in versions] == ["2", "1"]
    assert [v["IsDefaultVersion"] for v in versions] == [True, False]
    assert versions[1]["VersionName"] == "first"
    with pytest.raises(ClientError) as excinfo:
        ssm.update_document_default_version(Name="runbook", DocumentVersion="7")
    assert error_of(excinfo)[0] == "InvalidDocumentVersion"


def test_get_document_version_errors(ssm: Any) -> None:
    create(ssm, "runbook", VersionName="first")
    ssm.update_document(Name="runbook", Content=SECOND, DocumentFormat="YAML", VersionName="v2")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"DocumentVersion": "9"}, "InvalidDocumentVersion"),
        ({"VersionName": "nope"}, "InvalidDocumentVersion"),
        ({"VersionName": "first", "DocumentVersion": "2"}, "InvalidDocumentVersion"),
        ({"Name": "missing"}, "InvalidDocument"),
        ({"Name": "arn:aws:ssm:us-east-1:999999999999:document/runbook"}, "InvalidDocument"),
    ]
    for extra, code in cases:
        arguments = {"Name": "runbook", **extra}
        with pytest.raises(ClientError) as excinfo:
            ssm.get_document(**arguments)
        assert error_of(excinfo)[0] == code, extra
        with pytest.raises(ClientError) as excinfo:
            ssm.describe_document(**arguments)
        assert error_of(excinfo)[0] == code, extra


def test_document_owner_reads_by_arn(ssm: Any) -> None:
    create(ssm, "runbook")
    arn = f"arn:aws:ssm:us-east-1:{OWNER}:document/runbook"
    assert ssm.get_document(Name=arn)["Name"] == "runbook"
    assert ssm.describe_document(Name=arn)["Document"]["Name"] == "runbook"


def test_delete_document_versions_and_whole(ssm: Any) -> None:
    create(ssm, "runbook", VersionName="first")
    ssm.update_document(Name="runbook", Content=SECOND, DocumentFormat="YAML")
    ssm.update_document(Name="runbook", Content=THIRD_CONTENT, DocumentFormat="YAML")

    with pytest.raises(ClientError) as excinfo:
        ssm.delete_document(Name="runbook", VersionName="first")
    code, message, _ = error_of(excinfo)
    assert code == "InvalidDocumentOperation"
    assert "default version" in message

    ssm.delete_document(Name="runbook", DocumentVersion="3")
    described = ssm.describe_document(Name="runbook", DocumentVersion="$LATEST")["Document"]
    assert described["LatestVersion"] == "2"
    # Version numbers are not reused after a deletion.
    fourth = ssm.update_document(Name="runbook", Content=THIRD_CONTENT, DocumentFormat="YAML")
    assert fourth["DocumentDescription"]["DocumentVersion"] == "4"

    ssm.delete_document(Name="runbook", Force=True)
    with pytest.raises(ClientError) as excinfo:
        ssm.get_document(Name="runbook")
    assert error_of(excinfo)[0] == "InvalidDocument"
    with pytest.raises(ClientError) as excinfo:
        ssm.delete_document(Name="runbook")
    assert error_of(excinfo)[0] == "InvalidDocument"


def test_list_documents_filters_and_pages(ssm: Any) -> None:
    for index in range(5):
        create(ssm, f"alpha-{index}", Tags=[{"Key": "tier", "Value": str(index % 2)}])
    create(ssm, "beta_1")

    everything = ssm.list_documents()["DocumentIdentifiers"]
    assert [d["Name"] for d in everything] == [
        "alpha-0",
        "alpha-1",
        "alpha-2",
        "alpha-3",
        "alpha-4",
        "beta_1",
    ]
    first = everything[0]
    assert first["Owner"] == OWNER
    assert first["DocumentVersion"] == "1"
    assert first["DocumentType"] == "Automation"
    assert first["SchemaVersion"] == "0.3"
    assert first["Tags"] == [{"Key": "tier", "Value": "0"}]

    def names(**arguments: Any) -> list[str]:
        return [d["Name"] for d in ssm.list_documents(**arguments)["DocumentIdentifiers"]]

    assert names(Filters=[{"Key": "Name", "Values": ["beta"]}]) == ["beta_1"]
    assert names(DocumentFilterList=[{"key": "Name", "value": "alpha-4"}]) == ["alpha-4"]
    assert names(Filters=[{"Key": "tag:tier", "Values": ["1"]}]) == ["alpha-1", "alpha-3"]
    assert len(names(Filters=[{"Key": "TagKeys", "Values": ["tier"]}])) == 5
    assert names(Filters=[{"Key": "DocumentType", "Values": ["Command"]}]) == []
    assert len(names(Filters=[{"Key": "Owner", "Values": ["Self"]}])) == 6
    assert names(Filters=[{"Key": "Owner", "Values": ["Amazon"]}]) == []
    assert names(Filters=[{"Key": "SearchKeyword", "Values": ["TA_"]}]) == ["beta_1"]

    paged: list[str] = []
    token: str | None = None
    while True:
        arguments: dict[str, Any] = {"MaxResults": 2}
        if token:
            arguments["NextToken"] = token
        response = ssm.list_documents(**arguments)
        paged += [d["Name"] for d in response["DocumentIdentifiers"]]
        token = response.get("NextToken")
        if not token:
            break
    assert paged == [d["Name"] for d in everything]


def test_list_documents_rejects_bad_filters_and_tokens(ssm: Any) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"Filters": [{"Key": "Colour", "Values": ["red"]}]}, "InvalidFilterKey"),
        ({"Filters": [{"Key": "Owner", "Values": ["Somebody"]}]}, "InvalidFilterKey"),
        ({"NextToken": "not-a-token"}, "InvalidNextToken"),
    ]
    for arguments, code in cases:
        with pytest.raises(ClientError) as excinfo:
            ssm.list_documents(**arguments)
        assert error_of(excinfo)[0] == code, arguments


def test_document_tags(ssm: Any) -> None:
    create(ssm, "runbook", Tags=[{"Key": "team", "Value": "web"}])
    ssm.add_tags_to_resource(
        ResourceType="Document",
        ResourceId="runbook",
        Tags=[{"Key": "team", "Value": "payments"}, {"Key": "tier", "Value": "1"}],
    )
    tags = ssm.list_tags_for_resource(ResourceType="Document", ResourceId="runbook")["TagList"]
    assert tags == [{"Key": "team", "Value": "payments"}, {"Key": "tier", "Value": "1"}]

    ssm.remove_tags_from_resource(ResourceType="Document", ResourceId="runbook", TagKeys=["team"])
    tags = ssm.list_tags_for_resource(ResourceType="Document", ResourceId="runbook")["TagList"]
    assert tags == [{"Key": "tier", "Value": "1"}]

    with pytest.raises(ClientError) as excinfo:
        ssm.list_tags_for_resource(ResourceType="Document", ResourceId="missing")
    assert error_of(excinfo)[0] == "InvalidResourceId"
    with pytest.raises(ClientError) as excinfo:
        ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="runbook")
    assert error_of(excinfo)[0] == "InvalidResourceType"
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    with pytest.raises(ClientError) as excinfo:
        ssm.add_tags_to_resource(ResourceType="Document", ResourceId="runbook", Tags=many)
    assert error_of(excinfo)[0] == "TooManyTagsError"


def test_critical_incident_template_describes_parameters(ssm: Any) -> None:
    content = fixture_text("AWSIncidents-CriticalIncidentRunbookTemplate.yaml")
    description = create(ssm, "CriticalIncidentRunbookTemplate", content)
    assert [p["Name"] for p in description["Parameters"]] == [
        "Environment",
        "incidentARN",
        "resources",
    ]
    assert all(p["Type"] == "String" for p in description["Parameters"])
    assert description["Description"].startswith("This document is intended as a template")
    assert ssm.get_document(Name="CriticalIncidentRunbookTemplate")["Content"] == content
