"""EventBridge operations on rules and their targets."""

from __future__ import annotations

from typing import Any

from tocsin.events import buses, listing, rules, targets
from tocsin.events.buses import BusRef
from tocsin.events.errors import ValidationException
from tocsin.events.models import EventRule
from tocsin.protocol.handlers import RequestContext, ServiceHandlers

handlers = ServiceHandlers("events")


def _bus(ctx: RequestContext, params: dict[str, Any]) -> BusRef:
    bus = buses.resolve(ctx.account_id, ctx.region, params.get("EventBusName"))
    rules.own_bus(ctx.session, bus, ctx.account_id, ctx.region)
    return bus


def _rule(ctx: RequestContext, params: dict[str, Any], member: str = "Name") -> EventRule:
    bus = _bus(ctx, params)
    name = params[member]
    ctx.authorize(f"events:{ctx.operation}", rules.rule_arn(bus, name))
    return rules.get(ctx.session, bus, name)


@handlers.operation("PutRule")
def put_rule(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("Tags"):
        raise ValidationException(
            "Parameter Tags is not supported by this server: rules cannot be tagged; "
            "put the rule without Tags"
        )
    bus = _bus(ctx, params)
    ctx.authorize("events:PutRule", rules.rule_arn(bus, params["Name"]))
    rule = rules.put_rule(ctx.session, ctx.clock, bus, params)
    return {"RuleArn": rule.arn}


@handlers.operation("DescribeRule", read_only=True)
def describe_rule(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return rules.describe(_rule(ctx, params))


@handlers.operation("ListRules", read_only=True)
def list_rules(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    bus = _bus(ctx, params)
    ctx.authorize("events:ListRules", f"arn:aws:events:{ctx.region}:{ctx.account_id}:rule/*")
    found = rules.list_rules(ctx.session, bus, params.get("NamePrefix"))
    items, more = listing.page(ctx, params, found, lambda rule: rule.name)
    entries = []
    for rule in items:
        entry = rules.describe(rule)
        # The Rule structure of ListRules has no CreatedBy member.
        entry.pop("CreatedBy")
        entries.append(entry)
    return {"Rules": entries, **more}


@handlers.operation("EnableRule")
def enable_rule(ctx: RequestContext, params: dict[str, Any]) -> None:
    rules.set_state(_rule(ctx, params), rules.ENABLED)


@handlers.operation("DisableRule")
def disable_rule(ctx: RequestContext, params: dict[str, Any]) -> None:
    rules.set_state(_rule(ctx, params), rules.DISABLED)


@handlers.operation("DeleteRule")
def delete_rule(ctx: RequestContext, params: dict[str, Any]) -> None:
    bus = _bus(ctx, params)
    name = params["Name"]
    ctx.authorize("events:DeleteRule", rules.rule_arn(bus, name))
    rule = rules.find(ctx.session, bus, name)
    if rule is None:
        # DeleteRule of a rule that does not exist succeeds, as in EventBridge.
        return
    rules.delete_rule(ctx.session, rule)


@handlers.operation("PutTargets")
def put_targets(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rule = _rule(ctx, params, "Rule")
    failed = targets.put_targets(ctx.session, rule, params["Targets"])
    return {"FailedEntryCount": len(failed), "FailedEntries": failed}


@handlers.operation("RemoveTargets")
def remove_targets(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rule = _rule(ctx, params, "Rule")
    failed = targets.remove_targets(ctx.session, rule, params["Ids"])
    return {"FailedEntryCount": len(failed), "FailedEntries": failed}


@handlers.operation("ListTargetsByRule", read_only=True)
def list_targets_by_rule(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rule = _rule(ctx, params, "Rule")
    found = targets.list_targets(ctx.session, rule)
    items, more = listing.page(ctx, params, found, lambda target: target.target_id)
    return {"Targets": [targets.describe(target) for target in items], **more}
