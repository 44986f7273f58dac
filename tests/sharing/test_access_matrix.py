"""Who may call which ssm-incidents and ssm-contacts operation on a shared resource.

One world per backend: a management account owns a response plan, an
incident of it, a contact with an activated channel, an engagement of the
contact and its page. The plan and the contact are shared in every way an
account can come to use them, and the same operations are then called as
each of these callers:

- owner: the management account itself;
- organization: an account of the management account's organization, which
  enabled sharing, so the share reached it without an invitation;
- invited: an account outside the organization that has not accepted its
  invitation yet;
- accepted: an account outside the organization that accepted its invitation;
- disassociated: an organization account whose principal the owner
  disassociated from the share;
- policy: an account that PutResourcePolicy and PutContactPolicy name;
- unrelated: an account that nothing shares anything with;
- no-permissions: an IAM user of the accepted account without any policy;
- bad-signature: the owner's access key signed with a wrong secret key.

The matrix below is the rule the cells prove. Each entry is the outcome of
one call: OK for success, IN or OUT for a listing that does or does not
include the shared resource, or the AWS error code. The columns are the
callers in the order above.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import BACKENDS, fresh_database_url
from tests.contacts.engagement_support import activated_channel, channel_stage
from tests.sharing.conftest import Party, create_contact, create_plan, new_party
from tocsin.contacts.access import CONSUMER_ACTIONS as CONTACT_ACTIONS
from tocsin.incidents.policies import CONSUMER_ACTIONS as PLAN_ACTIONS
from tocsin.testing import Keys, RunningServer

OK = "OK"
IN = "IN"
OUT = "OUT"
NF = "ResourceNotFoundException"
AD = "AccessDeniedException"
SIG = "InvalidSignatureException"
NP = "OperationNotPermittedException"

CALLERS = (
    "owner",
    "organization",
    "invited",
    "accepted",
    "disassociated",
    "policy",
    "unrelated",
    "no-permissions",
    "bad-signature",
)

# fmt: off
MATRIX: dict[str, tuple[str, ...]] = {
    # operation                    own  org  inv  acc  dis  pol  unr  user sig
    "GetResponsePlan":             (OK,  OK,  NF,  OK,  NF,  OK,  NF,  AD,  SIG),
    "ListResponsePlans":           (IN,  IN,  OUT, IN,  OUT, IN,  OUT, AD,  SIG),
    "UpdateResponsePlan":          (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "DeleteResponsePlan":          (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "PutResourcePolicy":           (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "GetResourcePolicies":         (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "DeleteResourcePolicy":        (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "TagResource:plan":            (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "UntagResource:plan":          (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "ListTagsForResource:plan":    (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "StartIncident":               (OK,  OK,  NF,  OK,  NF,  OK,  NF,  AD,  SIG),
    "GetIncidentRecord":           (OK,  OK,  NF,  OK,  NF,  OK,  NF,  AD,  SIG),
    "ListIncidentRecords":         (IN,  IN,  OUT, IN,  OUT, IN,  OUT, AD,  SIG),
    "UpdateIncidentRecord":        (OK,  OK,  NF,  OK,  NF,  OK,  NF,  AD,  SIG),
    "DeleteIncidentRecord":        (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "TagResource:incident":        (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "CreateTimelineEvent":         (OK,  OK,  NF,  OK,  NF,  OK,  NF,  AD,  SIG),
    "GetTimelineEvent":            (OK,  OK,  NF,  OK,  NF,  OK,  NF,  AD,  SIG),
    "ListTimelineEvents":          (OK,  OK,  NF,  OK,  NF,  OK,  NF,  AD,  SIG),
    "UpdateTimelineEvent":         (OK,  OK,  NF,  OK,  NF,  OK,  NF,  AD,  SIG),
    "DeleteTimelineEvent":         (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "ListRelatedItems":            (OK,  OK,  NF,  OK,  NF,  OK,  NF,  AD,  SIG),
    "UpdateRelatedItems":          (OK,  OK,  NF,  OK,  NF,  OK,  NF,  AD,  SIG),
    "ListIncidentFindings":        (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "BatchGetIncidentFindings":    (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "GetContact":                  (OK,  OK,  NF,  OK,  NF,  OK,  NF,  AD,  SIG),
    "ListContacts":                (IN,  IN,  OUT, IN,  OUT, IN,  OUT, AD,  SIG),
    "UpdateContact":               (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "DeleteContact":               (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "PutContactPolicy":            (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "GetContactPolicy":            (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "CreateContactChannel":        (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "ListContactChannels":         (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "GetContactChannel":           (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "TagResource:contact":         (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "UntagResource:contact":       (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "ListTagsForResource:contact": (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "StartEngagement":             (OK,  OK,  NF,  OK,  NF,  OK,  NF,  AD,  SIG),
    "DescribeEngagement":          (OK,  OK,  NF,  OK,  NF,  OK,  NF,  AD,  SIG),
    "StopEngagement":              (OK,  OK,  NF,  OK,  NF,  OK,  NF,  AD,  SIG),
    "ListEngagements":             (IN,  IN,  OUT, IN,  OUT, IN,  OUT, AD,  SIG),
    "ListPagesByEngagement":       (OK,  OK,  NF,  OK,  NF,  OK,  NF,  AD,  SIG),
    "ListPagesByContact":          (OK,  OK,  NF,  OK,  NF,  OK,  NF,  AD,  SIG),
    "DescribePage":                (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "ListPageReceipts":            (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "ListPageResolutions":         (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "AcceptPage":                  (OK,  AD,  NF,  AD,  NF,  AD,  NF,  AD,  SIG),
    "CreateResourceShare":         (OK,  NP,  NP,  NP,  NP,  NP,  NP,  AD,  SIG),
}
# fmt: on


@dataclass
class World:
    """The shared resources, the callers, and factories of throwaway resources."""

    server: RunningServer
    owner: Party
    callers: dict[str, Party]
    shares: list[str]
    plan: str
    contact: str
    channel: str
    incident: str
    event_id: str
    engagement: str
    page: str
    names: Iterator[int] = field(default_factory=itertools.count)

    def share_everywhere(self, arn: str) -> None:
        """Add ``arn`` to every share and name the policy account in its resource policy."""
        for share in self.shares:
            self.owner.ram.associate_resource_share(resourceShareArn=share, resourceArns=[arn])
        grantee = self.callers["policy"].account_id
        if ":response-plan/" in arn:
            self.owner.incidents.put_resource_policy(
                resourceArn=arn, policy=plan_policy(arn, grantee)
            )
        else:
            self.owner.contacts.put_contact_policy(
                ContactArn=arn, Policy=contact_policy(arn, grantee)
            )

    def fresh_plan(self) -> str:
        """Return a new plan shared like the world's plan, for calls that change or delete it."""
        plan = create_plan(self.owner, f"scratch-{next(self.names)}")
        self.share_everywhere(plan)
        return plan

    def fresh_contact(self) -> str:
        contact = create_contact(self.owner, f"scratch-{next(self.names)}")
        self.share_everywhere(contact)
        return contact

    def fresh_incident(self) -> str:
        arn: str = self.owner.incidents.start_incident(
            responsePlanArn=self.plan, title=f"Scratch {next(self.names)}"
        )["incidentRecordArn"]
        return arn

    def fresh_event(self) -> str:
        event_id: str = self.owner.incidents.create_timeline_event(
            incidentRecordArn=self.incident,
            eventTime="2026-01-01T00:00:00Z",
            eventType="Custom Event",
            eventData='"scratch"',
        )["eventId"]
        return event_id

    def fresh_engagement(self) -> str:
        arn: str = self.owner.contacts.start_engagement(
            ContactId=self.contact, Sender="matrix", Subject="Scratch", Content="Scratch"
        )["EngagementArn"]
        return arn


def plan_policy(plan: str, account_id: str) -> str:
    statement = {
        "Sid": "consumer",
        "Effect": "Allow",
        "Principal": {"AWS": account_id},
        "Action": sorted(PLAN_ACTIONS),
        "Resource": [plan, plan.replace(":response-plan/", ":incident-record/") + "/*"],
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def contact_policy(contact: str, account_id: str) -> str:
    account, alias = contact.split(":")[4], contact.rsplit("/", 1)[1]
    statement = {
        "Sid": "consumer",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
        "Action": sorted(CONTACT_ACTIONS),
        "Resource": [contact, f"arn:aws:ssm-contacts:*:{account}:engagement/{alias}/*"],
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def join_organization(management: Party, member: Party) -> None:
    handshake = management.org.invite_account_to_organization(
        Target={"Id": member.account_id, "Type": "ACCOUNT"}
    )["Handshake"]
    member.org.accept_handshake(HandshakeId=handshake["Id"])


def user_without_permissions(server: RunningServer, account: Party) -> Party:
    iam = account.client("iam")
    iam.create_user(UserName="no-permissions")
    key = iam.create_access_key(UserName="no-permissions")["AccessKey"]
    return Party(server, Keys(key["AccessKeyId"], key["SecretAccessKey"], None, account.account_id))


def build_world(server: RunningServer) -> World:
    owner = new_party(server, "management")
    callers = {name: new_party(server, name) for name in CALLERS[1:7]}
    callers["owner"] = owner
    callers["no-permissions"] = user_without_permissions(server, callers["accepted"])
    callers["bad-signature"] = Party(
        server, Keys(owner.keys.access_key_id, "wrong" + owner.keys.secret_access_key[5:])
    )

    owner.org.create_organization(FeatureSet="ALL")
    join_organization(owner, callers["organization"])
    join_organization(owner, callers["disassociated"])
    owner.ram.enable_sharing_with_aws_organization()

    plan = create_plan(owner, "matrix")
    contact = create_contact(owner, "matrix-lead")
    channel = activated_channel(server, owner.contacts, contact, "lead@example.com")
    owner.contacts.update_contact(ContactId=contact, Plan={"Stages": [channel_stage(channel)]})

    inside = owner.ram.create_resource_share(
        name="organization",
        principals=[callers["organization"].account_id, callers["disassociated"].account_id],
    )["resourceShare"]["resourceShareArn"]
    owner.ram.disassociate_resource_share(
        resourceShareArn=inside, principals=[callers["disassociated"].account_id]
    )
    outside = owner.ram.create_resource_share(
        name="outside",
        principals=[callers["invited"].account_id, callers["accepted"].account_id],
    )["resourceShare"]["resourceShareArn"]
    invitation = callers["accepted"].ram.get_resource_share_invitations()[
        "resourceShareInvitations"
    ][0]
    callers["accepted"].ram.accept_resource_share_invitation(
        resourceShareInvitationArn=invitation["resourceShareInvitationArn"]
    )

    world = World(server, owner, callers, [inside, outside], plan, contact, channel, "", "", "", "")
    world.share_everywhere(plan)
    world.share_everywhere(contact)
    world.incident = world.fresh_incident()
    world.event_id = world.fresh_event()
    world.engagement = world.fresh_engagement()
    world.page = first_page(server, owner, world.engagement)
    return world


def first_page(server: RunningServer, owner: Party, engagement: str) -> str:
    """Run due jobs until the engagement has paged its contact, and return the page."""
    assert server.runtime.engine is not None
    deadline = time.monotonic() + 15
    while True:
        server.runtime.engine.run_due()
        pages = owner.contacts.list_pages_by_engagement(EngagementId=engagement)["Pages"]
        if pages:
            arn: str = pages[0]["PageArn"]
            return arn
        assert time.monotonic() < deadline, f"engagement {engagement} sent no page"
        time.sleep(0.02)


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """One world per backend, shared by every cell of the matrix."""
    tmp_path: Path = tmp_path_factory.mktemp(f"matrix-{request.param}")
    url = fresh_database_url(request.param, tmp_path, request)
    with RunningServer(tmp_path / "home", database_url=url) as server:
        yield build_world(server)


# -- The operations, each called as one caller against the world.

Call = Callable[[Party, World], object]


def _plan_arns(caller: Party, _world: World) -> list[str]:
    summaries = caller.incidents.list_response_plans()["responsePlanSummaries"]
    return [summary["arn"] for summary in summaries]


def _incident_arns(caller: Party, _world: World) -> list[str]:
    summaries = caller.incidents.list_incident_records()["incidentRecordSummaries"]
    return [summary["arn"] for summary in summaries]


def _contact_arns(caller: Party, _world: World) -> list[str]:
    return [contact["ContactArn"] for contact in caller.contacts.list_contacts()["Contacts"]]


def _engagement_arns(caller: Party, _world: World) -> list[str]:
    engagements = caller.contacts.list_engagements()["Engagements"]
    return [engagement["EngagementArn"] for engagement in engagements]


def _delete_resource_policy(caller: Party, world: World) -> object:
    plan = world.fresh_plan()
    policies = world.owner.incidents.get_resource_policies(resourceArn=plan)["resourcePolicies"]
    return caller.incidents.delete_resource_policy(
        resourceArn=plan, policyId=policies[0]["policyId"]
    )


def _put_resource_policy(caller: Party, world: World) -> object:
    plan = world.fresh_plan()
    policy = plan_policy(plan, world.callers["policy"].account_id)
    return caller.incidents.put_resource_policy(resourceArn=plan, policy=policy)


def _put_contact_policy(caller: Party, world: World) -> object:
    contact = world.fresh_contact()
    policy = contact_policy(contact, world.callers["policy"].account_id)
    return caller.contacts.put_contact_policy(ContactArn=contact, Policy=policy)


def _stop_engagement(caller: Party, world: World) -> object:
    return caller.contacts.stop_engagement(EngagementId=world.fresh_engagement())


def _delete_timeline_event(caller: Party, world: World) -> object:
    return caller.incidents.delete_timeline_event(
        incidentRecordArn=world.incident, eventId=world.fresh_event()
    )


def _related_item(world: World) -> dict[str, Any]:
    url = f"https://example.com/runbook/{next(world.names)}"
    return {"identifier": {"type": "OTHER", "value": {"url": url}}, "title": "Runbook"}


TAG = {"team": "payments"}
OPERATIONS: dict[str, Call] = {
    "GetResponsePlan": lambda c, w: c.incidents.get_response_plan(arn=w.plan),
    "ListResponsePlans": lambda c, w: w.plan in _plan_arns(c, w),
    "UpdateResponsePlan": lambda c, w: c.incidents.update_response_plan(
        arn=w.plan, displayName="Matrix"
    ),
    "DeleteResponsePlan": lambda c, w: c.incidents.delete_response_plan(arn=w.fresh_plan()),
    "PutResourcePolicy": _put_resource_policy,
    "GetResourcePolicies": lambda c, w: c.incidents.get_resource_policies(resourceArn=w.plan),
    "DeleteResourcePolicy": _delete_resource_policy,
    "TagResource:plan": lambda c, w: c.incidents.tag_resource(resourceArn=w.plan, tags=TAG),
    "UntagResource:plan": lambda c, w: c.incidents.untag_resource(
        resourceArn=w.plan, tagKeys=["team"]
    ),
    "ListTagsForResource:plan": lambda c, w: c.incidents.list_tags_for_resource(resourceArn=w.plan),
    "StartIncident": lambda c, w: c.incidents.start_incident(
        responsePlanArn=w.plan, title=f"Started {next(w.names)}"
    ),
    "GetIncidentRecord": lambda c, w: c.incidents.get_incident_record(arn=w.incident),
    "ListIncidentRecords": lambda c, w: w.incident in _incident_arns(c, w),
    "UpdateIncidentRecord": lambda c, w: c.incidents.update_incident_record(
        arn=w.incident, summary="Checked by the access matrix."
    ),
    "DeleteIncidentRecord": lambda c, w: c.incidents.delete_incident_record(arn=w.fresh_incident()),
    "TagResource:incident": lambda c, w: c.incidents.tag_resource(resourceArn=w.incident, tags=TAG),
    "CreateTimelineEvent": lambda c, w: c.incidents.create_timeline_event(
        incidentRecordArn=w.incident,
        eventTime="2026-01-01T00:00:00Z",
        eventType="Custom Event",
        eventData='"note"',
    ),
    "GetTimelineEvent": lambda c, w: c.incidents.get_timeline_event(
        incidentRecordArn=w.incident, eventId=w.event_id
    ),
    "ListTimelineEvents": lambda c, w: c.incidents.list_timeline_events(
        incidentRecordArn=w.incident
    ),
    "UpdateTimelineEvent": lambda c, w: c.incidents.update_timeline_event(
        incidentRecordArn=w.incident, eventId=w.event_id, eventData='"updated"'
    ),
    "DeleteTimelineEvent": _delete_timeline_event,
    "ListRelatedItems": lambda c, w: c.incidents.list_related_items(incidentRecordArn=w.incident),
    "UpdateRelatedItems": lambda c, w: c.incidents.update_related_items(
        incidentRecordArn=w.incident,
        relatedItemsUpdate={"itemToAdd": _related_item(w)},
    ),
    "ListIncidentFindings": lambda c, w: c.incidents.list_incident_findings(
        incidentRecordArn=w.incident
    ),
    "BatchGetIncidentFindings": lambda c, w: c.incidents.batch_get_incident_findings(
        incidentRecordArn=w.incident, findingIds=["finding-1"]
    ),
    "GetContact": lambda c, w: c.contacts.get_contact(ContactId=w.contact),
    "ListContacts": lambda c, w: w.contact in _contact_arns(c, w),
    "UpdateContact": lambda c, w: c.contacts.update_contact(
        ContactId=w.contact, DisplayName="Matrix lead"
    ),
    "DeleteContact": lambda c, w: c.contacts.delete_contact(ContactId=w.fresh_contact()),
    "PutContactPolicy": _put_contact_policy,
    "GetContactPolicy": lambda c, w: c.contacts.get_contact_policy(ContactArn=w.contact),
    "CreateContactChannel": lambda c, w: c.contacts.create_contact_channel(
        ContactId=w.contact,
        Name=f"email {next(w.names)}",
        Type="EMAIL",
        DeliveryAddress={"SimpleAddress": "second@example.com"},
        DeferActivation=True,
    ),
    "ListContactChannels": lambda c, w: c.contacts.list_contact_channels(ContactId=w.contact),
    "GetContactChannel": lambda c, w: c.contacts.get_contact_channel(ContactChannelId=w.channel),
    "TagResource:contact": lambda c, w: c.contacts.tag_resource(
        ResourceARN=w.contact, Tags=[{"Key": "team", "Value": "payments"}]
    ),
    "UntagResource:contact": lambda c, w: c.contacts.untag_resource(
        ResourceARN=w.contact, TagKeys=["team"]
    ),
    "ListTagsForResource:contact": lambda c, w: c.contacts.list_tags_for_resource(
        ResourceARN=w.contact
    ),
    "StartEngagement": lambda c, w: c.contacts.start_engagement(
        ContactId=w.contact, Sender="matrix", Subject="Engaged", Content="Engaged"
    ),
    "DescribeEngagement": lambda c, w: c.contacts.describe_engagement(EngagementId=w.engagement),
    "StopEngagement": _stop_engagement,
    "ListEngagements": lambda c, w: w.engagement in _engagement_arns(c, w),
    "ListPagesByEngagement": lambda c, w: c.contacts.list_pages_by_engagement(
        EngagementId=w.engagement
    ),
    "ListPagesByContact": lambda c, w: c.contacts.list_pages_by_contact(ContactId=w.contact),
    "DescribePage": lambda c, w: c.contacts.describe_page(PageId=w.page),
    "ListPageReceipts": lambda c, w: c.contacts.list_page_receipts(PageId=w.page),
    "ListPageResolutions": lambda c, w: c.contacts.list_page_resolutions(PageId=w.page),
    "AcceptPage": lambda c, w: c.contacts.accept_page(
        PageId=w.page, AcceptType="DELIVERED", AcceptCode="000000", AcceptCodeValidation="IGNORE"
    ),
    "CreateResourceShare": lambda c, w: c.ram.create_resource_share(
        name=f"reshare-{next(w.names)}", resourceArns=[w.plan, w.contact]
    ),
}

CELLS = [
    pytest.param(operation, caller, expected, id=f"{operation}-{caller}")
    for operation, row in MATRIX.items()
    for caller, expected in zip(CALLERS, row, strict=True)
]


def outcome(call: Call, caller: Party, world: World) -> str:
    """Return OK, IN, OUT or the error code of one call."""
    try:
        result = call(caller, world)
    except ClientError as exc:
        code: str = exc.response["Error"]["Code"]
        return code
    if isinstance(result, bool):
        return IN if result else OUT
    return OK


def test_matrix_covers_every_operation() -> None:
    assert sorted(MATRIX) == sorted(OPERATIONS)


@pytest.mark.parametrize(("operation", "caller", "expected"), CELLS)
def test_access(world: World, operation: str, caller: str, expected: str) -> None:
    assert outcome(OPERATIONS[operation], world.callers[caller], world) == expected


def test_refused_calls_change_nothing(world: World) -> None:
    """The owner still sees what the refused cells tried to change or delete."""
    owner = world.owner
    assert owner.incidents.get_response_plan(arn=world.plan)["arn"] == world.plan
    assert owner.contacts.get_contact(ContactId=world.contact)["ContactArn"] == world.contact
    event = owner.incidents.get_timeline_event(
        incidentRecordArn=world.incident, eventId=world.event_id
    )["event"]
    assert event["eventId"] == world.event_id
    policies = owner.contacts.get_contact_policy(ContactArn=world.contact)["Policy"]
    assert world.callers["policy"].account_id in policies


def _association_status(world: World, share: str, resource: str) -> str:
    associations = world.owner.ram.get_resource_share_associations(
        associationType="RESOURCE", resourceShareArns=[share], resourceArn=resource
    )["resourceShareAssociations"]
    status: str = associations[0]["status"]
    return status


def test_recreated_plan_is_not_shared(world: World) -> None:
    """A plan deleted and created again under its ARN is shared only after a new association."""
    consumer = world.callers["organization"]
    plan = create_plan(world.owner, "reborn")
    world.owner.ram.associate_resource_share(resourceShareArn=world.shares[0], resourceArns=[plan])
    assert consumer.incidents.get_response_plan(arn=plan)["arn"] == plan

    world.owner.incidents.delete_response_plan(arn=plan)
    assert _association_status(world, world.shares[0], plan) == "DISASSOCIATED"
    assert create_plan(world.owner, "reborn") == plan
    with pytest.raises(ClientError) as info:
        consumer.incidents.get_response_plan(arn=plan)
    assert info.value.response["Error"]["Code"] == NF
    assert plan not in _plan_arns(consumer, world)

    world.owner.ram.associate_resource_share(resourceShareArn=world.shares[0], resourceArns=[plan])
    assert _association_status(world, world.shares[0], plan) == "ASSOCIATED"
    assert consumer.incidents.get_response_plan(arn=plan)["arn"] == plan


def test_recreated_contact_is_not_shared(world: World) -> None:
    """A contact deleted and created again under its ARN is not shared by the old association."""
    consumer = world.callers["accepted"]
    contact = create_contact(world.owner, "reborn")
    world.owner.ram.associate_resource_share(
        resourceShareArn=world.shares[1], resourceArns=[contact]
    )
    assert consumer.contacts.get_contact(ContactId=contact)["ContactArn"] == contact

    world.owner.contacts.delete_contact(ContactId=contact)
    assert _association_status(world, world.shares[1], contact) == "DISASSOCIATED"
    assert create_contact(world.owner, "reborn") == contact
    with pytest.raises(ClientError) as info:
        consumer.contacts.get_contact(ContactId=contact)
    assert info.value.response["Error"]["Code"] == NF
    assert contact not in _contact_arns(consumer, world)
    listed = consumer.ram.list_resources(resourceOwner="OTHER-ACCOUNTS")["resources"]
    assert contact not in [resource["arn"] for resource in listed]


def _missing_like(arn: str) -> str:
    """Return an ARN of the same owner and kind as ``arn`` that names nothing."""
    prefix, _, last = arn.rpartition("/")
    return f"{prefix}/{'0' * len(last)}" if "-" in last else f"{prefix}/missing-{last}"


# Reads and starts whose refusal must not tell whether the resource exists.
EXISTENCE_PROBES = (
    "GetResponsePlan",
    "StartIncident",
    "GetIncidentRecord",
    "UpdateIncidentRecord",
    "CreateTimelineEvent",
    "GetTimelineEvent",
    "ListTimelineEvents",
    "ListRelatedItems",
    "GetContact",
    "StartEngagement",
    "DescribeEngagement",
    "ListPagesByEngagement",
    "ListPagesByContact",
    "DescribePage",
    "GetContactChannel",
)


@pytest.mark.parametrize("operation", EXISTENCE_PROBES)
def test_refusal_hides_existence(world: World, operation: str) -> None:
    """An unrelated account gets one response whether or not the resource exists."""
    missing = dataclasses.replace(
        world,
        plan=_missing_like(world.plan),
        contact=_missing_like(world.contact),
        channel=_missing_like(world.channel),
        incident=_missing_like(world.incident),
        engagement=_missing_like(world.engagement),
        page=_missing_like(world.page),
    )
    caller = world.callers["unrelated"]
    answers = []
    for subject in (world, missing):
        with pytest.raises(ClientError) as excinfo:
            OPERATIONS[operation](caller, subject)
        error = excinfo.value.response["Error"]
        status = excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]
        message = error.get("Message", "")
        for field_name in ("plan", "contact", "channel", "incident", "engagement", "page"):
            message = message.replace(getattr(subject, field_name), f"<{field_name}>")
        answers.append((error["Code"], status, message))
    assert answers[0] == answers[1]
