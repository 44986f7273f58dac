"""Incident data of the console pages, read through ``invoke`` as the signed-in principal.

Every function here calls AWS operations the way a client would, so the
console shows exactly what the API lets the principal see. The results are
plain JSON-ready dictionaries that the templates render and the event
streams send to the browser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request

from tocsin.web.console.auth import invoke

# ListIncidentRecords returns at most 100 records per call.
LIST_PAGE_SIZE = 100
# NOTE: the list page reads at most this many incidents, newest first, so older
# incidents of a busy server only appear when a status or impact filter narrows the list.
MAX_LISTED = 500
# Timeline events whose data the details page reads, newest first.
MAX_TIMELINE_EVENTS = 50
STATUSES = ("OPEN", "RESOLVED")
IMPACTS = {1: "Critical", 2: "High", 3: "Medium", 4: "Low", 5: "No impact"}

INCIDENT_ARN = re.compile(
    r"^arn:aws[a-z-]*:ssm-incidents::(?P<account>\d{12}):incident-record/"
    r"(?P<plan>[A-Za-z0-9_-]{1,200})/(?P<incident>[A-Za-z0-9-]{1,100})$"
)
PLAN_ARN = re.compile(r"^arn:aws[a-z-]*:ssm-incidents::\d{12}:response-plan/[A-Za-z0-9_-]{1,200}$")
# The maximum length of the title text that the list's search field accepts.
MAX_SEARCH_TEXT = 200
EXECUTION_ARN = re.compile(
    r"^arn:aws[a-z-]*:ssm:(?P<region>[a-z0-9-]*):(?P<account>\d{12}):"
    r"automation-execution/(?P<execution>[A-Za-z0-9-]{1,64})$"
)


@dataclass(frozen=True)
class IncidentKey:
    """The parts of an incident ARN that the console's URLs carry."""

    account: str
    plan: str
    incident: str

    @property
    def arn(self) -> str:
        return f"arn:aws:ssm-incidents::{self.account}:incident-record/{self.plan}/{self.incident}"

    @property
    def plan_arn(self) -> str:
        return f"arn:aws:ssm-incidents::{self.account}:response-plan/{self.plan}"

    @property
    def path(self) -> str:
        return f"/console/incidents/{self.account}/{self.plan}/{self.incident}"


def parse_incident_arn(arn: str) -> IncidentKey | None:
    """Return the key of an incident record ARN, or None when ``arn`` is not one."""
    found = INCIDENT_ARN.match(arn)
    if found is None:
        return None
    return IncidentKey(found["account"], found["plan"], found["incident"])


def key_from_path(account: str, plan: str, incident: str) -> IncidentKey | None:
    """Return the key that the URL path parts name, or None when they cannot form an ARN."""
    return parse_incident_arn(IncidentKey(account, plan, incident).arn)


def format_time(value: Any) -> str:
    """Return a timestamp of an AWS response as UTC text, or an empty string for none."""
    moment = as_datetime(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value:
        try:
            return as_datetime(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def format_duration(start: Any, end: Any, now: datetime | None = None) -> str:
    """Return the time from ``start`` to ``end`` (or to now) in days, hours and minutes."""
    began = as_datetime(start)
    if began is None:
        return ""
    finished = as_datetime(end) or now or datetime.now(UTC)
    minutes = max(0, int((finished - began).total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} d"] if days else []
    if days or hours:
        parts.append(f"{hours} h")
    parts.append(f"{minutes} min")
    return " ".join(parts)


def impact_text(impact: Any) -> str:
    name = IMPACTS.get(impact) if isinstance(impact, int) else None
    return f"{impact} ({name})" if name else str(impact or "")


def safe_link(value: str) -> str | None:
    """Return ``value`` when it is an http or https URL that may become a link, else None."""
    return value if urlsplit(value).scheme in ("http", "https") else None


def event_text(event_data: str) -> str:
    """Return readable text for a timeline event's ``eventData``.

    A JSON string, the form that notes use, becomes its text. A JSON object
    becomes ``key: value`` lines, and anything else is shown as written.
    """
    try:
        decoded = json.loads(event_data)
    except ValueError:
        return event_data
    if isinstance(decoded, str):
        return decoded
    if isinstance(decoded, dict):
        lines = []
        for name, value in decoded.items():
            value_text = value if isinstance(value, str) else json.dumps(value, default=str)
            lines.append(f"{name}: {value_text}")
        return "\n".join(lines)
    return event_data


@dataclass(frozen=True)
class ListFilters:
    """The incident list's filters, from the query string of the page or its stream."""

    status: str = ""
    impact: int | None = None
    plan: str = ""
    owner: str = ""
    text: str = ""
    # One message per invalid query parameter. The list ignores that filter.
    problems: tuple[str, ...] = ()

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> ListFilters:
        problems: list[str] = []
        status = query.get("status", "")
        if status and status not in STATUSES:
            problems.append(_invalid_filter("status", status, " or ".join(STATUSES)))
            status = ""

        impact_value = query.get("impact", "")
        impact = int(impact_value) if impact_value.isascii() and impact_value.isdigit() else None
        if impact_value and impact not in IMPACTS:
            problems.append(_invalid_filter("impact", impact_value, "a number from 1 to 5"))
            impact = None

        plan = query.get("plan", "")
        if plan and not PLAN_ARN.match(plan):
            problems.append(_invalid_filter("plan", plan, "the ARN of a response plan"))
            plan = ""

        owner = query.get("owner", "")
        if owner and not re.fullmatch(r"[0-9]{12}", owner):
            problems.append(_invalid_filter("owner", owner, "a 12-digit account ID"))
            owner = ""

        text = query.get("q", "").strip()
        if len(text) > MAX_SEARCH_TEXT:
            problems.append(
                f"The q filter is invalid: it has {len(text)} characters, and the maximum "
                f"is {MAX_SEARCH_TEXT}. The list ignores it."
            )
            text = ""
        return cls(status, impact, plan, owner, text, tuple(problems))

    def api_filters(self) -> list[dict[str, Any]]:
        """Return the ListIncidentRecords filters. ``matches`` checks plan, owner and title text."""
        result: list[dict[str, Any]] = []
        if self.status:
            result.append(
                {"key": "status", "condition": {"equals": {"stringValues": [self.status]}}}
            )
        if self.impact is not None:
            result.append(
                {"key": "impact", "condition": {"equals": {"integerValues": [self.impact]}}}
            )
        return result

    def matches(self, row: Mapping[str, Any]) -> bool:
        if self.plan and row["planArn"] != self.plan:
            return False
        if self.owner and row["owner"] != self.owner:
            return False
        return not self.text or self.text.casefold() in row["title"].casefold()


def _invalid_filter(name: str, value: str, choices: str) -> str:
    truncated = value if len(value) <= 100 else value[:100] + "..."
    return (
        f"The {name} filter {truncated!r} is invalid: use {choices}. The list ignores this filter."
    )


def incident_row(summary: Mapping[str, Any], account_id: str) -> dict[str, Any] | None:
    """Return the list row of one ListIncidentRecords summary, or None for a foreign ARN."""
    key = parse_incident_arn(summary.get("arn", ""))
    if key is None:
        return None
    return {
        "arn": key.arn,
        "path": key.path,
        "title": summary.get("title", ""),
        "status": summary.get("status", ""),
        "impact": impact_text(summary.get("impact")),
        "created": format_time(summary.get("creationTime")),
        "resolved": format_time(summary.get("resolvedTime")),
        "plan": key.plan,
        "planArn": key.plan_arn,
        "owner": key.account,
        "shared": key.account != account_id,
    }


def sort_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sort open incidents first, then newest first within each status."""
    newest_first = sorted(rows, key=lambda row: row["created"], reverse=True)
    return sorted(newest_first, key=lambda row: row["status"] != "OPEN")


async def list_incidents(
    request: Request, filters: ListFilters, account_id: str
) -> list[dict[str, Any]]:
    """Return the list rows of the incidents that the principal may see and the filters match."""
    rows: list[dict[str, Any]] = []
    params: dict[str, Any] = {"maxResults": LIST_PAGE_SIZE, "filters": filters.api_filters()}
    read = 0
    while read < MAX_LISTED:
        output = await invoke(request, "ssm-incidents", "ListIncidentRecords", params)
        summaries = output.get("incidentRecordSummaries", [])
        read += len(summaries)
        for summary in summaries:
            row = incident_row(summary, account_id)
            if row is not None and filters.matches(row):
                rows.append(row)
        token = output.get("nextToken")
        if not token or not summaries:
            break
        params = {**params, "nextToken": token}
    return sort_rows(rows)


async def response_plans(request: Request, account_id: str) -> list[dict[str, Any]]:
    """Return the response plans the principal may use, shared ones included."""
    plans = []
    params: dict[str, Any] = {"maxResults": 100}
    while True:
        output = await invoke(request, "ssm-incidents", "ListResponsePlans", params)
        for summary in output.get("responsePlanSummaries", []):
            owner = summary["arn"].split(":")[4]
            plans.append(
                {
                    "arn": summary["arn"],
                    "name": summary.get("displayName") or summary.get("name", ""),
                    "owner": owner,
                    "shared": owner != account_id,
                }
            )
        token = output.get("nextToken")
        if not token:
            return sorted(plans, key=lambda plan: (plan["shared"], plan["name"]))
        params = {**params, "nextToken": token}


async def contacts(request: Request) -> list[dict[str, Any]]:
    """Return the contacts that the principal may engage, shared ones included."""
    found = []
    params: dict[str, Any] = {"MaxResults": 100}
    while True:
        output = await invoke(request, "ssm-contacts", "ListContacts", params)
        for contact in output.get("Contacts", []):
            found.append(
                {
                    "arn": contact["ContactArn"],
                    "name": contact.get("DisplayName") or contact.get("Alias", ""),
                    "alias": contact.get("Alias", ""),
                    "owner": contact["ContactArn"].split(":")[4],
                }
            )
        token = output.get("NextToken")
        if not token:
            return found
        params = {**params, "NextToken": token}


@dataclass
class ViewCache:
    """Responses that do not change once written, kept across polls of one event stream."""

    event_texts: dict[tuple[str, str], str] = field(default_factory=dict)
