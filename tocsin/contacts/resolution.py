"""Resolution of an engagement target to the personal contacts that get a page.

A personal contact resolves to itself. An on-call schedule resolves to the
contacts on shift in any of its rotations at the given instant, overrides
included. Each result carries its resolution path, the ResolutionContact
items that ListPageResolutions returns: escalation plan, then on-call
schedule, then personal contact.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from tocsin.contacts.access import find_contact, find_rotation
from tocsin.contacts.models import Contact
from tocsin.contacts.overrides import overrides_between
from tocsin.contacts.plans import ESCALATION, ONCALL_SCHEDULE, PERSONAL
from tocsin.contacts.rotations import shift_rotation
from tocsin.contacts.shifts import on_call_at

logger = logging.getLogger(__name__)

# Function that reads a contact by ARN and returns None when it does not exist.
ContactFinder = Callable[[str], Contact | None]


@dataclass(frozen=True)
class Reached:
    """A personal contact to page, the path that led to it, and whether it is essential."""

    contact: Contact
    resolution: list[dict[str, Any]]
    essential: bool


@dataclass(frozen=True)
class Skipped:
    """A target that resolved to no personal contact, and the reason."""

    contact_arn: str
    reason: str

    def to_data(self) -> dict[str, str]:
        return {"contactArn": self.contact_arn, "reason": self.reason}


@dataclass
class Resolution:
    """The personal contacts that one stage reaches, each once, and the targets it skipped."""

    reached: list[Reached]
    skipped: list[Skipped]

    def add(self, other: Resolution) -> None:
        for item in other.reached:
            self._add_reached(item)
        self.skipped.extend(other.skipped)

    def _add_reached(self, item: Reached) -> None:
        # One page per personal contact per stage: a contact reached twice
        # keeps its first path and is essential if either target is.
        for index, existing in enumerate(self.reached):
            if existing.contact.arn == item.contact.arn:
                essential = existing.essential or item.essential
                self.reached[index] = Reached(existing.contact, existing.resolution, essential)
                return
        self.reached.append(item)


def step(contact: Contact, stage_index: int | None = None) -> dict[str, Any]:
    """Return the ResolutionContact item of ``contact``."""
    item: dict[str, Any] = {"ContactArn": contact.arn, "Type": contact.type}
    if stage_index is not None:
        item["StageIndex"] = stage_index
    return item


def on_call_contact_arns(session: Session, schedule: Contact, at: datetime) -> list[str]:
    """Return the contacts on call at ``at`` in any rotation of ``schedule``, each once.

    Rotations that no longer exist or belong to another account are skipped.
    """
    arns: list[str] = []
    for rotation_arn in schedule.plan.get("RotationIds") or []:
        row = find_rotation(session, rotation_arn)
        if row is None or row.account_id != schedule.account_id:
            logger.warning(
                "on-call schedule %s names the missing rotation %s", schedule.arn, rotation_arn
            )
            continue
        overrides = overrides_between(session, row, at, at + timedelta(microseconds=1))
        for contact_arn in on_call_at(shift_rotation(row), at, overrides):
            if contact_arn not in arns:
                arns.append(contact_arn)
    return arns


def resolve(
    session: Session,
    target_arn: str,
    at: datetime,
    *,
    path: list[dict[str, Any]],
    essential: bool,
    find: ContactFinder | None = None,
) -> Resolution:
    """Resolve ``target_arn`` at instant ``at``; ``path`` leads from the engaged contact to it.

    ``find`` reads contacts in place of ``find_contact``.
    """
    lookup: ContactFinder = find if find is not None else partial(find_contact, session)
    target = lookup(target_arn)
    if target is None:
        return Resolution([], [Skipped(target_arn, "The contact does not exist.")])
    if target.type == PERSONAL:
        return Resolution([Reached(target, [*path, step(target)], essential)], [])
    if target.type == ESCALATION:
        reason = "An escalation plan cannot engage another escalation plan."
        return Resolution([], [Skipped(target.arn, reason)])

    result = Resolution([], [])
    on_call = on_call_contact_arns(session, target, at)
    if not on_call:
        reason = f"Nobody is on call in the on-call schedule at {at.isoformat()}."
        result.skipped.append(Skipped(target.arn, reason))
    schedule_path = [*path, step(target)]
    for contact_arn in on_call:
        person = lookup(contact_arn)
        if person is None or person.type != PERSONAL:
            reason = "The on-call contact is not an existing personal contact."
            result.skipped.append(Skipped(contact_arn, reason))
            continue
        result.add(Resolution([Reached(person, [*schedule_path, step(person)], essential)], []))
    return result


def resolve_stage(
    session: Session,
    plan: Contact | str,
    stage: dict[str, Any],
    stage_index: int,
    at: datetime,
    find: ContactFinder | None = None,
) -> Resolution:
    """Resolve every ContactTargetInfo of an escalation plan's stage at instant ``at``.

    ``plan`` is the escalation plan, or its ARN when it was deleted after the
    engagement started. ChannelTargetInfo targets, which an escalation plan
    cannot contain, are skipped.
    """
    if isinstance(plan, Contact):
        head = step(plan, stage_index)
    else:
        head = {"ContactArn": plan, "Type": ESCALATION, "StageIndex": stage_index}
    result = Resolution([], [])
    for target in stage.get("Targets") or []:
        info = target.get("ContactTargetInfo")
        if not info or not info.get("ContactId"):
            continue
        essential = bool(info.get("IsEssential"))
        reached = resolve(
            session, info["ContactId"], at, path=[head], essential=essential, find=find
        )
        result.add(reached)
    return result


def resolve_direct(session: Session, contact: Contact, at: datetime) -> Resolution:
    """Resolve a personal contact or an on-call schedule that was engaged directly."""
    if contact.type not in (PERSONAL, ONCALL_SCHEDULE):
        raise ValueError(f"{contact.arn} has type {contact.type}, not a direct target")
    return resolve(session, contact.arn, at, path=[], essential=True)
