"""Invitations of accounts to resource shares, and the responses to them.

An account outside the owner's organization, or inside it before the
organization enabled sharing, gets access only after it accepts an
invitation. Invitations expire 7 days after they are sent. The expiry is
applied when an invitation is read, so no job has to run for it.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.protocol.errors import ServiceError
from tocsin.sharing.models import ResourceShare, ShareInvitation, SharePrincipal
from tocsin.sharing.permissions import MalformedArnException

logger = logging.getLogger(__name__)

INVITATION_LIFETIME = timedelta(days=7)
EXPIRED_MESSAGE = "The invitation expired before the account accepted it."
REJECTED_MESSAGE = "The account rejected the invitation."


class ResourceShareInvitationArnNotFoundException(ServiceError):
    pass


class ResourceShareInvitationAlreadyAcceptedException(ServiceError):
    pass


class ResourceShareInvitationAlreadyRejectedException(ServiceError):
    pass


class ResourceShareInvitationExpiredException(ServiceError):
    pass


def invitation_arn(region: str, owner: str) -> str:
    return f"arn:aws:ram:{region}:{owner}:resource-share-invitation/{uuid.uuid4()}"


def invite(
    session: Session, clock: Clock, share: ResourceShare, receiver_account_id: str
) -> ShareInvitation:
    now = clock.now()
    invitation = ShareInvitation(
        arn=invitation_arn(share.region, share.account_id),
        share_arn=share.arn,
        sender_account_id=share.account_id,
        receiver_account_id=receiver_account_id,
        status="PENDING",
        created_at=now,
        updated_at=now,
    )
    session.add(invitation)
    logger.info(
        "invited account %s to resource share %s (%s)",
        receiver_account_id,
        share.arn,
        invitation.arn,
    )
    return invitation


def _principal(session: Session, invitation: ShareInvitation) -> SharePrincipal | None:
    return session.get(SharePrincipal, (invitation.share_arn, invitation.receiver_account_id))


def refresh(session: Session, invitation: ShareInvitation, now: datetime) -> ShareInvitation:
    """Mark ``invitation`` EXPIRED, and its principal DISASSOCIATED, once its time is up."""
    if invitation.status == "PENDING" and now - invitation.created_at >= INVITATION_LIFETIME:
        invitation.status = "EXPIRED"
        invitation.updated_at = invitation.created_at + INVITATION_LIFETIME
        principal = _principal(session, invitation)
        if principal is not None and principal.status == "ASSOCIATING":
            principal.status = "DISASSOCIATED"
            principal.status_message = EXPIRED_MESSAGE
            principal.updated_at = invitation.updated_at
    return invitation


def cancel_pending(session: Session, share_arn: str, receiver_account_id: str | None) -> None:
    """Delete the pending invitations of a share, or of one receiver of it."""
    query = select(ShareInvitation).where(
        ShareInvitation.share_arn == share_arn, ShareInvitation.status == "PENDING"
    )
    if receiver_account_id is not None:
        query = query.where(ShareInvitation.receiver_account_id == receiver_account_id)
    for invitation in session.scalars(query):
        session.delete(invitation)


def received(session: Session, account_id: str, now: datetime) -> list[ShareInvitation]:
    """Return the invitations that ``account_id`` received, by ARN."""
    rows = session.scalars(
        select(ShareInvitation)
        .where(ShareInvitation.receiver_account_id == account_id)
        .order_by(ShareInvitation.arn)
    )
    return [refresh(session, invitation, now) for invitation in rows]


def get_received(
    session: Session, account_id: str, arn: str, now: datetime, member: str
) -> ShareInvitation:
    if not arn.startswith("arn:aws:ram:") or ":resource-share-invitation/" not in arn:
        raise MalformedArnException(
            f"The {member} {arn!r} is not a resource share invitation ARN, such as "
            "arn:aws:ram:us-east-1:111122223333:resource-share-invitation/"
            "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111."
        )
    invitation = session.get(ShareInvitation, arn)
    # Invitations of other receivers are reported as missing.
    if invitation is None or invitation.receiver_account_id != account_id:
        raise ResourceShareInvitationArnNotFoundException(
            f"The resource share invitation {arn} was not found for account {account_id}."
        )
    return refresh(session, invitation, now)


def _check_pending(invitation: ShareInvitation) -> None:
    if invitation.status == "ACCEPTED":
        raise ResourceShareInvitationAlreadyAcceptedException(
            f"The invitation {invitation.arn} has already been accepted."
        )
    if invitation.status == "REJECTED":
        raise ResourceShareInvitationAlreadyRejectedException(
            f"The invitation {invitation.arn} has already been rejected."
        )
    if invitation.status == "EXPIRED":
        raise ResourceShareInvitationExpiredException(
            f"The invitation {invitation.arn} expired on "
            f"{(invitation.created_at + INVITATION_LIFETIME).isoformat()}; ask the owner "
            f"account {invitation.sender_account_id} to share again."
        )


def accept(session: Session, clock: Clock, account_id: str, arn: str) -> ShareInvitation:
    now = clock.now()
    invitation = get_received(session, account_id, arn, now, "resourceShareInvitationArn")
    _check_pending(invitation)
    invitation.status = "ACCEPTED"
    invitation.updated_at = now
    principal = _principal(session, invitation)
    if principal is not None:
        principal.status = "ASSOCIATED"
        principal.status_message = None
        principal.updated_at = now
    logger.info("account %s accepted invitation %s", account_id, arn)
    return invitation


def reject(session: Session, clock: Clock, account_id: str, arn: str) -> ShareInvitation:
    now = clock.now()
    invitation = get_received(session, account_id, arn, now, "resourceShareInvitationArn")
    _check_pending(invitation)
    invitation.status = "REJECTED"
    invitation.updated_at = now
    principal = _principal(session, invitation)
    if principal is not None:
        principal.status = "DISASSOCIATED"
        principal.status_message = REJECTED_MESSAGE
        principal.updated_at = now
    logger.info("account %s rejected invitation %s", account_id, arn)
    return invitation


def describe(session: Session, invitation: ShareInvitation) -> dict[str, Any]:
    share = session.get(ResourceShare, invitation.share_arn)
    return {
        "resourceShareInvitationArn": invitation.arn,
        "resourceShareName": share.name if share is not None else "",
        "resourceShareArn": invitation.share_arn,
        "senderAccountId": invitation.sender_account_id,
        "receiverAccountId": invitation.receiver_account_id,
        "invitationTimestamp": invitation.created_at,
        "status": invitation.status,
    }
