"""Alarm evaluation under the fake clock: M out of N, TreatMissingData, reasons and jobs.

These scenarios run on SQLite only: the evaluation is the same Python code on
both backends, and the API tests cover PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from tests.alarms.conftest import (
    Account,
    advance,
    error_of,
    jobs_of,
    put_alarm,
    put_value,
    reason_data,
    state_of,
)

pytestmark = pytest.mark.parametrize("server", ["sqlite"], indirect=True)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        # States after: creation, one breaching point, a second breaching
        # point, three empty periods, one more empty period, two calm points.
        (
            "missing",
            ["INSUFFICIENT_DATA", "INSUFFICIENT_DATA", "ALARM", "ALARM", "INSUFFICIENT_DATA", "OK"],
        ),
        ("ignore", ["INSUFFICIENT_DATA", "INSUFFICIENT_DATA", "ALARM", "ALARM", "ALARM", "OK"]),
        ("breaching", ["ALARM", "ALARM", "ALARM", "ALARM", "ALARM", "OK"]),
        ("notBreaching", ["OK", "OK", "ALARM", "OK", "OK", "OK"]),
    ],
)
def test_two_of_three_with_missing_data(app: Account, mode: str, expected: list[str]) -> None:
    server = app.server
    put_alarm(app, "m-of-n", EvaluationPeriods=3, DatapointsToAlarm=2, TreatMissingData=mode)
    seen = [state_of(app, "m-of-n")]

    put_value(app, "Latency", 150.0)
    seen.append(state_of(app, "m-of-n"))

    advance(server, 60)
    put_value(app, "Latency", 200.0)
    seen.append(state_of(app, "m-of-n"))

    for _minute in range(3):
        advance(server, 60)
    seen.append(state_of(app, "m-of-n"))

    advance(server, 60)
    seen.append(state_of(app, "m-of-n"))

    put_value(app, "Latency", 10.0)
    advance(server, 60)
    put_value(app, "Latency", 20.0)
    seen.append(state_of(app, "m-of-n"))
    assert seen == expected


def test_alarm_reason_names_the_datapoints(app: Account) -> None:
    put_alarm(app, "reasons", EvaluationPeriods=2, DatapointsToAlarm=2)
    put_value(app, "Latency", 150.0)
    advance(app.server, 60)
    put_value(app, "Latency", 250.5)
    alarm = app.cloudwatch.describe_alarms(AlarmNames=["reasons"])["MetricAlarms"][0]
    assert alarm["StateValue"] == "ALARM"
    now = app.server.clock.now()
    earlier = now - timedelta(seconds=60)
    expected = (
        "Threshold Crossed: 2 out of the last 2 datapoints "
        f"[250.5 ({now.strftime('%d/%m/%y %H:%M:%S')}), "
        f"150.0 ({earlier.strftime('%d/%m/%y %H:%M:%S')})] "
        "were greater than the threshold (100.0) "
        "(minimum 2 datapoints for INSUFFICIENT_DATA -> ALARM transition)."
    )
    assert alarm["StateReason"] == expected
    data = reason_data(app, "reasons")
    assert data["version"] == "1.0"
    assert data["statistic"] == "Maximum"
    assert data["period"] == 60
    assert data["recentDatapoints"] == [150.0, 250.5]
    assert data["threshold"] == 100.0
    assert data["startDate"].endswith("+0000")


def test_statistic_covers_the_whole_period(app: Account) -> None:
    put_alarm(app, "average", Statistic="Average", Threshold=50.0)
    put_value(app, "Latency", 90.0)
    assert state_of(app, "average") == "ALARM"
    put_value(app, "Latency", 0.0)
    put_value(app, "Latency", 0.0)
    # The period's average is now 30, below the threshold.
    assert state_of(app, "average") == "OK"


def test_statistic_sets_and_percentiles(app: Account) -> None:
    put_alarm(app, "p90", Statistic=None, ExtendedStatistic="p90", Threshold=80.0)
    app.cloudwatch.put_metric_data(
        Namespace="Shop",
        MetricData=[{"MetricName": "Latency", "Values": [10.0, 95.0], "Counts": [9.0, 1.0]}],
    )
    assert state_of(app, "p90") == "OK"
    put_value(app, "Latency", 99.0)
    assert state_of(app, "p90") == "ALARM"
    put_alarm(app, "sum", Statistic="Sum", Threshold=1000.0, MetricName="Bytes")
    app.cloudwatch.put_metric_data(
        Namespace="Shop",
        MetricData=[
            {
                "MetricName": "Bytes",
                "StatisticValues": {"SampleCount": 4, "Sum": 1200, "Minimum": 100, "Maximum": 500},
            }
        ],
    )
    assert state_of(app, "sum") == "ALARM"


def test_dimensions_and_units_select_the_metric(app: Account) -> None:
    put_alarm(app, "cart", Dimensions=[{"Name": "Service", "Value": "cart"}], Unit="Milliseconds")
    put_value(
        app,
        "Latency",
        500.0,
        Dimensions=[{"Name": "Service", "Value": "search"}],
        Unit="Milliseconds",
    )
    put_value(
        app, "Latency", 500.0, Dimensions=[{"Name": "Service", "Value": "cart"}], Unit="Seconds"
    )
    assert state_of(app, "cart") == "INSUFFICIENT_DATA"
    put_value(
        app,
        "Latency",
        500.0,
        Dimensions=[{"Name": "Service", "Value": "cart"}],
        Unit="Milliseconds",
    )
    assert state_of(app, "cart") == "ALARM"


def test_evaluation_is_a_durable_job_per_period(app: Account) -> None:
    put_alarm(app, "timed", Period=300)
    pending = [
        job for job in jobs_of(app.server, "cloudwatch.evaluate_alarm") if job.status == "pending"
    ]
    assert len(pending) == 1
    assert pending[0].due_at == app.server.clock.now() + timedelta(seconds=300)
    assert int(pending[0].due_at.timestamp()) % 300 == 0
    advance(app.server, 300)
    jobs = jobs_of(app.server, "cloudwatch.evaluate_alarm")
    assert [job.status for job in jobs] == ["done", "pending"]
    assert (jobs[1].due_at - jobs[0].due_at).total_seconds() == 300


def test_updated_alarm_drops_its_old_jobs(app: Account) -> None:
    put_alarm(app, "changed")
    put_alarm(app, "changed", Threshold=5.0)
    advance(app.server, 60)
    jobs = jobs_of(app.server, "cloudwatch.evaluate_alarm")
    # One job per generation ran; only the new generation scheduled a successor.
    assert sorted(job.payload["generation"] for job in jobs if job.status == "pending") == [2]


def test_put_metric_data_rejects_bad_input(app: Account) -> None:
    cases = [
        (
            {"Namespace": "AWS/EC2", "MetricData": [{"MetricName": "x", "Value": 1.0}]},
            "InvalidParameterValue",
            "AWS/",
        ),
        (
            {
                "Namespace": "Shop",
                "MetricData": [{"MetricName": "x", "Value": 1.0, "Values": [1.0]}],
            },
            "InvalidParameterCombination",
            "Value and Values",
        ),
        (
            {
                "Namespace": "Shop",
                "MetricData": [{"MetricName": "x", "Values": [1.0, 2.0], "Counts": [1.0]}],
            },
            "InvalidParameterCombination",
            "Counts",
        ),
        (
            {"Namespace": "Shop", "MetricData": [{"MetricName": "x", "Value": 1e200}]},
            "InvalidParameterValue",
            "MetricData.member.1.Value",
        ),
        (
            {
                "Namespace": "Shop",
                "MetricData": [{"MetricName": "x", "Value": 1.0, "StorageResolution": 5}],
            },
            "InvalidParameterValue",
            "StorageResolution",
        ),
        (
            {
                "Namespace": "Shop",
                "MetricData": [
                    {"MetricName": "x", "Value": 1.0, "Timestamp": "2001-01-01T00:00:00Z"}
                ],
            },
            "InvalidParameterValue",
            "Timestamp",
        ),
        ({"Namespace": "Shop", "MetricData": []}, "MissingParameter", "MetricData"),
    ]
    for request, code, words in cases:
        with pytest.raises(ClientError) as excinfo:
            app.cloudwatch.put_metric_data(**request)
        error = error_of(excinfo)
        assert error["Code"] == code, request
        assert words in error["Message"], error


def test_get_metric_statistics_per_period(app: Account) -> None:
    start = app.server.clock.now()
    put_value(app, "Latency", 10.0, Unit="Milliseconds")
    put_value(app, "Latency", 30.0, Unit="Milliseconds")
    advance(app.server, 60)
    put_value(app, "Latency", 50.0, Unit="Milliseconds")
    result = app.cloudwatch.get_metric_statistics(
        Namespace="Shop",
        MetricName="Latency",
        StartTime=start,
        EndTime=start + timedelta(seconds=120),
        Period=60,
        Statistics=["Average", "SampleCount", "Maximum"],
        ExtendedStatistics=["p50"],
    )

    assert result["Label"] == "Latency"
    first, second = result["Datapoints"]
    assert first["Timestamp"] == start
    assert first["Average"] == 20.0
    assert first["SampleCount"] == 2.0
    assert first["Maximum"] == 30.0
    assert first["ExtendedStatistics"] == {"p50": 10.0}
    assert first["Unit"] == "Milliseconds"
    assert second["Average"] == 50.0

    with pytest.raises(ClientError) as excinfo:
        app.cloudwatch.get_metric_statistics(
            Namespace="Shop",
            MetricName="Latency",
            StartTime=start,
            EndTime=start + timedelta(days=2),
            Period=60,
            Statistics=["Average"],
        )
    assert error_of(excinfo)["Code"] == "InvalidParameterCombination"


def test_old_datums_are_purged(app: Account) -> None:
    start = app.server.clock.now()
    put_value(app, "Latency", 10.0)
    advance(app.server, 14 * 86400)
    put_value(app, "Latency", 20.0)
    advance(app.server, 2 * 86400)

    result = app.cloudwatch.get_metric_statistics(
        Namespace="Shop",
        MetricName="Latency",
        StartTime=start - timedelta(hours=1),
        EndTime=start + timedelta(days=17),
        Period=86400,
        Statistics=["Maximum"],
    )
    assert [point["Maximum"] for point in result["Datapoints"]] == [20.0]
    purges = jobs_of(app.server, "cloudwatch.purge_metric_data")
    assert {job.status for job in purges} == {"done"}
