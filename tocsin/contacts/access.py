"""ARNs of ssm-contacts resources, and who may see and use a contact.

An account may read its own contacts. A contact of another account is
visible only when the contact's resource policy or a RAM resource share
allows the caller's account one of the consumer actions. Every other caller
gets ResourceNotFoundException, so the contact's existence does not leak.
Whether a principal of an account that the contact is visible to may act
is decided by the principal's own policies, and a denial is
AccessDeniedException.
Consumers may only use and view a contact: owner actions from another
account get AccessDeniedException.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.contacts.errors import CONTACT, not_found
from tocsin.contacts.models import Contact, Rotation
from tocsin.iam.authorize import caller_context
from tocsin.iam.policy import AuthzRequest, Decision, evaluate
from tocsin.protocol.errors import AccessDeniedException
from tocsin.protocol.handlers import RequestContext
from tocsin.sharing import access as sharing

# Actions that another account may perform on a contact shared with it, as
# the Incident Manager user guide lists them for shared contacts.
CONSUMER_ACTIONS = frozenset(
    {
        "ssm-contacts:GetContact",
        "ssm-contacts:StartEngagement",
        "ssm-contacts:DescribeEngagement",
        "ssm-contacts:StopEngagement",
        "ssm-contacts:ListPagesByEngagement",
        "ssm-contacts:ListPagesByContact",
    }
)

# Stands in for the caller's identity policies when deciding whether a contact is visible.
_ALLOW_EVERYTHING: dict[str, Any] = {
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
}

_ARN = re.compile(
    r"^arn:aws:ssm-contacts:(?P<region>[a-z0-9-]*):(?P<account>\d{12}):"
    r"(?P<kind>contact|contact-channel|rotation)/(?P<rest>.+)$"
)
_ALIAS = re.compile(r"^[a-z0-9_\-]{1,255}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass(frozen=True)
class ParsedArn:
    region: str
    account_id: str
    kind: str
    parts: tuple[str, ...]


def parse_arn(arn: str) -> ParsedArn | None:
    """Split an ssm-contacts ARN of a contact, channel or rotation; None for any other text."""
    match = _ARN.match(arn)
    if match is None:
        return None
    parts = tuple(match["rest"].split("/"))
    kind = match["kind"]
    if kind == "contact" and (len(parts) != 1 or not _ALIAS.match(parts[0])):
        return None
    if kind == "contact-channel" and (
        len(parts) != 2 or not _ALIAS.match(parts[0]) or not _UUID.match(parts[1])
    ):
        return None
    if kind == "rotation" and len(parts) != 1:
        return None
    return ParsedArn(match["region"], match["account"], kind, parts)


def contact_arn(region: str, account_id: str, alias: str) -> str:
    return f"arn:aws:ssm-contacts:{region}:{account_id}:contact/{alias}"


def channel_arn(region: str, account_id: str, alias: str, channel_id: str) -> str:
    return f"arn:aws:ssm-contacts:{region}:{account_id}:contact-channel/{alias}/{channel_id}"


def find_contact(session: Session, arn: str) -> Contact | None:
    """Return the contact that ``arn`` names in any Region, or None."""
    parsed = parse_arn(arn)
    if parsed is None or parsed.kind != "contact":
        return None
    return session.scalar(
        select(Contact).where(
            Contact.account_id == parsed.account_id, Contact.alias == parsed.parts[0]
        )
    )


def rotation_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:ssm-contacts:{region}:{account_id}:rotation/{name}"


def find_rotation(session: Session, arn: str) -> Rotation | None:
    """Return the rotation that ``arn`` names in any Region, or None."""
    parsed = parse_arn(arn)
    if parsed is None or parsed.kind != "rotation":
        return None
    return session.scalar(
        select(Rotation).where(
            Rotation.account_id == parsed.account_id, Rotation.name == parsed.parts[0]
        )
    )


def contact_policies(contact: Contact) -> tuple[dict[str, Any], ...]:
    if contact.policy is None:
        return ()
    document: dict[str, Any] = json.loads(contact.policy)
    return (document,)


def granted_policies(
    ctx: RequestContext, session: Session, contact: Contact
) -> tuple[dict[str, Any], ...]:
    """Return the policies that share ``contact`` with the caller: its own and any RAM share's.

    A RAM share is represented by a policy that grants the caller's account
    the consumer actions, so both kinds of sharing are authorized alike.
    """
    policies = contact_policies(contact)
    if contact.account_id != ctx.account_id and sharing.shared_with(
        session, contact.arn, ctx.account_id
    ):
        engagements = f"arn:aws:ssm-contacts:*:{contact.account_id}:engagement/{contact.alias}/*"
        resources = [contact.arn, engagements]
        policies = (*policies, sharing.grant_policy(ctx.account_id, CONSUMER_ACTIONS, resources))
    return policies


def shared_contact_arns(ctx: RequestContext) -> list[str]:
    """Return the ARNs of the contacts that RAM resource shares grant to the caller's account."""
    return sharing.shared_resources(ctx.session, ctx.account_id, sharing.CONTACT)


def visible_to(ctx: RequestContext, contact: Contact) -> bool:
    """Return whether the caller may see ``contact``: it owns it, or a policy or share allows it."""
    if contact.account_id == ctx.account_id:
        return True
    if _allows_consumer_action(ctx, contact, contact_policies(contact)):
        return True
    # The share index is consulted only when the contact's own policy does not
    # decide, so that listing policy-shared contacts costs no extra queries.
    if not sharing.shared_with(ctx.session, contact.arn, ctx.account_id):
        return False
    return _allows_consumer_action(ctx, contact, granted_policies(ctx, ctx.session, contact))


def _allows_consumer_action(
    ctx: RequestContext, contact: Contact, policies: tuple[dict[str, Any], ...]
) -> bool:
    """Return whether ``policies`` allow the caller's account one of the consumer actions.

    The caller's identity policies are left out on purpose: they decide
    whether the caller may act, which ``authorize`` reports as
    AccessDeniedException, not whether the contact exists for the caller.
    """
    if not policies:
        return False
    for action in sorted(CONSUMER_ACTIONS):
        request = AuthzRequest(
            action=action,
            resource=contact.arn,
            principal_account=ctx.caller.account_id,
            principal_arns=ctx.caller.principal_arns,
            resource_account=contact.account_id,
            context=caller_context(ctx.caller),
        )
        if evaluate(request, (_ALLOW_EVERYTHING,), policies) is Decision.ALLOW:
            return True
    return False


def authorized_contact(
    ctx: RequestContext, session: Session, arn: str, action: str, *, owner_only: bool = True
) -> Contact:
    """Return the contact ``arn`` after checking that the caller may perform ``action`` on it.

    Raises ResourceNotFoundException for a contact that does not exist or is
    not visible to the caller, and AccessDeniedException when the caller sees
    the contact but may not perform ``action``.
    """
    contact = find_contact(session, arn)
    if contact is None or not visible_to(ctx, contact):
        raise not_found(CONTACT, arn)
    if contact.account_id == ctx.account_id:
        ctx.authorize(action, contact.arn)
        return contact
    if owner_only or action not in CONSUMER_ACTIONS:
        raise AccessDeniedException(
            f"Only the owner account {contact.account_id} may perform {action} on {contact.arn}; "
            "accounts that a contact is shared with may only view and engage it."
        )
    ctx.authorize(
        action,
        contact.arn,
        resource_account=contact.account_id,
        resource_policies=granted_policies(ctx, session, contact),
    )
    return contact
