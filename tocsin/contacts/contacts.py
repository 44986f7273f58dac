"""Contacts of one account: create, read, list, update, delete, and their resource policy."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, or_, select

from tocsin.contacts import tags
from tocsin.contacts.access import contact_arn, shared_contact_arns, visible_to
from tocsin.contacts.errors import CONTACT, conflict, invalid
from tocsin.contacts.models import Contact, ContactChannel
from tocsin.contacts.plans import normalized_plan
from tocsin.contacts.rotations import rotations_using_contact
from tocsin.iam.policy import PolicyError, parse_policy
from tocsin.protocol.errors import ConflictException
from tocsin.protocol.handlers import RequestContext
from tocsin.protocol.pagination import Page, page_scope, paginate_query
from tocsin.sharing import access as sharing

logger = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 100


def _allow_cross_account(ctx: RequestContext) -> bool:
    return ctx.runtime.settings.allow_cross_account_escalation


def _plan(ctx: RequestContext, contact: Contact, plan: dict[str, Any]) -> dict[str, Any]:
    return normalized_plan(
        ctx.session,
        contact,
        plan,
        allow_cross_account=_allow_cross_account(ctx),
        is_visible=lambda target: visible_to(ctx, target),
    )


def create_contact(ctx: RequestContext, params: dict[str, Any]) -> Contact:
    alias = params["Alias"]
    arn = contact_arn(ctx.region, ctx.account_id, alias)
    ctx.authorize("ssm-contacts:CreateContact", arn)
    tag_values = tags.checked_tags(params.get("Tags", []))

    existing = ctx.session.scalar(
        select(Contact.arn).where(Contact.account_id == ctx.account_id, Contact.alias == alias)
    )
    if existing is not None:
        raise conflict(
            f"A contact with alias {alias!r} already exists in account {ctx.account_id}: "
            f"{existing}. Aliases must be unique in an account.",
            CONTACT,
            existing,
        )

    now = ctx.clock.now()
    contact = Contact(
        arn=arn,
        account_id=ctx.account_id,
        alias=alias,
        display_name=params.get("DisplayName") or None,
        type=params["Type"],
        plan={},
        created_at=now,
        updated_at=now,
    )
    contact.plan = _plan(ctx, contact, params["Plan"])
    ctx.session.add(contact)
    ctx.session.flush()
    if tag_values:
        tags.put_tags(ctx.session, ctx.account_id, arn, params["Tags"])
    logger.info("created %s contact %s (request %s)", contact.type, arn, ctx.request_id)
    return contact


def list_contacts(ctx: RequestContext, params: dict[str, Any]) -> Page[Contact]:
    """List the caller's contacts and the contacts that other accounts share with it."""
    ctx.authorize("ssm-contacts:ListContacts", contact_arn(ctx.region, ctx.account_id, "*"))
    shared = _shared_contact_arns(ctx)
    query = select(Contact)
    if shared:
        query = query.where(or_(Contact.account_id == ctx.account_id, Contact.arn.in_(shared)))
    else:
        query = query.where(Contact.account_id == ctx.account_id)
    if params.get("AliasPrefix"):
        query = query.where(Contact.alias.startswith(params["AliasPrefix"], autoescape=True))
    if params.get("Type"):
        query = query.where(Contact.type == params["Type"])
    filters = {"AliasPrefix": params.get("AliasPrefix"), "Type": params.get("Type")}
    return paginate_query(
        ctx.session,
        query,
        order_by=(Contact.arn,),
        max_results=params.get("MaxResults") or DEFAULT_PAGE_SIZE,
        token=params.get("NextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=page_scope(ctx.account_id, "ssm-contacts", "ListContacts", filters),
    )


def _shared_contact_arns(ctx: RequestContext) -> list[str]:
    # NOTE: every contact of another account that has a policy is evaluated on
    # each listing; an index of shares replaces this when RAM sharing exists.
    candidates = ctx.session.scalars(
        select(Contact).where(Contact.account_id != ctx.account_id, Contact.policy.is_not(None))
    )
    by_policy = [contact.arn for contact in candidates if visible_to(ctx, contact)]
    return sorted({*by_policy, *shared_contact_arns(ctx)})


def update_contact(ctx: RequestContext, contact: Contact, params: dict[str, Any]) -> None:
    if "DisplayName" in params:
        contact.display_name = params["DisplayName"] or None
    if "Plan" in params:
        contact.plan = _plan(ctx, contact, params["Plan"])
    contact.updated_at = ctx.clock.now()
    logger.info("updated contact %s (request %s)", contact.arn, ctx.request_id)


def delete_contact(ctx: RequestContext, contact: Contact) -> None:
    """Delete a contact with its channels and tags.

    Escalation plans and response plans that name the contact keep the
    reference, as in Incident Manager; engaging them skips the missing contact.
    Raises ConflictException while a rotation lists the contact.
    """
    rotation_arns = rotations_using_contact(ctx, contact)
    if rotation_arns:
        raise ConflictException(
            f"The contact {contact.arn} is on call in the rotations {', '.join(rotation_arns)}. "
            "Remove it from their ContactIds and unfinished overrides with UpdateRotation and "
            "DeleteRotationOverride, or delete the rotations, first.",
            fields={
                "ResourceId": contact.arn,
                "ResourceType": CONTACT,
                "DependentEntities": [
                    {"RelationType": "ROTATION", "DependentResourceIds": rotation_arns[:25]}
                ],
            },
        )
    ctx.session.execute(delete(ContactChannel).where(ContactChannel.contact_arn == contact.arn))
    tags.drop_all_tags(ctx.session, contact.arn)
    sharing.disassociate_deleted(ctx.session, contact.arn, ctx.clock.now())
    ctx.session.delete(contact)
    logger.info("deleted contact %s (request %s)", contact.arn, ctx.request_id)


def put_contact_policy(ctx: RequestContext, contact: Contact, policy: str) -> None:
    try:
        parse_policy(policy, resource_policy=True)
    except PolicyError as exc:
        raise invalid(f"Policy is not a valid resource policy: {exc}", "Policy") from exc
    contact.policy = policy
    contact.updated_at = ctx.clock.now()
    logger.info("set the resource policy of contact %s (request %s)", contact.arn, ctx.request_id)
