"""AWS Organizations: an organization, its tree of units and its member accounts.

The account that creates an organization becomes its management account,
and only it may change the organization or list its members. Every account
belongs to at most one organization. ``accounts.organization_id`` follows
membership, because request authentication reads it for
``aws:PrincipalOrgID``, and RAM reads membership to decide access.
"""

from __future__ import annotations

import json
import logging
import secrets
import string
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.iam import ids
from tocsin.iam.accounts import ADMINISTRATOR_POLICY, ADMINISTRATOR_POLICY_NAME
from tocsin.iam.models import Account, RolePolicy
from tocsin.iam.organization_models import (
    CreateAccountRequest,
    Organization,
    OrganizationalUnit,
    OrganizationMember,
)
from tocsin.iam.users import create_role
from tocsin.protocol.errors import AccessDeniedException, ServiceError

logger = logging.getLogger(__name__)

_LOWER_ALNUM = string.ascii_lowercase + string.digits
DEFAULT_ROLE_NAME = "OrganizationAccountAccessRole"
# Organizations allows five levels of units below the root.
MAX_OU_DEPTH = 5


class AWSOrganizationsNotInUseException(ServiceError):
    pass


class AlreadyInOrganizationException(ServiceError):
    pass


class AccountNotFoundException(ServiceError):
    pass


class ParentNotFoundException(ServiceError):
    pass


class ChildNotFoundException(ServiceError):
    pass


class SourceParentNotFoundException(ServiceError):
    pass


class DestinationParentNotFoundException(ServiceError):
    pass


class DuplicateAccountException(ServiceError):
    pass


class DuplicateOrganizationalUnitException(ServiceError):
    pass


class CreateAccountStatusNotFoundException(ServiceError):
    pass


class MasterCannotLeaveOrganizationException(ServiceError):
    pass


class ConstraintViolationException(ServiceError):
    pass


class InvalidInputException(ServiceError):
    pass


def random_suffix(length: int) -> str:
    """Return ``length`` random lower-case letters and digits, as Organizations ids use."""
    return "".join(secrets.choice(_LOWER_ALNUM) for _ in range(length))


def organization_arn(org: Organization) -> str:
    return f"arn:aws:organizations::{org.management_account_id}:organization/{org.organization_id}"


def root_arn(org: Organization) -> str:
    return (
        f"arn:aws:organizations::{org.management_account_id}:root/"
        f"{org.organization_id}/{org.root_id}"
    )


def ou_arn(org: Organization, ou_id: str) -> str:
    return f"arn:aws:organizations::{org.management_account_id}:ou/{org.organization_id}/{ou_id}"


def member_arn(org: Organization, account_id: str) -> str:
    return (
        f"arn:aws:organizations::{org.management_account_id}:account/"
        f"{org.organization_id}/{account_id}"
    )


def membership(session: Session, account_id: str) -> tuple[Organization, OrganizationMember]:
    """Return the organization of ``account_id`` and its membership, or raise NotInUse."""
    member = session.get(OrganizationMember, account_id)
    org = session.get(Organization, member.organization_id) if member is not None else None
    if member is None or org is None:
        raise AWSOrganizationsNotInUseException(
            f"Account {account_id} is not a member of an organization."
        )
    return org, member


def managed_organization(session: Session, account_id: str) -> Organization:
    """Return the organization that ``account_id`` manages.

    Raises AWSOrganizationsNotInUseException outside an organization and
    AccessDeniedException for a member account, as Organizations does for
    operations that only the management account may call.
    """
    org, _member = membership(session, account_id)
    if org.management_account_id != account_id:
        raise AccessDeniedException(
            f"You don't have permissions to access this resource: only the management account "
            f"{org.management_account_id} of organization {org.organization_id} may call this "
            "operation."
        )
    return org


def _join(session: Session, clock: Clock, org: Organization, account: Account, method: str) -> None:
    session.add(
        OrganizationMember(
            account_id=account.account_id,
            organization_id=org.organization_id,
            parent_id=org.root_id,
            joined_method=method,
            joined_at=clock.now(),
        )
    )
    account.organization_id = org.organization_id
    logger.info("account %s joined organization %s", account.account_id, org.organization_id)


def create_organization(
    session: Session, clock: Clock, account_id: str, feature_set: str
) -> Organization:
    if session.get(OrganizationMember, account_id) is not None:
        raise AlreadyInOrganizationException(
            f"Account {account_id} is already a member of an organization; an account belongs "
            "to at most one organization."
        )
    if feature_set != "ALL":
        raise ConstraintViolationException(
            f"FeatureSet {feature_set!r} is not supported: Tocsin creates organizations with "
            "FeatureSet ALL only.",
            fields={"Reason": "ORGANIZATION_NOT_IN_ALL_FEATURES_MODE"},
        )
    account = session.get(Account, account_id)
    if account is None:
        raise AccessDeniedException(f"Account {account_id} does not exist.")
    org = Organization(
        organization_id=f"o-{random_suffix(10)}",
        management_account_id=account_id,
        feature_set=feature_set,
        root_id=f"r-{random_suffix(4)}",
        ram_sharing_enabled=False,
        created_at=clock.now(),
    )
    session.add(org)
    session.flush()
    _join(session, clock, org, account, "CREATED")
    session.flush()
    logger.info("account %s created organization %s", account_id, org.organization_id)
    return org


def describe_organization(session: Session, org: Organization) -> dict[str, Any]:
    output: dict[str, Any] = {
        "Id": org.organization_id,
        "Arn": organization_arn(org),
        "FeatureSet": org.feature_set,
        "MasterAccountArn": member_arn(org, org.management_account_id),
        "MasterAccountId": org.management_account_id,
        "AvailablePolicyTypes": [],
    }
    management = session.get(Account, org.management_account_id)
    if management is not None and management.email:
        output["MasterAccountEmail"] = management.email
    return output


def describe_member(
    org: Organization, member: OrganizationMember, account: Account
) -> dict[str, Any]:
    output: dict[str, Any] = {
        "Id": account.account_id,
        "Arn": member_arn(org, account.account_id),
        "Name": account.name,
        "Status": "ACTIVE",
        "State": "ACTIVE",
        "JoinedMethod": member.joined_method,
        "JoinedTimestamp": member.joined_at,
    }
    if account.email:
        output["Email"] = account.email
    return output


# -- CreateAccount


@dataclass(frozen=True)
class NewMemberAccount:
    name: str
    email: str
    role_name: str


def create_account(
    session: Session, clock: Clock, org: Organization, request: NewMemberAccount
) -> CreateAccountRequest:
    """Create a member account with a role that the management account may assume.

    Creation is synchronous, so the returned request has reached SUCCEEDED
    or FAILED already.
    """
    now = clock.now()
    record = CreateAccountRequest(
        request_id=f"car-{random_suffix(32)}",
        organization_id=org.organization_id,
        account_name=request.name,
        state="SUCCEEDED",
        requested_at=now,
        completed_at=now,
    )
    session.add(record)
    if session.scalar(select(Account.account_id).where(Account.email == request.email)):
        record.state = "FAILED"
        record.failure_reason = "EMAIL_ALREADY_EXISTS"
        logger.info("CreateAccount %s failed: email already in use", record.request_id)
        session.flush()
        return record

    account_id = ids.new_account_id()
    while session.get(Account, account_id) is not None:
        account_id = ids.new_account_id()
    # Organizations creates the account without IAM users: the management
    # account reaches it by assuming the role below.
    account = Account(account_id=account_id, name=request.name, email=request.email, created_at=now)
    session.add(account)
    session.flush()
    trust_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{org.management_account_id}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = create_role(
        session,
        clock,
        account_id,
        name=request.role_name,
        path="/",
        trust_policy=json.dumps(trust_policy),
        description=None,
        max_session_duration=3600,
        tags=[],
    )
    # NOTE: AWS attaches the managed policy AdministratorAccess; Tocsin has no
    # managed policies, so the role gets the same permissions inline.
    session.add(
        RolePolicy(
            role_id=role.role_id,
            name=ADMINISTRATOR_POLICY_NAME,
            document=json.dumps(ADMINISTRATOR_POLICY),
        )
    )
    _join(session, clock, org, account, "CREATED")
    record.account_id = account_id
    session.flush()
    logger.info(
        "CreateAccount %s created account %s in organization %s",
        record.request_id,
        account_id,
        org.organization_id,
    )
    return record


def describe_create_account_status(record: CreateAccountRequest) -> dict[str, Any]:
    output: dict[str, Any] = {
        "Id": record.request_id,
        "AccountName": record.account_name,
        "State": record.state,
        "RequestedTimestamp": record.requested_at,
    }
    if record.completed_at is not None:
        output["CompletedTimestamp"] = record.completed_at
    if record.account_id is not None:
        output["AccountId"] = record.account_id
    if record.failure_reason is not None:
        output["FailureReason"] = record.failure_reason
    return output


def get_create_account_request(
    session: Session, org: Organization, request_id: str
) -> CreateAccountRequest:
    record = session.get(CreateAccountRequest, request_id)
    if record is None or record.organization_id != org.organization_id:
        raise CreateAccountStatusNotFoundException(
            f"CreateAccountRequestId {request_id} was not found in organization "
            f"{org.organization_id}."
        )
    return record


# -- Members and the tree


def members(
    session: Session, org: Organization, parent_id: str | None = None
) -> list[tuple[OrganizationMember, Account]]:
    """Return the member accounts of ``org`` (under ``parent_id`` when given), by account id."""
    query = (
        select(OrganizationMember, Account)
        .join(Account, Account.account_id == OrganizationMember.account_id)
        .where(OrganizationMember.organization_id == org.organization_id)
        .order_by(OrganizationMember.account_id)
    )
    if parent_id is not None:
        query = query.where(OrganizationMember.parent_id == parent_id)
    return [(member, account) for member, account in session.execute(query)]


def get_member(
    session: Session, org: Organization, account_id: str
) -> tuple[OrganizationMember, Account]:
    member = session.get(OrganizationMember, account_id)
    account = session.get(Account, account_id)
    if member is None or account is None or member.organization_id != org.organization_id:
        raise AccountNotFoundException(
            f"Account {account_id} is not a member of organization {org.organization_id}."
        )
    return member, account


def find_unit(session: Session, org: Organization, ou_id: str) -> OrganizationalUnit | None:
    unit = session.get(OrganizationalUnit, ou_id)
    if unit is None or unit.organization_id != org.organization_id:
        return None
    return unit


def parent_exists(session: Session, org: Organization, parent_id: str) -> bool:
    return parent_id == org.root_id or find_unit(session, org, parent_id) is not None


def require_parent(session: Session, org: Organization, parent_id: str) -> None:
    if not parent_exists(session, org, parent_id):
        raise ParentNotFoundException(
            f"Parent {parent_id} is neither the root nor an organizational unit of "
            f"organization {org.organization_id}."
        )


def unit_chain(session: Session, org: Organization, parent_id: str) -> list[OrganizationalUnit]:
    """Return the units from the root down to ``parent_id``, which must exist."""
    chain: list[OrganizationalUnit] = []
    current = parent_id
    while current != org.root_id:
        unit = find_unit(session, org, current)
        if unit is None:
            break
        chain.append(unit)
        current = unit.parent_id
    return list(reversed(chain))


def describe_unit(session: Session, org: Organization, unit: OrganizationalUnit) -> dict[str, Any]:
    path = "/".join(
        [org.organization_id, org.root_id] + [u.ou_id for u in unit_chain(session, org, unit.ou_id)]
    )
    return {
        "Id": unit.ou_id,
        "Arn": ou_arn(org, unit.ou_id),
        "Name": unit.name,
        "Path": f"{path}/",
    }


def create_organizational_unit(
    session: Session, clock: Clock, org: Organization, parent_id: str, name: str
) -> OrganizationalUnit:
    require_parent(session, org, parent_id)
    if len(unit_chain(session, org, parent_id)) >= MAX_OU_DEPTH:
        raise ConstraintViolationException(
            f"Parent {parent_id} is already {MAX_OU_DEPTH} levels below the root, the maximum "
            "depth of organizational units.",
            fields={"Reason": "OU_DEPTH_LIMIT_EXCEEDED"},
        )
    duplicate = session.scalar(
        select(OrganizationalUnit.ou_id).where(
            OrganizationalUnit.parent_id == parent_id, OrganizationalUnit.name == name
        )
    )
    if duplicate is not None:
        raise DuplicateOrganizationalUnitException(
            f"An organizational unit named {name!r} already exists under {parent_id}: {duplicate}."
        )
    unit = OrganizationalUnit(
        ou_id=f"ou-{org.root_id[2:]}-{random_suffix(8)}",
        organization_id=org.organization_id,
        parent_id=parent_id,
        name=name,
        created_at=clock.now(),
    )
    session.add(unit)
    session.flush()
    logger.info("created organizational unit %s under %s", unit.ou_id, parent_id)
    return unit


def child_units(session: Session, org: Organization, parent_id: str) -> list[OrganizationalUnit]:
    require_parent(session, org, parent_id)
    return list(
        session.scalars(
            select(OrganizationalUnit)
            .where(
                OrganizationalUnit.organization_id == org.organization_id,
                OrganizationalUnit.parent_id == parent_id,
            )
            .order_by(OrganizationalUnit.ou_id)
        )
    )


def parent_of(session: Session, org: Organization, child_id: str) -> dict[str, str]:
    """Return the parent of an account id or a unit id as a ListParents entry."""
    if child_id.startswith("ou-"):
        unit = find_unit(session, org, child_id)
        parent = unit.parent_id if unit is not None else None
    else:
        member = session.get(OrganizationMember, child_id)
        in_org = member is not None and member.organization_id == org.organization_id
        parent = member.parent_id if member is not None and in_org else None
    if parent is None:
        raise ChildNotFoundException(
            f"Child {child_id} is neither an account nor an organizational unit of "
            f"organization {org.organization_id}."
        )
    kind = "ROOT" if parent == org.root_id else "ORGANIZATIONAL_UNIT"
    return {"Id": parent, "Type": kind}


def move_account(
    session: Session, org: Organization, account_id: str, source_id: str, destination_id: str
) -> None:
    member, _account = get_member(session, org, account_id)
    if not parent_exists(session, org, source_id):
        raise SourceParentNotFoundException(
            f"Source parent {source_id} was not found in organization {org.organization_id}."
        )
    if not parent_exists(session, org, destination_id):
        raise DestinationParentNotFoundException(
            f"Destination parent {destination_id} was not found in organization "
            f"{org.organization_id}."
        )
    if member.parent_id != source_id:
        raise SourceParentNotFoundException(
            f"Account {account_id} is not under source parent {source_id}; its parent is "
            f"{member.parent_id}."
        )
    if source_id == destination_id:
        raise DuplicateAccountException(
            f"Account {account_id} is already under destination parent {destination_id}."
        )
    member.parent_id = destination_id
    logger.info("moved account %s from %s to %s", account_id, source_id, destination_id)


def remove_account(session: Session, org: Organization, account_id: str) -> None:
    """Remove a member account; its access through organization shares ends at once."""
    member, account = get_member(session, org, account_id)
    if account_id == org.management_account_id:
        raise MasterCannotLeaveOrganizationException(
            f"Account {account_id} is the management account of organization "
            f"{org.organization_id} and cannot be removed from it."
        )
    session.delete(member)
    account.organization_id = None
    logger.info("removed account %s from organization %s", account_id, org.organization_id)


def join_invited(session: Session, clock: Clock, org: Organization, account: Account) -> None:
    _join(session, clock, org, account, "INVITED")
