"""Metric math alarms: arithmetic between metrics, list functions, FILL, IF and rejections.

These scenarios run on SQLite only: the evaluation is the same Python code on
both backends, and the API tests cover PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.alarms.conftest import Account, advance, error_of, put_value, reason_data, state_of

pytestmark = pytest.mark.parametrize("server", ["sqlite"], indirect=True)


def stat(query_id: str, metric: str, statistic: str = "Sum") -> dict[str, Any]:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {"Namespace": "Shop", "MetricName": metric},
            "Period": 60,
            "Stat": statistic,
        },
        "ReturnData": False,
    }


def put_math_alarm(
    account: Account,
    name: str,
    expression: str,
    threshold: float,
    *queries: dict[str, Any],
    **extra: Any,
) -> None:
    params: dict[str, Any] = {
        "AlarmName": name,
        "EvaluationPeriods": 1,
        "Threshold": threshold,
        "ComparisonOperator": "GreaterThanThreshold",
        "Metrics": [
            *queries,
            {"Id": "e1", "Expression": expression, "Label": "result", "ReturnData": True},
        ],
        **extra,
    }
    account.cloudwatch.put_metric_alarm(**params)


def test_error_rate_alarm(app: Account) -> None:
    put_math_alarm(
        app,
        "error-rate",
        "100 * errors / requests",
        5.0,
        stat("errors", "Errors"),
        stat("requests", "Requests"),
    )
    put_value(app, "Requests", 100.0)
    put_value(app, "Errors", 2.0)
    assert state_of(app, "error-rate") == "OK"
    put_value(app, "Errors", 8.0)
    assert state_of(app, "error-rate") == "ALARM"
    data = reason_data(app, "error-rate")
    assert data["recentDatapoints"] == [10.0]
    assert "statistic" not in data


def test_sum_of_metrics_list(app: Account) -> None:
    put_math_alarm(
        app,
        "traffic",
        "SUM(METRICS())",
        1000.0,
        stat("m1", "NetworkIn", "Maximum"),
        stat("m2", "NetworkOut", "Maximum"),
    )
    put_value(app, "NetworkIn", 600.0)
    assert state_of(app, "traffic") == "OK"
    put_value(app, "NetworkOut", 600.0)
    assert state_of(app, "traffic") == "ALARM"
    put_math_alarm(
        app,
        "largest",
        "MAX([m1, m2]) + AVG([m1, m2]) - MIN([m1, m2])",
        1000.0,
        stat("m1", "NetworkIn", "Maximum"),
        stat("m2", "NetworkOut", "Maximum"),
    )
    assert state_of(app, "largest") == "OK"


def test_fill_turns_missing_into_zero(app: Account) -> None:
    put_math_alarm(
        app,
        "filled",
        "FILL(m1, 0)",
        0.5,
        stat("m1", "Orders"),
        ComparisonOperator="LessThanThreshold",
    )
    # No orders at all: FILL makes a zero, which is below the threshold.
    assert state_of(app, "filled") == "ALARM"
    put_value(app, "Orders", 3.0)
    assert state_of(app, "filled") == "OK"
    advance(app.server, 60)
    assert state_of(app, "filled") == "ALARM"


def test_if_picks_values(app: Account) -> None:
    put_math_alarm(
        app,
        "guarded",
        "IF(requests > 10, errors / requests, 0)",
        0.5,
        stat("errors", "Errors"),
        stat("requests", "Requests"),
    )
    put_value(app, "Requests", 4.0)
    put_value(app, "Errors", 4.0)
    assert state_of(app, "guarded") == "OK"
    put_value(app, "Requests", 8.0)
    # 4 errors in 12 requests is under the threshold of one half.
    assert state_of(app, "guarded") == "OK"
    put_value(app, "Errors", 4.0)
    assert state_of(app, "guarded") == "ALARM"


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("ANOMALY_DETECTION_BAND(m1)", "ANOMALY_DETECTION_BAND"),
        ("RATE(m1)", "RATE"),
        ("m1 +", "ends too early"),
        ("m1 + nope", "nope"),
        ("m1 $ 2", "unexpected character"),
    ],
)
def test_unsupported_expressions_are_rejected(app: Account, expression: str, words: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        put_math_alarm(app, "bad", expression, 1.0, stat("m1", "Orders"))
    error = error_of(excinfo)
    assert error["Code"] == "InvalidParameterValue"
    assert words in error["Message"]


def test_one_query_must_return_data(app: Account) -> None:
    with pytest.raises(ClientError) as excinfo:
        app.cloudwatch.put_metric_alarm(
            AlarmName="two",
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanThreshold",
            Metrics=[
                {**stat("m1", "Orders"), "ReturnData": True},
                {"Id": "e1", "Expression": "m1 * 2"},
            ],
        )
    error = error_of(excinfo)
    assert error["Code"] == "InvalidParameterValue"
    assert "Exactly one element of the metrics list should return data" in error["Message"]


def test_metrics_and_single_metric_conflict(app: Account) -> None:
    with pytest.raises(ClientError) as excinfo:
        app.cloudwatch.put_metric_alarm(
            AlarmName="both",
            MetricName="Orders",
            Namespace="Shop",
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanThreshold",
            Metrics=[{**stat("m1", "Orders"), "ReturnData": True}],
        )
    error = error_of(excinfo)
    assert error["Code"] == "InvalidParameterCombination"
    assert "MetricName" in error["Message"]
