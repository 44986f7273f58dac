"""The console's incident helpers that need no server: URLs, filters, text and parameters."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tocsin.notify.incident_messages import incident_link
from tocsin.web.console.incident_data import (
    ListFilters,
    event_text,
    format_duration,
    incident_row,
    key_from_path,
    parse_incident_arn,
    safe_link,
    sort_rows,
)
from tocsin.web.console.incident_forms import FormError, parse_parameters

ARN = "arn:aws:ssm-incidents::111111111111:incident-record/checkout/7c3c5b2e-90aa-4f3c"


def test_incident_key_round_trips_arn() -> None:
    key = parse_incident_arn(ARN)
    assert key is not None
    assert key.arn == ARN
    assert key.path == "/console/incidents/111111111111/checkout/7c3c5b2e-90aa-4f3c"
    assert key.plan_arn == "arn:aws:ssm-incidents::111111111111:response-plan/checkout"


def test_notification_links_open_the_incident_page() -> None:
    key = parse_incident_arn(ARN)
    assert key is not None
    base = "https://tocsin.example.com"
    assert incident_link(base, ARN) == base + key.path
    assert incident_link(base, "not an incident ARN") == f"{base}/console/"


@pytest.mark.parametrize(
    ("account", "plan", "incident"),
    [
        ("1111", "checkout", "abc"),
        ("111111111111", "check/out", "abc"),
        ("111111111111", "checkout", "a b"),
        ("111111111111", "", "abc"),
    ],
)
def test_incident_key_rejects_bad_path(account: str, plan: str, incident: str) -> None:
    assert key_from_path(account, plan, incident) is None


def test_list_filters_parse_query() -> None:
    filters = ListFilters.from_query(
        {"status": "OPEN", "impact": "2", "owner": "222222222222", "q": "  disk "}
    )
    assert filters.api_filters() == [
        {"key": "status", "condition": {"equals": {"stringValues": ["OPEN"]}}},
        {"key": "impact", "condition": {"equals": {"integerValues": [2]}}},
    ]
    assert filters.owner == "222222222222"
    assert filters.text == "disk"


def test_list_filters_drop_invalid_values() -> None:
    filters = ListFilters.from_query({"status": "CLOSED", "impact": "9", "owner": "abc"})
    assert filters.api_filters() == []
    assert filters.owner == ""


@pytest.mark.parametrize(
    ("name", "value", "choices"),
    [
        ("status", "BOGUS", "use OPEN or RESOLVED"),
        ("impact", "9", "use a number from 1 to 5"),
        ("impact", "\u00b2", "use a number from 1 to 5"),
        ("owner", "abc", "use a 12-digit account ID"),
        ("plan", "checkout", "use the ARN of a response plan"),
    ],
)
def test_list_filters_report_invalid_value(name: str, value: str, choices: str) -> None:
    filters = ListFilters.from_query(
        {name: value, "status": "OPEN"} if name != "status" else {name: value}
    )
    assert len(filters.problems) == 1
    assert f"The {name} filter {value!r} is invalid" in filters.problems[0]
    assert choices in filters.problems[0]
    assert getattr(filters, "impact" if name == "impact" else name) in ("", None)


def test_list_filters_report_long_text() -> None:
    filters = ListFilters.from_query({"q": "x" * 201})
    assert filters.text == ""
    assert filters.problems == (
        "The q filter is invalid: it has 201 characters, and the maximum is 200. "
        "The list ignores it.",
    )


def test_list_filters_valid_query_has_no_problems() -> None:
    plan = "arn:aws:ssm-incidents::111111111111:response-plan/checkout"
    filters = ListFilters.from_query(
        {"status": "RESOLVED", "impact": "5", "owner": "111111111111", "plan": plan, "q": "x"}
    )
    assert filters.problems == ()
    assert filters.plan == plan


def test_list_filters_match_rows() -> None:
    row = incident_row({"arn": ARN, "title": "Disk full", "status": "OPEN"}, "222222222222")
    assert row is not None
    assert row["shared"] is True
    assert ListFilters(text="DISK").matches(row)
    assert not ListFilters(text="network").matches(row)
    assert ListFilters(owner="111111111111").matches(row)
    assert not ListFilters(owner="222222222222").matches(row)
    assert ListFilters(plan=row["planArn"]).matches(row)
    assert not ListFilters(plan=row["planArn"] + "x").matches(row)


def test_sort_rows_open_first() -> None:
    rows = [
        {"arn": "a", "status": "RESOLVED", "created": "2026-01-03 00:00:00 UTC"},
        {"arn": "b", "status": "OPEN", "created": "2026-01-01 00:00:00 UTC"},
        {"arn": "c", "status": "OPEN", "created": "2026-01-02 00:00:00 UTC"},
    ]
    assert [row["arn"] for row in sort_rows(rows)] == ["c", "b", "a"]


def test_event_text_reads_notes_and_objects() -> None:
    assert event_text(json.dumps("Restarted the pool")) == "Restarted the pool"
    assert event_text(json.dumps({"title": "x", "impact": 2})) == "title: x\nimpact: 2"
    assert event_text("not json") == "not json"


def test_format_duration_counts_whole_minutes() -> None:
    start = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    assert format_duration(start, datetime(2026, 1, 1, 8, 59, 59, tzinfo=UTC)) == "59 min"
    assert format_duration(start, datetime(2026, 1, 2, 9, 5, tzinfo=UTC)) == "1 d 1 h 5 min"
    assert format_duration(None, None) == ""


def test_safe_link_allows_only_web_urls() -> None:
    assert safe_link("https://status.example.com/1") == "https://status.example.com/1"
    assert safe_link("javascript:alert(1)") is None
    assert safe_link("data:text/html,x") is None


def test_parse_parameters_collects_values() -> None:
    text = "IncidentRecordArn=arn:x\n\nTargets = a\nTargets=b=c\n"
    assert parse_parameters(text) == {"IncidentRecordArn": ["arn:x"], "Targets": ["a", "b=c"]}


def test_parse_parameters_rejects_line_without_name() -> None:
    with pytest.raises(FormError) as info:
        parse_parameters("Good=1\njust text")
    assert "line 2" in str(info.value)
    assert "Name=value" in str(info.value)
