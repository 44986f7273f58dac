"""Handshakes of AWS Organizations: invitations of existing accounts to join an organization."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.iam.models import Account
from tocsin.iam.organization_models import Handshake, Organization, OrganizationMember
from tocsin.iam.organizations import (
    AccountNotFoundException,
    InvalidInputException,
    join_invited,
    random_suffix,
)
from tocsin.protocol.errors import ServiceError

logger = logging.getLogger(__name__)

# Organizations invitations expire after 15 days.
HANDSHAKE_LIFETIME = timedelta(days=15)


class HandshakeNotFoundException(ServiceError):
    pass


class HandshakeAlreadyInStateException(ServiceError):
    pass


class InvalidHandshakeTransitionException(ServiceError):
    pass


class HandshakeConstraintViolationException(ServiceError):
    pass


class DuplicateHandshakeException(ServiceError):
    pass


def state_of(handshake: Handshake, now: datetime) -> str:
    """Return the handshake's state, EXPIRED for an open handshake past its expiry."""
    if handshake.state == "OPEN" and now >= handshake.expires_at:
        return "EXPIRED"
    return handshake.state


def arn_of(org: Organization, handshake: Handshake) -> str:
    return (
        f"arn:aws:organizations::{org.management_account_id}:handshake/"
        f"{org.organization_id}/invite/{handshake.handshake_id}"
    )


def describe(session: Session, handshake: Handshake, now: datetime) -> dict[str, Any]:
    org = session.get(Organization, handshake.organization_id)
    assert org is not None  # the foreign key guarantees it
    resources: list[dict[str, Any]] = [
        {"Type": "ORGANIZATION", "Value": org.organization_id},
        {"Type": "ACCOUNT", "Value": handshake.target_account_id},
    ]
    if handshake.notes:
        resources.append({"Type": "NOTES", "Value": handshake.notes})
    return {
        "Id": handshake.handshake_id,
        "Arn": arn_of(org, handshake),
        "Parties": [
            {"Id": org.organization_id.removeprefix("o-"), "Type": "ORGANIZATION"},
            {"Id": handshake.target_account_id, "Type": "ACCOUNT"},
        ],
        "State": state_of(handshake, now),
        "RequestedTimestamp": handshake.requested_at,
        "ExpirationTimestamp": handshake.expires_at,
        "Action": handshake.action,
        "Resources": resources,
    }


def _target_account(session: Session, target: dict[str, Any]) -> Account:
    kind, value = target["Type"], target["Id"]
    if kind == "ACCOUNT":
        account = session.get(Account, value) if value.isdigit() and len(value) == 12 else None
    elif kind == "EMAIL":
        account = session.scalar(select(Account).where(Account.email == value))
    else:
        raise InvalidInputException(
            f"Target.Type {kind!r} cannot be invited: invite an ACCOUNT or an EMAIL.",
            fields={"Reason": "INVALID_PARTY_TYPE_TARGET"},
        )
    if account is None:
        raise AccountNotFoundException(f"No account matches Target {kind} {value!r}.")
    return account


def invite(
    session: Session,
    clock: Clock,
    org: Organization,
    target: dict[str, Any],
    notes: str | None,
) -> Handshake:
    account = _target_account(session, target)
    if session.get(OrganizationMember, account.account_id) is not None:
        raise HandshakeConstraintViolationException(
            f"Account {account.account_id} is already a member of an organization.",
            fields={"Reason": "ALREADY_IN_AN_ORGANIZATION"},
        )
    now = clock.now()
    pending = session.scalars(
        select(Handshake).where(
            Handshake.organization_id == org.organization_id,
            Handshake.target_account_id == account.account_id,
            Handshake.state == "OPEN",
        )
    )
    for handshake in pending:
        if state_of(handshake, now) == "OPEN":
            raise DuplicateHandshakeException(
                f"Handshake {handshake.handshake_id} already invites account "
                f"{account.account_id}; accept, decline or let it expire first."
            )
    handshake = Handshake(
        handshake_id=f"h-{random_suffix(10)}",
        organization_id=org.organization_id,
        target_account_id=account.account_id,
        action="INVITE",
        state="OPEN",
        notes=notes,
        requested_at=now,
        expires_at=now + HANDSHAKE_LIFETIME,
    )
    session.add(handshake)
    session.flush()
    logger.info(
        "organization %s invited account %s (handshake %s)",
        org.organization_id,
        account.account_id,
        handshake.handshake_id,
    )
    return handshake


def _own_handshake(session: Session, account_id: str, handshake_id: str) -> Handshake:
    handshake = session.get(Handshake, handshake_id)
    # Handshakes addressed to other accounts are reported as missing.
    if handshake is None or handshake.target_account_id != account_id:
        raise HandshakeNotFoundException(
            f"Handshake {handshake_id} was not found for account {account_id}."
        )
    return handshake


def _check_open(handshake: Handshake, wanted: str, now: datetime) -> None:
    state = state_of(handshake, now)
    if state == wanted:
        raise HandshakeAlreadyInStateException(
            f"Handshake {handshake.handshake_id} is already {state}."
        )
    if state != "OPEN":
        raise InvalidHandshakeTransitionException(
            f"Handshake {handshake.handshake_id} is {state}; only an OPEN handshake can be "
            f"{wanted.lower()}."
        )


def accept(session: Session, clock: Clock, account_id: str, handshake_id: str) -> Handshake:
    handshake = _own_handshake(session, account_id, handshake_id)
    now = clock.now()
    _check_open(handshake, "ACCEPTED", now)
    if session.get(OrganizationMember, account_id) is not None:
        raise HandshakeConstraintViolationException(
            f"Account {account_id} is already a member of an organization; leave it first.",
            fields={"Reason": "ALREADY_IN_AN_ORGANIZATION"},
        )
    org = session.get(Organization, handshake.organization_id)
    account = session.get(Account, account_id)
    assert org is not None and account is not None  # foreign keys guarantee both
    handshake.state = "ACCEPTED"
    join_invited(session, clock, org, account)
    session.flush()
    return handshake


def decline(session: Session, clock: Clock, account_id: str, handshake_id: str) -> Handshake:
    handshake = _own_handshake(session, account_id, handshake_id)
    _check_open(handshake, "DECLINED", clock.now())
    handshake.state = "DECLINED"
    logger.info("account %s declined handshake %s", account_id, handshake_id)
    return handshake


def for_account(session: Session, account_id: str, action: str | None) -> list[Handshake]:
    query = select(Handshake).where(Handshake.target_account_id == account_id)
    if action is not None:
        query = query.where(Handshake.action == action)
    return list(session.scalars(query.order_by(Handshake.handshake_id)))
