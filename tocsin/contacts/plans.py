"""Checks of a contact's engagement plan against its type and the resources it names.

A PERSONAL contact's stages target its own channels, an ESCALATION plan's
stages target other contacts, and an ONCALL_SCHEDULE contact has rotations
and no stages. Every rejection names the member at fault.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.contacts.access import find_contact, find_rotation, parse_arn
from tocsin.contacts.errors import invalid
from tocsin.contacts.models import Contact, ContactChannel

PERSONAL = "PERSONAL"
ESCALATION = "ESCALATION"
ONCALL_SCHEDULE = "ONCALL_SCHEDULE"

# The Incident Manager user guide allows up to 8 rotations in one on-call schedule.
MAX_SCHEDULE_ROTATIONS = 8

_ROTATION_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,255}$")


def normalized_plan(
    session: Session,
    contact: Contact,
    plan: dict[str, Any],
    *,
    allow_cross_account: bool,
    is_visible: Callable[[Contact], bool],
) -> dict[str, Any]:
    """Return ``plan`` in the form GetContact returns it, or raise ValidationException.

    ``is_visible`` returns whether the caller may read a contact of another
    account, which matters only when ``allow_cross_account`` is set.
    """
    stages = plan.get("Stages") or []
    rotation_ids = plan.get("RotationIds") or []
    if contact.type == ONCALL_SCHEDULE:
        if stages:
            raise invalid(
                "An ONCALL_SCHEDULE contact cannot have stages: its engagement follows its "
                "rotations, so send Plan.RotationIds and no Plan.Stages.",
                "Plan.Stages",
            )
        return {
            "Stages": [],
            "RotationIds": _checked_rotations(session, contact, rotation_ids),
        }
    if rotation_ids:
        raise invalid(
            f"Plan.RotationIds is only valid for an ONCALL_SCHEDULE contact, and {contact.arn} "
            f"has type {contact.type}; use Plan.Stages instead.",
            "Plan.RotationIds",
        )
    for stage_index, stage in enumerate(stages):
        _check_stage(session, contact, stage, stage_index, allow_cross_account, is_visible)
    return {"Stages": stages}


def _check_stage(
    session: Session,
    contact: Contact,
    stage: dict[str, Any],
    stage_index: int,
    allow_cross_account: bool,
    is_visible: Callable[[Contact], bool],
) -> None:
    where = f"Plan.Stages[{stage_index}]"
    targets = stage.get("Targets") or []
    if stage["DurationInMinutes"] == 0 and not targets:
        raise invalid(
            f"{where}.DurationInMinutes can be 0 only in a stage with targets.",
            f"{where}.DurationInMinutes",
        )
    named: set[str] = set()
    for target_index, target in enumerate(targets):
        target_where = f"{where}.Targets[{target_index}]"
        channel_target = target.get("ChannelTargetInfo")
        contact_target = target.get("ContactTargetInfo")
        if (channel_target is None) == (contact_target is None):
            raise invalid(
                f"{target_where} must contain exactly one of ChannelTargetInfo and "
                "ContactTargetInfo.",
                target_where,
            )
        if contact.type == PERSONAL:
            if channel_target is None:
                raise invalid(
                    f"A PERSONAL contact's stages target its contact channels: "
                    f"{target_where} must be a ChannelTargetInfo.",
                    f"{target_where}.ContactTargetInfo",
                )
            target_arn = channel_target["ContactChannelId"]
            _check_own_channel(session, contact, target_arn, f"{target_where}.ChannelTargetInfo")
        else:
            if contact_target is None:
                raise invalid(
                    f"An ESCALATION plan's stages target contacts: {target_where} must be a "
                    "ContactTargetInfo.",
                    f"{target_where}.ChannelTargetInfo",
                )
            target_arn = contact_target.get("ContactId") or ""
            _check_escalation_target(
                session,
                contact,
                target_arn,
                f"{target_where}.ContactTargetInfo.ContactId",
                allow_cross_account,
                is_visible,
            )
        if target_arn in named:
            raise invalid(f"{target_where} names {target_arn} twice in one stage.", target_where)
        named.add(target_arn)


def _check_own_channel(session: Session, contact: Contact, arn: str, where: str) -> None:
    channel = session.scalar(select(ContactChannel).where(ContactChannel.arn == arn))
    if channel is None or channel.contact_arn != contact.arn:
        raise invalid(
            f"{where}.ContactChannelId {arn} is not a contact channel of {contact.arn}; create "
            "the channel with CreateContactChannel first.",
            f"{where}.ContactChannelId",
        )


def _check_escalation_target(
    session: Session,
    contact: Contact,
    arn: str,
    where: str,
    allow_cross_account: bool,
    is_visible: Callable[[Contact], bool],
) -> None:
    if not arn:
        raise invalid(f"{where} is required in an ESCALATION plan.", where)
    parsed = parse_arn(arn)
    if parsed is None or parsed.kind != "contact":
        raise invalid(f"{where} {arn!r} is not a contact ARN.", where)
    if parsed.account_id != contact.account_id and not allow_cross_account:
        raise invalid(
            f"Escalation plans can only contain contacts of their own account, and {arn} "
            f"belongs to account {parsed.account_id}. A contact shared with this account "
            "cannot be added to an escalation plan.",
            where,
        )
    target = find_contact(session, arn)
    if target is None or not is_visible(target):
        raise invalid(f"{where} names the contact {arn}, which does not exist.", where)
    if target.arn == contact.arn:
        raise invalid(f"{where}: an escalation plan cannot engage itself.", where)
    if target.type == ESCALATION:
        raise invalid(
            f"{where} names the escalation plan {arn}; an escalation plan engages PERSONAL "
            "and ONCALL_SCHEDULE contacts only.",
            where,
        )


def _checked_rotations(session: Session, contact: Contact, rotation_ids: list[str]) -> list[str]:
    if len(rotation_ids) > MAX_SCHEDULE_ROTATIONS:
        raise invalid(
            f"An on-call schedule can have at most {MAX_SCHEDULE_ROTATIONS} rotations, and "
            f"Plan.RotationIds names {len(rotation_ids)}.",
            "Plan.RotationIds",
        )
    seen: set[str] = set()
    for index, arn in enumerate(rotation_ids):
        where = f"Plan.RotationIds[{index}]"
        parsed = parse_arn(arn)
        if parsed is None or parsed.kind != "rotation" or not _ROTATION_NAME.match(parsed.parts[0]):
            raise invalid(f"{where} {arn!r} is not a rotation ARN.", where)
        if parsed.account_id != contact.account_id:
            raise invalid(
                f"{where} {arn} belongs to account {parsed.account_id}; an on-call schedule "
                "can only contain rotations of its own account.",
                where,
            )
        if arn in seen:
            raise invalid(f"{where} names the rotation {arn} twice.", where)
        seen.add(arn)
    # Existence is checked after the form of every ARN, so that a malformed or
    # repeated ARN gets its own message even when it names no rotation.
    for index, arn in enumerate(rotation_ids):
        if find_rotation(session, arn) is None:
            where = f"Plan.RotationIds[{index}]"
            raise invalid(
                f"{where} names the rotation {arn}, which does not exist; create it with "
                "CreateRotation first.",
                where,
            )
    return list(rotation_ids)
