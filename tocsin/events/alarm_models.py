"""Tables of CloudWatch alarms, their history, the links between alarms and metric datapoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Double, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tocsin.store.base import Base


class CloudWatchAlarm(Base):
    """A metric alarm or a composite alarm of one account and Region.

    ``definition`` contains the alarm's configuration members as PutMetricAlarm
    or PutCompositeAlarm received them (without actions, tags and name), so
    that DescribeAlarms returns what was put.
    """

    __tablename__ = "cloudwatch_alarms"
    __table_args__ = (Index("ix_cloudwatch_alarms_account_region", "account_id", "region", "name"),)

    arn: Mapped[str] = mapped_column(String(400), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(12))
    region: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    alarm_type: Mapped[str] = mapped_column(String(16))  # MetricAlarm or CompositeAlarm
    description: Mapped[str | None] = mapped_column(Text)
    definition: Mapped[dict[str, Any]]
    actions_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    alarm_actions: Mapped[list[Any]]
    ok_actions: Mapped[list[Any]]
    insufficient_data_actions: Mapped[list[Any]]
    tags: Mapped[dict[str, Any]]
    state_value: Mapped[str] = mapped_column(String(20))
    state_reason: Mapped[str] = mapped_column(Text)
    state_reason_data: Mapped[str | None] = mapped_column(Text)
    state_updated_at: Mapped[datetime]
    state_transitioned_at: Mapped[datetime]
    configuration_updated_at: Mapped[datetime]
    # Composite alarms only: why the actions of the current state are held back.
    actions_suppressed_by: Mapped[str | None] = mapped_column(String(16))
    actions_suppressed_reason: Mapped[str | None] = mapped_column(String(1024))
    # Incremented on every PutMetricAlarm, so that evaluation jobs of an older
    # configuration find a different number and stop.
    generation: Mapped[int] = mapped_column(Integer, default=1)


class CloudWatchAlarmLink(Base):
    """A composite alarm's use of another alarm: in its rule, or as its actions suppressor."""

    __tablename__ = "cloudwatch_alarm_links"
    __table_args__ = (Index("ix_cloudwatch_alarm_links_child", "child_arn"),)

    parent_arn: Mapped[str] = mapped_column(String(400), primary_key=True)
    child_arn: Mapped[str] = mapped_column(String(400), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # rule or suppressor


class CloudWatchAlarmMetric(Base):
    """A metric that a metric alarm reads, so that PutMetricData finds the alarms to evaluate."""

    __tablename__ = "cloudwatch_alarm_metrics"
    __table_args__ = (
        Index("ix_cloudwatch_alarm_metrics_metric", "account_id", "region", "namespace", "name"),
    )

    alarm_arn: Mapped[str] = mapped_column(String(400), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(12))
    region: Mapped[str] = mapped_column(String(32))
    namespace: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)


class CloudWatchAlarmHistory(Base):
    """One item of an alarm's history; items outlive the alarm, as in CloudWatch."""

    __tablename__ = "cloudwatch_alarm_history"
    __table_args__ = (
        Index("ix_cloudwatch_alarm_history_account", "account_id", "region", "timestamp"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(String(12))
    region: Mapped[str] = mapped_column(String(32))
    alarm_name: Mapped[str] = mapped_column(String(255))
    alarm_type: Mapped[str] = mapped_column(String(16))
    item_type: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(String(255))
    data: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[datetime]


class MetricDatapoint(Base):
    """The values that one MetricDatum of PutMetricData gave a metric at one time.

    ``dimensions`` is the canonical text of the dimension set (see
    ``tocsin.events.metrics.dimension_key``). ``distribution`` contains
    ``[value, count]`` pairs when the datum gave single values, for percentiles.
    """

    __tablename__ = "cloudwatch_metric_data"
    __table_args__ = (
        Index(
            "ix_cloudwatch_metric_data_metric",
            "account_id",
            "region",
            "namespace",
            "metric_name",
            "timestamp",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(String(12))
    region: Mapped[str] = mapped_column(String(32))
    namespace: Mapped[str] = mapped_column(String(255))
    metric_name: Mapped[str] = mapped_column(String(255))
    dimensions: Mapped[str] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(String(32))
    timestamp: Mapped[datetime]
    sample_count: Mapped[float] = mapped_column(Double)
    sum: Mapped[float] = mapped_column(Double)
    minimum: Mapped[float] = mapped_column(Double)
    maximum: Mapped[float] = mapped_column(Double)
    distribution: Mapped[list[Any] | None]
