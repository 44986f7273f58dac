"""The stages of engagement plans and escalation plans, as the console edits and shows them.

A PERSONAL contact's engagement plan engages its own channels
(``ChannelTargetInfo``). An ESCALATION contact's plan engages other contacts
(``ContactTargetInfo`` with ``IsEssential``). The stage editor posts, for
stage number ``i``, the fields ``stage-i-duration``, ``stage-i-target`` (one
value per chosen target), ``stage-i-essential`` (escalation plans) and
``stage-i-retry`` (engagement plans), plus ``stage_count``.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData

from tocsin.web.console.form_support import FormError, field, values

# The stage editor shows a plan's stages and this many empty ones for new stages.
EMPTY_STAGES = 1
# A posted stage_count above this is rejected, which bounds the work of one request.
MAX_FORM_STAGES = 50


def _minutes(form: FormData, name: str, label: str, *, required: bool) -> int | None:
    text = field(form, name, label, required=required)
    if not text:
        return None
    if not text.isdigit():
        raise FormError(f"{label} {text!r} is invalid: enter a whole number of minutes.")
    return int(text)


def stages_from_form(form: FormData, contact_type: str) -> list[dict[str, Any]]:
    """Return the Plan.Stages of the posted stage editor; stages without targets are dropped."""
    count_text = field(form, "stage_count", "The number of stages", required=False) or "0"
    if not count_text.isdigit() or int(count_text) > MAX_FORM_STAGES:
        raise FormError(
            f"The number of stages {count_text!r} is invalid: reload the page and try again."
        )
    stages: list[dict[str, Any]] = []
    for index in range(int(count_text)):
        chosen = values(form, f"stage-{index}-target")
        if not chosen:
            continue
        label = f"Stage {len(stages) + 1}"
        duration = _minutes(form, f"stage-{index}-duration", f"{label}'s duration", required=True)
        if contact_type == "ESCALATION":
            essential = set(values(form, f"stage-{index}-essential"))
            targets = [
                {"ContactTargetInfo": {"ContactId": arn, "IsEssential": arn in essential}}
                for arn in chosen
            ]
        else:
            retry = _minutes(
                form, f"stage-{index}-retry", f"{label}'s retry interval", required=False
            )
            targets = []
            for arn in chosen:
                target: dict[str, Any] = {"ContactChannelId": arn}
                if retry is not None:
                    target["RetryIntervalInMinutes"] = retry
                targets.append({"ChannelTargetInfo": target})
        stages.append({"DurationInMinutes": duration, "Targets": targets})
    return stages


def stage_rows(
    plan: dict[str, Any], labels: dict[str, str], *, empty_stages: int = EMPTY_STAGES
) -> list[dict[str, Any]]:
    """Return the stages for the page: duration, chosen targets and their labels.

    ``labels`` maps channel or contact ARNs to names. Empty stages follow the
    plan's own, so the editor can add stages.
    """
    rows = []
    for stage in plan.get("Stages", []):
        targets = []
        retry = ""
        for target in stage.get("Targets", []):
            channel = target.get("ChannelTargetInfo")
            contact = target.get("ContactTargetInfo")
            if channel is not None:
                arn = channel.get("ContactChannelId", "")
                if channel.get("RetryIntervalInMinutes") is not None:
                    retry = str(channel["RetryIntervalInMinutes"])
                targets.append({"arn": arn, "label": labels.get(arn, arn), "essential": False})
            elif contact is not None:
                arn = contact.get("ContactId", "")
                essential = bool(contact.get("IsEssential"))
                targets.append({"arn": arn, "label": labels.get(arn, arn), "essential": essential})
        rows.append(
            {
                "duration": stage.get("DurationInMinutes", 0),
                "retry": retry,
                "targets": targets,
                "chosen": {target["arn"] for target in targets},
                "essential": {target["arn"] for target in targets if target["essential"]},
            }
        )
    for _ in range(empty_stages):
        rows.append(
            {"duration": 5, "retry": "", "targets": [], "chosen": set(), "essential": set()}
        )
    return rows
