"""Input nested deeper than a parser follows gets the service's validation error, never HTTP 500."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tocsin.testing import RunningServer

# The checks are about parsing, which does not depend on the database.
pytestmark = pytest.mark.parametrize("server", ["sqlite"], indirect=True)


def client(server: RunningServer, service: str) -> Any:
    keys = server.create_account()
    return server.client(service, keys)


def failure(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = excinfo.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"].get("Message", ""),
    )


def test_composite_rule_nested_too_deeply(server: RunningServer) -> None:
    cloudwatch = client(server, "cloudwatch")
    with pytest.raises(ClientError) as excinfo:
        cloudwatch.put_composite_alarm(AlarmName="deep", AlarmRule="(" * 200 + "TRUE" + ")" * 200)
    code, status, message = failure(excinfo)
    assert (code, status) == ("InvalidParameterValue", 400)
    assert "AlarmRule" in message


def test_metric_math_nested_too_deeply(server: RunningServer) -> None:
    cloudwatch = client(server, "cloudwatch")
    metric = {"Namespace": "App", "MetricName": "Errors"}
    with pytest.raises(ClientError) as excinfo:
        cloudwatch.put_metric_alarm(
            AlarmName="deep-math",
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
            Metrics=[
                {"Id": "m1", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "Sum"}},
                {"Id": "e1", "Expression": "ABS(" * 300 + "m1" + ")" * 300},
            ],
        )
    code, status, message = failure(excinfo)
    assert (code, status) == ("InvalidParameterValue", 400)
    assert "Expression" in message


@pytest.mark.parametrize(
    "detail",
    ['{"x":' + "[" * 2000 + "]" * 2000 + "}", '{"a": NaN}', '{"b": Infinity}'],
    ids=["deep", "nan", "infinity"],
)
def test_put_events_rejects_detail(server: RunningServer, detail: str) -> None:
    events = client(server, "events")
    result = events.put_events(Entries=[{"Source": "app", "DetailType": "d", "Detail": detail}])
    assert result["FailedEntryCount"] == 1
    assert result["Entries"][0]["ErrorCode"] == "MalformedDetail"
