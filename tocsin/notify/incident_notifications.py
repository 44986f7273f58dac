"""The ``incidents.notify`` job: tell an incident's topics and chat webhooks about an event.

A job with channel ``notificationTarget`` publishes the incident document
(``incident_messages.document``) as JSON to the SNS topic, and one with
channel ``chatChannel`` publishes the AWS Chatbot custom notification. The
publish carries the incident's ARN to each subscription's delivery, so a
delivery that SNS gives up is written to the incident's timeline. A job
with channel ``chatWebhooks`` enqueues one chat delivery per webhook that
the response plan's ``tocsin:chat-webhooks`` tag names.

A target that cannot be used (the topic is gone, its policy does not let
the incident's account publish, or a webhook is not registered) is written
to the timeline as a ``Notification Failed`` event. The job then ends
without a retry, and the incident itself is unaffected.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from tocsin.config import Settings
from tocsin.engine.jobs import JobContext, JobRegistry
from tocsin.iam.crypto import SecretBox
from tocsin.incidents import records, tags, timeline
from tocsin.incidents.arns import plan_arn
from tocsin.incidents.automation import CHAT_CHANNEL, CHAT_WEBHOOKS, CREATED, NOTIFY_JOB
from tocsin.incidents.models import IncidentRecord
from tocsin.notify import chat_webhooks, topics
from tocsin.notify.base import tls_context
from tocsin.notify.chat_webhooks import FAILED_EVENT, ChatWebhookError
from tocsin.notify.incident_messages import chatbot_message, document, notice, subject
from tocsin.notify.incident_pages import ack_links
from tocsin.notify.providers import CA_FILE_SETTING
from tocsin.notify.publishing import publish_checked
from tocsin.notify.sns_models import SnsTopic

logger = logging.getLogger(__name__)

# Jobs that StartIncident enqueued before the event was named ``created`` carry ``started``.
EVENT_ALIASES = {"started": CREATED}


def register(jobs: JobRegistry, settings: Settings, box: SecretBox) -> None:
    """Register the jobs that deliver incident notifications and chat messages."""
    jobs.register(NOTIFY_JOB, IncidentNotifier(settings, box))
    tls = tls_context(settings.delivery_ca_file, CA_FILE_SETTING)
    jobs.register_sending(
        chat_webhooks.CHAT_DELIVERY_JOB, chat_webhooks.make_handler(settings, box, tls)
    )


@dataclass(frozen=True)
class IncidentNotifier:
    """The notify job, run whole in the job's transaction: it only writes rows."""

    settings: Settings
    box: SecretBox

    def __call__(self, job: JobContext) -> None:
        payload = job.payload
        incident = records.find_by_arn(job.session, payload["incidentRecordArn"])
        if incident is None:
            logger.info(
                "job %s sent no notification: incident %s no longer exists",
                job.job_id,
                payload["incidentRecordArn"],
            )
            return
        event = EVENT_ALIASES.get(payload["event"], payload["event"])
        if payload["channel"] == CHAT_WEBHOOKS:
            self._fan_out(job, incident, event)
            return
        self._publish(job, incident, event)

    def _publish(self, job: JobContext, incident: IncidentRecord, event: str) -> None:
        payload = job.payload
        topic_arn = payload["topicArn"]
        topic = job.session.get(SnsTopic, topic_arn)
        if topic is None:
            _failed(job, incident, event, "The SNS topic does not exist.", target=topic_arn)
            return
        if not topics.account_may(topic, incident.account_id, "sns:Publish"):
            reason = (
                f"The policy of the SNS topic does not let account {incident.account_id} publish."
            )
            _failed(job, incident, event, reason, target=topic_arn)
            return

        base_url = self.settings.effective_public_url
        built = notice(
            incident,
            event,
            now=job.clock.now(),
            base_url=base_url,
            changes=payload.get("changes", []),
            ack_links=ack_links(job.session, self.box, incident, base_url),
        )
        if payload["channel"] == CHAT_CHANNEL:
            message, message_subject = chatbot_message(built), None
        else:
            message, message_subject = document(built), subject(built)
        text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
        message_id = publish_checked(
            job.session,
            job.clock,
            topic,
            text,
            message_subject,
            {},
            None,
            context={"incidentRecordArn": incident.arn},
        )
        logger.info(
            "published %s notification %s of incident %s to %s (%s)",
            event,
            message_id,
            incident.arn,
            topic_arn,
            payload["channel"],
        )

    def _fan_out(self, job: JobContext, incident: IncidentRecord, event: str) -> None:
        plan_tags = tags.list_tags(job.session, plan_arn(incident.account_id, incident.plan_name))
        names = chat_webhooks.webhook_names(plan_tags.get(chat_webhooks.WEBHOOKS_TAG))
        for name in names:
            try:
                chat_webhooks.find_webhook(self.settings, incident.account_id, name)
            except ChatWebhookError as problem:
                _failed(job, incident, event, str(problem), webhook=name)
                continue
            message_id = chat_webhooks.enqueue_delivery(
                job.session,
                job.clock,
                incident,
                webhook=name,
                event=event,
                changes=job.payload.get("changes", []),
            )
            logger.info(
                "job %s enqueued %s message %s of incident %s to chat webhook %s",
                job.job_id,
                event,
                message_id,
                incident.arn,
                name,
            )


def _failed(
    job: JobContext,
    incident: IncidentRecord,
    event: str,
    reason: str,
    *,
    target: str | None = None,
    webhook: str | None = None,
) -> None:
    """Write a target that cannot be notified to the log and the incident's timeline."""
    data: dict[str, Any] = {"channel": job.payload["channel"], "event": event, "reason": reason}
    references = []
    if target is not None:
        data["target"] = target
        references.append({"resource": target})
    if webhook is not None:
        data["webhook"] = webhook
    timeline.add(job.session, job.clock, incident, FAILED_EVENT, data, references=references)
    logger.warning(
        "job %s did not notify %s of %s event of incident %s: %s",
        job.job_id,
        target or webhook,
        event,
        incident.arn,
        reason,
    )
