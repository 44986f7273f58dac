"""Steps of Automation documents: the action catalogue, step properties and aws:branch choices."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tocsin.runbooks.errors import InvalidDocumentContent

# Every action of the Systems Manager Automation actions reference. Documents
# may use any of them, and an unknown action is rejected at creation.
KNOWN_ACTIONS = frozenset(
    {
        "aws:approve",
        "aws:assertAwsResourceProperty",
        "aws:branch",
        "aws:changeInstanceState",
        "aws:copyImage",
        "aws:createImage",
        "aws:createStack",
        "aws:createTags",
        "aws:deleteImage",
        "aws:deleteStack",
        "aws:executeAutomation",
        "aws:executeAwsApi",
        "aws:executeScript",
        "aws:executeStateMachine",
        "aws:invokeLambdaFunction",
        "aws:invokeWebhook",
        "aws:loop",
        "aws:pause",
        "aws:runCommand",
        "aws:runInstances",
        "aws:sleep",
        "aws:updateVariable",
        "aws:waitForAwsResourceProperty",
    }
)
# Actions that Tocsin runs. The others act on EC2, CloudFormation, Lambda,
# Step Functions, webhooks or managed nodes, which Tocsin does not host. They
# are accepted in documents so that runbooks written for AWS can be stored and
# shared, but a run fails when it reaches one of their steps.
RUNNABLE_ACTIONS = frozenset(
    {
        "aws:approve",
        "aws:assertAwsResourceProperty",
        "aws:branch",
        "aws:executeAutomation",
        "aws:executeAwsApi",
        "aws:executeScript",
        "aws:loop",
        "aws:pause",
        "aws:sleep",
        "aws:updateVariable",
        "aws:waitForAwsResourceProperty",
    }
)
# Inputs that each action requires, as the actions reference lists them.
REQUIRED_INPUTS: dict[str, tuple[str, ...]] = {
    "aws:approve": ("Approvers",),
    "aws:assertAwsResourceProperty": ("Service", "Api", "PropertySelector", "DesiredValues"),
    "aws:branch": ("Choices",),
    "aws:executeAutomation": ("DocumentName",),
    "aws:executeAwsApi": ("Service", "Api"),
    "aws:executeScript": ("Runtime",),
    "aws:invokeLambdaFunction": ("FunctionName",),
    "aws:loop": ("Steps",),
    "aws:runCommand": ("DocumentName",),
    "aws:updateVariable": ("Name", "Value"),
    "aws:waitForAwsResourceProperty": ("Service", "Api", "PropertySelector", "DesiredValues"),
}
# Outputs that actions define without an outputs list in the step. An action
# missing here defines none besides those that the step declares.
# NOTE: a reference to an action output missing from these sets is rejected
# even where AWS accepts it, so extend a set when a real runbook needs it.
PREDEFINED_OUTPUTS: dict[str, frozenset[str]] = {
    "aws:approve": frozenset({"ApprovalStatus", "ApproverDecisions", "Approvers"}),
    "aws:createImage": frozenset({"ImageId", "ImageState"}),
    "aws:copyImage": frozenset({"ImageId", "ImageState"}),
    "aws:createStack": frozenset({"StackId", "StackStatus", "StackStatusReason"}),
    "aws:executeAutomation": frozenset({"Output", "ExecutionId", "Status"}),
    "aws:executeScript": frozenset({"Payload"}),
    "aws:executeStateMachine": frozenset({"ExecutionArn", "Status", "Output"}),
    "aws:invokeLambdaFunction": frozenset({"StatusCode", "FunctionError", "LogResult", "Payload"}),
    "aws:invokeWebhook": frozenset({"Response", "ResponseCode"}),
    "aws:loop": frozenset({"CurrentIteration", "CurrentIteratorValue"}),
    "aws:runCommand": frozenset({"CommandId", "Status", "ResponseCode", "Output"}),
    "aws:runInstances": frozenset({"InstanceIds"}),
}
STEP_KEYS = (
    "name",
    "action",
    "description",
    "inputs",
    "outputs",
    "onFailure",
    "onCancel",
    "nextStep",
    "isEnd",
    "isCritical",
    "maxAttempts",
    "timeoutSeconds",
)
OUTPUT_TYPES = ("String", "Integer", "Boolean", "StringList", "StringMap", "MapList")
# Tocsin's choice: letters, digits and underscores, because a reference
# {{ Step.Output }} splits at the first dot.
STEP_NAME = re.compile(r"^[A-Za-z0-9_]{1,100}$")
OUTPUT_NAME = re.compile(r"^[A-Za-z0-9_]{1,100}$")
# aws:approve and aws:pause wait at most 30 days, as the actions reference states.
MAX_WAIT_SECONDS = 30 * 24 * 3600
COMPARISON_OPERATORS = frozenset(
    {
        "StringEquals",
        "EqualsIgnoreCase",
        "StartsWith",
        "EndsWith",
        "Contains",
        "NumericEquals",
        "NumericGreater",
        "NumericLesser",
        "NumericGreaterOrEquals",
        "NumericLesserOrEquals",
        "BooleanEquals",
    }
)
# A {{ }} reference to a parameter, step output or variable.
REFERENCE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
# ISO 8601 durations as aws:sleep takes them, for example PT10M or P1DT2H.
ISO_DURATION = re.compile(r"^P(?!$)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")


@dataclass(frozen=True)
class Transition:
    """The destination of a run after a step fails or is cancelled: Abort, Continue or a step."""

    action: Literal["Abort", "Continue", "Step"]
    step: str | None = None

    def __str__(self) -> str:
        return f"step:{self.step}" if self.action == "Step" else self.action


@dataclass(frozen=True)
class StepOutput:
    """An output that a step declares: a name, a JSONPath selector into the result, a type."""

    name: str
    selector: str
    type: str


@dataclass(frozen=True)
class Condition:
    """A condition of an aws:branch choice or an aws:loop.

    ``operator`` is And, Or or Not with ``operands``, or a comparison
    operator such as StringEquals with ``variable`` and ``value``.
    """

    operator: str
    variable: str | None = None
    value: Any = None
    operands: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class Choice:
    """One choice of an aws:branch step: the step to run next when the condition holds."""

    next_step: str
    condition: Condition


@dataclass(frozen=True)
class Step:
    """One step of a document, with AWS's defaults filled in."""

    name: str
    action: str
    inputs: Mapping[str, Any]
    description: str | None = None
    outputs: tuple[StepOutput, ...] = ()
    on_failure: Transition = Transition("Abort")
    on_cancel: Transition = Transition("Abort")
    next_step: str | None = None
    is_end: bool = False
    is_critical: bool = True
    max_attempts: int = 1
    timeout_seconds: int | None = None
    # aws:branch only: the choices in order and the step for no match.
    choices: tuple[Choice, ...] = ()
    default_step: str | None = None
    # aws:loop only: the steps of the loop body.
    loop_steps: tuple[Step, ...] = field(default=())

    @property
    def runnable(self) -> bool:
        """False for actions that Tocsin accepts in documents but cannot run."""
        return self.action in RUNNABLE_ACTIONS

    def provides_output(self, name: str) -> bool:
        if any(output.name == name for output in self.outputs):
            return True
        return name in PREDEFINED_OUTPUTS.get(self.action, frozenset())


def _fail(message: str) -> InvalidDocumentContent:
    return InvalidDocumentContent(message)


def parse_steps(value: Any, where: str) -> tuple[Step, ...]:
    """Parse the list of steps at ``where`` (mainSteps or a loop's Steps)."""
    if not isinstance(value, list):
        raise _fail(f"{where} must be a list of steps")
    return tuple(_step(item, f"{where}[{index}]") for index, item in enumerate(value))


def _step(value: Any, where: str) -> Step:
    if not isinstance(value, dict):
        raise _fail(f"{where} must be a mapping with name, action and inputs")
    name = value.get("name")
    if not isinstance(name, str) or not STEP_NAME.match(name):
        raise _fail(
            f"{where} has name {name!r}; a step name has 1 to 100 letters, digits or underscores"
        )
    label = f"Step {name!r}"
    unknown = [key for key in value if key not in STEP_KEYS]
    if unknown:
        raise _fail(
            f"{label} has unknown key {unknown[0]!r}. The allowed keys are " + ", ".join(STEP_KEYS)
        )

    action = value.get("action")
    if action not in KNOWN_ACTIONS:
        raise _fail(
            f"{label} has unknown action {action!r}; see the Systems Manager Automation "
            "actions reference for the aws:* actions"
        )
    if "inputs" not in value:
        raise _fail(f"{label} is missing the required key inputs (use inputs: {{}} for none)")
    inputs = value["inputs"]
    if not isinstance(inputs, dict):
        raise _fail(f"{label} has inputs that are not a mapping")
    for required in REQUIRED_INPUTS.get(action, ()):
        if required not in inputs:
            raise _fail(f"{label} is missing the required input {required} of {action}")

    on_failure = _transition(label, "onFailure", value.get("onFailure"), allow_continue=True)
    on_cancel = _transition(label, "onCancel", value.get("onCancel"), allow_continue=False)
    is_critical_default = on_failure.action != "Continue"

    step = Step(
        name=name,
        action=action,
        inputs=inputs,
        description=_text(label, value, "description"),
        outputs=_outputs(label, value.get("outputs")),
        on_failure=on_failure,
        on_cancel=on_cancel,
        next_step=_text(label, value, "nextStep"),
        is_end=_flag(label, value, "isEnd", False),
        is_critical=_flag(label, value, "isCritical", is_critical_default),
        max_attempts=_positive(label, value, "maxAttempts") or 1,
        timeout_seconds=_positive(label, value, "timeoutSeconds"),
        choices=_choices(label, inputs) if action == "aws:branch" else (),
        default_step=_branch_default(label, inputs) if action == "aws:branch" else None,
        loop_steps=parse_steps(inputs["Steps"], f"{label} input Steps")
        if action == "aws:loop"
        else (),
    )
    _check_action_inputs(label, step)
    return step


def _text(label: str, value: Mapping[str, Any], key: str) -> str | None:
    text = value.get(key)
    if text is not None and not isinstance(text, str):
        raise _fail(f"{label} has {key} {text!r}, which is not a string")
    return text


def _flag(label: str, value: Mapping[str, Any], key: str, default: bool) -> bool:
    flag = value.get(key, default)
    # JSON documents written for AWS often quote booleans, and AWS accepts them.
    if isinstance(flag, str) and flag.lower() in ("true", "false"):
        return flag.lower() == "true"
    if not isinstance(flag, bool):
        raise _fail(f"{label} has {key} {flag!r}; it must be true or false")
    return flag


def _positive(label: str, value: Mapping[str, Any], key: str) -> int | None:
    number = value.get(key)
    if number is None:
        return None
    # JSON documents written for AWS often quote integers, such as "timeoutSeconds": "600".
    if isinstance(number, str) and number.isdigit():
        number = int(number)
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise _fail(f"{label} has {key} {number!r}; it must be an integer of 1 or more")
    return number


def _transition(label: str, key: str, value: Any, *, allow_continue: bool) -> Transition:
    if value is None or value == "Abort":
        return Transition("Abort")
    if value == "Continue" and allow_continue:
        return Transition("Continue")
    if isinstance(value, str) and value.startswith("step:") and len(value) > len("step:"):
        return Transition("Step", value[len("step:") :])
    allowed = "Abort, Continue or step:STEP_NAME" if allow_continue else "Abort or step:STEP_NAME"
    raise _fail(f"{label} has {key} {value!r}; it must be {allowed}")


def _outputs(label: str, value: Any) -> tuple[StepOutput, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail(f"{label} has outputs that are not a list")
    outputs: list[StepOutput] = []
    for index, item in enumerate(value):
        where = f"{label} output {index}"
        if not isinstance(item, dict):
            raise _fail(f"{where} must be a mapping with Name, Selector and Type")
        name, selector, kind = item.get("Name"), item.get("Selector"), item.get("Type")
        if not isinstance(name, str) or not OUTPUT_NAME.match(name):
            raise _fail(
                f"{where} has Name {name!r}; an output name has 1 to 100 letters, digits or "
                "underscores"
            )
        if not isinstance(selector, str) or not selector:
            raise _fail(f"{label} output {name!r} is missing its Selector")
        if kind not in OUTPUT_TYPES:
            raise _fail(
                f"{label} output {name!r} has Type {kind!r}; it must be one of "
                + ", ".join(OUTPUT_TYPES)
            )
        if any(existing.name == name for existing in outputs):
            raise _fail(f"{label} declares output {name!r} twice")
        outputs.append(StepOutput(name, selector, kind))
    return tuple(outputs)


def _choices(label: str, inputs: Mapping[str, Any]) -> tuple[Choice, ...]:
    choices = inputs["Choices"]
    if not isinstance(choices, list) or not choices:
        raise _fail(f"{label} input Choices must be a non-empty list")
    parsed: list[Choice] = []
    for index, choice in enumerate(choices):
        where = f"{label} choice {index}"
        if not isinstance(choice, dict):
            raise _fail(f"{where} must be a mapping with NextStep and a condition")
        next_step = choice.get("NextStep")
        if not isinstance(next_step, str) or not next_step:
            raise _fail(f"{where} is missing NextStep")
        body = {key: item for key, item in choice.items() if key != "NextStep"}
        parsed.append(Choice(next_step, _condition(where, body)))
    return tuple(parsed)


def _condition(where: str, body: Mapping[str, Any]) -> Condition:
    """Parse a condition: Variable with one comparison operator, or one of And, Or, Not."""
    logical = [key for key in ("And", "Or", "Not") if key in body]
    if logical:
        if len(body) != 1:
            raise _fail(f"{where} combines {logical[0]} with other keys {sorted(set(body))}")
        operator = logical[0]
        operands = body[operator]
        if operator == "Not":
            operands = [operands]
        if not isinstance(operands, list) or not operands:
            raise _fail(f"{where} has {operator} without conditions")
        for operand in operands:
            if not isinstance(operand, dict):
                raise _fail(f"{where} has a {operator} condition that is not a mapping")
        return Condition(operator, operands=tuple(_condition(where, o) for o in operands))
    if "Variable" not in body:
        raise _fail(f"{where} is missing Variable (or one of And, Or, Not)")
    operators = [key for key in body if key != "Variable"]
    if len(operators) != 1 or operators[0] not in COMPARISON_OPERATORS:
        raise _fail(
            f"{where} must have exactly one operator besides Variable, one of "
            + ", ".join(sorted(COMPARISON_OPERATORS))
            + f"; found {operators}"
        )
    operator = operators[0]
    variable = body["Variable"]
    if not isinstance(variable, str):
        raise _fail(f"{where} has a Variable that is not a string")
    return Condition(operator, variable=variable, value=body[operator])


def _branch_default(label: str, inputs: Mapping[str, Any]) -> str | None:
    default = inputs.get("Default")
    if default is not None and (not isinstance(default, str) or not default):
        raise _fail(f"{label} input Default must be the name of a step")
    return default


def _check_action_inputs(label: str, step: Step) -> None:
    inputs = step.inputs
    if step.action == "aws:sleep":
        if "Duration" not in inputs and "Timestamp" not in inputs:
            raise _fail(f"{label} (aws:sleep) needs the input Duration or Timestamp")
        duration = inputs.get("Duration")
        valid = isinstance(duration, str) and ISO_DURATION.match(duration) is not None
        if duration is not None and not valid and not _is_reference(duration):
            raise _fail(
                f"{label} has Duration {duration!r}; it must be an ISO 8601 duration such as PT10M"
            )
    runtime = inputs.get("Runtime")
    is_python = isinstance(runtime, str) and runtime.startswith("python")
    if step.action == "aws:executeScript" and is_python and "Handler" not in inputs:
        raise _fail(f"{label} is missing the input Handler, which {runtime} scripts require")
    waits = step.action in ("aws:approve", "aws:pause")
    if waits and step.timeout_seconds is not None and step.timeout_seconds > MAX_WAIT_SECONDS:
        raise _fail(
            f"{label} has timeoutSeconds {step.timeout_seconds}; {step.action} waits at "
            f"most {MAX_WAIT_SECONDS} seconds (30 days)"
        )


def _is_reference(value: Any) -> bool:
    return isinstance(value, str) and REFERENCE.fullmatch(value.strip()) is not None


def check_targets(steps: tuple[Step, ...]) -> None:
    """Check that step names are unique and that every step a step names exists."""
    seen: dict[str, Step] = {}
    pending = list(steps)
    while pending:
        step = pending.pop(0)
        if step.name in seen:
            raise _fail(f"Step name {step.name!r} is used by more than one step")
        seen[step.name] = step
        pending.extend(step.loop_steps)
    for step in seen.values():
        targets = [
            ("nextStep", step.next_step),
            ("onFailure", step.on_failure.step),
            ("onCancel", step.on_cancel.step),
            ("input Default", step.default_step),
        ]
        targets += [(f"choice {i} NextStep", c.next_step) for i, c in enumerate(step.choices)]
        for key, target in targets:
            if target is not None and target not in seen:
                shown = f"step:{target}" if key in ("onFailure", "onCancel") else target
                raise _fail(
                    f"Step {step.name!r} has {key} {shown!r}, but no step is named {target!r}"
                )


def input_strings(step: Step) -> Iterator[str]:
    """Yield every string in the step's inputs that may hold {{ }} references.

    The Script of aws:executeScript is skipped: it is code, passed on
    unchanged, and Python or PowerShell text may contain braces.
    """
    pending: list[Any] = [
        value
        for key, value in step.inputs.items()
        if not (step.action == "aws:executeScript" and key == "Script")
        and not (step.action == "aws:loop" and key == "Steps")
    ]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
