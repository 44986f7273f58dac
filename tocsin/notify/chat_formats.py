"""Bodies of incident messages for chat webhooks: Slack, Microsoft Teams, Mattermost, generic.

Each function turns one ``IncidentNotice`` into the JSON body that the chat
service's incoming webhook accepts. Every body carries the incident's title,
impact, status, account, a link to the incident and the acknowledgement
links of its open pages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tocsin.notify.incident_messages import (
    EVENT_TITLES,
    IncidentNotice,
    change_lines,
    document,
)


def _heading(notice: IncidentNotice) -> str:
    return f"{EVENT_TITLES[notice.event]}: {notice.title}"


def _facts(notice: IncidentNotice) -> list[tuple[str, str]]:
    return [
        ("Impact", str(notice.impact)),
        ("Status", notice.status),
        ("Account", notice.account_id),
    ]


def _markdown_lines(notice: IncidentNotice) -> list[str]:
    """Return the message as lines of the markdown that Slack and Mattermost share."""
    lines = [" | ".join(f"*{name}:* {value}" for name, value in _facts(notice))]
    if notice.summary:
        lines.append(notice.summary)
    lines += change_lines(notice)
    lines.append(f"<{notice.link}|Open the incident>")
    lines += [f"<{ack.url}|Acknowledge the page of {ack.contact_arn}>" for ack in notice.ack_links]
    return lines


def slack(notice: IncidentNotice) -> dict[str, Any]:
    """Return a Slack incoming-webhook message with Block Kit blocks and a plain fallback."""
    buttons: list[dict[str, Any]] = [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": "Open incident"},
            "url": notice.link,
        }
    ]
    buttons += [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": f"Acknowledge page {index}"},
            "url": ack.url,
        }
        for index, ack in enumerate(notice.ack_links, start=1)
    ]
    return {
        "text": f"{_heading(notice)} (impact {notice.impact}, {notice.status})",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": _heading(notice)[:150]}},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "\n".join(_markdown_lines(notice))},
            },
            # Slack allows at most 25 elements in one actions block.
            {"type": "actions", "elements": buttons[:25]},
        ],
    }


def mattermost(notice: IncidentNotice) -> dict[str, Any]:
    """Return a Mattermost incoming-webhook message in Mattermost's markdown."""
    lines = [f"#### {_heading(notice)}"]
    lines.append(" | ".join(f"**{name}:** {value}" for name, value in _facts(notice)))
    if notice.summary:
        lines.append(notice.summary)
    lines += change_lines(notice)
    lines.append(f"[Open the incident]({notice.link})")
    lines += [f"[Acknowledge the page of {ack.contact_arn}]({ack.url})" for ack in notice.ack_links]
    return {"text": "\n".join(lines), "props": {"tocsin": document(notice)}}


def teams(notice: IncidentNotice) -> dict[str, Any]:
    """Return a Teams message with one Adaptive Card, as workflows and incoming webhooks take it."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": _heading(notice),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
        },
        {
            "type": "FactSet",
            "facts": [{"title": name, "value": value} for name, value in _facts(notice)],
        },
    ]
    if notice.summary:
        body.append({"type": "TextBlock", "text": notice.summary, "wrap": True})
    body += [{"type": "TextBlock", "text": line, "wrap": True} for line in change_lines(notice)]
    actions = [{"type": "Action.OpenUrl", "title": "Open incident", "url": notice.link}]
    actions += [
        {"type": "Action.OpenUrl", "title": f"Acknowledge page {index}", "url": ack.url}
        for index, ack in enumerate(notice.ack_links, start=1)
    ]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": actions,
    }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def generic(notice: IncidentNotice) -> dict[str, Any]:
    """Return the incident document that notification topics receive."""
    return document(notice)


FORMATS: dict[str, Callable[[IncidentNotice], dict[str, Any]]] = {
    "slack": slack,
    "teams": teams,
    "mattermost": mattermost,
    "webhook": generic,
}
