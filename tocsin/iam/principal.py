"""The authenticated caller of a request."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

PrincipalKind = Literal["root", "user", "assumed-role"]


@dataclass(frozen=True)
class Caller:
    """The signer of a request and the identity policies that apply to it."""

    account_id: str
    arn: str  # arn:aws:iam::ACCOUNT:user/NAME or arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
    user_id: str  # AIDA... for users, AROA...:SESSION for role sessions, the account id for root
    kind: PrincipalKind
    access_key_id: str
    policies: tuple[dict[str, Any], ...] = ()
    organization_id: str | None = None
    # ARN of the role behind an assumed-role session; the same as ``arn`` otherwise.
    source_arn: str = ""
    expires_at: datetime | None = None
    # Session policies given to AssumeRole: they limit what ``policies`` allow.
    session_policies: tuple[dict[str, Any], ...] = ()
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def principal_arn(self) -> str:
        """Value of aws:PrincipalArn: the role ARN for a role session, else the caller's ARN."""
        return self.source_arn or self.arn

    @property
    def principal_arns(self) -> tuple[str, ...]:
        """Every ARN that a policy's Principal element may use to name this caller."""
        if self.source_arn and self.source_arn != self.arn:
            return (self.arn, self.source_arn)
        return (self.arn,)
