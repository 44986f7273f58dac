"""ssm-contacts operations on contacts, their resource policies and tags."""

from __future__ import annotations

from typing import Any

from tocsin.contacts import contacts, tags
from tocsin.contacts.access import authorized_contact
from tocsin.contacts.models import Contact
from tocsin.protocol.handlers import RequestContext, ServiceHandlers

handlers = ServiceHandlers("ssm-contacts")


def _summary(contact: Contact) -> dict[str, Any]:
    output: dict[str, Any] = {
        "ContactArn": contact.arn,
        "Alias": contact.alias,
        "Type": contact.type,
    }
    if contact.display_name is not None:
        output["DisplayName"] = contact.display_name
    return output


def _contact(ctx: RequestContext, params: dict[str, Any], *, owner_only: bool = True) -> Contact:
    return authorized_contact(
        ctx,
        ctx.session,
        params["ContactId"],
        f"ssm-contacts:{ctx.operation}",
        owner_only=owner_only,
    )


@handlers.operation("CreateContact")
def create_contact(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return {"ContactArn": contacts.create_contact(ctx, params).arn}


@handlers.operation("GetContact")
def get_contact(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    contact = _contact(ctx, params, owner_only=False)
    return {**_summary(contact), "Plan": contact.plan}


@handlers.operation("ListContacts")
def list_contacts(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    page = contacts.list_contacts(ctx, params)
    output: dict[str, Any] = {"Contacts": [_summary(contact) for contact in page.items]}
    if page.next_token:
        output["NextToken"] = page.next_token
    return output


@handlers.operation("UpdateContact")
def update_contact(ctx: RequestContext, params: dict[str, Any]) -> None:
    contacts.update_contact(ctx, _contact(ctx, params), params)


@handlers.operation("DeleteContact")
def delete_contact(ctx: RequestContext, params: dict[str, Any]) -> None:
    contacts.delete_contact(ctx, _contact(ctx, params))


@handlers.operation("PutContactPolicy")
def put_contact_policy(ctx: RequestContext, params: dict[str, Any]) -> None:
    contact = authorized_contact(
        ctx, ctx.session, params["ContactArn"], "ssm-contacts:PutContactPolicy"
    )
    contacts.put_contact_policy(ctx, contact, params["Policy"])


@handlers.operation("GetContactPolicy")
def get_contact_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    contact = authorized_contact(
        ctx, ctx.session, params["ContactArn"], "ssm-contacts:GetContactPolicy"
    )
    output: dict[str, Any] = {"ContactArn": contact.arn}
    if contact.policy is not None:
        output["Policy"] = contact.policy
    return output


@handlers.operation("TagResource")
def tag_resource(ctx: RequestContext, params: dict[str, Any]) -> None:
    arn = tags.resolve(ctx, params["ResourceARN"], "ssm-contacts:TagResource")
    tags.put_tags(ctx.session, ctx.account_id, arn, params["Tags"])


@handlers.operation("UntagResource")
def untag_resource(ctx: RequestContext, params: dict[str, Any]) -> None:
    arn = tags.resolve(ctx, params["ResourceARN"], "ssm-contacts:UntagResource")
    tags.remove_tags(ctx.session, arn, params["TagKeys"])


@handlers.operation("ListTagsForResource")
def list_tags_for_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    arn = tags.resolve(ctx, params["ResourceARN"], "ssm-contacts:ListTagsForResource")
    return {"Tags": tags.list_tags(ctx.session, arn)}
