"""ssm-contacts operations on contact channels and their activation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tocsin.contacts import channels
from tocsin.contacts.access import (
    authorized_contact,
    contact_arn,
    find_contact,
    parse_arn,
    visible_to,
)
from tocsin.contacts.errors import CONTACT_CHANNEL, invalid, not_found
from tocsin.contacts.models import ContactChannel
from tocsin.protocol.errors import AccessDeniedException
from tocsin.protocol.handlers import RequestContext, ServiceHandlers
from tocsin.protocol.pagination import page_scope, paginate_query

handlers = ServiceHandlers("ssm-contacts")

DEFAULT_PAGE_SIZE = 100


def _output(channel: ContactChannel) -> dict[str, Any]:
    return {
        "ContactChannelArn": channel.arn,
        "ContactArn": channel.contact_arn,
        "Name": channel.name,
        "Type": channel.type,
        "DeliveryAddress": {"SimpleAddress": channel.address},
        "ActivationStatus": channel.activation_status,
    }


def _channel(ctx: RequestContext, params: dict[str, Any], *, lock: bool = False) -> ContactChannel:
    """Return the caller's channel named by ContactChannelId after authorizing the operation."""
    arn = params["ContactChannelId"]
    parsed = parse_arn(arn)
    if parsed is None or parsed.kind != "contact-channel":
        raise not_found(CONTACT_CHANNEL, arn)
    if parsed.account_id != ctx.account_id:
        contact = find_contact(
            ctx.session, contact_arn(parsed.region, parsed.account_id, parsed.parts[0])
        )
        if contact is not None and visible_to(ctx, contact):
            raise AccessDeniedException(
                f"Only account {parsed.account_id}, the owner of contact channel {arn}, may call "
                f"{ctx.operation}; accounts that a contact is shared with may only view and "
                "engage the contact."
            )
        raise not_found(CONTACT_CHANNEL, arn)
    ctx.authorize(f"ssm-contacts:{ctx.operation}", arn)
    return channels.owned_channel(ctx.session, ctx.account_id, arn, lock=lock)


@handlers.operation("CreateContactChannel")
def create_contact_channel(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    contact = authorized_contact(
        ctx, ctx.session, params["ContactId"], "ssm-contacts:CreateContactChannel"
    )
    channel = channels.create_channel(ctx.session, ctx.clock, ctx.runtime.secrets, contact, params)
    return {"ContactChannelArn": channel.arn}


@handlers.operation("GetContactChannel")
def get_contact_channel(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return _output(_channel(ctx, params))


@handlers.operation("ListContactChannels")
def list_contact_channels(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    contact = authorized_contact(
        ctx, ctx.session, params["ContactId"], "ssm-contacts:ListContactChannels"
    )
    page = paginate_query(
        ctx.session,
        select(ContactChannel).where(ContactChannel.contact_arn == contact.arn),
        order_by=(ContactChannel.created_at, ContactChannel.channel_id),
        max_results=params.get("MaxResults") or DEFAULT_PAGE_SIZE,
        token=params.get("NextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=page_scope(
            ctx.account_id, "ssm-contacts", "ListContactChannels", {"ContactId": contact.arn}
        ),
    )
    output: dict[str, Any] = {"ContactChannels": [_output(channel) for channel in page.items]}
    if page.next_token:
        output["NextToken"] = page.next_token
    return output


@handlers.operation("UpdateContactChannel")
def update_contact_channel(ctx: RequestContext, params: dict[str, Any]) -> None:
    channels.update_channel(ctx.session, _channel(ctx, params), params)


@handlers.operation("DeleteContactChannel")
def delete_contact_channel(ctx: RequestContext, params: dict[str, Any]) -> None:
    # Plans that target the channel keep the reference; engagements skip it.
    ctx.session.delete(_channel(ctx, params))


@handlers.operation("SendActivationCode")
def send_activation_code(ctx: RequestContext, params: dict[str, Any]) -> None:
    channel = _channel(ctx, params, lock=True)
    channels.issue_code(ctx.session, ctx.clock, ctx.runtime.secrets, channel)


@handlers.operation("DeactivateContactChannel")
def deactivate_contact_channel(ctx: RequestContext, params: dict[str, Any]) -> None:
    channels.deactivate(_channel(ctx, params, lock=True))


@handlers.operation("ActivateContactChannel")
def activate_contact_channel(ctx: RequestContext, params: dict[str, Any]) -> None:
    # A wrong code must count against the attempt limit although the request
    # fails, and the dispatcher rolls back ctx.session on any error. So this
    # handler runs in its own transaction, which commits before the error is
    # raised. It makes no query through ctx.session, so on SQLite that session
    # holds no write lock for the second transaction to wait on.
    arn = params["ContactChannelId"]
    parsed = parse_arn(arn)
    if parsed is None or parsed.kind != "contact-channel":
        raise not_found(CONTACT_CHANNEL, arn)
    if parsed.account_id != ctx.account_id:
        contact = find_contact(
            ctx.session, contact_arn(parsed.region, parsed.account_id, parsed.parts[0])
        )
        if contact is not None and visible_to(ctx, contact):
            raise AccessDeniedException(
                f"Only account {parsed.account_id}, the owner of contact channel {arn}, may call "
                f"{ctx.operation}; accounts that a contact is shared with may only view and "
                "engage the contact."
            )
        raise not_found(CONTACT_CHANNEL, arn)
    ctx.authorize("ssm-contacts:ActivateContactChannel", arn)
    with ctx.runtime.database.session() as session:
        channel = channels.owned_channel(session, ctx.account_id, arn, lock=True)
        failure = channels.check_code(
            ctx.clock, ctx.runtime.secrets, channel, params["ActivationCode"]
        )
    if failure is not None:
        raise invalid(failure, "ActivationCode")
