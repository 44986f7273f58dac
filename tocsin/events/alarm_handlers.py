"""CloudWatch operations: alarms, alarm history, metric data and alarm tags."""

from __future__ import annotations

from typing import Any

from tocsin.events import (
    alarm_definitions,
    alarm_evaluation,
    alarm_history,
    alarm_listing,
    alarms,
    metrics,
)
from tocsin.events.alarm_models import CloudWatchAlarmHistory
from tocsin.events.alarms import COMPOSITE_ALARM, METRIC_ALARM
from tocsin.protocol.handlers import RequestContext, ServiceHandlers
from tocsin.protocol.pagination import listing_filters, page_scope, paginate, paginate_query

handlers = ServiceHandlers("cloudwatch")

DESCRIBE_PAGE_SIZE = 50
HISTORY_PAGE_SIZE = 100
ALARM_TYPE_ORDER = {METRIC_ALARM: 0, COMPOSITE_ALARM: 1}


def _authorize(ctx: RequestContext, name: str | None = None) -> None:
    resource = alarms.alarm_arn(ctx.region, ctx.account_id, name) if name else "*"
    ctx.authorize(f"cloudwatch:{ctx.operation}", resource)


@handlers.operation("PutMetricAlarm")
def put_metric_alarm(ctx: RequestContext, params: dict[str, Any]) -> None:
    _authorize(ctx, params["AlarmName"])
    alarm_definitions.put_metric_alarm(ctx.session, ctx.clock, ctx.account_id, ctx.region, params)


@handlers.operation("PutCompositeAlarm")
def put_composite_alarm(ctx: RequestContext, params: dict[str, Any]) -> None:
    _authorize(ctx, params["AlarmName"])
    alarm_definitions.put_composite_alarm(
        ctx.session, ctx.clock, ctx.account_id, ctx.region, params
    )


@handlers.operation("DescribeAlarms", read_only=True)
def describe_alarms(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _authorize(ctx)
    found = sorted(
        alarm_listing.select_alarms(ctx.session, ctx.account_id, ctx.region, params),
        key=lambda alarm: (ALARM_TYPE_ORDER[alarm.alarm_type], alarm.name),
    )
    page = paginate(
        found,
        key=lambda alarm: (ALARM_TYPE_ORDER[alarm.alarm_type], alarm.name),
        max_results=params.get("MaxRecords") or DESCRIBE_PAGE_SIZE,
        token=params.get("NextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=page_scope(
            ctx.account_id,
            "cloudwatch",
            ctx.operation,
            {**listing_filters(params, "MaxRecords"), "region": ctx.region},
        ),
    )
    output: dict[str, Any] = {
        "MetricAlarms": [alarms.describe(a) for a in page.items if a.alarm_type == METRIC_ALARM],
        "CompositeAlarms": [
            alarms.describe(a) for a in page.items if a.alarm_type == COMPOSITE_ALARM
        ],
    }
    if page.next_token:
        output["NextToken"] = page.next_token
    return output


@handlers.operation("DescribeAlarmsForMetric", read_only=True)
def describe_alarms_for_metric(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _authorize(ctx)
    found = alarm_listing.alarms_for_metric(ctx.session, ctx.account_id, ctx.region, params)
    return {"MetricAlarms": [alarms.describe(alarm) for alarm in found]}


@handlers.operation("DeleteAlarms")
def delete_alarms(ctx: RequestContext, params: dict[str, Any]) -> None:
    for name in params["AlarmNames"]:
        _authorize(ctx, name)
    alarm_definitions.delete_alarms(
        ctx.session, ctx.clock, ctx.account_id, ctx.region, params["AlarmNames"]
    )


@handlers.operation("SetAlarmState")
def set_alarm_state(ctx: RequestContext, params: dict[str, Any]) -> None:
    _authorize(ctx, params["AlarmName"])
    alarm_definitions.set_alarm_state(
        ctx.session,
        ctx.clock,
        ctx.account_id,
        ctx.region,
        params["AlarmName"],
        params["StateValue"],
        params["StateReason"],
        params.get("StateReasonData"),
    )


@handlers.operation("DescribeAlarmHistory", read_only=True)
def describe_alarm_history(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _authorize(ctx, params.get("AlarmName"))
    descending = params.get("ScanBy", "TimestampDescending") == "TimestampDescending"
    filters = {**listing_filters(params, "MaxRecords"), "region": ctx.region}
    page = paginate_query(
        ctx.session,
        alarm_history.history_query(ctx.account_id, ctx.region, params),
        order_by=(CloudWatchAlarmHistory.timestamp, CloudWatchAlarmHistory.id),
        max_results=params.get("MaxRecords") or HISTORY_PAGE_SIZE,
        token=params.get("NextToken"),
        tokens=ctx.runtime.page_tokens,
        scope=page_scope(ctx.account_id, "cloudwatch", ctx.operation, filters),
        descending=descending,
    )
    output: dict[str, Any] = {
        "AlarmHistoryItems": [alarm_history.describe_item(item) for item in page.items]
    }
    if page.next_token:
        output["NextToken"] = page.next_token
    return output


@handlers.operation("EnableAlarmActions")
def enable_alarm_actions(ctx: RequestContext, params: dict[str, Any]) -> None:
    for name in params["AlarmNames"]:
        _authorize(ctx, name)
    alarm_definitions.set_actions_enabled(
        ctx.session, ctx.account_id, ctx.region, params["AlarmNames"], True
    )


@handlers.operation("DisableAlarmActions")
def disable_alarm_actions(ctx: RequestContext, params: dict[str, Any]) -> None:
    for name in params["AlarmNames"]:
        _authorize(ctx, name)
    alarm_definitions.set_actions_enabled(
        ctx.session, ctx.account_id, ctx.region, params["AlarmNames"], False
    )


@handlers.operation("PutMetricData")
def put_metric_data(ctx: RequestContext, params: dict[str, Any]) -> None:
    _authorize(ctx)
    data = list(params.get("MetricData") or [])
    for entity in params.get("EntityMetricData") or []:
        data.extend(entity.get("MetricData") or [])
    touched = metrics.put_metric_data(
        ctx.session, ctx.clock, ctx.account_id, ctx.region, params["Namespace"], data
    )
    for alarm in alarms.alarms_reading(ctx.session, ctx.account_id, ctx.region, touched):
        alarm_evaluation.evaluate_metric_alarm(ctx.session, ctx.clock, alarm)


@handlers.operation("TagResource")
def tag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    alarm = alarms.tagged_alarm(ctx.session, ctx.account_id, ctx.region, params["ResourceARN"])
    ctx.authorize("cloudwatch:TagResource", alarm.arn)
    alarm.tags = alarms.checked_tags(params["Tags"], alarm.tags)
    return {}


@handlers.operation("UntagResource")
def untag_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    alarm = alarms.tagged_alarm(ctx.session, ctx.account_id, ctx.region, params["ResourceARN"])
    ctx.authorize("cloudwatch:UntagResource", alarm.arn)
    alarm.tags = {k: v for k, v in alarm.tags.items() if k not in params["TagKeys"]}
    return {}


@handlers.operation("ListTagsForResource", read_only=True)
def list_tags_for_resource(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    alarm = alarms.tagged_alarm(ctx.session, ctx.account_id, ctx.region, params["ResourceARN"])
    ctx.authorize("cloudwatch:ListTagsForResource", alarm.arn)
    return {"Tags": [{"Key": key, "Value": value} for key, value in sorted(alarm.tags.items())]}


@handlers.operation("GetMetricStatistics", read_only=True)
def get_metric_statistics(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _authorize(ctx)
    datapoints = metrics.get_metric_statistics(ctx.session, ctx.account_id, ctx.region, params)
    return {"Label": params["MetricName"], "Datapoints": datapoints}
