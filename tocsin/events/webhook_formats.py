"""Converters from the payloads of monitoring tools to EventBridge events.

Each converter takes a parsed JSON document and returns the events it
stands for, as PutEvents entries (Source, DetailType, Detail, Resources).
A payload that does not have the documented shape raises
WebhookPayloadError, whose message names the member and the value.

- ``alertmanager``: Prometheus Alertmanager's webhook payload, version 4.
  Every alert of the group becomes one event, with source
  ``tocsin.alertmanager`` and detail-type ``Alertmanager Alert``.
- ``grafana``: Grafana's legacy alerting webhook (one event per request),
  or Grafana's unified alerting webhook, which has Alertmanager's shape
  (one event per alert). The source is ``tocsin.grafana`` and the
  detail-type ``Grafana Alert``.
- ``generic``: any JSON object, which becomes the detail of one event with
  source ``tocsin.webhook`` and detail-type ``Webhook Alert``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

ALERTMANAGER = "alertmanager"
GRAFANA = "grafana"
GENERIC = "generic"

ALERTMANAGER_SOURCE = "tocsin.alertmanager"
ALERTMANAGER_DETAIL_TYPE = "Alertmanager Alert"
GRAFANA_SOURCE = "tocsin.grafana"
GRAFANA_DETAIL_TYPE = "Grafana Alert"
GENERIC_SOURCE = "tocsin.webhook"
GENERIC_DETAIL_TYPE = "Webhook Alert"

# EventBridge limits one PutEvents entry to 256 KiB, counted as the UTF-8
# bytes of Source, DetailType, Detail and every resource.
MAX_EVENT_BYTES = 256 * 1024

ALERT_STATUSES = ("firing", "resolved")
# Fields of a Grafana unified alerting alert that are copied into the event
# besides the Alertmanager ones.
GRAFANA_ALERT_EXTRAS = ("values", "valueString", "silenceURL", "dashboardURL", "panelURL")
# Fields of a Grafana legacy alert that are copied into the event.
GRAFANA_LEGACY_FIELDS = (
    "title",
    "ruleId",
    "ruleName",
    "ruleUrl",
    "state",
    "message",
    "imageUrl",
    "evalMatches",
    "tags",
    "orgId",
    "dashboardId",
    "panelId",
)
# Grafana legacy states mapped to alert statuses. Other states (no_data,
# paused, pending) keep their own name as the status.
GRAFANA_LEGACY_STATUS = {"alerting": "firing", "ok": "resolved"}


class WebhookPayloadError(ValueError):
    """A webhook body that cannot become events, with a message for the sender."""


@dataclass(frozen=True)
class AlertEvent:
    """One event to put on the bus: the members of a PutEvents entry."""

    source: str
    detail_type: str
    detail: dict[str, Any]
    resources: list[str] = field(default_factory=list)

    def entry(self) -> dict[str, Any]:
        """Return the event as a PutEvents request entry, with Detail as a JSON string."""
        return {
            "Source": self.source,
            "DetailType": self.detail_type,
            "Detail": json.dumps(self.detail, ensure_ascii=False, separators=(",", ":")),
            "Resources": list(self.resources),
        }

    def size(self) -> int:
        """Return the entry size in bytes as EventBridge counts it for its 256 KiB limit."""
        entry = self.entry()
        parts = [entry["Source"], entry["DetailType"], entry["Detail"], *entry["Resources"]]
        return sum(len(part.encode("utf-8")) for part in parts)


def _object(value: Any, member: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WebhookPayloadError(f"{member} must be a JSON object, got {_describe(value)}.")
    return value


def _optional_object(payload: Mapping[str, Any], name: str, member: str) -> dict[str, Any]:
    value = payload.get(name)
    return {} if value is None else _object(value, member)


def _string_map(value: Any, member: str) -> dict[str, str]:
    mapping = {} if value is None else _object(value, member)
    for key, item in mapping.items():
        if not isinstance(item, str):
            raise WebhookPayloadError(
                f"{member}.{key} must be a string, got {_describe(item)}; "
                "Alertmanager labels and annotations are strings."
            )
    return mapping


def _optional_string(payload: Mapping[str, Any], name: str, member: str) -> str | None:
    value = payload.get(name)
    if value is not None and not isinstance(value, str):
        raise WebhookPayloadError(f"{member} must be a string, got {_describe(value)}.")
    return value


def _describe(value: Any) -> str:
    """Return a short description of a JSON value for error messages."""
    kinds = {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }
    if value is None:
        return "null"
    text = json.dumps(value, ensure_ascii=False)
    shown = text if len(text) <= 60 else text[:57] + "..."
    return f"{kinds.get(type(value), type(value).__name__)} ({shown})"


def label_fingerprint(labels: Mapping[str, str]) -> str:
    """Return a stable 16-hex-digit identifier of an alert's label set.

    Alertmanager sends its own fingerprint, and this one replaces it in
    payloads that leave it out. It is a truncated SHA-256 of the sorted labels, so it
    differs from Alertmanager's value for the same labels.
    """
    canonical = json.dumps(sorted(labels.items()), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _alert_status(alert: Mapping[str, Any], group_status: str | None, member: str) -> str:
    status = alert.get("status", group_status)
    if status not in ALERT_STATUSES:
        raise WebhookPayloadError(
            f"{member}.status must be 'firing' or 'resolved', got {_describe(status)}."
        )
    return str(status)


def _group_alerts(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    if "alerts" not in payload:
        raise WebhookPayloadError("The payload has no alerts member; it must list the alerts.")
    alerts = payload["alerts"]
    if not isinstance(alerts, list):
        raise WebhookPayloadError(f"alerts must be a JSON array, got {_describe(alerts)}.")
    if not alerts:
        raise WebhookPayloadError("alerts is empty; the payload must contain at least one alert.")
    return [_object(alert, f"alerts[{index}]") for index, alert in enumerate(alerts)]


def _alertmanager_detail(
    payload: Mapping[str, Any], alert: Mapping[str, Any], member: str
) -> dict[str, Any]:
    """Build the detail of one alert of an Alertmanager-shaped group."""
    group_status = payload.get("status")
    labels = _string_map(alert.get("labels"), f"{member}.labels")
    fingerprint = _optional_string(alert, "fingerprint", f"{member}.fingerprint")
    return {
        "status": _alert_status(alert, group_status, member),
        "labels": labels,
        "annotations": _string_map(alert.get("annotations"), f"{member}.annotations"),
        "startsAt": _optional_string(alert, "startsAt", f"{member}.startsAt"),
        "endsAt": _optional_string(alert, "endsAt", f"{member}.endsAt"),
        "generatorURL": _optional_string(alert, "generatorURL", f"{member}.generatorURL"),
        "fingerprint": fingerprint or label_fingerprint(labels),
        "receiver": _optional_string(payload, "receiver", "receiver"),
        "groupKey": _optional_string(payload, "groupKey", "groupKey"),
        "externalURL": _optional_string(payload, "externalURL", "externalURL"),
    }


def _check_group(payload: Mapping[str, Any], versions: tuple[str, ...]) -> None:
    version = payload.get("version")
    if version is not None and version not in versions:
        allowed = " or ".join(repr(item) for item in versions)
        raise WebhookPayloadError(f"version must be {allowed}, got {_describe(version)}.")
    status = payload.get("status")
    if status is not None and status not in ALERT_STATUSES:
        raise WebhookPayloadError(
            f"status must be 'firing' or 'resolved', got {_describe(status)}."
        )
    for name in ("groupLabels", "commonLabels", "commonAnnotations"):
        _string_map(payload.get(name), name)


def convert_alertmanager(payload: Any) -> list[AlertEvent]:
    """Convert an Alertmanager webhook payload (version 4) to one event per alert.

    The members that Alertmanager always sends but that older senders and
    test tools leave out (version, groupKey, startsAt, endsAt, generatorURL,
    fingerprint) are optional. An alert without a status takes the group's.
    """
    group = _object(payload, "The payload")
    _check_group(group, ("4",))
    events = []
    for index, alert in enumerate(_group_alerts(group)):
        detail = _alertmanager_detail(group, alert, f"alerts[{index}]")
        resources = [f"alertmanager/alert/{detail['fingerprint']}"]
        events.append(AlertEvent(ALERTMANAGER_SOURCE, ALERTMANAGER_DETAIL_TYPE, detail, resources))
    return events


def _convert_grafana_unified(group: dict[str, Any]) -> list[AlertEvent]:
    # Grafana sends version "1" for its own webhook payload.
    _check_group(group, ("1", "4"))
    events = []
    for index, alert in enumerate(_group_alerts(group)):
        member = f"alerts[{index}]"
        detail = _alertmanager_detail(group, alert, member)
        for name in GRAFANA_ALERT_EXTRAS:
            if name in alert:
                detail[name] = alert[name]
        for name in ("orgId", "title", "message"):
            if name in group:
                detail[name] = group[name]
        resources = [f"grafana/alert/{detail['fingerprint']}"]
        events.append(AlertEvent(GRAFANA_SOURCE, GRAFANA_DETAIL_TYPE, detail, resources))
    return events


def _convert_grafana_legacy(alert: dict[str, Any]) -> list[AlertEvent]:
    state = alert.get("state")
    if not isinstance(state, str) or not state:
        raise WebhookPayloadError(
            f"state must be a non-empty string such as 'alerting' or 'ok', got {_describe(state)}."
        )
    for name in ("title", "ruleName", "ruleUrl", "message", "imageUrl"):
        _optional_string(alert, name, name)
    rule_id = alert.get("ruleId")
    if rule_id is not None and (isinstance(rule_id, bool) or not isinstance(rule_id, int | str)):
        raise WebhookPayloadError(f"ruleId must be a number or a string, got {_describe(rule_id)}.")

    detail: dict[str, Any] = {"status": GRAFANA_LEGACY_STATUS.get(state, state)}
    for name in GRAFANA_LEGACY_FIELDS:
        if name in alert:
            detail[name] = alert[name]
    if rule_id is not None:
        resource = f"grafana/rule/{rule_id}"
    else:
        name_key = json.dumps([alert.get("ruleName"), alert.get("title")], ensure_ascii=False)
        resource = f"grafana/rule/{hashlib.sha256(name_key.encode('utf-8')).hexdigest()[:16]}"
    return [AlertEvent(GRAFANA_SOURCE, GRAFANA_DETAIL_TYPE, detail, [resource])]


def convert_grafana(payload: Any) -> list[AlertEvent]:
    """Convert a Grafana webhook payload: unified alerting when it lists alerts, else legacy.

    A legacy payload's state ``alerting`` becomes status ``firing`` and
    ``ok`` becomes ``resolved``; other states keep their own name.
    """
    document = _object(payload, "The payload")
    if "alerts" in document:
        return _convert_grafana_unified(document)
    return _convert_grafana_legacy(document)


def convert_generic(payload: Any) -> list[AlertEvent]:
    """Convert any JSON object to one event whose detail is that object."""
    document = _object(payload, "The payload")
    return [AlertEvent(GENERIC_SOURCE, GENERIC_DETAIL_TYPE, document, [])]


CONVERTERS: dict[str, Callable[[Any], list[AlertEvent]]] = {
    ALERTMANAGER: convert_alertmanager,
    GRAFANA: convert_grafana,
    GENERIC: convert_generic,
}
FORMATS = tuple(CONVERTERS)


def convert(format_name: str, payload: Any) -> list[AlertEvent]:
    """Convert ``payload`` in ``format_name`` to events, checking each event's size."""
    events = CONVERTERS[format_name](payload)
    for index, event in enumerate(events):
        size = event.size()
        if size > MAX_EVENT_BYTES:
            which = "The event" if len(events) == 1 else f"The event of alerts[{index}]"
            raise WebhookPayloadError(
                f"{which} is {size} bytes, more than the EventBridge limit of "
                f"{MAX_EVENT_BYTES} bytes (256 KiB) per event."
            )
    return events


def parse_body(body: bytes) -> Any:
    """Parse a UTF-8 JSON body, rejecting NaN, Infinity and documents nested too deeply."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebhookPayloadError(
            f"The body is not valid UTF-8 (byte {exc.start}); send JSON encoded as UTF-8."
        ) from exc
    if not text.strip():
        raise WebhookPayloadError("The body is empty; send a JSON object.")
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise WebhookPayloadError(
            f"The body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."
        ) from exc
    except RecursionError as exc:
        raise WebhookPayloadError("The body's JSON is nested too deeply.") from exc
    except WebhookPayloadError:
        raise
    except ValueError as exc:
        # Python refuses integers of more than 4,300 digits when it parses them.
        raise WebhookPayloadError(
            "The body contains a number with too many digits; send at most 4300 digits."
        ) from exc
    if "\\u" in text and _has_lone_surrogate(document):
        raise WebhookPayloadError(
            "The body contains a \\u escape of an unpaired UTF-16 surrogate, which is not "
            "a character; send valid Unicode text."
        )
    return document


def _has_lone_surrogate(document: Any) -> bool:
    """Return whether a string of ``document`` contains an unpaired surrogate from a \\u escape."""
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _reject_constant(name: str) -> Any:
    raise WebhookPayloadError(f"The body contains {name}, which is not valid JSON.")
