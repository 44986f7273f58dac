"""The event parts of the cross-account set-up: the bus permission and the forwarding rules.

The management account's default event bus lets each application account
put events on it. Each application account has a rule, ``FORWARDING_RULE``,
on its own default bus that forwards CloudWatch alarm state changes to that
bus, where the management account's rules start incidents. The rule forwards
every state change, so rules of the management account decide which ones
matter.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tocsin.events import buses, rules, targets
from tocsin.events import permissions as bus_permissions

if TYPE_CHECKING:
    from tocsin.sharing.setup import Checklist

FORWARDING_RULE = "IncidentManagerForwarding"
FORWARDING_TARGET = "management-account-bus"
FORWARDED_EVENTS = {
    "source": ["aws.cloudwatch"],
    "detail-type": ["CloudWatch Alarm State Change"],
}


def event_bus(checklist: Checklist) -> None:
    """Check, or add, the management bus statement that lets each application put events."""
    from tocsin.sharing.setup import CREATED, MISSING, OK, TRUST_SID

    ref = buses.BusRef(checklist.management, checklist.region, buses.DEFAULT_BUS)
    bus = buses.get(checklist.session, checklist.clock, ref)
    for application in checklist.applications:
        label = f"events:PutEvents on {ref.arn}"
        if bus_permissions.allows_account(checklist.session, bus, application):
            checklist.note(application, label, OK, "the bus policy allows it")
            continue
        if checklist.check:
            checklist.note(application, label, MISSING, "the bus policy does not allow it")
            continue
        bus = buses.stored(checklist.session, checklist.clock, ref)
        statement = bus_permissions.statement(
            bus,
            action=bus_permissions.PUT_EVENTS,
            principal=application,
            statement_id=f"{TRUST_SID}-{application}",
            condition=None,
        )
        bus_permissions.put_statement(bus, checklist.clock, statement)
        checklist.note(application, label, CREATED, f"statement {statement['Sid']}")


def forwarding_rules(checklist: Checklist) -> None:
    """Check, or create, each application's rule that forwards alarm state changes."""
    from tocsin.sharing.setup import CREATED, MISSING, OK, UPDATED

    destination = buses.bus_arn(checklist.management, checklist.region, buses.DEFAULT_BUS)
    pattern = json.dumps(FORWARDED_EVENTS)
    for application in checklist.applications:
        label = f"rule {FORWARDING_RULE}"
        ref = buses.BusRef(application, checklist.region, buses.DEFAULT_BUS)
        rule = rules.find(checklist.session, ref, FORWARDING_RULE)
        forwards = rule is not None and any(
            target.arn == destination for target in targets.list_targets(checklist.session, rule)
        )
        current = (
            rule is not None
            and rule.state == rules.ENABLED
            and json.loads(rule.event_pattern or "{}") == FORWARDED_EVENTS
        )
        if current and forwards:
            checklist.note(application, label, OK, f"forwards alarm state changes to {destination}")
            continue
        if checklist.check:
            state = "does not exist" if rule is None else "does not forward to the management bus"
            checklist.note(application, label, MISSING, f"the rule {state}")
            continue
        buses.stored(checklist.session, checklist.clock, ref)
        params = {
            "Name": FORWARDING_RULE,
            "EventPattern": pattern,
            "State": rules.ENABLED,
            "Description": "Forwards CloudWatch alarm state changes to the management account.",
        }
        created = rule is None
        rule = rules.put_rule(checklist.session, checklist.clock, ref, params)
        failed = targets.put_targets(
            checklist.session, rule, [{"Id": FORWARDING_TARGET, "Arn": destination}]
        )
        if failed:
            checklist.note(application, label, MISSING, failed[0]["ErrorMessage"])
            continue
        status = CREATED if created else UPDATED
        checklist.note(application, label, status, f"forwards alarm state changes to {destination}")
