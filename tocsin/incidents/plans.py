"""Response plans: the templates, engagements and runbooks that incidents start from."""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tocsin.contacts.access import find_contact
from tocsin.engine.clock import Clock
from tocsin.incidents import tags
from tocsin.incidents.arns import IncidentsArn, conflict, not_found, plan_arn
from tocsin.incidents.models import ResourcePolicy, ResponsePlan
from tocsin.protocol.errors import ValidationException
from tocsin.sharing import access as sharing

logger = logging.getLogger(__name__)

_SNS_TOPIC_ARN = re.compile(
    r"^arn:aws(-cn|-us-gov)?:sns:[a-z0-9-]+:(?P<account>\d{12}):[\w-]{1,256}$"
)

# UpdateResponsePlan members that replace one member of the incident template.
TEMPLATE_UPDATES = {
    "incidentTemplateTitle": "title",
    "incidentTemplateImpact": "impact",
    "incidentTemplateSummary": "summary",
    "incidentTemplateDedupeString": "dedupeString",
    "incidentTemplateNotificationTargets": "notificationTargets",
    "incidentTemplateTags": "incidentTags",
}
# Plan members that UpdateResponsePlan replaces as a whole when present.
PLAN_UPDATES = {
    "displayName": "display_name",
    "engagements": "engagements",
    "actions": "actions",
    "integrations": "integrations",
}


def find(session: Session, account_id: str, name: str) -> ResponsePlan | None:
    return session.scalar(
        select(ResponsePlan).where(ResponsePlan.account_id == account_id, ResponsePlan.name == name)
    )


def get(session: Session, parsed: IncidentsArn) -> ResponsePlan:
    """Return the plan that ``parsed`` names, or raise ResourceNotFoundException."""
    plan = find(session, parsed.account_id, parsed.resource_id)
    if plan is None:
        raise not_found("RESPONSE_PLAN", parsed.arn, "Response plan")
    return plan


def _check_sns_topic(arn: str, member: str, account_id: str, *, other_accounts: bool) -> None:
    match = _SNS_TOPIC_ARN.match(arn)
    if match is None:
        raise ValidationException(
            f"Invalid {member} {arn!r}: expected an SNS topic ARN such as "
            "arn:aws:sns:us-east-1:111122223333:my-topic"
        )
    # AWS accepts only topics of the plan's own account. The operator setting
    # allow_cross_account_notification_targets lifts that limit.
    if match["account"] != account_id and not other_accounts:
        raise ValidationException(
            f"Invalid {member} {arn!r}: the SNS topic must belong to account {account_id}, "
            "the account of the response plan"
        )


def check_engagements(session: Session, account_id: str, engagements: list[str]) -> None:
    """Check that each engagement names an existing contact that the plan's account may use.

    A contact of another account must at least have a contact policy or be
    shared through RAM. Whether that allows engaging it is decided when the
    engagement starts.
    """
    for index, arn in enumerate(engagements, start=1):
        contact = find_contact(session, arn)
        if contact is None:
            raise ValidationException(
                f"Invalid engagements.{index} {arn!r}: no contact, escalation plan or on-call "
                "schedule with this ARN exists; create it with ssm-contacts first"
            )
        if contact.account_id != account_id and not (
            contact.policy is not None or sharing.shared_with(session, contact.arn, account_id)
        ):
            raise ValidationException(
                f"Invalid engagements.{index} {arn!r}: the contact belongs to account "
                f"{contact.account_id} and is not shared with account {account_id}"
            )


def _check_plan(
    account_id: str,
    template: dict[str, Any],
    chat_channel: Any,
    prefix: str = "incidentTemplate.",
    *,
    other_accounts: bool,
) -> None:
    """Check what the service model cannot: the SNS topics of the template and the chat channel.

    A topic of another account is rejected with AWS's ValidationException
    unless ``other_accounts``, the operator setting
    allow_cross_account_notification_targets, is true.
    """
    for index, target in enumerate(template.get("notificationTargets", []), start=1):
        member = f"{prefix}notificationTargets.{index}.snsTopicArn"
        _check_sns_topic(target["snsTopicArn"], member, account_id, other_accounts=other_accounts)
    if chat_channel and "chatbotSns" in chat_channel:
        for index, topic in enumerate(chat_channel["chatbotSns"], start=1):
            member = f"chatChannel.chatbotSns.{index}"
            _check_sns_topic(topic, member, account_id, other_accounts=other_accounts)


def check_notification_targets(
    account_id: str, targets: list[dict[str, Any]], chat_channel: Any, *, other_accounts: bool
) -> None:
    """Check the SNS topics of an incident's notification targets and chat channel."""
    template = {"notificationTargets": targets}
    _check_plan(account_id, template, chat_channel, prefix="", other_accounts=other_accounts)


def _stored_channel(chat_channel: dict[str, Any] | None) -> dict[str, Any] | None:
    # {"empty": {}} means "no chat channel", which the plan stores as None.
    if chat_channel is None or "empty" in chat_channel:
        return None
    return chat_channel


def create(
    session: Session,
    clock: Clock,
    account_id: str,
    params: dict[str, Any],
    *,
    other_accounts_topics: bool = False,
) -> ResponsePlan:
    """Create a plan from CreateResponsePlan's parameters.

    ``other_accounts_topics`` lets notification targets name SNS topics of other accounts.
    """
    name = params["name"]
    if find(session, account_id, name) is not None:
        raise conflict(
            "RESPONSE_PLAN",
            plan_arn(account_id, name),
            f"A response plan named {name} already exists in account {account_id}.",
        )
    template = params["incidentTemplate"]
    _check_plan(
        account_id, template, params.get("chatChannel"), other_accounts=other_accounts_topics
    )
    check_engagements(session, account_id, params.get("engagements", []))
    now = clock.now()
    plan = ResponsePlan(
        account_id=account_id,
        name=name,
        display_name=params.get("displayName"),
        incident_template=template,
        chat_channel=_stored_channel(params.get("chatChannel")),
        engagements=params.get("engagements", []),
        actions=params.get("actions", []),
        integrations=params.get("integrations", []),
        created_at=now,
        last_modified_at=now,
    )
    session.add(plan)
    session.flush()
    if params.get("tags"):
        tags.tag(session, account_id, plan.arn, params["tags"])
    logger.info("created response plan %s", plan.arn)
    return plan


def update(
    session: Session,
    clock: Clock,
    plan: ResponsePlan,
    params: dict[str, Any],
    *,
    other_accounts_topics: bool = False,
) -> None:
    """Apply UpdateResponsePlan's parameters; members that are absent stay unchanged."""
    template = dict(plan.incident_template)
    for member, field in TEMPLATE_UPDATES.items():
        if member in params:
            template[field] = params[member]
    if not template.get("incidentTags"):
        template.pop("incidentTags", None)
    chat_channel = params.get("chatChannel", plan.chat_channel)
    _check_plan(plan.account_id, template, chat_channel, other_accounts=other_accounts_topics)
    if "engagements" in params:
        check_engagements(session, plan.account_id, params["engagements"])
    plan.incident_template = template
    plan.chat_channel = _stored_channel(chat_channel)
    for member, attribute in PLAN_UPDATES.items():
        if member in params:
            setattr(plan, attribute, params[member])
    plan.last_modified_at = clock.now()
    logger.info(
        "updated response plan %s: %s", plan.arn, sorted(set(params) - {"arn", "clientToken"})
    )


def delete_plan(session: Session, clock: Clock, plan: ResponsePlan) -> None:
    """Delete a plan with its policies and tags, and take it out of every RAM share."""
    session.execute(delete(ResourcePolicy).where(ResourcePolicy.plan_id == plan.id))
    sharing.disassociate_deleted(session, plan.arn, clock.now())
    tags.delete_all(session, plan.arn)
    session.delete(plan)
    logger.info("deleted response plan %s", plan.arn)


def describe(plan: ResponsePlan) -> dict[str, Any]:
    """Return the GetResponsePlan output of ``plan``."""
    output: dict[str, Any] = {
        "arn": plan.arn,
        "name": plan.name,
        "incidentTemplate": plan.incident_template,
    }
    if plan.display_name is not None:
        output["displayName"] = plan.display_name
    if plan.chat_channel is not None:
        output["chatChannel"] = plan.chat_channel
    for member, value in (
        ("engagements", plan.engagements),
        ("actions", plan.actions),
        ("integrations", plan.integrations),
    ):
        if value:
            output[member] = value
    return output


tags.register_taggable("RESPONSE_PLAN", get)
