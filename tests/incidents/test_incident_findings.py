"""Incident findings from CodeDeploy and CloudFormation events, through boto3.

AWS services put their events on the default bus themselves, and PutEvents
rejects the ``aws.`` sources unless the operator allows them, so most tests
put deployment events the way the services do: through ``put_event`` on the
server's database. The findings are
then read through ListIncidentFindings and BatchGetIncidentFindings.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from sqlalchemy import func, select

from tests.events.events_support import drain
from tests.incidents.conftest import OTHER, OWNER, REGION, TEMPLATE, Tenant, error_of, prepare
from tests.incidents.incident_support import ALARM_EVENT
from tocsin.engine.jobs import OPEN_STATUSES, Job
from tocsin.engine.maintenance import KIND as MAINTENANCE_JOB
from tocsin.events.ingest import put_event
from tocsin.incidents.finding_models import DeploymentEvent
from tocsin.testing import RunningServer

UNRELATED = "333333333333"
WEST = "us-west-2"
CODE_DEPLOY_PATTERN = {"source": ["aws.codedeploy", "aws.cloudwatch"]}


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def code_deploy_event(
    account: str, deployment_id: str, state: str, at: datetime, region: str = REGION
) -> dict[str, Any]:
    """Return a CodeDeploy Deployment State-change Notification as CodeDeploy sends it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "CodeDeploy Deployment State-change Notification",
        "source": "aws.codedeploy",
        "account": account,
        "time": _time(at),
        "region": region,
        "resources": [
            f"arn:aws:codedeploy:{region}:{account}:application:checkout",
            f"arn:aws:codedeploy:{region}:{account}:deploymentgroup:checkout/fleet",
        ],
        "detail": {
            "instanceGroupId": "4c3f6b1e-93a0-4d6e-8d34-0b9f5a1d2e77",
            "region": region,
            "application": "checkout",
            "deploymentId": deployment_id,
            "state": state,
            "deploymentGroup": "fleet",
        },
    }


def stack_arn(account: str, stack: str, region: str = REGION) -> str:
    stack_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{account}/{region}/{stack}")
    return f"arn:aws:cloudformation:{region}:{account}:stack/{stack}/{stack_id}"


def stack_event(
    account: str, stack: str, status: str, at: datetime, token: str | None = None
) -> dict[str, Any]:
    """Return a CloudFormation Stack Status Change event as CloudFormation sends it."""
    detail: dict[str, Any] = {
        "stack-id": stack_arn(account, stack),
        "status-details": {"status": status, "status-reason": ""},
    }
    if token is not None:
        detail["client-request-token"] = token
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "CloudFormation Stack Status Change",
        "source": "aws.cloudformation",
        "account": account,
        "time": _time(at),
        "region": REGION,
        "resources": [stack_arn(account, stack)],
        "detail": detail,
    }


def put_events(server: RunningServer, *events: dict[str, Any]) -> None:
    """Put each event on the default bus of its account and Region, as AWS services do."""
    with server.runtime.database.session() as session:
        for event in events:
            put_event(
                session,
                server.clock,
                account_id=event["account"],
                region=event["region"],
                event=event,
            )


def start(tenant: Tenant, plan: str) -> str:
    arn: str = tenant.client.start_incident(responsePlanArn=plan)["incidentRecordArn"]
    return arn


def finding_ids(tenant: Tenant, incident: str, **params: Any) -> list[str]:
    result = tenant.client.list_incident_findings(incidentRecordArn=incident, **params)
    return [finding["id"] for finding in result["findings"]]


def details_by_name(tenant: Tenant, incident: str) -> dict[str, dict[str, Any]]:
    """Return the findings of ``incident`` by deployment id or stack ARN."""
    ids = finding_ids(tenant, incident)
    result = tenant.client.batch_get_incident_findings(incidentRecordArn=incident, findingIds=ids)
    assert result["errors"] == []
    found = {}
    for finding in result["findings"]:
        (kind,) = finding["details"]
        details = finding["details"][kind]
        name = details.get("deploymentId") or details["stackArn"]
        found[name] = {**finding, "kind": kind, **details}
    return found


@pytest.fixture
def plan(server: RunningServer, owner: Tenant) -> str:
    prepare(server, owner)
    arn: str = owner.client.create_response_plan(name="checkout", incidentTemplate=TEMPLATE)["arn"]
    return arn


def test_findings_of_deployments_in_window(server: RunningServer, owner: Tenant, plan: str) -> None:
    now = server.clock.now()
    put_events(
        server,
        code_deploy_event(OWNER, "d-EARLIER", "START", now - timedelta(hours=3)),
        code_deploy_event(OWNER, "d-EARLIER", "SUCCESS", now - timedelta(minutes=50)),
        code_deploy_event(OWNER, "d-RECENT", "START", now - timedelta(minutes=30)),
        code_deploy_event(OWNER, "d-RECENT", "FAILURE", now - timedelta(minutes=10)),
        code_deploy_event(OWNER, "d-RUNNING", "START", now - timedelta(minutes=5)),
        code_deploy_event(OWNER, "d-OLD", "START", now - timedelta(hours=5)),
        code_deploy_event(OWNER, "d-OLD", "SUCCESS", now - timedelta(hours=4)),
        code_deploy_event(UNRELATED, "d-UNRELATED", "START", now - timedelta(minutes=10)),
        code_deploy_event(OWNER, "d-WEST", "START", now - timedelta(minutes=10), region=WEST),
        stack_event(OWNER, "web", "UPDATE_IN_PROGRESS", now - timedelta(minutes=20), "c-1"),
        stack_event(
            OWNER, "web", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", now - timedelta(minutes=16), "c-1"
        ),
        stack_event(OWNER, "web", "UPDATE_COMPLETE", now - timedelta(minutes=15), "c-1"),
        stack_event(OWNER, "old", "DELETE_IN_PROGRESS", now - timedelta(minutes=2), "c-2"),
    )
    incident = start(owner, plan)

    found = details_by_name(owner, incident)
    web = stack_arn(OWNER, "web")
    assert set(found) == {"d-EARLIER", "d-RECENT", "d-RUNNING", web}
    recent = found["d-RECENT"]
    assert recent["kind"] == "codeDeployDeployment"
    assert recent["deploymentGroupArn"] == (
        f"arn:aws:codedeploy:{REGION}:{OWNER}:deploymentgroup:checkout/fleet"
    )
    assert recent["startTime"] == now - timedelta(minutes=30)
    assert recent["endTime"] == now - timedelta(minutes=10)
    assert recent["creationTime"] == now
    assert recent["lastModifiedTime"] == now
    assert "endTime" not in found["d-RUNNING"]
    assert found[web]["kind"] == "cloudFormationStackUpdate"
    assert found[web]["startTime"] == now - timedelta(minutes=20)
    assert found[web]["endTime"] == now - timedelta(minutes=15)
    assert "deploymentId" not in found[web]
    assert len({finding["id"] for finding in found.values()}) == 4
    assert all(len(finding["id"]) <= 128 for finding in found.values())

    # The list is sorted by start time, and the ids do not change between calls.
    listed = finding_ids(owner, incident)
    by_id = {finding["id"]: name for name, finding in found.items()}
    assert [by_id[finding_id] for finding_id in listed] == [
        "d-EARLIER",
        "d-RECENT",
        web,
        "d-RUNNING",
    ]
    assert finding_ids(owner, incident) == listed


def test_finding_updated_by_later_event(server: RunningServer, owner: Tenant, plan: str) -> None:
    created = server.clock.now()
    put_events(server, code_deploy_event(OWNER, "d-RUNNING", "START", created))
    incident = start(owner, plan)
    before = details_by_name(owner, incident)["d-RUNNING"]
    assert "endTime" not in before

    later = server.clock.advance(minutes=7)
    put_events(
        server,
        code_deploy_event(OWNER, "d-RUNNING", "SUCCESS", later),
        code_deploy_event(OWNER, "d-AFTER", "START", later),
    )
    after = details_by_name(owner, incident)
    assert set(after) == {"d-RUNNING"}
    assert after["d-RUNNING"]["id"] == before["id"]
    assert after["d-RUNNING"]["endTime"] == later
    assert after["d-RUNNING"]["creationTime"] == created
    assert after["d-RUNNING"]["lastModifiedTime"] == later


def test_stack_events_without_token_split_by_operation(
    server: RunningServer, owner: Tenant, plan: str
) -> None:
    now = server.clock.now()
    put_events(
        server,
        stack_event(OWNER, "api", "CREATE_IN_PROGRESS", now - timedelta(minutes=40)),
        stack_event(OWNER, "api", "CREATE_COMPLETE", now - timedelta(minutes=35)),
        stack_event(OWNER, "api", "UPDATE_IN_PROGRESS", now - timedelta(minutes=9)),
        stack_event(OWNER, "api", "UPDATE_ROLLBACK_IN_PROGRESS", now - timedelta(minutes=8)),
    )
    incident = start(owner, plan)
    ids = finding_ids(owner, incident)
    result = owner.client.batch_get_incident_findings(incidentRecordArn=incident, findingIds=ids)
    updates = [finding["details"]["cloudFormationStackUpdate"] for finding in result["findings"]]
    assert [update["startTime"] for update in updates] == [
        now - timedelta(minutes=40),
        now - timedelta(minutes=9),
    ]
    assert updates[0]["endTime"] == now - timedelta(minutes=35)
    assert "endTime" not in updates[1]


def test_findings_pagination(server: RunningServer, owner: Tenant, plan: str) -> None:
    now = server.clock.now()
    put_events(
        server,
        *(
            code_deploy_event(OWNER, f"d-{index}", "START", now - timedelta(minutes=index))
            for index in range(1, 6)
        ),
    )
    incident = start(owner, plan)
    everything = finding_ids(owner, incident)
    assert len(everything) == 5

    pages = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"maxResults": 2}
        if token:
            params["nextToken"] = token
        result = owner.client.list_incident_findings(incidentRecordArn=incident, **params)
        pages.append([finding["id"] for finding in result["findings"]])
        token = result.get("nextToken")
        if not token:
            break
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [finding_id for page in pages for finding_id in page] == everything

    paginator = owner.client.get_paginator("list_incident_findings")
    listed = [
        finding["id"]
        for page in paginator.paginate(incidentRecordArn=incident, PaginationConfig={"PageSize": 3})
        for finding in page["findings"]
    ]
    assert listed == everything


def test_findings_bad_input(server: RunningServer, owner: Tenant, plan: str) -> None:
    now = server.clock.now()
    put_events(server, code_deploy_event(OWNER, "d-1", "START", now - timedelta(minutes=1)))
    incident = start(owner, plan)
    (known,) = finding_ids(owner, incident)

    result = owner.client.batch_get_incident_findings(
        incidentRecordArn=incident, findingIds=["missing", known, "missing", "x" * 128]
    )
    assert [finding["id"] for finding in result["findings"]] == [known]
    assert [error["findingId"] for error in result["errors"]] == ["missing", "x" * 128]
    assert {error["code"] for error in result["errors"]} == {"ResourceNotFoundException"}
    assert "'missing'" in result["errors"][0]["message"]
    assert incident in result["errors"][0]["message"]
    empty = owner.client.batch_get_incident_findings(incidentRecordArn=incident, findingIds=[])
    assert empty["findings"] == []
    assert empty["errors"] == []

    raw = server.client("ssm-incidents", owner.keys, parameter_validation=False)
    cases = [
        (lambda: raw.list_incident_findings(incidentRecordArn=incident, maxResults=21), "21"),
        (lambda: raw.list_incident_findings(incidentRecordArn=incident, maxResults=0), "0"),
        (lambda: raw.list_incident_findings(incidentRecordArn=incident, nextToken="bad"), "token"),
        (
            lambda: raw.batch_get_incident_findings(
                incidentRecordArn=incident, findingIds=[f"f-{n}" for n in range(21)]
            ),
            "findingIds",
        ),
        (
            lambda: raw.batch_get_incident_findings(
                incidentRecordArn=incident, findingIds=["x" * 129]
            ),
            "findingIds",
        ),
        (lambda: raw.list_incident_findings(incidentRecordArn="not-an-arn"), "incidentRecordArn"),
    ]
    for call, mentioned in cases:
        with pytest.raises(ClientError) as excinfo:
            call()
        error = error_of(excinfo)
        assert error["Code"] == "ValidationException"
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert mentioned in error["Message"]

    missing = incident[:-4] + "0000"
    for call in (
        lambda: owner.client.list_incident_findings(incidentRecordArn=missing),
        lambda: owner.client.batch_get_incident_findings(
            incidentRecordArn=missing, findingIds=[known]
        ),
    ):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_of(excinfo)["Code"] == "ResourceNotFoundException"


def share_plan(owner: Tenant, plan: str) -> None:
    actions = ["ssm-incidents:StartIncident", "ssm-incidents:GetIncidentRecord"]
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": OTHER},
        "Action": actions,
        "Resource": [plan, plan.replace("response-plan/", "incident-record/") + "/*"],
    }
    document = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    owner.client.put_resource_policy(resourceArn=plan, policy=document)


def test_findings_of_impacted_and_owner_accounts(
    server: RunningServer, owner: Tenant, other: Tenant, plan: str
) -> None:
    share_plan(owner, plan)
    now = server.clock.now()
    put_events(
        server,
        code_deploy_event(OTHER, "d-APPLICATION", "START", now - timedelta(minutes=3)),
        code_deploy_event(OWNER, "d-MANAGEMENT", "START", now - timedelta(minutes=4)),
        code_deploy_event(UNRELATED, "d-UNRELATED", "START", now - timedelta(minutes=2)),
    )
    # The application account starts the incident with the shared plan, so it
    # is the impacted account.
    incident = start(other, plan)
    assert set(details_by_name(owner, incident)) == {"d-APPLICATION", "d-MANAGEMENT"}
    # An incident the owner starts itself impacts only the owner's account.
    own = start(owner, plan)
    assert set(details_by_name(owner, own)) == {"d-MANAGEMENT"}

    # The account a plan is shared with gets what the sharing rules give it
    # for findings: AccessDeniedException, because they are not consumer actions.
    for call in (
        lambda: other.client.list_incident_findings(incidentRecordArn=incident),
        lambda: other.client.batch_get_incident_findings(
            incidentRecordArn=incident, findingIds=["any"]
        ),
    ):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_of(excinfo)["Code"] == "AccessDeniedException"


def test_forwarded_events_start_incident_with_findings(
    server: RunningServer, owner: Tenant, other: Tenant, plan: str
) -> None:
    owner_events = server.client("events", owner.keys, region=REGION)
    other_events = server.client("events", other.keys, region=REGION)
    owner_events.put_permission(
        Action="events:PutEvents", Principal=OTHER, StatementId="application"
    )
    other_events.put_rule(Name="to-management", EventPattern=json.dumps(CODE_DEPLOY_PATTERN))
    other_events.put_targets(
        Rule="to-management",
        Targets=[{"Id": "bus", "Arn": f"arn:aws:events:{REGION}:{OWNER}:event-bus/default"}],
    )
    owner_events.put_rule(Name="alarms", EventPattern=json.dumps({"source": ["aws.cloudwatch"]}))
    owner_events.put_targets(Rule="alarms", Targets=[{"Id": "plan", "Arn": plan}])

    now = server.clock.now()
    deployment = code_deploy_event(OTHER, "d-FORWARDED", "START", now - timedelta(minutes=2))
    alarm = json.loads(ALARM_EVENT.read_text())
    alarm.update(account=OTHER, time=_time(now), id=str(uuid.uuid4()))
    alarm["resources"] = [f"arn:aws:cloudwatch:{REGION}:{OTHER}:alarm:ServerCpuTooHigh"]
    put_events(server, deployment)
    put_events(server, alarm)
    drain(server)

    (summary,) = owner.client.list_incident_records()["incidentRecordSummaries"]
    assert set(details_by_name(owner, summary["arn"])) == {"d-FORWARDED"}
    # The copy that the rule forwarded to the management bus is stored once.
    with server.runtime.database.session() as session:
        stored = session.scalar(
            select(func.count())
            .select_from(DeploymentEvent)
            .where(DeploymentEvent.event_id == deployment["id"])
        )
    assert stored == 1


def test_deployment_events_purged_after_retention(
    server: RunningServer, owner: Tenant, plan: str
) -> None:
    now = server.clock.now()
    put_events(server, code_deploy_event(OWNER, "d-1", "START", now - timedelta(minutes=1)))
    incident = start(owner, plan)
    assert len(finding_ids(owner, incident)) == 1

    # The hourly maintenance job keeps events for 30 days by default.
    server.clock.advance(days=29)
    run_maintenance(server)
    assert len(finding_ids(owner, incident)) == 1
    server.clock.advance(days=2)
    run_maintenance(server)
    assert finding_ids(owner, incident) == []


def run_maintenance(server: RunningServer, timeout: float = 30.0) -> None:
    """Run due jobs until no maintenance run is due, the background worker included."""
    engine = server.runtime.engine
    assert engine is not None
    deadline = time.monotonic() + timeout
    while True:
        engine.run_due()
        with server.runtime.database.session() as session:
            due = session.scalar(
                select(func.count())
                .select_from(Job)
                .where(
                    Job.kind == MAINTENANCE_JOB,
                    Job.status.in_(OPEN_STATUSES),
                    Job.due_at <= server.clock.now(),
                )
            )
        if not due:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"maintenance still due after {timeout} s")
        time.sleep(0.01)


def test_pipeline_reports_deployment_through_put_events(
    server: RunningServer, owner: Tenant, plan: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = server.client("events", owner.keys, region=REGION)
    now = server.clock.now()
    event = code_deploy_event(OWNER, "d-PIPELINE1", "START", now - timedelta(minutes=5))
    entry = {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "Resources": event["resources"],
    }
    rejected = events.put_events(Entries=[entry])
    assert rejected["Entries"][0]["ErrorCode"] == "NotAuthorizedForSourceException"

    settings = server.runtime.settings.model_copy(
        update={"put_events_aws_sources": "aws.codedeploy"}
    )
    monkeypatch.setattr(server.runtime, "settings", settings)
    accepted = events.put_events(Entries=[entry])
    assert accepted["FailedEntryCount"] == 0
    stack = {**entry, "Source": "aws.cloudformation"}
    assert events.put_events(Entries=[stack])["FailedEntryCount"] == 1

    incident = start(owner, plan)
    found = details_by_name(owner, incident)
    assert list(found) == ["d-PIPELINE1"]
    assert found["d-PIPELINE1"]["deploymentGroupArn"].endswith(":deploymentgroup:checkout/fleet")
