"""The messages that tell people about an incident: its JSON document and its chat text.

Every incident notification starts from one ``IncidentNotice``. A notice
contains the incident as it is when the notice is built, the event
(``created``, ``updated`` or ``resolved``) and the changes of an update.
It also contains a link to the incident and the acknowledgement links of
its open pages. ``document`` turns it into the
JSON message that notification topics receive, and ``chatbot_message`` into
the custom notification that AWS Chatbot posts to a chat channel.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from tocsin.incidents.arns import plan_arn
from tocsin.incidents.models import IncidentRecord

# Version of the incident document that notification topics receive.
DOCUMENT_VERSION = "1"
DOCUMENT_SOURCE = "tocsin.incidents"
EVENT_TITLES = {"created": "Incident started", "updated": "Incident updated"}
EVENT_TITLES["resolved"] = "Incident resolved"
# Subjects of SNS messages must be shorter than 100 ASCII characters.
MAX_SUBJECT = 99
FALLBACK_SUBJECT = "Incident Manager notification"


@dataclass(frozen=True)
class AckLink:
    """The acknowledgement link of one open page of the incident."""

    contact_arn: str
    page_arn: str
    url: str


@dataclass(frozen=True)
class IncidentNotice:
    """One event of one incident, with everything its messages show."""

    incident_arn: str
    account_id: str
    response_plan_arn: str
    title: str
    impact: int
    status: str
    summary: str | None
    creation_time: datetime
    resolved_time: datetime | None
    event: str
    time: datetime
    link: str
    changes: Sequence[Mapping[str, Any]] = ()
    ack_links: Sequence[AckLink] = field(default_factory=tuple)


def incident_link(base_url: str, incident_arn: str) -> str:
    """Return the console address of an incident under the server's public URL.

    The console's incident page is ``/console/incidents/ACCOUNT/PLAN/ID``, the
    account and the resource id of the incident's ARN.
    """
    _, _, resource = incident_arn.partition(":incident-record/")
    account = incident_arn.split(":")[4] if incident_arn.count(":") >= 5 else ""
    plan, _, record_id = resource.partition("/")
    if not (account and plan and record_id):
        return f"{base_url}/console/"
    path = "/".join(quote(part, safe="") for part in (account, plan, record_id))
    return f"{base_url}/console/incidents/{path}"


def notice(
    incident: IncidentRecord,
    event: str,
    *,
    now: datetime,
    base_url: str,
    changes: Sequence[Mapping[str, Any]] = (),
    ack_links: Sequence[AckLink] = (),
) -> IncidentNotice:
    """Build the notice of ``event`` from the incident as it is now."""
    return IncidentNotice(
        incident_arn=incident.arn,
        account_id=incident.account_id,
        response_plan_arn=plan_arn(incident.account_id, incident.plan_name),
        title=incident.title,
        impact=incident.impact,
        status=incident.status,
        summary=incident.summary,
        creation_time=incident.creation_time,
        resolved_time=incident.resolved_time,
        event=event,
        time=now,
        link=incident_link(base_url, incident.arn),
        changes=list(changes),
        ack_links=list(ack_links),
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def document(notice: IncidentNotice) -> dict[str, Any]:
    """Return the JSON document of ``notice`` that notification topics receive."""
    incident: dict[str, Any] = {
        "arn": notice.incident_arn,
        "title": notice.title,
        "impact": notice.impact,
        "status": notice.status,
        "summary": notice.summary,
        "creationTime": _iso(notice.creation_time),
        "resolvedTime": _iso(notice.resolved_time),
    }
    return {
        "version": DOCUMENT_VERSION,
        "source": DOCUMENT_SOURCE,
        "event": notice.event,
        "time": _iso(notice.time),
        "account": notice.account_id,
        "responsePlanArn": notice.response_plan_arn,
        "incident": incident,
        "changes": [dict(change) for change in notice.changes],
        "link": notice.link,
        "acknowledgeLinks": [
            {"contactArn": ack.contact_arn, "pageArn": ack.page_arn, "url": ack.url}
            for ack in notice.ack_links
        ],
    }


def subject(notice: IncidentNotice) -> str:
    """Return an SNS subject for ``notice``: ASCII, printable, at most 99 characters."""
    text = f"{EVENT_TITLES[notice.event]}: {notice.title}"
    text = "".join(char if char.isascii() and char.isprintable() else "?" for char in text)
    text = text.strip()[:MAX_SUBJECT].strip()
    return text or FALLBACK_SUBJECT


def change_lines(notice: IncidentNotice) -> list[str]:
    """Return one line per changed member, such as ``impact: 3 -> 1``."""
    return [
        f"{change['attribute']}: {_plain(change['oldValue'])} -> {_plain(change['newValue'])}"
        for change in notice.changes
    ]


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def chatbot_message(notice: IncidentNotice) -> dict[str, Any]:
    """Return the custom notification of ``notice`` in the format that AWS Chatbot posts.

    AWS Chatbot requires ``version`` 1.0 and ``source`` custom, and renders
    ``content`` as markdown of the chat service. ``metadata.threadId`` is the
    incident's ARN, so a chat service that threads updates keeps one thread
    per incident.
    """
    lines = [
        f"*Impact:* {notice.impact}  *Status:* {notice.status}  *Account:* {notice.account_id}"
    ]
    if notice.summary:
        lines.append(notice.summary)
    lines += change_lines(notice)
    next_steps = [f"Open the incident: {notice.link}"]
    next_steps += [
        f"Acknowledge the page of {ack.contact_arn}: {ack.url}" for ack in notice.ack_links
    ]
    return {
        "version": "1.0",
        "source": "custom",
        "id": f"{notice.incident_arn}:{notice.event}:{_iso(notice.time)}",
        "content": {
            "textType": "client-markdown",
            "title": f"{EVENT_TITLES[notice.event]}: {notice.title}",
            "description": "\n".join(lines),
            "nextSteps": next_steps,
            "keywords": [notice.status, f"impact-{notice.impact}"],
        },
        "metadata": {
            "threadId": notice.incident_arn,
            "summary": f"{EVENT_TITLES[notice.event]}: {notice.title}",
            "eventType": notice.event,
            "relatedResources": [notice.incident_arn, notice.response_plan_arn],
            "additionalContext": {"account": notice.account_id, "link": notice.link},
        },
    }
