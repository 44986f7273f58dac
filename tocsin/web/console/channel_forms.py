"""The forms of a contact's channels: add, send an activation code, activate, deactivate, delete.

Each form posts the channel's ARN in the field ``channel``. The API checks
that the channel belongs to the signed-in account, so a contact shared by
another account shows its channels' errors, not changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.routing import BaseRoute

from tocsin.web.console.auth import ConsoleSession, invoke
from tocsin.web.console.contact_data import contact_path
from tocsin.web.console.form_support import (
    FailureLocation,
    FormError,
    Outcome,
    field,
    form_route,
)

CHANNEL_TYPES = {
    "EMAIL": "Email address",
    "SMS": "Phone number for text messages, + and country code",
    "VOICE": "Phone number for voice calls, + and country code",
}

ContactArnOf = Callable[[Request], str | None]


def routes(contact_route: str, arn_of: ContactArnOf, back: FailureLocation) -> list[BaseRoute]:
    """Return the POST routes of the channel forms under ``contact_route``."""

    def contact_of(request: Request) -> str:
        arn = arn_of(request)
        if arn is None:
            raise FormError("No such contact: the URL names no valid account and alias.")
        return arn

    async def create(request: Request, _session: ConsoleSession, form: FormData) -> Outcome:
        arn = contact_of(request)
        name = field(form, "name", "The channel name")
        channel_type = field(form, "type", "The channel type")
        if channel_type not in CHANNEL_TYPES:
            raise FormError(
                f"The channel type {channel_type!r} is invalid: choose EMAIL, SMS or VOICE."
            )
        address = field(form, "address", "The delivery address")
        defer = form.get("defer") == "on"
        await invoke(
            request,
            "ssm-contacts",
            "CreateContactChannel",
            {
                "ContactId": arn,
                "Name": name,
                "Type": channel_type,
                "DeliveryAddress": {"SimpleAddress": address},
                "DeferActivation": defer,
                "IdempotencyToken": str(uuid.uuid4()),
            },
        )
        if defer:
            message = f"Channel {name} was added. Send an activation code when you are ready."
        else:
            message = (
                f"Channel {name} was added and an activation code was sent to {address}. "
                "Enter the code to activate the channel."
            )
        return Outcome(contact_path(arn) + "#channels", message)

    async def send_code(request: Request, _session: ConsoleSession, form: FormData) -> Outcome:
        arn = contact_of(request)
        channel = field(form, "channel", "The channel")
        await invoke(request, "ssm-contacts", "SendActivationCode", {"ContactChannelId": channel})
        return Outcome(contact_path(arn) + "#channels", "An activation code was sent.")

    async def activate(request: Request, _session: ConsoleSession, form: FormData) -> Outcome:
        arn = contact_of(request)
        channel = field(form, "channel", "The channel")
        code = field(form, "code", "The activation code")
        await invoke(
            request,
            "ssm-contacts",
            "ActivateContactChannel",
            {"ContactChannelId": channel, "ActivationCode": code},
        )
        return Outcome(contact_path(arn) + "#channels", "The channel is activated.")

    async def deactivate(request: Request, _session: ConsoleSession, form: FormData) -> Outcome:
        arn = contact_of(request)
        channel = field(form, "channel", "The channel")
        await invoke(
            request, "ssm-contacts", "DeactivateContactChannel", {"ContactChannelId": channel}
        )
        return Outcome(contact_path(arn) + "#channels", "The channel is deactivated.")

    async def delete(request: Request, _session: ConsoleSession, form: FormData) -> Outcome:
        arn = contact_of(request)
        channel = field(form, "channel", "The channel")
        await invoke(request, "ssm-contacts", "DeleteContactChannel", {"ContactChannelId": channel})
        return Outcome(contact_path(arn) + "#channels", "The channel was deleted.")

    forms = [
        ("/channels", create, "create-contact-channel"),
        ("/channels/send-code", send_code, "send-activation-code"),
        ("/channels/activate", activate, "activate-contact-channel"),
        ("/channels/deactivate", deactivate, "deactivate-contact-channel"),
        ("/channels/delete", delete, "delete-contact-channel"),
    ]
    return [
        form_route(contact_route + suffix, action, back, name) for suffix, action, name in forms
    ]
