"""Resource shares: create, update, delete, and associate resources and principals with them.

Only the owner of a resource may share it, and only response plans and
contacts can be shared. Associations take effect within the request, so a
principal is ASSOCIATED at once inside an organization that enabled sharing,
and ASSOCIATING until it accepts its invitation otherwise.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.contacts.access import find_contact
from tocsin.contacts.access import parse_arn as parse_contact_arn
from tocsin.engine.clock import Clock
from tocsin.iam.models import Account
from tocsin.iam.organization_models import Organization, OrganizationalUnit, OrganizationMember
from tocsin.incidents.plans import find as find_plan
from tocsin.protocol.errors import ServiceError
from tocsin.sharing import invitations
from tocsin.sharing.access import CONTACT, RESPONSE_PLAN, organization_arn
from tocsin.sharing.models import ResourceShare, SharePrincipal, ShareResource
from tocsin.sharing.permissions import (
    DEFAULT_PERMISSION,
    MalformedArnException,
    UnknownResourceException,
    get_permission,
)

logger = logging.getLogger(__name__)

SHARE_ARN = re.compile(r"^arn:aws:ram:[a-z0-9-]+:\d{12}:resource-share/[0-9a-f-]{36}$")
_PLAN_ARN = re.compile(r"^arn:aws:ssm-incidents::(?P<account>\d{12}):response-plan/(?P<name>.+)$")
_ORGANIZATION_ARN = re.compile(
    r"^arn:aws:organizations::\d{12}:organization/(?P<org>o-[a-z0-9]{10,32})$"
)
_UNIT_ARN = re.compile(
    r"^arn:aws:organizations::\d{12}:ou/(?P<org>o-[a-z0-9]{10,32})/"
    r"(?P<ou>ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$"
)
MAX_TAGS = 50


class InvalidParameterException(ServiceError):
    pass


class OperationNotPermittedException(ServiceError):
    pass


class InvalidStateTransitionException(ServiceError):
    pass


class TagLimitExceededException(ServiceError):
    pass


def new_share_arn(region: str, account_id: str) -> str:
    return f"arn:aws:ram:{region}:{account_id}:resource-share/{uuid.uuid4()}"


def check_share_arn(arn: str, member: str = "resourceShareArn") -> None:
    if not SHARE_ARN.match(arn):
        raise MalformedArnException(
            f"The {member} {arn!r} is not a resource share ARN, such as "
            "arn:aws:ram:us-east-1:111122223333:resource-share/"
            "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111."
        )


def owned_share(session: Session, account_id: str, arn: str) -> ResourceShare:
    """Return the share ``arn`` of ``account_id``; other accounts' shares are unknown."""
    check_share_arn(arn)
    share = session.get(ResourceShare, arn)
    if share is None or share.account_id != account_id:
        raise UnknownResourceException(
            f"The resource share {arn} does not exist in account {account_id}."
        )
    return share


def live_share(session: Session, account_id: str, arn: str) -> ResourceShare:
    """Return the owned share ``arn`` unless it has been deleted."""
    share = owned_share(session, account_id, arn)
    if share.status == "DELETED":
        raise InvalidStateTransitionException(
            f"The resource share {arn} has been deleted and can no longer be changed."
        )
    return share


def describe(share: ResourceShare) -> dict[str, Any]:
    return {
        "resourceShareArn": share.arn,
        "name": share.name,
        "owningAccountId": share.account_id,
        "allowExternalPrincipals": share.allow_external_principals,
        "status": share.status,
        "tags": list(share.tags),
        "creationTime": share.created_at,
        "lastUpdatedTime": share.updated_at,
        "featureSet": "STANDARD",
        "resourceShareConfiguration": {
            "retainSharingOnAccountLeaveOrganization": share.retain_on_leave
        },
    }


def association(share: ResourceShare, row: ShareResource | SharePrincipal) -> dict[str, Any]:
    """Return the ResourceShareAssociation structure of a resource or principal row."""
    output: dict[str, Any] = {
        "resourceShareArn": share.arn,
        "resourceShareName": share.name,
        "status": row.status,
        "creationTime": row.created_at,
        "lastUpdatedTime": row.updated_at,
    }
    if isinstance(row, ShareResource):
        output.update(associatedEntity=row.resource_arn, associationType="RESOURCE")
        output["external"] = False
    else:
        output.update(associatedEntity=row.principal, associationType="PRINCIPAL")
        output["external"] = row.external
        if row.status_message:
            output["statusMessage"] = row.status_message
    return output


# -- Resources


def resolve_resource(session: Session, owner: str, arn: str) -> tuple[str, str]:
    """Return the canonical ARN and the resource type of a resource that ``owner`` may share."""
    if not arn.startswith("arn:"):
        raise MalformedArnException(f"The resource ARN {arn!r} is not an ARN.")
    plan_match = _PLAN_ARN.match(arn)
    contact_parts = parse_contact_arn(arn)
    if plan_match is not None:
        resource_account, resource_type = plan_match["account"], RESPONSE_PLAN
    elif contact_parts is not None and contact_parts.kind == "contact":
        resource_account, resource_type = contact_parts.account_id, CONTACT
    else:
        raise InvalidParameterException(
            f"The resource {arn} cannot be shared: only {RESPONSE_PLAN} "
            f"(arn:aws:ssm-incidents::ACCOUNT:response-plan/NAME) and {CONTACT} "
            "(arn:aws:ssm-contacts:REGION:ACCOUNT:contact/ALIAS) resources can be shared."
        )
    if resource_account != owner:
        raise OperationNotPermittedException(
            f"Account {owner} cannot share {arn}: only the owner account {resource_account} "
            "may share a resource, and resources shared with an account cannot be shared again."
        )
    canonical: str | None = None
    if plan_match is not None:
        plan = find_plan(session, owner, plan_match["name"])
        canonical = plan.arn if plan is not None else None
    else:
        contact = find_contact(session, arn)
        canonical = contact.arn if contact is not None else None
    if canonical is None:
        raise UnknownResourceException(f"The resource {arn} does not exist.")
    return canonical, resource_type


def _ensure_permission(share: ResourceShare, resource_type: str) -> None:
    covered_types = {get_permission(arn).resource_type for arn in share.permission_arns}
    if resource_type not in covered_types:
        share.permission_arns = [*share.permission_arns, DEFAULT_PERMISSION[resource_type].arn]


def associate_resource(
    session: Session, now: datetime, share: ResourceShare, arn: str
) -> ShareResource:
    canonical, resource_type = resolve_resource(session, share.account_id, arn)
    row = session.get(ShareResource, (share.arn, canonical))
    if row is None:
        row = ShareResource(
            share_arn=share.arn,
            resource_arn=canonical,
            resource_type=resource_type,
            status="ASSOCIATED",
            created_at=now,
            updated_at=now,
        )
        session.add(row)
    elif row.status != "ASSOCIATED":
        row.status = "ASSOCIATED"
        row.updated_at = now
    _ensure_permission(share, resource_type)
    return row


# -- Principals


@dataclass(frozen=True)
class OwnerOrganization:
    """The organization of a share's owner, if any, and whether it enabled sharing."""

    org: Organization | None

    @property
    def sharing_enabled(self) -> bool:
        return self.org is not None and self.org.ram_sharing_enabled

    def contains(self, session: Session, account_id: str) -> bool:
        member = session.get(OrganizationMember, account_id)
        return self.org is not None and (
            member is not None and member.organization_id == self.org.organization_id
        )


def owner_organization(session: Session, owner: str) -> OwnerOrganization:
    member = session.get(OrganizationMember, owner)
    org = session.get(Organization, member.organization_id) if member is not None else None
    return OwnerOrganization(org)


def _check_organization_principal(
    session: Session, owner: OwnerOrganization, principal: str
) -> None:
    org_match = _ORGANIZATION_ARN.match(principal) or _UNIT_ARN.match(principal)
    if org_match is None:
        raise MalformedArnException(
            f"The principal {principal!r} is not an account id, an organization ARN or an "
            "organizational unit ARN."
        )
    if owner.org is None or not owner.sharing_enabled:
        raise OperationNotPermittedException(
            f"Cannot share with {principal}: the owner's organization has not enabled sharing "
            "with AWS Organizations. Its management account calls "
            "EnableSharingWithAwsOrganization first."
        )
    expected = organization_arn(owner.org)
    if org_match["org"] != owner.org.organization_id or not principal.startswith(
        expected.split(":organization/")[0]
    ):
        raise UnknownResourceException(
            f"The principal {principal} is not part of the owner's organization "
            f"{owner.org.organization_id}."
        )
    if "ou" in org_match.groupdict():
        unit = session.get(OrganizationalUnit, org_match["ou"])
        if unit is None or unit.organization_id != owner.org.organization_id:
            raise UnknownResourceException(
                f"The organizational unit {org_match['ou']} does not exist in organization "
                f"{owner.org.organization_id}."
            )


def _check_account_principal(session: Session, share: ResourceShare, principal: str) -> None:
    if principal == share.account_id:
        raise InvalidParameterException(
            f"The principal {principal} is the owner of the resource share; share with other "
            "accounts only."
        )
    if session.get(Account, principal) is None:
        raise UnknownResourceException(f"The account {principal} does not exist.")


def associate_principal(
    session: Session, clock: Clock, share: ResourceShare, principal: str
) -> SharePrincipal:
    owner = owner_organization(session, share.account_id)
    is_account = principal.isdigit() and len(principal) == 12
    if is_account:
        _check_account_principal(session, share, principal)
    elif principal.startswith("arn:aws:iam::"):
        raise InvalidParameterException(
            f"The principal {principal} is an IAM user or role; this server shares with "
            "accounts, organizational units and organizations only."
        )
    else:
        _check_organization_principal(session, owner, principal)

    in_organization = not is_account or owner.contains(session, principal)
    if is_account and not in_organization and not share.allow_external_principals:
        raise OperationNotPermittedException(
            f"The account {principal} is outside the owner's organization and the resource "
            f"share {share.arn} does not allow external principals."
        )
    now = clock.now()
    row = session.get(SharePrincipal, (share.arn, principal))
    if row is not None and row.status in ("ASSOCIATED", "ASSOCIATING"):
        return row
    if row is None:
        row = SharePrincipal(share_arn=share.arn, principal=principal, created_at=now)
        session.add(row)
    immediate = in_organization and owner.sharing_enabled
    row.external = not in_organization
    row.via_organization = immediate
    row.status = "ASSOCIATED" if immediate else "ASSOCIATING"
    row.status_message = None
    row.updated_at = now
    if not immediate:
        invitations.invite(session, clock, share, principal)
    return row


# -- Shares


def check_tags(
    tags: list[dict[str, Any]], existing: list[dict[str, Any]] | None = None
) -> list[Any]:
    """Return ``existing`` with ``tags`` applied, after checking keys and the tag limit."""
    merged = {tag["key"]: tag.get("value", "") for tag in existing or []}
    for tag in tags:
        key = tag.get("key")
        if not key:
            raise InvalidParameterException("Every tag needs a non-empty key.")
        if key.lower().startswith("aws:"):
            raise InvalidParameterException(
                f"The tag key {key!r} uses the reserved prefix aws:, which only AWS may use."
            )
        merged[key] = tag.get("value", "")
    if len(merged) > MAX_TAGS:
        raise TagLimitExceededException(
            f"A resource share can have at most {MAX_TAGS} tags; this request would leave "
            f"{len(merged)}."
        )
    return [{"key": key, "value": value} for key, value in merged.items()]


def _check_permissions(permission_arns: list[str]) -> list[str]:
    by_type: dict[str, str] = {}
    for arn in permission_arns:
        permission = get_permission(arn, "permissionArns")
        if permission.resource_type in by_type:
            raise InvalidParameterException(
                f"permissionArns names two permissions for {permission.resource_type}: "
                f"{by_type[permission.resource_type]} and {arn}; give at most one per resource "
                "type."
            )
        by_type[permission.resource_type] = arn
    return list(by_type.values())


def _reject_unsupported(params: dict[str, Any]) -> None:
    if params.get("sources"):
        raise InvalidParameterException(
            "sources is not supported: this server shares with accounts, organizational units "
            "and organizations, not with service principals."
        )
    if params.get("permissionTemplateParameters"):
        raise InvalidParameterException(
            "permissionTemplateParameters is not supported: only AWS managed permissions exist."
        )


def create_share(
    session: Session, clock: Clock, account_id: str, region: str, params: dict[str, Any]
) -> ResourceShare:
    _reject_unsupported(params)
    tags = check_tags(params.get("tags", []))
    permission_arns = _check_permissions(params.get("permissionArns", []))
    configuration = params.get("resourceShareConfiguration") or {}
    now = clock.now()
    share = ResourceShare(
        arn=new_share_arn(region, account_id),
        account_id=account_id,
        region=region,
        name=params["name"],
        allow_external_principals=params.get("allowExternalPrincipals", True),
        retain_on_leave=bool(configuration.get("retainSharingOnAccountLeaveOrganization", False)),
        status="ACTIVE",
        permission_arns=permission_arns,
        tags=tags,
        created_at=now,
        updated_at=now,
    )
    session.add(share)
    session.flush()
    for arn in dict.fromkeys(params.get("resourceArns", [])):
        associate_resource(session, now, share, arn)
    for principal in dict.fromkeys(params.get("principals", [])):
        associate_principal(session, clock, share, principal)
    session.flush()
    logger.info("account %s created resource share %s", account_id, share.arn)
    return share


def update_share(
    session: Session, clock: Clock, share: ResourceShare, params: dict[str, Any]
) -> None:
    if "name" in params:
        share.name = params["name"]
    if "allowExternalPrincipals" in params:
        share.allow_external_principals = params["allowExternalPrincipals"]
    share.updated_at = clock.now()


def associate(
    session: Session, clock: Clock, share: ResourceShare, params: dict[str, Any]
) -> list[dict[str, Any]]:
    _reject_unsupported(params)
    now = clock.now()
    rows: list[ShareResource | SharePrincipal] = []
    for arn in dict.fromkeys(params.get("resourceArns", [])):
        rows.append(associate_resource(session, now, share, arn))
    for principal in dict.fromkeys(params.get("principals", [])):
        rows.append(associate_principal(session, clock, share, principal))
    share.updated_at = now
    session.flush()
    return [association(share, row) for row in rows]


def disassociate(
    session: Session, clock: Clock, share: ResourceShare, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """Disassociate resources and principals; the access they gave ends with this transaction."""
    _reject_unsupported(params)
    now = clock.now()
    rows: list[ShareResource | SharePrincipal] = []
    for arn in dict.fromkeys(params.get("resourceArns", [])):
        resource = session.scalar(
            select(ShareResource).where(
                ShareResource.share_arn == share.arn,
                ShareResource.resource_arn.in_(_arn_spellings(session, share.account_id, arn)),
            )
        )
        if resource is None:
            raise UnknownResourceException(
                f"The resource {arn} is not associated with the resource share {share.arn}."
            )
        rows.append(resource)
    for principal in dict.fromkeys(params.get("principals", [])):
        principal_row = session.get(SharePrincipal, (share.arn, principal))
        if principal_row is None:
            raise UnknownResourceException(
                f"The principal {principal} is not associated with the resource share {share.arn}."
            )
        invitations.cancel_pending(session, share.arn, principal)
        rows.append(principal_row)
    for entity in rows:
        if entity.status != "DISASSOCIATED":
            entity.status = "DISASSOCIATED"
            entity.updated_at = now
    share.updated_at = now
    session.flush()
    logger.info("disassociated %d entities from resource share %s", len(rows), share.arn)
    return [association(share, entity) for entity in rows]


def _arn_spellings(session: Session, owner: str, arn: str) -> list[str]:
    # A contact may be named with any Region; the share stores its own ARN.
    contact = find_contact(session, arn)
    return [arn, contact.arn] if contact is not None else [arn]


def delete_share(session: Session, clock: Clock, share: ResourceShare) -> None:
    """Mark the share DELETED and disassociate everything, which ends every grant at once."""
    now = clock.now()
    rows: list[ShareResource | SharePrincipal] = [
        *session.scalars(select(ShareResource).where(ShareResource.share_arn == share.arn)),
        *session.scalars(select(SharePrincipal).where(SharePrincipal.share_arn == share.arn)),
    ]
    for row in rows:
        row.status = "DISASSOCIATED"
        row.updated_at = now
    invitations.cancel_pending(session, share.arn, None)
    share.status = "DELETED"
    share.updated_at = now
    logger.info("deleted resource share %s", share.arn)
