"""Custom metrics: PutMetricData checks and storage, and statistics per period.

Each MetricDatum is stored as one row with its sample count, sum, minimum and
maximum, and its single values when it gave any, so that alarms can compute
every statistic, percentiles included, over any period.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.engine.jobs import JobContext
from tocsin.engine.queue import enqueue
from tocsin.events.alarm_errors import (
    InvalidParameterCombinationException,
    InvalidParameterValueException,
    MissingRequiredParameterException,
    invalid_value,
)
from tocsin.events.alarm_models import MetricDatapoint

logger = logging.getLogger(__name__)

# Limits that CloudWatch documents for PutMetricData.
MAX_DATUMS = 1000
MAX_VALUES = 150
MIN_MAGNITUDE = 8.515920e-109
MAX_MAGNITUDE = 1.174271e108
MAX_AGE = timedelta(days=14)
MAX_AHEAD = timedelta(hours=2)
STORAGE_RESOLUTIONS = (1, 60)
RESERVED_NAMESPACE_PREFIX = "AWS/"

# Datums are kept this long: past the oldest accepted timestamp (14 days) and
# the longest alarm window (7 days). CloudWatch keeps rolled-up data for 15 months.
RETENTION = timedelta(days=15)
PURGE_JOB = "cloudwatch.purge_metric_data"

SIMPLE_STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,10})?|100)$")


@dataclass(frozen=True)
class MetricKey:
    """One metric of one account and Region: namespace, name and dimension set."""

    account_id: str
    region: str
    namespace: str
    name: str
    dimensions: str  # see dimension_key


def dimension_key(dimensions: Iterable[Mapping[str, Any]]) -> str:
    """Return the canonical text of a dimension set, the same for any order of its members."""
    pairs = sorted([str(item["Name"]), str(item["Value"])] for item in dimensions)
    return json.dumps(pairs, separators=(",", ":"))


def check_statistic(member: str, statistic: str) -> None:
    """Reject a statistic that Tocsin cannot compute, naming the member."""
    if statistic in SIMPLE_STATISTICS or PERCENTILE.match(statistic):
        return
    raise invalid_value(
        member,
        statistic,
        "use SampleCount, Average, Sum, Minimum, Maximum or a percentile such as p99 "
        "(other extended statistics are not supported by this server)",
    )


def check_dimensions(member: str, dimensions: Sequence[Mapping[str, Any]]) -> None:
    names = [item["Name"] for item in dimensions]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidParameterValueException(
            f"The collection {member} must not contain duplicate dimension names: {duplicates}"
        )


def _check_number(member: str, value: float) -> None:
    if math.isnan(value) or math.isinf(value):
        raise invalid_value(member, value, "NaN and infinity are not allowed")
    magnitude = abs(value)
    if magnitude != 0 and not MIN_MAGNITUDE <= magnitude <= MAX_MAGNITUDE:
        raise invalid_value(
            member,
            value,
            f"values must be 0 or have a magnitude from {MIN_MAGNITUDE} to {MAX_MAGNITUDE}",
        )


def _statistic_set(member: str, datum: Mapping[str, Any]) -> tuple[float, float, float, float]:
    stats = datum["StatisticValues"]
    for name in ("SampleCount", "Sum", "Minimum", "Maximum"):
        _check_number(f"{member}.StatisticValues.{name}", stats[name])
    if stats["SampleCount"] <= 0:
        raise invalid_value(
            f"{member}.StatisticValues.SampleCount", stats["SampleCount"], "it must be positive"
        )
    if stats["Minimum"] > stats["Maximum"]:
        raise InvalidParameterValueException(
            f"{member}.StatisticValues.Minimum ({stats['Minimum']}) is greater than "
            f"{member}.StatisticValues.Maximum ({stats['Maximum']})"
        )
    return stats["SampleCount"], stats["Sum"], stats["Minimum"], stats["Maximum"]


def _distribution(member: str, datum: Mapping[str, Any]) -> list[list[float]]:
    if "Value" in datum and datum["Value"] is not None:
        _check_number(f"{member}.Value", datum["Value"])
        return [[datum["Value"], 1.0]]
    values = list(datum.get("Values") or [])
    counts = list(datum.get("Counts") or [1.0] * len(values))
    if not values:
        raise MissingRequiredParameterException(
            f"{member} needs one of Value, Values or StatisticValues"
        )
    if len(values) > MAX_VALUES:
        raise InvalidParameterValueException(
            f"{member}.Values has {len(values)} values; the maximum is {MAX_VALUES}"
        )
    if len(counts) != len(values):
        raise InvalidParameterCombinationException(
            f"{member}.Counts has {len(counts)} items but {member}.Values has {len(values)}; "
            "give one count per value"
        )
    for index, (value, count) in enumerate(zip(values, counts, strict=True), start=1):
        _check_number(f"{member}.Values.member.{index}", value)
        if count < 0 or math.isnan(count) or math.isinf(count):
            raise invalid_value(f"{member}.Counts.member.{index}", count, "counts are >= 0")
    return [[value, count] for value, count in zip(values, counts, strict=True) if count > 0]


def _datapoint(
    member: str,
    datum: Mapping[str, Any],
    now: datetime,
    account_id: str,
    region: str,
    namespace: str,
) -> MetricDatapoint:
    value_members = [
        key for key in ("Value", "Values", "StatisticValues") if datum.get(key) is not None
    ]
    if len(value_members) > 1:
        raise InvalidParameterCombinationException(
            f"{member} gives {' and '.join(value_members)}; give only one of Value, Values "
            "and StatisticValues"
        )
    if datum.get("Counts") is not None and "Values" not in value_members:
        raise InvalidParameterCombinationException(f"{member}.Counts needs {member}.Values")
    dimensions = datum.get("Dimensions") or []
    check_dimensions(f"{member}.Dimensions", dimensions)
    resolution = datum.get("StorageResolution")
    if resolution is not None and resolution not in STORAGE_RESOLUTIONS:
        raise invalid_value(f"{member}.StorageResolution", resolution, "use 1 or 60")
    timestamp = datum.get("Timestamp") or now
    if timestamp < now - MAX_AGE or timestamp > now + MAX_AHEAD:
        raise invalid_value(
            f"{member}.Timestamp",
            timestamp.isoformat(),
            "timestamps may be up to two weeks in the past and two hours in the future",
        )

    distribution: list[list[float]] | None = None
    if value_members == ["StatisticValues"]:
        count, total, low, high = _statistic_set(member, datum)
    else:
        distribution = _distribution(member, datum)
        count = sum(weight for _value, weight in distribution)
        total = sum(value * weight for value, weight in distribution)
        low = min((value for value, _weight in distribution), default=0.0)
        high = max((value for value, _weight in distribution), default=0.0)
    return MetricDatapoint(
        account_id=account_id,
        region=region,
        namespace=namespace,
        metric_name=datum["MetricName"],
        dimensions=dimension_key(dimensions),
        unit=datum.get("Unit"),
        timestamp=timestamp,
        sample_count=count,
        sum=total,
        minimum=low,
        maximum=high,
        distribution=distribution,
    )


def put_metric_data(
    session: Session,
    clock: Clock,
    account_id: str,
    region: str,
    namespace: str,
    metric_data: Sequence[Mapping[str, Any]],
) -> set[tuple[str, str]]:
    """Check and store datapoints; return the (namespace, metric name) pairs they touched.

    Every datum is checked before any is stored, so a rejected request stores nothing.
    """
    if namespace.startswith(RESERVED_NAMESPACE_PREFIX):
        raise invalid_value(
            "Namespace", namespace, "namespaces that begin with AWS/ are reserved for AWS"
        )
    if not metric_data:
        raise MissingRequiredParameterException("The parameter MetricData is required.")
    if len(metric_data) > MAX_DATUMS:
        raise InvalidParameterValueException(
            f"The collection MetricData has {len(metric_data)} members; the maximum is {MAX_DATUMS}"
        )
    now = clock.now()
    rows = [
        _datapoint(f"MetricData.member.{index}", datum, now, account_id, region, namespace)
        for index, datum in enumerate(metric_data, start=1)
    ]
    session.add_all(rows)
    session.flush()
    _schedule_purge(session, clock, account_id, region)
    return {(row.namespace, row.metric_name) for row in rows}


def _schedule_purge(session: Session, clock: Clock, account_id: str, region: str) -> None:
    """Make sure that a purge of the account's old datums is due at the next midnight UTC."""
    midnight = period_start(clock.now(), 86400) + timedelta(days=1)
    enqueue(
        session,
        clock,
        PURGE_JOB,
        {"account_id": account_id, "region": region},
        due_at=midnight,
        key=f"cloudwatch-purge:{account_id}:{region}:{midnight.date().isoformat()}",
        account_id=account_id,
    )


def run_purge(context: JobContext) -> None:
    """Job handler: delete the account's datums in one Region that are older than RETENTION."""
    payload = context.payload
    cutoff = context.clock.now() - RETENTION
    result = context.session.execute(
        delete(MetricDatapoint).where(
            MetricDatapoint.account_id == payload["account_id"],
            MetricDatapoint.region == payload["region"],
            MetricDatapoint.timestamp < cutoff,
        )
    )
    logger.info(
        "purged %d metric datums of account %s in %s older than %s",
        getattr(result, "rowcount", 0),
        payload["account_id"],
        payload["region"],
        cutoff.isoformat(),
    )


def _percentile(distribution: list[tuple[float, float]], rank: float) -> float | None:
    """Return the value below which ``rank`` percent of the weighted samples fall."""
    total = sum(weight for _value, weight in distribution)
    if total <= 0:
        return None
    ordered = sorted(distribution)
    threshold = total * rank / 100.0
    running = 0.0
    for value, weight in ordered:
        running += weight
        if running >= threshold:
            return value
    return ordered[-1][0]


def compute_statistic(rows: Sequence[MetricDatapoint], statistic: str) -> float | None:
    """Return ``statistic`` over ``rows``, or None for a percentile without single values."""
    count = sum(row.sample_count for row in rows)
    if statistic == "SampleCount":
        return count
    if statistic == "Sum":
        return sum(row.sum for row in rows)
    if statistic == "Average":
        return sum(row.sum for row in rows) / count if count else None
    if statistic == "Minimum":
        return min(row.minimum for row in rows)
    if statistic == "Maximum":
        return max(row.maximum for row in rows)
    # Percentiles need single values; datums sent as statistic sets have none.
    pairs = [(value, weight) for row in rows for value, weight in (row.distribution or [])]
    return _percentile(pairs, float(statistic[1:]))


def period_start(moment: datetime, period: int) -> datetime:
    """Return the start of the period of ``period`` seconds that contains ``moment``."""
    seconds = int(moment.timestamp())
    return datetime.fromtimestamp(seconds - seconds % period, moment.tzinfo)


def rows_by_period(
    session: Session,
    key: MetricKey,
    period: int,
    start: datetime,
    end: datetime,
    unit: str | None = None,
) -> dict[datetime, list[MetricDatapoint]]:
    """Return the stored datums of the metric in [start, end), grouped by period start."""
    query = select(MetricDatapoint).where(
        MetricDatapoint.account_id == key.account_id,
        MetricDatapoint.region == key.region,
        MetricDatapoint.namespace == key.namespace,
        MetricDatapoint.metric_name == key.name,
        MetricDatapoint.dimensions == key.dimensions,
        MetricDatapoint.timestamp >= start,
        MetricDatapoint.timestamp < end,
    )
    if unit is not None:
        query = query.where(MetricDatapoint.unit == unit)
    buckets: dict[datetime, list[MetricDatapoint]] = {}
    for row in session.scalars(query.order_by(MetricDatapoint.timestamp, MetricDatapoint.id)):
        buckets.setdefault(period_start(row.timestamp, period), []).append(row)
    return buckets


def statistics_by_period(
    session: Session,
    key: MetricKey,
    statistic: str,
    period: int,
    start: datetime,
    end: datetime,
    unit: str | None = None,
) -> dict[datetime, float]:
    """Return ``statistic`` of the metric for each period in [start, end) that has data."""
    result = {}
    for moment, rows in rows_by_period(session, key, period, start, end, unit).items():
        value = compute_statistic(rows, statistic)
        if value is not None:
            result[moment] = value
    return result


# GetMetricStatistics returns at most 1,440 datapoints per call.
MAX_DATAPOINTS = 1440


def get_metric_statistics(
    session: Session, account_id: str, region: str, params: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Return the Datapoints of GetMetricStatistics, oldest first."""
    statistics = list(params.get("Statistics") or [])
    extended = list(params.get("ExtendedStatistics") or [])
    if not statistics and not extended:
        raise MissingRequiredParameterException(
            "The parameter Statistics or ExtendedStatistics is required."
        )
    for index, name in enumerate(extended, start=1):
        if not PERCENTILE.match(name):
            raise invalid_value(
                f"ExtendedStatistics.member.{index}", name, "use a percentile such as p99"
            )

    start, end, period = params["StartTime"], params["EndTime"], params["Period"]
    if start >= end:
        raise InvalidParameterValueException(
            f"The parameter StartTime ({start.isoformat()}) must be earlier than EndTime "
            f"({end.isoformat()})."
        )
    if (end - start).total_seconds() / period > MAX_DATAPOINTS:
        raise InvalidParameterCombinationException(
            f"The request asks for more than {MAX_DATAPOINTS} datapoints; use a longer Period "
            "or a shorter time range."
        )

    dimensions = params.get("Dimensions") or []
    check_dimensions("Dimensions", dimensions)
    key = MetricKey(
        account_id, region, params["Namespace"], params["MetricName"], dimension_key(dimensions)
    )
    buckets = rows_by_period(session, key, period, start, end, params.get("Unit"))

    datapoints = []
    for moment in sorted(buckets):
        rows = buckets[moment]
        point: dict[str, Any] = {"Timestamp": moment, "Unit": rows[0].unit or "None"}
        for name in statistics:
            point[name] = compute_statistic(rows, name)
        percentiles = {name: compute_statistic(rows, name) for name in extended}
        if extended:
            point["ExtendedStatistics"] = {
                name: value for name, value in percentiles.items() if value is not None
            }
        datapoints.append(point)
    return datapoints
