"""Alarm history items: writing them and the query of DescribeAlarmHistory."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Select, false, select
from sqlalchemy.orm import Session

from tocsin.events.alarm_models import CloudWatchAlarm, CloudWatchAlarmHistory
from tocsin.events.alarms import METRIC_ALARM

CONFIGURATION_UPDATE = "ConfigurationUpdate"
STATE_UPDATE = "StateUpdate"
ACTION = "Action"
MAX_SUMMARY = 255
MAX_DATA = 4095


def record(
    session: Session,
    alarm: CloudWatchAlarm,
    item_type: str,
    summary: str,
    data: Mapping[str, Any],
    timestamp: datetime,
) -> CloudWatchAlarmHistory:
    """Add one history item of ``alarm`` and return it with its id."""
    text = json.dumps(data, separators=(",", ":"), default=str)
    if len(text) > MAX_DATA:
        # HistoryData is at most 4095 characters in the model; the summary keeps the gist.
        text = json.dumps({"truncated": True, "type": data.get("type", item_type)})
    item = CloudWatchAlarmHistory(
        account_id=alarm.account_id,
        region=alarm.region,
        alarm_name=alarm.name,
        alarm_type=alarm.alarm_type,
        item_type=item_type,
        summary=summary[:MAX_SUMMARY],
        data=text,
        timestamp=timestamp,
    )
    session.add(item)
    session.flush()
    return item


def history_query(account_id: str, region: str, params: Mapping[str, Any]) -> Select[Any]:
    """Build the query of DescribeAlarmHistory's filters, without order or limit."""
    query = select(CloudWatchAlarmHistory).where(
        CloudWatchAlarmHistory.account_id == account_id,
        CloudWatchAlarmHistory.region == region,
        CloudWatchAlarmHistory.alarm_type.in_(params.get("AlarmTypes") or [METRIC_ALARM]),
    )
    if params.get("AlarmContributorId"):
        # Tocsin's alarms have no contributors, so no item belongs to one.
        query = query.where(false())
    if params.get("AlarmName"):
        query = query.where(CloudWatchAlarmHistory.alarm_name == params["AlarmName"])
    if params.get("HistoryItemType"):
        query = query.where(CloudWatchAlarmHistory.item_type == params["HistoryItemType"])
    if params.get("StartDate") is not None:
        query = query.where(CloudWatchAlarmHistory.timestamp >= params["StartDate"])
    if params.get("EndDate") is not None:
        query = query.where(CloudWatchAlarmHistory.timestamp <= params["EndDate"])
    return query


def describe_item(item: CloudWatchAlarmHistory) -> dict[str, Any]:
    return {
        "AlarmName": item.alarm_name,
        "AlarmType": item.alarm_type,
        "Timestamp": item.timestamp,
        "HistoryItemType": item.item_type,
        "HistorySummary": item.summary,
        "HistoryData": item.data,
    }
