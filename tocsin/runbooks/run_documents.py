"""The document version that a run starts, and the AWS-owned documents that Tocsin provides.

AWS owns documents named AWS-*, which every account may run. Tocsin
provides the one that Incident Manager's tutorial runbook starts,
AWS-RestartEC2Instance, written for Tocsin with aws:executeAwsApi and
aws:waitForAwsResourceProperty against EC2. Its EC2 calls go to the endpoint
of the ``automation_aws_endpoint_url`` setting.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from tocsin.runbooks import documents, listing, permissions
from tocsin.runbooks.errors import InvalidDocument, InvalidDocumentVersion
from tocsin.runbooks.execution_errors import (
    AutomationDefinitionNotFoundException,
    AutomationDefinitionVersionNotFoundException,
)
from tocsin.runbooks.executions import RunDocument

RESTART_EC2_INSTANCE = """\
description: Stop an EC2 instance, wait until it is stopped, then start it again.
schemaVersion: '0.3'
assumeRole: '{{ AutomationAssumeRole }}'
parameters:
  InstanceId:
    type: StringList
    description: The instances to restart.
  AutomationAssumeRole:
    type: String
    default: ''
    description: The role that the automation acts as.
mainSteps:
  - name: StopInstances
    action: aws:executeAwsApi
    inputs:
      Service: ec2
      Api: StopInstances
      InstanceIds: '{{ InstanceId }}'
  - name: WaitUntilStopped
    action: aws:waitForAwsResourceProperty
    timeoutSeconds: 600
    inputs:
      Service: ec2
      Api: DescribeInstances
      InstanceIds: '{{ InstanceId }}'
      PropertySelector: $.Reservations[0].Instances[0].State.Name
      DesiredValues:
        - stopped
  - name: StartInstances
    action: aws:executeAwsApi
    inputs:
      Service: ec2
      Api: StartInstances
      InstanceIds: '{{ InstanceId }}'
  - name: WaitUntilRunning
    action: aws:waitForAwsResourceProperty
    timeoutSeconds: 600
    inputs:
      Service: ec2
      Api: DescribeInstances
      InstanceIds: '{{ InstanceId }}'
      PropertySelector: $.Reservations[0].Instances[0].State.Name
      DesiredValues:
        - running
"""
BUILT_IN: dict[str, str] = {"AWS-RestartEC2Instance": RESTART_EC2_INSTANCE}


def find(
    session: Session, account_id: str, region: str, name: str, version: str | None
) -> RunDocument:
    """Return the version of ``name`` that ``account_id`` may run (own, shared or built in)."""
    if name in BUILT_IN:
        if version not in (None, "$DEFAULT", "$LATEST", "1"):
            raise AutomationDefinitionVersionNotFoundException(
                f"Document {name} has only version 1."
            )
        return RunDocument(name, "1", BUILT_IN[name], "YAML")
    try:
        document, shared_version = permissions.find_readable(session, account_id, region, name)
    except InvalidDocument as exc:
        raise AutomationDefinitionNotFoundException(
            f"Document {name} does not exist or is not shared with account {account_id}."
        ) from exc
    try:
        row = documents.select_version(
            session, document, version, None, shared_version=shared_version
        )
    except InvalidDocumentVersion as exc:
        raise AutomationDefinitionVersionNotFoundException(exc.message) from exc
    return RunDocument(
        listing.shown_name(document, account_id), str(row.version), row.content, row.document_format
    )
