"""Contact channels: addresses, activation codes and the activation state.

A channel starts NOT_ACTIVATED. Unless the request sets DeferActivation,
creating it sends an activation code at once, as Incident Manager does.
The owner enters the code with ActivateContactChannel. Codes are stored only
as an HMAC digest, expire after CODE_LIFETIME and lock after
MAX_FAILED_ATTEMPTS wrong entries; SendActivationCode issues a fresh one.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.contacts.access import channel_arn, parse_arn
from tocsin.contacts.errors import CONTACT_CHANNEL, conflict, invalid, not_found, quota_exceeded
from tocsin.contacts.models import Contact, ContactChannel
from tocsin.contacts.plans import PERSONAL
from tocsin.engine.clock import Clock
from tocsin.engine.queue import enqueue
from tocsin.iam.crypto import SecretBox

logger = logging.getLogger(__name__)

ACTIVATED = "ACTIVATED"
NOT_ACTIVATED = "NOT_ACTIVATED"
SEND_JOB_KIND = "contacts.send_activation_code"

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=15)
MAX_FAILED_ATTEMPTS = 5
MAX_CODES_PER_HOUR = 5

# E.164: a plus sign, then 8 to 15 digits starting with a country code (never 0).
_PHONE = re.compile(r"^\+[1-9][0-9]{7,14}$")
_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


def checked_address(channel_type: str, address: str, field: str) -> str:
    if channel_type in ("SMS", "VOICE"):
        if not _PHONE.match(address):
            raise invalid(
                f"{field} {address!r} is not a phone number in E.164 format: use '+', the "
                "country code and the number, 8 to 15 digits in all, such as +12065550100.",
                field,
            )
    elif not _EMAIL.match(address) or ".." in address or address.startswith("."):
        raise invalid(f"{field} {address!r} is not a valid email address.", field)
    return address


def find_channel(session: Session, arn: str, *, lock: bool = False) -> ContactChannel | None:
    parsed = parse_arn(arn)
    if parsed is None or parsed.kind != "contact-channel":
        return None
    query = select(ContactChannel).where(ContactChannel.channel_id == parsed.parts[1])
    if lock:
        query = query.with_for_update()
    channel = session.scalar(query)
    if channel is None or channel.account_id != parsed.account_id:
        return None
    return channel


def owned_channel(
    session: Session, account_id: str, arn: str, *, lock: bool = False
) -> ContactChannel:
    """Return the caller's channel ``arn``; other accounts' channels are never visible."""
    channel = find_channel(session, arn, lock=lock)
    if channel is None or channel.account_id != account_id:
        raise not_found(CONTACT_CHANNEL, arn)
    return channel


def _check_unique(session: Session, contact_arn: str, channel_type: str, address: str) -> None:
    existing = session.scalar(
        select(ContactChannel.arn).where(
            ContactChannel.contact_arn == contact_arn,
            ContactChannel.type == channel_type,
            ContactChannel.address == address,
        )
    )
    if existing is not None:
        raise conflict(
            f"The contact already has the {channel_type} channel {existing} for this address.",
            CONTACT_CHANNEL,
            existing,
        )


def create_channel(
    session: Session,
    clock: Clock,
    box: SecretBox,
    contact: Contact,
    params: dict[str, Any],
) -> ContactChannel:
    if contact.type != PERSONAL:
        raise invalid(
            f"Contact channels belong to PERSONAL contacts, and {contact.arn} is a "
            f"{contact.type} contact.",
            "ContactId",
        )
    channel_type = params["Type"]
    address = checked_address(
        channel_type, params["DeliveryAddress"]["SimpleAddress"], "DeliveryAddress.SimpleAddress"
    )
    _check_unique(session, contact.arn, channel_type, address)

    channel_id = str(uuid.uuid4())
    region = contact.arn.split(":")[3]
    channel = ContactChannel(
        channel_id=channel_id,
        arn=channel_arn(region, contact.account_id, contact.alias, channel_id),
        contact_arn=contact.arn,
        account_id=contact.account_id,
        name=params["Name"],
        type=channel_type,
        address=address,
        activation_status=NOT_ACTIVATED,
        code_serial=0,
        failed_attempts=0,
        code_sends=[],
        created_at=clock.now(),
    )
    session.add(channel)
    session.flush()
    logger.info("created %s contact channel %s", channel_type, channel.arn)
    if not params.get("DeferActivation"):
        issue_code(session, clock, box, channel)
    return channel


def update_channel(session: Session, channel: ContactChannel, params: dict[str, Any]) -> None:
    if "Name" in params:
        channel.name = params["Name"]
    address = (params.get("DeliveryAddress") or {}).get("SimpleAddress")
    if address is not None and address != channel.address:
        checked_address(channel.type, address, "DeliveryAddress.SimpleAddress")
        _check_unique(session, channel.contact_arn, channel.type, address)
        channel.address = address
        # A new address is unproven, so the channel must be activated again.
        channel.activation_status = NOT_ACTIVATED
        channel.activated_at = None
        _clear_code(channel)
        logger.info("contact channel %s has a new address and needs activation", channel.arn)


def deactivate(channel: ContactChannel) -> None:
    channel.activation_status = NOT_ACTIVATED
    channel.activated_at = None
    _clear_code(channel)
    logger.info("deactivated contact channel %s", channel.arn)


def _clear_code(channel: ContactChannel) -> None:
    channel.code_digest = None
    channel.code_expires_at = None
    channel.failed_attempts = 0


def _digest(box: SecretBox, channel: ContactChannel, code: str) -> str:
    key = box.derive("ssm-contacts activation codes")
    message = f"{channel.channel_id}:{channel.code_serial}:{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def issue_code(session: Session, clock: Clock, box: SecretBox, channel: ContactChannel) -> None:
    """Replace the channel's pending code and enqueue a job that sends it over the channel.

    Raises ServiceQuotaExceededException after MAX_CODES_PER_HOUR codes in an hour.
    """
    if channel.activation_status == ACTIVATED:
        raise invalid(
            f"The contact channel {channel.arn} is already activated.", "ContactChannelId"
        )
    now = clock.now()
    recent = [
        sent
        for sent in channel.code_sends
        if datetime.fromisoformat(sent) > now - timedelta(hours=1)
    ]
    if len(recent) >= MAX_CODES_PER_HOUR:
        raise quota_exceeded(
            f"At most {MAX_CODES_PER_HOUR} activation codes can be sent to a contact channel "
            f"in an hour; try {channel.arn} again later.",
            "activation-codes-per-hour",
            CONTACT_CHANNEL,
            channel.arn,
        )
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    channel.code_serial += 1
    channel.code_digest = _digest(box, channel, code)
    channel.code_expires_at = now + CODE_LIFETIME
    channel.failed_attempts = 0
    channel.code_sends = [*recent, now.isoformat()]
    enqueue(
        session,
        clock,
        SEND_JOB_KIND,
        # The job needs the code itself to send it, so the payload carries it encrypted.
        {
            "channel_id": channel.channel_id,
            "serial": channel.code_serial,
            "code": box.encrypt(code),
        },
        key=f"{SEND_JOB_KIND}:{channel.channel_id}:{channel.code_serial}",
        account_id=channel.account_id,
    )
    logger.info(
        "issued activation code %d for contact channel %s", channel.code_serial, channel.arn
    )


def check_code(clock: Clock, box: SecretBox, channel: ContactChannel, code: str) -> str | None:
    """Activate ``channel`` if ``code`` is its pending code; otherwise return why not.

    A wrong code counts towards MAX_FAILED_ATTEMPTS, so the caller must
    commit the channel even when this returns a reason.
    """
    if channel.activation_status == ACTIVATED:
        return None
    if channel.code_digest is None or channel.code_expires_at is None:
        return (
            "No activation code is pending for this channel; request one with SendActivationCode."
        )
    if channel.failed_attempts >= MAX_FAILED_ATTEMPTS:
        return (
            f"The activation code is locked after {MAX_FAILED_ATTEMPTS} wrong attempts; "
            "request a new one with SendActivationCode."
        )
    if clock.now() >= channel.code_expires_at:
        return "The activation code has expired; request a new one with SendActivationCode."
    if not hmac.compare_digest(channel.code_digest, _digest(box, channel, code)):
        channel.failed_attempts += 1
        logger.info(
            "wrong activation code for contact channel %s (attempt %d of %d)",
            channel.arn,
            channel.failed_attempts,
            MAX_FAILED_ATTEMPTS,
        )
        return "The activation code is not correct."
    channel.activation_status = ACTIVATED
    channel.activated_at = clock.now()
    _clear_code(channel)
    logger.info("activated contact channel %s", channel.arn)
    return None
