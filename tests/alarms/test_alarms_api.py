"""Alarm operations through boto3 and the AWS CLI: put, describe, delete, tags, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.alarms.conftest import (
    NAMESPACE,
    Account,
    advance,
    error_of,
    history,
    put_alarm,
    state_of,
)

AWS_CLI = Path(sys.executable).with_name("aws")
PLAN = "arn:aws:ssm-incidents::111111111111:response-plan/p"
# Checks whose code path does not touch the database differently per backend
# run on SQLite only, to keep the suite fast.
sqlite_only = pytest.mark.parametrize("server", ["sqlite"], indirect=True)


def test_put_metric_alarm_describes_it(app: Account) -> None:
    put_alarm(
        app,
        "latency",
        AlarmDescription="Checkout latency",
        Dimensions=[{"Name": "Service", "Value": "checkout"}],
        DatapointsToAlarm=1,
        TreatMissingData="notBreaching",
        Unit="Milliseconds",
        Tags=[{"Key": "team", "Value": "shop"}],
    )
    alarm = app.cloudwatch.describe_alarms(AlarmNames=["latency"])["MetricAlarms"][0]
    assert alarm["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:{app.account_id}:alarm:latency"
    assert alarm["AlarmDescription"] == "Checkout latency"
    assert alarm["Dimensions"] == [{"Name": "Service", "Value": "checkout"}]
    assert alarm["Threshold"] == 100.0
    assert alarm["ActionsEnabled"] is True
    assert alarm["TreatMissingData"] == "notBreaching"
    # notBreaching with no data at all is OK at once.
    assert alarm["StateValue"] == "OK"
    assert "no datapoints were received for 1 period" in alarm["StateReason"]
    tags = app.cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
    assert tags == [{"Key": "team", "Value": "shop"}]


@sqlite_only
def test_new_alarm_without_data_is_insufficient(app: Account) -> None:
    put_alarm(app, "quiet")
    alarm = app.cloudwatch.describe_alarms(AlarmNames=["quiet"])["MetricAlarms"][0]
    assert alarm["StateValue"] == "INSUFFICIENT_DATA"
    assert alarm["StateReason"] == "Unchecked: Initial alarm creation"
    created = history(app, "quiet", "ConfigurationUpdate")
    assert [item["HistorySummary"] for item in created] == ['Alarm "quiet" created']


def test_describe_alarms_filters_and_pages(app: Account) -> None:
    for index in range(5):
        put_alarm(app, f"a-{index}")
    put_alarm(app, "b-0", AlarmActions=[f"arn:aws:sns:us-east-1:{app.account_id}:ops"])
    cloudwatch = app.cloudwatch
    first = cloudwatch.describe_alarms(AlarmNamePrefix="a-", MaxRecords=2)
    assert [a["AlarmName"] for a in first["MetricAlarms"]] == ["a-0", "a-1"]
    rest = cloudwatch.describe_alarms(
        AlarmNamePrefix="a-", MaxRecords=2, NextToken=first["NextToken"]
    )
    assert [a["AlarmName"] for a in rest["MetricAlarms"]] == ["a-2", "a-3"]
    by_action = cloudwatch.describe_alarms(ActionPrefix="arn:aws:sns:")["MetricAlarms"]
    assert [a["AlarmName"] for a in by_action] == ["b-0"]
    by_state = cloudwatch.describe_alarms(StateValue="ALARM")["MetricAlarms"]
    assert by_state == []
    paginator = cloudwatch.get_paginator("describe_alarms")
    names = [
        a["AlarmName"]
        for page in paginator.paginate(PaginationConfig={"PageSize": 4})
        for a in page["MetricAlarms"]
    ]
    assert names == ["a-0", "a-1", "a-2", "a-3", "a-4", "b-0"]


@sqlite_only
def test_describe_alarms_rejects_bad_token(app: Account) -> None:
    with pytest.raises(ClientError) as excinfo:
        app.cloudwatch.describe_alarms(NextToken="nope")
    assert error_of(excinfo)["Code"] == "InvalidNextToken"


@sqlite_only
def test_describe_alarms_for_metric(app: Account) -> None:
    put_alarm(app, "mine", Dimensions=[{"Name": "Service", "Value": "cart"}])
    put_alarm(app, "other", MetricName="Errors")
    found = app.cloudwatch.describe_alarms_for_metric(
        Namespace=NAMESPACE, MetricName="Latency", Dimensions=[{"Name": "Service", "Value": "cart"}]
    )["MetricAlarms"]
    assert [a["AlarmName"] for a in found] == ["mine"]
    none = app.cloudwatch.describe_alarms_for_metric(
        Namespace=NAMESPACE, MetricName="Latency", Statistic="Average"
    )["MetricAlarms"]
    assert none == []


def test_delete_alarms_is_all_or_nothing(app: Account) -> None:
    put_alarm(app, "one")
    with pytest.raises(ClientError) as excinfo:
        app.cloudwatch.delete_alarms(AlarmNames=["one", "missing"])
    error = error_of(excinfo)
    assert error["Code"] == "ResourceNotFound"
    assert error["Status"] == 404
    assert "missing" in error["Message"]
    assert state_of(app, "one") == "INSUFFICIENT_DATA"
    app.cloudwatch.delete_alarms(AlarmNames=["one"])
    assert app.cloudwatch.describe_alarms()["MetricAlarms"] == []
    deleted = history(app, "one", "ConfigurationUpdate")
    assert deleted[0]["HistorySummary"] == 'Alarm "one" deleted'


@sqlite_only
def test_enable_and_disable_actions(app: Account) -> None:
    put_alarm(app, "toggled")
    app.cloudwatch.disable_alarm_actions(AlarmNames=["toggled", "unknown"])
    alarm = app.cloudwatch.describe_alarms(AlarmNames=["toggled"])["MetricAlarms"][0]
    assert alarm["ActionsEnabled"] is False
    app.cloudwatch.enable_alarm_actions(AlarmNames=["toggled"])
    alarm = app.cloudwatch.describe_alarms(AlarmNames=["toggled"])["MetricAlarms"][0]
    assert alarm["ActionsEnabled"] is True


def test_tags_of_alarms(app: Account) -> None:
    put_alarm(app, "tagged")
    arn = f"arn:aws:cloudwatch:us-east-1:{app.account_id}:alarm:tagged"
    app.cloudwatch.tag_resource(
        ResourceARN=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    )
    app.cloudwatch.untag_resource(ResourceARN=arn, TagKeys=["a"])
    assert app.cloudwatch.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
        {"Key": "b", "Value": "2"}
    ]
    with pytest.raises(ClientError) as excinfo:
        app.cloudwatch.list_tags_for_resource(ResourceARN=arn + "-gone")
    error = error_of(excinfo)
    assert error["Code"] == "ResourceNotFoundException"
    assert error["Status"] == 404


BAD_ALARMS: list[tuple[dict[str, object], str, str]] = [
    # A response plan ARN pasted twice is rejected, not ignored.
    (
        {"AlarmActions": [f"{PLAN}/arn:aws:ssm-incidents::111111111111:response-plan/p"]},
        "InvalidParameterValue",
        "AlarmActions is not valid",
    ),
    (
        {"AlarmActions": ["arn:aws:sns:eu-west-1:222222222222:elsewhere"]},
        "InvalidParameterValue",
        "Region us-east-1",
    ),
    ({"Period": 45}, "InvalidParameterValue", "Period"),
    ({"DatapointsToAlarm": 3}, "InvalidParameterValue", "DatapointsToAlarm"),
    ({"TreatMissingData": "sometimes"}, "InvalidParameterValue", "sometimes"),
    ({"ComparisonOperator": "GreaterThanUpperThreshold"}, "InvalidParameterValue", "anomaly"),
    ({"ExtendedStatistic": "p99"}, "InvalidParameterCombination", "Statistic"),
    ({"ExtendedStatistic": "tm99", "Statistic": None}, "InvalidParameterValue", "tm99"),
    (
        {"AlarmActions": ["arn:aws:lambda:us-east-1:222222222222:function:f"]},
        "InvalidParameterValue",
        "Lambda",
    ),
    (
        {"OKActions": ["arn:aws:ssm-incidents::111111111111:response-plan/p"]},
        "InvalidParameterValue",
        "ALARM state",
    ),
    ({"EvaluationPeriods": 1441}, "InvalidParameterValue", "86400"),
    ({"Threshold": None}, "MissingParameter", "Threshold"),
]


@sqlite_only
def test_put_metric_alarm_rejects_bad_input(app: Account) -> None:
    base = {
        "AlarmName": "bad",
        "Namespace": NAMESPACE,
        "MetricName": "Latency",
        "Statistic": "Maximum",
        "Period": 60,
        "EvaluationPeriods": 2,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    for overrides, code, words in BAD_ALARMS:
        merged = {**base, **overrides}
        request = {key: value for key, value in merged.items() if value is not None}
        with pytest.raises(ClientError) as excinfo:
            app.cloudwatch.put_metric_alarm(**request)
        error = error_of(excinfo)
        assert error["Code"] == code, overrides
        assert error["Status"] == 400
        assert words in error["Message"], error
    assert app.cloudwatch.describe_alarms()["MetricAlarms"] == []


@sqlite_only
def test_aws_cli_describes_alarms(app: Account, tmp_path: Path) -> None:
    """The AWS CLI lists an alarm through the same endpoint."""
    put_alarm(app, "from-cli")
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": app.keys.access_key_id,
        "AWS_SECRET_ACCESS_KEY": app.keys.secret_access_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    result = subprocess.run(
        [
            str(AWS_CLI),
            "cloudwatch",
            "describe-alarms",
            "--endpoint-url",
            app.server.url,
            "--alarm-names",
            "from-cli",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert [alarm["AlarmName"] for alarm in output["MetricAlarms"]] == ["from-cli"]


def test_alarm_history_filters_and_pages(app: Account) -> None:
    put_alarm(app, "flapping", TreatMissingData="ignore")
    started = app.server.clock.now()
    for value in ("ALARM", "OK", "ALARM"):
        advance(app.server, 10)
        app.cloudwatch.set_alarm_state(AlarmName="flapping", StateValue=value, StateReason="test")
    updates = history(app, "flapping", "StateUpdate")
    assert [item["HistorySummary"] for item in updates] == [
        "Alarm updated from OK to ALARM",
        "Alarm updated from ALARM to OK",
        "Alarm updated from INSUFFICIENT_DATA to ALARM",
    ]
    data = json.loads(updates[0]["HistoryData"])
    assert data["oldState"]["stateValue"] == "OK"
    assert data["newState"]["stateValue"] == "ALARM"
    assert data["newState"]["stateReason"] == "test"

    ascending = history(app, "flapping", "StateUpdate", ScanBy="TimestampAscending")
    assert ascending == list(reversed(updates))
    first_page = app.cloudwatch.describe_alarm_history(AlarmName="flapping", MaxRecords=2)
    assert len(first_page["AlarmHistoryItems"]) == 2
    second_page = app.cloudwatch.describe_alarm_history(
        AlarmName="flapping", MaxRecords=2, NextToken=first_page["NextToken"]
    )
    every = app.cloudwatch.describe_alarm_history(AlarmName="flapping")["AlarmHistoryItems"]
    assert first_page["AlarmHistoryItems"] + second_page["AlarmHistoryItems"] == every
    assert "NextToken" not in second_page
    assert [item["HistoryItemType"] for item in every] == [
        "StateUpdate",
        "StateUpdate",
        "StateUpdate",
        "ConfigurationUpdate",
    ]

    window = history(
        app,
        "flapping",
        "StateUpdate",
        StartDate=started + timedelta(seconds=15),
        EndDate=started + timedelta(seconds=25),
    )
    assert [item["HistorySummary"] for item in window] == ["Alarm updated from ALARM to OK"]
    composite_only = app.cloudwatch.describe_alarm_history(AlarmTypes=["CompositeAlarm"])
    assert composite_only["AlarmHistoryItems"] == []


@sqlite_only
def test_set_alarm_state_rejects_bad_input(app: Account) -> None:
    put_alarm(app, "manual")
    with pytest.raises(ClientError) as excinfo:
        app.cloudwatch.set_alarm_state(
            AlarmName="manual", StateValue="ALARM", StateReason="x", StateReasonData="{broken"
        )
    error = error_of(excinfo)
    assert error["Code"] == "InvalidFormat"
    assert "StateReasonData" in error["Message"]
    assert state_of(app, "manual") == "INSUFFICIENT_DATA"
    with pytest.raises(ClientError) as excinfo:
        app.cloudwatch.set_alarm_state(AlarmName="absent", StateValue="OK", StateReason="x")
    error = error_of(excinfo)
    assert error["Code"] == "ResourceNotFound"
    assert error["Status"] == 404
