"""The sharing audit: what a management account has not shared, and whom it shares with.

For each audited account the report lists:

- response plans and contacts that no active resource share contains;
- pending invitations that the account sent and that it received;
- principals to review: accounts outside the account's organization that its
  shares give access to, shares that allow external principals, and every
  principal that a response plan's or a contact's resource policy names.

The audit only reads. An invitation older than its lifetime counts as
expired, as RAM reports it, without the row being changed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tocsin.contacts.engagement_models import Engagement
from tocsin.contacts.models import Contact
from tocsin.iam.models import Account
from tocsin.incidents.models import IncidentRecord, ResourcePolicy, ResponsePlan
from tocsin.printable import printable
from tocsin.sharing.invitations import INVITATION_LIFETIME
from tocsin.sharing.models import ResourceShare, ShareInvitation, SharePrincipal, ShareResource

# Days without use after which an account principal is listed as inactive.
DEFAULT_INACTIVE_DAYS = 90


class AuditError(Exception):
    """An audit that cannot run, such as one of an account that does not exist."""


@dataclass(frozen=True)
class Invitation:
    invitation_arn: str
    share_arn: str
    share_name: str
    sender_account_id: str
    receiver_account_id: str
    sent_at: str


@dataclass(frozen=True)
class ExternalAccount:
    """An account outside the owner's organization that a share gives access to."""

    account_id: str
    share_arn: str
    share_name: str


@dataclass(frozen=True)
class ExternalShare:
    share_arn: str
    share_name: str


@dataclass(frozen=True)
class PolicyGrant:
    """One principal that a resource policy of a response plan or a contact names."""

    resource_arn: str
    principal: str
    actions: list[str]
    outside_organization: bool


@dataclass(frozen=True)
class DepartedAccount:
    """An account principal of a share that came in through the organization and has left it."""

    account_id: str
    share_arn: str
    share_name: str


@dataclass(frozen=True)
class InactiveAccount:
    """An account principal of a share that has used none of the owner's resources lately.

    Use means starting an incident with one of the owner's response plans, or
    an engagement of one of the owner's contacts. ``last_used`` is None when
    the account never did either.
    """

    account_id: str
    share_arn: str
    share_name: str
    last_used: str | None


@dataclass
class AccountAudit:
    account_id: str
    organization_id: str | None
    unshared_response_plans: list[str] = field(default_factory=list)
    unshared_contacts: list[str] = field(default_factory=list)
    invitations_sent: list[Invitation] = field(default_factory=list)
    invitations_received: list[Invitation] = field(default_factory=list)
    external_accounts: list[ExternalAccount] = field(default_factory=list)
    external_shares: list[ExternalShare] = field(default_factory=list)
    policy_grants: list[PolicyGrant] = field(default_factory=list)
    departed_accounts: list[DepartedAccount] = field(default_factory=list)
    inactive_accounts: list[InactiveAccount] = field(default_factory=list)

    @property
    def findings(self) -> int:
        """Return the number of listed items, each of which deserves a look."""
        return sum(
            len(items)
            for items in (
                self.unshared_response_plans,
                self.unshared_contacts,
                self.invitations_sent,
                self.invitations_received,
                self.external_accounts,
                self.external_shares,
                self.policy_grants,
                self.departed_accounts,
                self.inactive_accounts,
            )
        )


def audit(
    session: Session,
    now: datetime,
    account_id: str | None = None,
    *,
    inactive_days: int = DEFAULT_INACTIVE_DAYS,
) -> list[AccountAudit]:
    """Audit ``account_id``, or every account that owns response plans, contacts or shares.

    An account principal counts as inactive when it has used none of the
    owner's shared resources in the last ``inactive_days`` days.
    """
    if inactive_days < 1:
        raise AuditError(f"inactive days must be at least 1, got {inactive_days}")
    since = now - timedelta(days=inactive_days)
    if account_id is not None:
        account = session.get(Account, account_id)
        if account is None:
            raise AuditError(f"account {account_id} does not exist")
        return [audit_account(session, now, account, since)]
    owners = {
        *session.scalars(select(ResponsePlan.account_id)),
        *session.scalars(select(Contact.account_id)),
        *session.scalars(select(ResourceShare.account_id)),
    }
    accounts = [session.get(Account, owner) for owner in sorted(owners)]
    return [
        audit_account(session, now, account, since) for account in accounts if account is not None
    ]


def audit_account(
    session: Session, now: datetime, account: Account, since: datetime
) -> AccountAudit:
    report = AccountAudit(account.account_id, account.organization_id)
    shares = list(
        session.scalars(
            select(ResourceShare)
            .where(ResourceShare.account_id == account.account_id, ResourceShare.status == "ACTIVE")
            .order_by(ResourceShare.arn)
        )
    )
    _unshared(session, report, shares)
    report.invitations_sent = _invitations(
        session, now, ShareInvitation.sender_account_id == account.account_id
    )
    report.invitations_received = _invitations(
        session, now, ShareInvitation.receiver_account_id == account.account_id
    )
    _external(session, account, report, shares)
    report.policy_grants = _policy_grants(session, account)
    _account_principals(session, account, report, shares, since)
    return report


def _account_principals(
    session: Session,
    owner: Account,
    report: AccountAudit,
    shares: list[ResourceShare],
    since: datetime,
) -> None:
    """List account principals that left the organization, or that used nothing lately."""
    for share in shares:
        principals = session.scalars(
            select(SharePrincipal)
            .where(SharePrincipal.share_arn == share.arn, SharePrincipal.status == "ASSOCIATED")
            .order_by(SharePrincipal.principal)
        )
        for principal in principals:
            if not _is_account(principal.principal):
                continue
            account_id = principal.principal
            if principal.via_organization and _outside(session, owner, account_id):
                report.departed_accounts.append(DepartedAccount(account_id, share.arn, share.name))
                continue
            last = _last_use(session, owner.account_id, account_id)
            if last is None or last < since:
                used = last.isoformat() if last is not None else None
                report.inactive_accounts.append(
                    InactiveAccount(account_id, share.arn, share.name, used)
                )


def _last_use(session: Session, owner_id: str, account_id: str) -> datetime | None:
    """Return when ``account_id`` last started an incident or engagement of ``owner_id``'s."""
    incident = session.scalar(
        select(func.max(IncidentRecord.creation_time)).where(
            IncidentRecord.account_id == owner_id,
            IncidentRecord.created_by.like(f"arn:aws:%:{account_id}:%"),
        )
    )
    engagement = session.scalar(
        select(func.max(Engagement.start_time)).where(
            Engagement.account_id == owner_id, Engagement.started_by == account_id
        )
    )
    moments = [moment for moment in (incident, engagement) if moment is not None]
    return max(moments) if moments else None


def _unshared(session: Session, report: AccountAudit, shares: list[ResourceShare]) -> None:
    shared: set[str] = set()
    if shares:
        shared = set(
            session.scalars(
                select(ShareResource.resource_arn).where(
                    ShareResource.share_arn.in_([share.arn for share in shares]),
                    ShareResource.status == "ASSOCIATED",
                )
            )
        )
    plans = session.scalars(
        select(ResponsePlan).where(ResponsePlan.account_id == report.account_id)
    )
    report.unshared_response_plans = sorted(plan.arn for plan in plans if plan.arn not in shared)
    contacts = session.scalars(select(Contact).where(Contact.account_id == report.account_id))
    report.unshared_contacts = sorted(
        contact.arn for contact in contacts if contact.arn not in shared
    )


def _invitations(session: Session, now: datetime, condition: Any) -> list[Invitation]:
    rows = session.scalars(
        select(ShareInvitation)
        .where(
            condition,
            ShareInvitation.status == "PENDING",
            ShareInvitation.created_at > now - INVITATION_LIFETIME,
        )
        .order_by(ShareInvitation.created_at, ShareInvitation.arn)
    )
    invitations = []
    for row in rows:
        share = session.get(ResourceShare, row.share_arn)
        invitations.append(
            Invitation(
                invitation_arn=row.arn,
                share_arn=row.share_arn,
                share_name=share.name if share is not None else "",
                sender_account_id=row.sender_account_id,
                receiver_account_id=row.receiver_account_id,
                sent_at=row.created_at.isoformat(),
            )
        )
    return invitations


def _external(
    session: Session, owner: Account, report: AccountAudit, shares: list[ResourceShare]
) -> None:
    """List the outside accounts that have access, and the shares that would let them in."""
    for share in shares:
        if share.allow_external_principals:
            report.external_shares.append(ExternalShare(share.arn, share.name))
        principals = session.scalars(
            select(SharePrincipal)
            .where(SharePrincipal.share_arn == share.arn, SharePrincipal.status == "ASSOCIATED")
            .order_by(SharePrincipal.principal)
        )
        for principal in principals:
            if _is_account(principal.principal) and _outside(session, owner, principal.principal):
                report.external_accounts.append(
                    ExternalAccount(principal.principal, share.arn, share.name)
                )


def _policy_grants(session: Session, account: Account) -> list[PolicyGrant]:
    plan_policies = session.execute(
        select(ResponsePlan, ResourcePolicy.document)
        .join(ResourcePolicy, ResourcePolicy.plan_id == ResponsePlan.id)
        .where(ResponsePlan.account_id == account.account_id)
        .order_by(ResponsePlan.name, ResourcePolicy.policy_id)
    )
    documents = [(plan.arn, document) for plan, document in plan_policies]
    contacts = session.execute(
        select(Contact.arn, Contact.policy)
        .where(Contact.account_id == account.account_id, Contact.policy.is_not(None))
        .order_by(Contact.arn)
    )
    documents.extend((arn, policy) for arn, policy in contacts if policy is not None)
    grants = []
    for resource_arn, document in documents:
        for principal, actions in _allowed_principals(json.loads(document)):
            outside = principal == "*" or _outside(session, account, _principal_account(principal))
            grants.append(PolicyGrant(resource_arn, principal, actions, outside))
    return grants


def _allowed_principals(document: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """Return (principal, actions) of each principal that an Allow statement names."""
    statements = document.get("Statement", [])
    found: list[tuple[str, list[str]]] = []
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect") != "Allow":
            continue
        actions = sorted(_as_list(statement.get("Action")))
        principal = statement.get("Principal")
        names = ["*"] if principal == "*" else _as_list((principal or {}).get("AWS"))
        found.extend((str(name), actions) for name in names)
    return found


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _is_account(principal: str) -> bool:
    return len(principal) == 12 and principal.isdigit()


def _principal_account(principal: str) -> str:
    """Return the account of an account id or of an IAM ARN such as arn:aws:iam::ACCOUNT:root."""
    if _is_account(principal):
        return principal
    parts = principal.split(":")
    return parts[4] if len(parts) > 4 else principal


def _outside(session: Session, owner: Account, account_id: str) -> bool:
    """Return whether ``account_id`` is neither ``owner`` nor in the owner's organization."""
    if account_id == owner.account_id:
        return False
    if owner.organization_id is None:
        return True
    other = session.get(Account, account_id)
    return other is None or other.organization_id != owner.organization_id


# -- Output


def as_json(reports: list[AccountAudit]) -> dict[str, Any]:
    """Return the reports as one JSON object, with the member names in camel case."""
    accounts = []
    for report in reports:
        data = asdict(report)
        data["findings"] = report.findings
        accounts.append(_camel(data))
    return {"accounts": accounts}


def _camel(value: Any) -> Any:
    if isinstance(value, dict):
        return {_camel_name(key): _camel(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_camel(item) for item in value]
    return value


def _camel_name(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


def as_text(reports: list[AccountAudit]) -> str:
    """Return the reports as text for a person, one section per account."""
    if not reports:
        return "No account owns response plans, contacts or resource shares.\n"
    return "\n".join(_account_text(report) for report in reports)


def _account_text(report: AccountAudit) -> str:
    organization = report.organization_id or "no organization"
    lines = [f"Account {report.account_id} ({organization}): {report.findings} to review"]
    sections: list[tuple[str, list[str]]] = [
        ("Response plans in no resource share", report.unshared_response_plans),
        ("Contacts in no resource share", report.unshared_contacts),
        (
            "Invitations sent and not yet accepted",
            [
                f"{item.receiver_account_id} to {item.share_name} ({item.share_arn}), "
                f"sent {item.sent_at}"
                for item in report.invitations_sent
            ],
        ),
        (
            "Invitations received and not yet accepted",
            [
                f"from {item.sender_account_id}: {item.share_name} ({item.invitation_arn}), "
                f"sent {item.sent_at}"
                for item in report.invitations_received
            ],
        ),
        (
            "Accounts outside the organization with access",
            [
                f"{item.account_id} through {item.share_name} ({item.share_arn})"
                for item in report.external_accounts
            ],
        ),
        (
            "Resource shares that allow external principals",
            [f"{item.share_name} ({item.share_arn})" for item in report.external_shares],
        ),
        (
            "Accounts that left the organization but are still principals",
            [
                f"{item.account_id} of {item.share_name} ({item.share_arn})"
                for item in report.departed_accounts
            ],
        ),
        (
            "Accounts that used no shared plan or contact lately",
            [
                f"{item.account_id} of {item.share_name}: last use " + (item.last_used or "never")
                for item in report.inactive_accounts
            ],
        ),
        (
            "Resource policy grants",
            [
                f"{item.principal} on {item.resource_arn}: {', '.join(item.actions)}"
                + (" (outside the organization)" if item.outside_organization else "")
                for item in report.policy_grants
            ],
        ),
    ]
    for title, items in sections:
        lines.append(f"  {title}: {len(items) or 'none'}")
        # Each item is one line, so a newline in a stored name must not start another.
        lines.extend(f"    {printable(item)}" for item in items)
    return "\n".join(lines) + "\n"
