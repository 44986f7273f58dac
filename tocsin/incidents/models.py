"""Tables of Incident Manager: replication sets, plans, policies, tags, incidents and timelines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.store.base import Base


class ReplicationSet(Base):
    """The one replication set of an account, which switches Incident Manager on for it."""

    __tablename__ = "incident_replication_sets"

    # One per account, so the account id is the key and a second insert fails.
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.account_id", ondelete="CASCADE"), primary_key=True
    )
    set_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    # Region name -> {"sseKmsKeyId", "status", "statusMessage", "statusUpdateDateTime"},
    # with the time as an ISO 8601 string.
    regions: Mapped[dict[str, Any]]
    deletion_protected: Mapped[bool]
    created_by: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime]
    last_modified_by: Mapped[str] = mapped_column(String(1000))
    last_modified_at: Mapped[datetime]

    @property
    def arn(self) -> str:
        return f"arn:aws:ssm-incidents::{self.account_id}:replication-set/{self.set_id}"


class ResponsePlan(Base):
    """A response plan: the template and automatic actions of the incidents started from it."""

    __tablename__ = "incident_response_plans"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(String(200))
    # The IncidentTemplate structure as it travels on the wire.
    incident_template: Mapped[dict[str, Any]]
    chat_channel: Mapped[dict[str, Any] | None]
    engagements: Mapped[list[Any]]
    actions: Mapped[list[Any]]
    integrations: Mapped[list[Any]]
    created_at: Mapped[datetime]
    last_modified_at: Mapped[datetime]

    @property
    def arn(self) -> str:
        return f"arn:aws:ssm-incidents::{self.account_id}:response-plan/{self.name}"


class ResourcePolicy(Base):
    """A resource policy attached to a response plan, which shares it with other accounts."""

    __tablename__ = "incident_resource_policies"

    policy_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    plan_id: Mapped[int] = mapped_column(
        ForeignKey("incident_response_plans.id", ondelete="CASCADE"), index=True
    )
    document: Mapped[str] = mapped_column(Text)
    region: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]


class IncidentTag(Base):
    """One tag of an Incident Manager resource, which any resource type with an ARN can use."""

    __tablename__ = "incident_tags"
    __table_args__ = (Index("ix_incident_tags_account_id", "account_id"),)

    resource_arn: Mapped[str] = mapped_column(String(1000), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id", ondelete="CASCADE"))


class IncidentRecord(Base):
    """An incident, which always belongs to the account that owns its response plan."""

    __tablename__ = "incident_records"
    __table_args__ = (
        # At most one OPEN incident per account holds a dedupe key or a trigger
        # key. Both columns are NULL once the incident is resolved, and NULLs
        # never collide, so the constraints only bind open incidents.
        UniqueConstraint(
            "account_id", "open_dedupe_key", name="uq_incident_records_open_dedupe_key"
        ),
        UniqueConstraint(
            "account_id", "open_trigger_key", name="uq_incident_records_open_trigger_key"
        ),
        # ListIncidentRecords sorts by creation time, newest first.
        Index("ix_incident_records_listing", "account_id", "creation_time", "id"),
        Index("ix_incident_records_plan_listing", "account_id", "plan_name", "creation_time"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.account_id", ondelete="CASCADE"))
    plan_name: Mapped[str] = mapped_column(String(200))
    record_id: Mapped[str] = mapped_column(String(64))
    arn: Mapped[str] = mapped_column(String(400), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str | None] = mapped_column(Text)
    impact: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    dedupe_string: Mapped[str] = mapped_column(String(1000))
    # SHA-256 hex digests of the dedupe string and of the trigger ARN, set
    # only while the incident is OPEN.
    open_dedupe_key: Mapped[str | None] = mapped_column(String(64))
    open_trigger_key: Mapped[str | None] = mapped_column(String(64))
    trigger_count: Mapped[int]
    source: Mapped[str] = mapped_column(String(50))
    # The account whose trouble the incident is about: the caller of
    # StartIncident or the account that an alarm or event came from. Findings
    # read its deployments. NULL for incidents created before it was recorded.
    impacted_account_id: Mapped[str | None] = mapped_column(String(12))
    # The Region the incident was started in, or NULL when it is not known.
    region: Mapped[str | None] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(1000))
    invoked_by: Mapped[str | None] = mapped_column(String(1000))
    resource_arn: Mapped[str | None] = mapped_column(String(1000))
    # The alert group (alert_groups.group_id) whose alerts started the
    # incident, for incidents started by webhook alerts that carry a group key.
    alert_group: Mapped[str | None] = mapped_column(String(64), index=True)
    chat_channel: Mapped[dict[str, Any] | None]
    notification_targets: Mapped[list[Any]]
    automation_executions: Mapped[list[Any]]
    creation_time: Mapped[datetime]
    last_modified_by: Mapped[str] = mapped_column(String(1000))
    last_modified_time: Mapped[datetime]
    resolved_time: Mapped[datetime | None]


class TimelineEvent(Base):
    """One event in the timeline of an incident, written by the system or through the API."""

    __tablename__ = "incident_timeline_events"
    __table_args__ = (
        Index("ix_incident_timeline_events_listing", "incident_id", "event_time", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident_records.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(50), unique=True)
    event_type: Mapped[str] = mapped_column(String(100))
    event_time: Mapped[datetime]
    event_updated_time: Mapped[datetime]
    event_data: Mapped[str] = mapped_column(Text)
    # EventReference structures as they travel on the wire.
    event_references: Mapped[list[Any]]


class TimelineReference(Base):
    """One reference of a timeline event, kept apart so that listings can filter on it."""

    __tablename__ = "incident_timeline_references"

    event_pk: Mapped[int] = mapped_column(
        ForeignKey("incident_timeline_events.id", ondelete="CASCADE"), primary_key=True
    )
    # The resource ARN or the related item id that the reference names.
    value: Mapped[str] = mapped_column(String(1000), primary_key=True)


class RelatedItem(Base):
    """An item related to an incident: a resource, a metric, a link, an attachment."""

    __tablename__ = "incident_related_items"
    __table_args__ = (UniqueConstraint("incident_id", "identity_key"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident_records.id", ondelete="CASCADE"))
    generated_id: Mapped[str] = mapped_column(String(100))
    item_type: Mapped[str] = mapped_column(String(32))
    # The ItemValue structure as it travels on the wire.
    value: Mapped[dict[str, Any]]
    # SHA-256 hex digest of the type and the value, which identify an item.
    identity_key: Mapped[str] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
