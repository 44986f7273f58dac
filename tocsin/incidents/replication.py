"""The replication set: the account setting that switches Incident Manager on.

Tocsin serves every Region from one endpoint and one database, so nothing is
copied between Regions. The Regions of a replication set are the Region names
under which the account may use Incident Manager: requests signed for another
Region cannot create or change response plans (see ``require_usable``).
Status changes (CREATING or UPDATING to ACTIVE, and the removal after
DELETING) happen in a job of the durable engine, as they take time in AWS.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tocsin.engine.clock import Clock
from tocsin.engine.jobs import JobContext
from tocsin.engine.queue import enqueue
from tocsin.incidents import tags
from tocsin.incidents.arns import IncidentsArn, conflict, not_found
from tocsin.incidents.models import (
    IncidentRecord,
    IncidentTag,
    ReplicationSet,
    ResourcePolicy,
    ResponsePlan,
)
from tocsin.protocol.errors import ResourceNotFoundException, ValidationException

logger = logging.getLogger(__name__)

SETTLE_JOB = "incidents.replication_set.settle"
# Time a change takes before the replication set is ACTIVE again. It is long
# enough that clients see the intermediate status, as they do in AWS.
SETTLE_DELAY = timedelta(seconds=3)
MAX_REGIONS = 3
# Key id that AWS reports for a Region that uses an AWS owned key.
DEFAULT_KEY = "DefaultKey"
_REGION_NAME = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


def _check_region_name(name: str) -> None:
    if not _REGION_NAME.match(name):
        raise ValidationException(
            f"Invalid Region name {name!r}: use a Region code such as us-east-1 or eu-west-2"
        )


def _region_info(status: str, key: str | None, now: datetime) -> dict[str, Any]:
    return {
        "sseKmsKeyId": key or DEFAULT_KEY,
        "status": status,
        "statusUpdateDateTime": now.isoformat(),
    }


def find(session: Session, account_id: str) -> ReplicationSet | None:
    return session.get(ReplicationSet, account_id)


def get(session: Session, parsed: IncidentsArn) -> ReplicationSet:
    """Return the replication set that ``parsed`` names, or raise ResourceNotFoundException."""
    found = find(session, parsed.account_id)
    if found is None or found.set_id != parsed.resource_id:
        raise not_found("REPLICATION_SET", parsed.arn, "Replication set")
    return found


def new_arn(account_id: str) -> tuple[str, str]:
    """Return a fresh replication set id and its ARN."""
    set_id = str(uuid.uuid4())
    return set_id, f"arn:aws:ssm-incidents::{account_id}:replication-set/{set_id}"


def create(
    session: Session,
    clock: Clock,
    *,
    account_id: str,
    set_id: str,
    regions: dict[str, dict[str, Any]],
    caller_arn: str,
    resource_tags: dict[str, str],
) -> ReplicationSet:
    existing = find(session, account_id)
    if existing is not None:
        raise conflict(
            "REPLICATION_SET",
            existing.arn,
            f"Account {account_id} already has the replication set {existing.arn}; "
            "an account has at most one. Change it with UpdateReplicationSet.",
        )
    if not 1 <= len(regions) <= MAX_REGIONS:
        raise ValidationException(
            f"regions has {len(regions)} entries: a replication set has 1 to {MAX_REGIONS} Regions"
        )

    now = clock.now()
    region_map = {}
    for name, settings in sorted(regions.items()):
        _check_region_name(name)
        region_map[name] = _region_info("CREATING", settings.get("sseKmsKeyId"), now)

    replication_set = ReplicationSet(
        account_id=account_id,
        set_id=set_id,
        status="CREATING",
        regions=region_map,
        deletion_protected=False,
        created_by=caller_arn,
        created_at=now,
        last_modified_by=caller_arn,
        last_modified_at=now,
    )
    session.add(replication_set)
    session.flush()
    if resource_tags:
        tags.tag(session, account_id, replication_set.arn, resource_tags)
    _schedule_settle(session, clock, replication_set)
    logger.info(
        "created replication set %s with Regions %s", replication_set.arn, sorted(region_map)
    )
    return replication_set


def _schedule_settle(session: Session, clock: Clock, replication_set: ReplicationSet) -> None:
    payload = {"account_id": replication_set.account_id, "set_id": replication_set.set_id}
    enqueue(
        session,
        clock,
        SETTLE_JOB,
        payload,
        due_at=clock.now() + SETTLE_DELAY,
        account_id=replication_set.account_id,
    )


def _require_active(replication_set: ReplicationSet) -> None:
    if replication_set.status != "ACTIVE":
        raise conflict(
            "REPLICATION_SET",
            replication_set.arn,
            f"Replication set {replication_set.arn} is {replication_set.status}; "
            "retry when its status is ACTIVE.",
        )


def update(
    session: Session,
    clock: Clock,
    replication_set: ReplicationSet,
    action: dict[str, Any],
    caller_arn: str,
) -> None:
    """Add or delete one Region; ``action`` is an UpdateReplicationSetAction."""
    _require_active(replication_set)
    now = clock.now()
    regions = dict(replication_set.regions)
    if "addRegionAction" in action:
        name = action["addRegionAction"]["regionName"]
        _check_region_name(name)
        if name in regions:
            raise ValidationException(
                f"Region {name} is already in the replication set; its KMS key cannot be changed"
            )
        if len(regions) >= MAX_REGIONS:
            raise ValidationException(
                f"The replication set already has {MAX_REGIONS} Regions, the maximum; "
                f"delete one before adding {name}"
            )
        regions[name] = _region_info("CREATING", action["addRegionAction"].get("sseKmsKeyId"), now)
        change = f"adding Region {name}"
    else:
        name = action["deleteRegionAction"]["regionName"]
        if name not in regions:
            raise ValidationException(f"Region {name} is not in the replication set")
        if len(regions) == 1:
            raise ValidationException(
                f"Region {name} is the last Region of the replication set; "
                "delete the replication set with DeleteReplicationSet instead"
            )
        regions[name] = {
            **regions[name],
            "status": "DELETING",
            "statusUpdateDateTime": now.isoformat(),
        }
        change = f"deleting Region {name}"
    replication_set.regions = regions
    replication_set.status = "UPDATING"
    replication_set.last_modified_by = caller_arn
    replication_set.last_modified_at = now
    _schedule_settle(session, clock, replication_set)
    logger.info("updating replication set %s: %s", replication_set.arn, change)


def set_deletion_protection(
    clock: Clock, replication_set: ReplicationSet, protected: bool, caller_arn: str
) -> None:
    replication_set.deletion_protected = protected
    replication_set.last_modified_by = caller_arn
    replication_set.last_modified_at = clock.now()
    logger.info(
        "deletion protection of replication set %s is now %s",
        replication_set.arn,
        "on" if protected else "off",
    )


def start_delete(session: Session, clock: Clock, replication_set: ReplicationSet) -> None:
    """Mark the replication set DELETING; a job then deletes it with all the account's data."""
    if replication_set.status == "DELETING":
        return
    if replication_set.deletion_protected:
        raise ValidationException(
            f"Deletion protection is on for replication set {replication_set.arn}; turn it off "
            "with UpdateDeletionProtection before deleting the replication set"
        )
    _require_active(replication_set)
    now = clock.now()
    replication_set.status = "DELETING"
    replication_set.regions = {
        name: {**info, "status": "DELETING", "statusUpdateDateTime": now.isoformat()}
        for name, info in replication_set.regions.items()
    }
    replication_set.last_modified_at = now
    _schedule_settle(session, clock, replication_set)
    logger.info("deleting replication set %s", replication_set.arn)


def require_usable(session: Session, account_id: str, region: str) -> ReplicationSet:
    """Return the account's replication set if Incident Manager may be used in ``region``.

    Raises ResourceNotFoundException without a replication set, ConflictException
    while it is being created or deleted, and ValidationException for a Region
    outside it.
    """
    replication_set = find(session, account_id)
    if replication_set is None:
        raise ResourceNotFoundException(
            f"Incident Manager is not set up in account {account_id}: create a replication "
            "set with CreateReplicationSet first.",
            fields={"resourceType": "REPLICATION_SET"},
        )
    if replication_set.status in ("CREATING", "DELETING"):
        _require_active(replication_set)
    if region not in replication_set.regions:
        raise ValidationException(
            f"Incident Manager is not set up in Region {region}: the replication set has the "
            f"Regions {', '.join(sorted(replication_set.regions))}. Call from one of them, or add "
            f"{region} with UpdateReplicationSet."
        )
    return replication_set


def settle(ctx: JobContext) -> None:
    """Finish the pending change of a replication set: the job handler of SETTLE_JOB."""
    session = ctx.session
    replication_set = find(session, ctx.payload["account_id"])
    if replication_set is None or replication_set.set_id != ctx.payload["set_id"]:
        logger.info("replication set %s is gone; nothing to settle", ctx.payload["set_id"])
        return
    if replication_set.status == "DELETING":
        _delete_account_data(session, replication_set)
        return
    now = ctx.clock.now()
    regions = {}
    for name, info in replication_set.regions.items():
        if info["status"] == "DELETING":
            continue
        if info["status"] == "CREATING":
            info = {**info, "status": "ACTIVE", "statusUpdateDateTime": now.isoformat()}
        regions[name] = info
    replication_set.regions = regions
    replication_set.status = "ACTIVE"
    replication_set.last_modified_at = now
    logger.info(
        "replication set %s is ACTIVE with Regions %s", replication_set.arn, sorted(regions)
    )


def _delete_account_data(session: Session, replication_set: ReplicationSet) -> None:
    # AWS: "Deleting the replication set deletes all Incident Manager data."
    # Imported here because the records module depends on this one.
    from tocsin.incidents import records

    account_id = replication_set.account_id
    incidents = list(
        session.scalars(select(IncidentRecord).where(IncidentRecord.account_id == account_id))
    )
    for incident in incidents:
        records.delete_record(session, incident)
    plans = list(session.scalars(select(ResponsePlan).where(ResponsePlan.account_id == account_id)))
    plan_ids = [plan.id for plan in plans]
    session.execute(delete(ResourcePolicy).where(ResourcePolicy.plan_id.in_(plan_ids)))
    for plan in plans:
        session.delete(plan)
    session.execute(delete(IncidentTag).where(IncidentTag.account_id == account_id))
    session.delete(replication_set)
    logger.info(
        "deleted replication set %s, %d response plans and %d incidents of account %s",
        replication_set.arn,
        len(plans),
        len(incidents),
        account_id,
    )


tags.register_taggable("REPLICATION_SET", get)
