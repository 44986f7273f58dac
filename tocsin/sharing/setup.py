"""The cross-account set-up of Incident Manager: perform each item of the checklist, or check it.

For a management account and its application accounts, the set-up is:

- one RAM resource share of the management account, named ``SHARE_NAME``,
  that contains all its response plans and contacts. Its principal is each
  application account, or the organization for an application account in
  the management account's organization once that organization enabled
  sharing. An invitation that the share sends is accepted for the
  application account, because the operator who runs the set-up names it;
- in each application account, ``EXECUTION_ROLE``, which the management
  account assumes to run runbooks there, and ``ADMINISTRATION_ROLE`` in the
  management account, which may assume it, as AWS's cross-account
  Automation set-up names them;
- ``READ_ONLY_ROLE`` in each application account, which the management
  account assumes to read automation executions, and the same role in the
  management account for the application accounts;
- a statement in the policy of the management account's default event bus
  that lets each application account put events on it. Each application
  account also gets a rule that forwards CloudWatch alarm state changes
  from its default bus to that bus (see ``setup_events``).

Every step first looks at what exists and changes only what is missing, so a
second run changes nothing. In check mode nothing changes at all.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.contacts.models import Contact
from tocsin.engine.clock import Clock
from tocsin.iam import users
from tocsin.iam.errors import NoSuchEntityException
from tocsin.iam.models import Account, Role
from tocsin.incidents.models import ResponsePlan
from tocsin.sharing import invitations, setup_events, shares
from tocsin.sharing.access import organization_arn
from tocsin.sharing.models import ResourceShare, ShareInvitation, SharePrincipal, ShareResource

logger = logging.getLogger(__name__)

SHARE_NAME = "incident-manager-cross-account"
EXECUTION_ROLE = "AWS-SystemsManager-AutomationExecutionRole"
ADMINISTRATION_ROLE = "AWS-SystemsManager-AutomationAdministrationRole"
READ_ONLY_ROLE = "AWS-SystemsManager-AutomationReadOnlyRole"
# The Sid of the trust statement that the set-up owns in each role.
TRUST_SID = "IncidentManagerCrossAccount"
AUTOMATION_SERVICE = "ssm.amazonaws.com"
READ_ACTIONS = [
    "ssm:DescribeAutomationExecutions",
    "ssm:DescribeAutomationStepExecutions",
    "ssm:GetAutomationExecution",
]
EXECUTION_ACTIONS = [
    *READ_ACTIONS,
    "ssm:DescribeDocument",
    "ssm:GetDocument",
    "ssm:SendAutomationSignal",
    "ssm:StartAutomationExecution",
    "ssm:StopAutomationExecution",
]

REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")

OK = "ok"
MISSING = "missing"
CREATED = "created"
UPDATED = "updated"


class SetupError(Exception):
    """A set-up that cannot start, such as one naming an account that does not exist."""


@dataclass(frozen=True)
class Item:
    """One checklist item in one account, and what the run found or did."""

    account_id: str
    item: str
    status: str
    detail: str

    def as_json(self) -> dict[str, str]:
        return {
            "accountId": self.account_id,
            "item": self.item,
            "status": self.status,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class RoleSpec:
    """A role that the set-up needs: who may assume it and its one inline policy."""

    account_id: str
    name: str
    trusted_accounts: tuple[str, ...]
    services: tuple[str, ...]
    policy_name: str
    policy: dict[str, Any]

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{self.name}"


class Checklist:
    """The checklist of one management account and its application accounts."""

    def __init__(
        self,
        session: Session,
        clock: Clock,
        region: str,
        management: str,
        applications: list[str],
        *,
        check: bool,
    ) -> None:
        self.session = session
        self.clock = clock
        self.region = region
        self.management = management
        self.applications = list(dict.fromkeys(applications))
        self.check = check
        self.items: list[Item] = []

    def note(self, account_id: str, item: str, status: str, detail: str) -> None:
        self.items.append(Item(account_id, item, status, detail))
        if status in (CREATED, UPDATED):
            logger.info("cross-account set-up %s %s in account %s", status, item, account_id)

    def run(self) -> list[Item]:
        self._check_accounts()
        self._share()
        for spec in role_specs(self.management, self.applications):
            self._role(spec)
        setup_events.event_bus(self)
        setup_events.forwarding_rules(self)
        return self.items

    def _check_accounts(self) -> None:
        if not REGION.fullmatch(self.region):
            raise SetupError(
                f"region {self.region!r} is not a Region name such as us-east-1 or eu-west-2"
            )
        if not self.applications:
            raise SetupError("name at least one application account")
        if self.management in self.applications:
            raise SetupError(
                f"account {self.management} is the management account; it cannot also be an "
                "application account"
            )
        for account_id in (self.management, *self.applications):
            if self.session.get(Account, account_id) is None:
                raise SetupError(f"account {account_id} does not exist")

    # -- The resource share

    def _share(self) -> None:
        share = self.session.scalar(
            select(ResourceShare)
            .where(
                ResourceShare.account_id == self.management,
                ResourceShare.region == self.region,
                ResourceShare.name == SHARE_NAME,
                ResourceShare.status == "ACTIVE",
            )
            .order_by(ResourceShare.created_at)
        )
        label = f"resource share {SHARE_NAME}"
        if share is None and self.check:
            self.note(self.management, label, MISSING, f"no active share in {self.region}")
            for arn in self._shareable_arns():
                self.note(self.management, f"share of {arn}", MISSING, "no share to hold it")
            for application in self.applications:
                self.note(application, f"access to {SHARE_NAME}", MISSING, "no share exists")
            return
        if share is None:
            params = {"name": SHARE_NAME, "allowExternalPrincipals": self._needs_external()}
            share = shares.create_share(
                self.session, self.clock, self.management, self.region, params
            )
            self.note(self.management, label, CREATED, share.arn)
        else:
            self._external_setting(share, label)
        self._share_resources(share)
        for application in self.applications:
            self._share_principal(share, application)

    def _organization_principal(self, application: str) -> str | None:
        owner = shares.owner_organization(self.session, self.management)
        if (
            owner.org is not None
            and owner.sharing_enabled
            and owner.contains(self.session, application)
        ):
            return organization_arn(owner.org)
        return None

    def _needs_external(self) -> bool:
        return any(self._organization_principal(app) is None for app in self.applications)

    def _external_setting(self, share: ResourceShare, label: str) -> None:
        if share.allow_external_principals or not self._needs_external():
            self.note(self.management, label, OK, share.arn)
        elif self.check:
            self.note(
                self.management,
                label,
                MISSING,
                f"{share.arn} does not allow the external principals that it needs",
            )
        else:
            share.allow_external_principals = True
            share.updated_at = self.clock.now()
            self.note(self.management, label, UPDATED, f"{share.arn} allows external principals")

    def _shareable_arns(self) -> list[str]:
        """Return the ARNs of the management account's response plans, then its contacts."""
        plans = self.session.scalars(
            select(ResponsePlan)
            .where(ResponsePlan.account_id == self.management)
            .order_by(ResponsePlan.name)
        )
        contacts = self.session.scalars(
            select(Contact).where(Contact.account_id == self.management).order_by(Contact.alias)
        )
        return [*(plan.arn for plan in plans), *(contact.arn for contact in contacts)]

    def _share_resources(self, share: ResourceShare) -> None:
        associated = set(
            self.session.scalars(
                select(ShareResource.resource_arn).where(
                    ShareResource.share_arn == share.arn, ShareResource.status == "ASSOCIATED"
                )
            )
        )
        for arn in self._shareable_arns():
            label = f"share of {arn}"
            if arn in associated:
                self.note(self.management, label, OK, "associated")
            elif self.check:
                self.note(self.management, label, MISSING, f"not associated with {share.arn}")
            else:
                shares.associate_resource(self.session, self.clock.now(), share, arn)
                self.note(self.management, label, CREATED, f"associated with {share.arn}")

    def _share_principal(self, share: ResourceShare, application: str) -> None:
        principal = self._organization_principal(application) or application
        label = f"access to {SHARE_NAME}"
        row = self.session.get(SharePrincipal, (share.arn, principal))
        if row is not None and row.status == "ASSOCIATED":
            self.note(application, label, OK, f"through principal {principal}")
            return
        if self.check:
            pending = row is not None and row.status == "ASSOCIATING"
            state = "an invitation is pending" if pending else "not shared"
            self.note(application, label, MISSING, f"principal {principal}: {state}")
            return
        row = shares.associate_principal(self.session, self.clock, share, principal)
        self.session.flush()
        detail = f"shared with principal {principal}"
        if row.status == "ASSOCIATING":
            self._accept_invitation(share, application)
            detail += ", invitation accepted"
        self.note(application, label, CREATED, detail)

    def _accept_invitation(self, share: ResourceShare, application: str) -> None:
        pending = self.session.scalars(
            select(ShareInvitation).where(
                ShareInvitation.share_arn == share.arn,
                ShareInvitation.receiver_account_id == application,
                ShareInvitation.status == "PENDING",
            )
        )
        for invitation in pending:
            invitations.accept(self.session, self.clock, application, invitation.arn)

    # -- Roles

    def _role(self, spec: RoleSpec) -> None:
        """Check or create one role, as three items: the role, its trust and its policy."""
        label = f"role {spec.name}"
        trust_label = f"{label} trust"
        policy_label = f"{label} policy {spec.policy_name}"
        try:
            role = users.get_role(self.session, spec.account_id, spec.name)
        except NoSuchEntityException:
            role = None

        if role is not None:
            self.note(spec.account_id, label, OK, spec.arn)
            self._role_trust(role, spec, trust_label)
            self._role_policy(role, spec, policy_label)
            return

        if self.check:
            self.note(spec.account_id, label, MISSING, f"{spec.arn} does not exist")
            self.note(spec.account_id, trust_label, MISSING, "the role does not exist")
            self.note(spec.account_id, policy_label, MISSING, "the role does not exist")
            return

        role = users.create_role(
            self.session,
            self.clock,
            spec.account_id,
            name=spec.name,
            path="/",
            trust_policy=json.dumps(trust_policy(spec.trusted_accounts, spec.services)),
            description="Created by tocsin crossaccount setup.",
            max_session_duration=3600,
            tags=[],
        )
        users.put_role_policy(self.session, role, spec.policy_name, json.dumps(spec.policy))
        self.note(spec.account_id, label, CREATED, spec.arn)
        self.note(spec.account_id, trust_label, CREATED, "trusts " + _trusted_text(spec))
        self.note(
            spec.account_id, policy_label, CREATED, "allows " + ", ".join(_actions(spec.policy))
        )

    def _role_trust(self, role: Role, spec: RoleSpec, label: str) -> None:
        document = json.loads(role.assume_role_policy)
        missing = missing_principals(document, spec.trusted_accounts, spec.services)
        if not missing:
            self.note(spec.account_id, label, OK, "trusts " + _trusted_text(spec))
        elif self.check:
            self.note(spec.account_id, label, MISSING, "does not trust " + ", ".join(missing))
        else:
            merged = merge_trust(document, spec.trusted_accounts, spec.services)
            role.assume_role_policy = users.checked_trust_policy(self.session, json.dumps(merged))
            self.note(spec.account_id, label, UPDATED, "now trusts " + ", ".join(missing))

    def _role_policy(self, role: Role, spec: RoleSpec, label: str) -> None:
        current = next((item for item in role.policies if item.name == spec.policy_name), None)
        allows = "allows " + ", ".join(_actions(spec.policy))
        if current is not None and json.loads(current.document) == spec.policy:
            self.note(spec.account_id, label, OK, allows)
        elif self.check:
            state = "is missing" if current is None else "differs from the expected policy"
            self.note(spec.account_id, label, MISSING, state)
        else:
            users.put_role_policy(self.session, role, spec.policy_name, json.dumps(spec.policy))
            self.note(spec.account_id, label, CREATED if current is None else UPDATED, allows)


def role_specs(management: str, applications: list[str]) -> list[RoleSpec]:
    """Return the roles of the set-up, management account first."""
    read_policy = allow_policy(READ_ACTIONS, "*")
    execution_arn = f"arn:aws:iam::*:role/{EXECUTION_ROLE}"
    specs = [
        RoleSpec(
            management,
            ADMINISTRATION_ROLE,
            (),
            (AUTOMATION_SERVICE,),
            "AssumeAutomationExecutionRole",
            allow_policy(["sts:AssumeRole"], execution_arn),
        ),
        RoleSpec(
            management,
            READ_ONLY_ROLE,
            tuple(applications),
            (),
            "ReadAutomationExecutions",
            read_policy,
        ),
    ]
    for application in applications:
        execution_policy = allow_policy(EXECUTION_ACTIONS, "*")
        execution_policy["Statement"].append(
            {
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": f"arn:aws:iam::{application}:role/{EXECUTION_ROLE}",
            }
        )
        specs.append(
            RoleSpec(
                application,
                EXECUTION_ROLE,
                (management,),
                (AUTOMATION_SERVICE,),
                "RunAutomations",
                execution_policy,
            )
        )
        specs.append(
            RoleSpec(
                application,
                READ_ONLY_ROLE,
                (management,),
                (),
                "ReadAutomationExecutions",
                read_policy,
            )
        )
    return specs


def allow_policy(actions: list[str], resource: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": sorted(actions), "Resource": resource}],
    }


def _root(account_id: str) -> str:
    return f"arn:aws:iam::{account_id}:root"


def trust_policy(accounts: tuple[str, ...], services: tuple[str, ...]) -> dict[str, Any]:
    principal: dict[str, list[str]] = {}
    if accounts:
        principal["AWS"] = [_root(account) for account in accounts]
    if services:
        principal["Service"] = list(services)
    statement = {
        "Sid": TRUST_SID,
        "Effect": "Allow",
        "Principal": principal,
        "Action": "sts:AssumeRole",
    }
    return {"Version": "2012-10-17", "Statement": [statement]}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _trusted(document: dict[str, Any]) -> tuple[set[str], set[str]]:
    """Return the accounts and services that an Allow of sts:AssumeRole names."""
    accounts: set[str] = set()
    services: set[str] = set()
    for statement in _as_list(document.get("Statement")):
        actions = _as_list(statement.get("Action"))
        if statement.get("Effect") != "Allow" or not (
            "sts:AssumeRole" in actions or "sts:*" in actions or "*" in actions
        ):
            continue
        principal = statement.get("Principal")
        if not isinstance(principal, dict):
            continue
        for entry in _as_list(principal.get("AWS")):
            account = str(entry)
            accounts.add(account if account.isdigit() else account.split(":")[4])
        services.update(str(entry) for entry in _as_list(principal.get("Service")))
    return accounts, services


def missing_principals(
    document: dict[str, Any], accounts: tuple[str, ...], services: tuple[str, ...]
) -> list[str]:
    trusted_accounts, trusted_services = _trusted(document)
    missing = [_root(account) for account in accounts if account not in trusted_accounts]
    return missing + [service for service in services if service not in trusted_services]


def merge_trust(
    document: dict[str, Any], accounts: tuple[str, ...], services: tuple[str, ...]
) -> dict[str, Any]:
    """Return ``document`` with the set-up's statement naming every principal it needs."""
    statements = _as_list(document.get("Statement"))
    ours = next((item for item in statements if item.get("Sid") == TRUST_SID), None)
    if ours is None:
        ours = trust_policy((), ())["Statement"][0]
        statements.append(ours)
    principal = ours.setdefault("Principal", {})
    trusted = _as_list(principal.get("AWS"))
    trusted += [_root(account) for account in accounts if _root(account) not in trusted]
    named_services = _as_list(principal.get("Service"))
    named_services += [service for service in services if service not in named_services]
    if trusted:
        principal["AWS"] = trusted
    if named_services:
        principal["Service"] = named_services
    return {**document, "Statement": statements}


def _trusted_text(spec: RoleSpec) -> str:
    return ", ".join([*(_root(account) for account in spec.trusted_accounts), *spec.services])


def _actions(policy: dict[str, Any]) -> list[str]:
    return [
        action for statement in policy["Statement"] for action in _as_list(statement.get("Action"))
    ]


def setup(
    session: Session,
    clock: Clock,
    region: str,
    management: str,
    applications: list[str],
    *,
    check: bool = False,
) -> list[Item]:
    """Perform the cross-account set-up, or only check it with ``check``; return every item."""
    return Checklist(session, clock, region, management, applications, check=check).run()


def summary(items: list[Item], *, check: bool) -> str:
    """Return the closing line of the command's text output."""
    missing = sum(item.status == MISSING for item in items)
    changes = sum(item.status in (CREATED, UPDATED) for item in items)
    if check:
        if missing:
            return f"{missing} of {len(items)} items are missing."
        return f"All {len(items)} items are in place."
    if changes:
        return f"Changed {changes} of {len(items)} items."
    return f"Nothing changed: all {len(items)} items were already in place."


def complete(items: list[Item]) -> bool:
    return all(item.status != MISSING for item in items)


def as_text(items: list[Item]) -> str:
    width = max((len(item.status) for item in items), default=0)
    lines = [
        f"{item.status.ljust(width)}  {item.account_id}  {item.item}: {item.detail}"
        for item in items
    ]
    return "\n".join(lines) + "\n"
