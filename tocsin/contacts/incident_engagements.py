"""The job that engages a response plan's contacts when an incident starts.

StartIncident enqueues one ``incidents.start_engagement`` job per contact in
the plan's engagements. The job starts an engagement of the contact with
IncidentId set to the incident's ARN. A contact of another account must be
shared with the incident's account, by a RAM resource share or by its
contact policy. A contact
that no longer exists or is no longer shared is reported in the log and in
the incident's timeline, and the job ends without a retry.

When an incident is resolved, a ``contacts.stop_incident_engagements`` job
stops the engagements that were started for it, as StopEngagement does.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tocsin.contacts.access import contact_policies, find_contact
from tocsin.contacts.engagement_models import Engagement
from tocsin.contacts.engagements import (
    ENGAGEMENT_FAILED_EVENT,
    find_engagement,
    start_engagement,
    stop_engagement,
)
from tocsin.contacts.models import Contact
from tocsin.engine.clock import Clock
from tocsin.engine.jobs import JobContext, JobRegistry
from tocsin.iam.authorize import decide
from tocsin.iam.policy import Decision, PolicyError
from tocsin.iam.principal import Caller
from tocsin.incidents import plans, records, timeline
from tocsin.incidents.automation import START_ENGAGEMENT_JOB
from tocsin.incidents.models import IncidentRecord
from tocsin.sharing import access as sharing

logger = logging.getLogger(__name__)

DEFAULT_SENDER = "Incident Manager"
MAX_SENDER = 255

STOP_INCIDENT_ENGAGEMENTS_JOB = "contacts.stop_incident_engagements"
# StopEngagement's Reason is at most 255 characters long.
MAX_STOP_REASON = 255


def _shared_with(session: Session, contact: Contact, account_id: str) -> bool:
    """Return whether a RAM share or the contact's policy lets ``account_id`` engage it."""
    if sharing.shared_with(session, contact.arn, account_id):
        return True
    root = Caller(
        account_id=account_id,
        arn=f"arn:aws:iam::{account_id}:root",
        user_id=account_id,
        kind="root",
        access_key_id="",
    )
    try:
        decision, _ = decide(
            root,
            "ssm-contacts:StartEngagement",
            contact.arn,
            resource_account=contact.account_id,
            resource_policies=contact_policies(contact),
        )
    except (PolicyError, ValueError) as exc:
        logger.warning("contact policy of %s cannot be evaluated: %s", contact.arn, exc)
        return False
    return decision is Decision.ALLOW


def _problem(session: Session, contact: Contact | None, incident: IncidentRecord) -> str | None:
    if contact is None:
        return "The contact does not exist."
    owner = incident.account_id
    if contact.account_id != owner and not _shared_with(session, contact, owner):
        return (
            f"The contact belongs to account {contact.account_id} and is not shared with "
            f"account {incident.account_id}."
        )
    return None


def _sender(session: Session, incident: IncidentRecord) -> str:
    plan = plans.find(session, incident.account_id, incident.plan_name)
    name = plan.display_name if plan is not None and plan.display_name else DEFAULT_SENDER
    return name[:MAX_SENDER]


def engagement_params(session: Session, incident: IncidentRecord) -> dict[str, Any]:
    """Return StartEngagement's parameters for an engagement of ``incident``."""
    content = (
        f"{incident.summary or incident.title}\n\n"
        f"Impact: {incident.impact}\nIncident: {incident.arn}"
    )
    return {
        "Sender": _sender(session, incident),
        "Subject": incident.title,
        "Content": content,
        "PublicSubject": incident.title,
        "PublicContent": f"{incident.title} (impact {incident.impact})",
        "IncidentId": incident.arn,
    }


def incident_account(incident_arn: str) -> str | None:
    """Return the account id in an incident record ARN, or None when it has none."""
    parts = incident_arn.split(":")
    if len(parts) < 6 or not parts[4].isdigit() or len(parts[4]) != 12:
        return None
    return parts[4]


def stop_incident_engagements(session: Session, clock: Clock, incident_arn: str) -> list[str]:
    """Stop every running engagement that the incident's account started for it.

    Those are the engagements whose IncidentId is ``incident_arn`` and that
    the incident's account started, through the response plan or by a
    StartEngagement call. An engagement that another account started with
    the same IncidentId is left alone. Stopped engagements stay stopped, so
    a second call stops nothing. Returns the ARNs of the engagements stopped.
    """
    account_id = incident_account(incident_arn)
    if account_id is None:
        return []
    query = (
        select(Engagement.arn)
        .where(
            Engagement.incident_id == incident_arn,
            Engagement.started_by == account_id,
            Engagement.stop_time.is_(None),
        )
        .order_by(Engagement.arn)
    )
    reason = f"Incident {incident_arn} was resolved."[:MAX_STOP_REASON]
    stopped = []
    for arn in list(session.scalars(query)):
        engagement = find_engagement(session, arn)
        if engagement is not None and stop_engagement(session, clock, engagement, reason):
            stopped.append(arn)
    return stopped


def register(jobs: JobRegistry) -> None:
    """Register the handlers that start and stop the engagements of incidents."""

    def stop_engagements_of_incident(job: JobContext) -> None:
        incident_arn = job.payload["incidentRecordArn"]
        stopped = stop_incident_engagements(job.session, job.clock, incident_arn)
        logger.info(
            "job %s stopped %d engagements of the resolved incident %s: %s",
            job.job_id,
            len(stopped),
            incident_arn,
            stopped,
        )

    def start_incident_engagement(job: JobContext) -> None:
        session = job.session
        incident_arn = job.payload["incidentRecordArn"]
        contact_arn = job.payload["contactArn"]
        incident = records.find_by_arn(session, incident_arn)
        if incident is None:
            logger.warning(
                "job %s did not engage %s: incident %s no longer exists",
                job.job_id,
                contact_arn,
                incident_arn,
            )
            return
        contact = find_contact(session, contact_arn)
        problem = _problem(session, contact, incident)
        if problem is not None or contact is None:
            logger.warning(
                "job %s did not engage %s for incident %s: %s",
                job.job_id,
                contact_arn,
                incident_arn,
                problem,
            )
            data = {
                "contactArn": contact_arn,
                "responsePlanArn": job.payload.get("responsePlanArn"),
                "reason": problem,
            }
            timeline.add(session, job.clock, incident, ENGAGEMENT_FAILED_EVENT, data)
            return
        params = engagement_params(session, incident)
        engagement = start_engagement(
            session, job.clock, contact, params, started_by=incident.account_id
        )
        logger.info(
            "job %s engaged %s for incident %s as %s",
            job.job_id,
            contact_arn,
            incident_arn,
            engagement.arn,
        )

    jobs.register(START_ENGAGEMENT_JOB, start_incident_engagement)
    jobs.register(STOP_INCIDENT_ENGAGEMENTS_JOB, stop_engagements_of_incident)
