"""Whether an account may use a resource through a RAM resource share.

This module is the one place that answers the question. A share grants an
account access to a resource while all of these hold:

- the share is ACTIVE and the resource is ASSOCIATED with it;
- a principal of the share that covers the account is ASSOCIATED: the
  account itself (after an accepted invitation, or at once inside the
  owner's organization), the account's organization, or an organizational
  unit above the account;
- for access that organization membership gave, the account and the owner
  are still in the same organization, unless the share retains sharing when
  an account leaves.

Deleting a response plan or a contact disassociates it from every share in
the same transaction, so a resource created later under the same ARN is
shared only once its owner associates it again.

Lookups go through the indexes on the resource ARN and on the principal, so
their cost follows the shares of one resource or of one account, not the
number of shares in the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.iam.models import Account
from tocsin.iam.organization_models import Organization, OrganizationalUnit, OrganizationMember
from tocsin.sharing.models import ResourceShare, SharePrincipal, ShareResource

# The shareable resource types, as RAM names them.
RESPONSE_PLAN = "ssm-incidents:ResponsePlan"
CONTACT = "ssm-contacts:Contact"


def disassociate_deleted(session: Session, resource_arn: str, now: datetime) -> None:
    """Disassociate a response plan or contact that is being deleted from every share.

    DeleteResponsePlan and DeleteContact call this in their transaction.
    """
    rows = session.scalars(
        select(ShareResource).where(
            ShareResource.resource_arn == resource_arn, ShareResource.status == "ASSOCIATED"
        )
    )
    for row in rows:
        row.status = "DISASSOCIATED"
        row.updated_at = now


def organization_arn(org: Organization) -> str:
    return f"arn:aws:organizations::{org.management_account_id}:organization/{org.organization_id}"


def unit_arn(org: Organization, ou_id: str) -> str:
    return f"arn:aws:organizations::{org.management_account_id}:ou/{org.organization_id}/{ou_id}"


def principal_keys(session: Session, account_id: str) -> list[str]:
    """Return every share principal that covers ``account_id``.

    These are the account id, its organization's ARN and the ARNs of the
    organizational units above the account.
    """
    keys = [account_id]
    member = session.get(OrganizationMember, account_id)
    if member is None:
        return keys
    org = session.get(Organization, member.organization_id)
    if org is None:
        return keys
    keys.append(organization_arn(org))
    parent = member.parent_id
    # Units nest at most five deep; the bound also stops a corrupted cycle.
    for _ in range(10):
        if parent == org.root_id:
            break
        unit = session.get(OrganizationalUnit, parent)
        if unit is None or unit.organization_id != org.organization_id:
            break
        keys.append(unit_arn(org, unit.ou_id))
        parent = unit.parent_id
    return keys


def _grants(
    session: Session,
    account_id: str,
    principal: SharePrincipal,
    share: ResourceShare,
    organization_id: str | None,
) -> bool:
    """Return whether an ASSOCIATED principal row still grants ``account_id`` access."""
    if principal.principal == account_id and not principal.via_organization:
        return True
    if principal.principal == account_id and share.retain_on_leave:
        return True
    owner = session.get(Account, share.account_id)
    owner_org = owner.organization_id if owner is not None else None
    return organization_id is not None and owner_org == organization_id


def _granting_rows(
    session: Session, account_id: str, *conditions: Any
) -> list[tuple[str, str, str]]:
    """Return (resource ARN, resource type, share ARN) of the shares that grant ``account_id``."""
    keys = principal_keys(session, account_id)
    member = session.get(OrganizationMember, account_id)
    organization_id = member.organization_id if member is not None else None
    rows = session.execute(
        select(
            SharePrincipal, ResourceShare, ShareResource.resource_arn, ShareResource.resource_type
        )
        .join(ShareResource, ShareResource.share_arn == SharePrincipal.share_arn)
        .join(ResourceShare, ResourceShare.arn == SharePrincipal.share_arn)
        .where(
            SharePrincipal.principal.in_(keys),
            SharePrincipal.status == "ASSOCIATED",
            ShareResource.status == "ASSOCIATED",
            ResourceShare.status == "ACTIVE",
            ResourceShare.account_id != account_id,
            *conditions,
        )
    )
    granted = []
    for principal, share, resource_arn, resource_type in rows:
        if _grants(session, account_id, principal, share, organization_id):
            granted.append((resource_arn, resource_type, share.arn))
    return granted


def shared_with(session: Session, resource_arn: str, account_id: str) -> bool:
    """Return whether a resource share lets ``account_id`` use the resource ``resource_arn``.

    ``resource_arn`` must be the resource's canonical ARN, as stored when it
    was associated with the share (a contact's ARN in its own Region).
    """
    return bool(_granting_rows(session, account_id, ShareResource.resource_arn == resource_arn))


def shared_resources(session: Session, account_id: str, resource_type: str) -> list[str]:
    """Return the ARNs of the ``resource_type`` resources that shares grant to ``account_id``."""
    rows = _granting_rows(session, account_id, ShareResource.resource_type == resource_type)
    return sorted({resource_arn for resource_arn, _type, _share in rows})


def granting_shares(session: Session, account_id: str) -> list[tuple[str, str, str]]:
    """Return (resource ARN, resource type, share ARN) of every grant that ``account_id`` holds."""
    return _granting_rows(session, account_id)


def granting_share_arns(session: Session, account_id: str) -> list[str]:
    """Return the ARNs of the other accounts' shares whose principals grant ``account_id``."""
    keys = principal_keys(session, account_id)
    member = session.get(OrganizationMember, account_id)
    organization_id = member.organization_id if member is not None else None
    rows = session.execute(
        select(SharePrincipal, ResourceShare)
        .join(ResourceShare, ResourceShare.arn == SharePrincipal.share_arn)
        .where(
            SharePrincipal.principal.in_(keys),
            SharePrincipal.status == "ASSOCIATED",
            ResourceShare.status == "ACTIVE",
            ResourceShare.account_id != account_id,
        )
    )
    return sorted(
        {
            share.arn
            for principal, share in rows
            if _grants(session, account_id, principal, share, organization_id)
        }
    )


def grant_policy(account_id: str, actions: frozenset[str], resources: list[str]) -> dict[str, Any]:
    """Return the resource policy that stands for a share's grant to ``account_id``.

    Authorization evaluates it like a resource policy, so the consumer's own
    identity policies still decide which of ``actions`` its principals may use.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": sorted(actions),
                "Resource": resources,
            }
        ],
    }
