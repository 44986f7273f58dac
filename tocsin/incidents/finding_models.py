"""Table of the deployment events that incident findings are built from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.store.base import Base


class DeploymentEvent(Base):
    """One CodeDeploy deployment or CloudFormation stack status change event.

    Rows belong to the account and Region that the event names, whichever bus
    it arrived on. Copies of one event that reach several buses share the
    event id and are stored once.
    """

    __tablename__ = "deployment_events"
    __table_args__ = (
        UniqueConstraint(
            "account_id", "region", "event_id", name="uq_deployment_events_account_event"
        ),
        # Findings select the events of one or two accounts in a time range.
        Index("ix_deployment_events_activity", "account_id", "region", "event_time"),
        Index("ix_deployment_events_received_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(12))
    region: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(128))
    # The FindingDetails member the event contributes to: codeDeployDeployment
    # or cloudFormationStackUpdate.
    kind: Mapped[str] = mapped_column(String(32))
    # The deployment group ARN of a CodeDeploy event, the stack ARN of a stack event.
    resource_arn: Mapped[str] = mapped_column(String(1000))
    deployment_id: Mapped[str | None] = mapped_column(String(128))
    # The client-request-token that all events of one stack operation share.
    operation_token: Mapped[str | None] = mapped_column(String(128))
    # The CodeDeploy state or the CloudFormation stack status the event reports.
    status: Mapped[str] = mapped_column(String(64))
    event_time: Mapped[datetime]
    received_at: Mapped[datetime]
