"""Parsing and validation of Automation document content (schema version 0.3).

``parse`` turns the content of CreateDocument or UpdateDocument into an
``AutomationDocument``: typed parameters and steps that the execution engine
runs without looking at the raw YAML or JSON again. Every check that fails
raises ``InvalidDocumentContent`` (or ``InvalidDocumentSchemaVersion``) with a
message that names the key, parameter or step at fault.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from tocsin.runbooks import document_steps
from tocsin.runbooks.document_parameters import Parameter, parse_parameters
from tocsin.runbooks.document_steps import REFERENCE, Step, parse_steps
from tocsin.runbooks.errors import (
    InvalidDocumentContent,
    InvalidDocumentSchemaVersion,
    MaxDocumentSizeExceeded,
)

DocumentFormat = Literal["YAML", "JSON"]

SCHEMA_VERSION = "0.3"
# AWS documents a size limit of 64 KB for a document's content.
MAX_CONTENT_BYTES = 64 * 1024
# Limits on the parsed structure, so that YAML aliases or deep nesting cannot
# make validation walk an exponential tree or exhaust the stack.
MAX_DEPTH = 64
MAX_NODES = 200_000

TOP_LEVEL_KEYS = (
    "description",
    "schemaVersion",
    "assumeRole",
    "parameters",
    "variables",
    "mainSteps",
    "outputs",
    "files",
)
# Names that {{ }} may contain besides parameters and step outputs.
SYSTEM_VARIABLES = frozenset(
    {
        "automation:EXECUTION_ID",
        "global:ACCOUNT_ID",
        "global:DATE",
        "global:DATE_TIME",
        "global:AWS_PARTITION",
        "global:REGION",
    }
)


@dataclass(frozen=True)
class AutomationDocument:
    """The parsed content of an Automation document, ready to run."""

    schema_version: str
    description: str | None
    assume_role: str | None
    parameters: tuple[Parameter, ...]
    steps: tuple[Step, ...]
    # Document outputs as "StepName.OutputName".
    outputs: tuple[str, ...]
    # Runbook variables that aws:updateVariable changes, by name, with their definitions.
    variables: Mapping[str, Any] = field(default_factory=dict)
    files: Mapping[str, Any] = field(default_factory=dict)

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    def step(self, name: str) -> Step:
        """Return the step called ``name``; raise KeyError when there is none."""
        for step in self.all_steps():
            if step.name == name:
                return step
        raise KeyError(name)

    def all_steps(self) -> Iterator[Step]:
        """Yield every step, including the steps inside aws:loop steps."""
        pending = list(reversed(self.steps))
        while pending:
            step = pending.pop()
            yield step
            pending.extend(reversed(step.loop_steps))

    def following(self, step: Step) -> Step | None:
        """Return the main step after ``step`` in document order, the default next step."""
        names = [s.name for s in self.steps]
        if step.name not in names:
            return None
        index = names.index(step.name)
        return self.steps[index + 1] if index + 1 < len(self.steps) else None


def load_content(content: str, document_format: str) -> Any:
    """Decode ``content`` as YAML or JSON, or raise InvalidDocumentContent with the position."""
    try:
        if document_format == "YAML":
            return yaml.safe_load(content)
        return json.loads(content)
    except yaml.MarkedYAMLError as exc:
        raise InvalidDocumentContent(f"YAML not well-formed: {_yaml_problem(exc)}") from exc
    except yaml.YAMLError as exc:
        raise InvalidDocumentContent(f"YAML not well-formed: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise InvalidDocumentContent(
            f"JSON not well-formed at line {exc.lineno}, column {exc.colno}: {exc.msg}. "
            "Pass DocumentFormat YAML for YAML content."
        ) from exc
    except RecursionError as exc:
        raise InvalidDocumentContent(
            f"Document content is nested more than {MAX_DEPTH} levels deep"
        ) from exc


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    """Describe a YAML error with its lines, such as "found X at line 5, column 1 (while ...)"."""

    def at(mark: Any) -> str:
        return f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""

    problem = f"{exc.problem or 'invalid YAML'}{at(exc.problem_mark)}"
    if exc.context:
        problem += f" ({exc.context}{at(exc.context_mark)})"
    return problem


def check_size(content: str) -> None:
    size = len(content.encode("utf-8"))
    if size > MAX_CONTENT_BYTES:
        raise MaxDocumentSizeExceeded(
            f"Document content is {size} bytes; the maximum is {MAX_CONTENT_BYTES} bytes (64 KB)"
        )


def parse(content: str, document_format: str) -> tuple[AutomationDocument, Any]:
    """Validate Automation content and return the parsed document and the decoded data."""
    check_size(content)
    if document_format not in ("YAML", "JSON"):
        raise InvalidDocumentContent(
            f"DocumentFormat {document_format} is not supported for Automation documents; "
            "use YAML or JSON"
        )
    data = load_content(content, document_format)
    _check_structure(data)
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise InvalidDocumentContent(
            f"Document content is {kind}; an Automation document is a mapping with "
            "schemaVersion and mainSteps"
        )
    return parse_data(data), data


def parse_data(data: dict[str, Any]) -> AutomationDocument:
    """Validate decoded Automation content (a mapping) and return the parsed document."""
    unknown = [str(key) for key in data if key not in TOP_LEVEL_KEYS]
    if unknown:
        raise InvalidDocumentContent(
            f"Unknown top-level key {unknown[0]!r}. An Automation document contains only "
            + ", ".join(TOP_LEVEL_KEYS)
        )

    schema_version = _schema_version(data)
    description = _optional_text(data, "description")
    assume_role = _optional_text(data, "assumeRole")
    parameters = parse_parameters(_mapping(data.get("parameters"), "parameters"))
    variables = _mapping(data.get("variables"), "variables")
    files = _mapping(data.get("files"), "files")

    if "mainSteps" not in data:
        raise InvalidDocumentContent("Required key mainSteps is missing")
    steps = parse_steps(data["mainSteps"], "mainSteps")
    if not steps:
        raise InvalidDocumentContent("mainSteps must contain at least one step")

    document = AutomationDocument(
        schema_version=schema_version,
        description=description,
        assume_role=assume_role,
        parameters=parameters,
        steps=steps,
        outputs=_document_outputs(data.get("outputs")),
        variables=variables,
        files=files,
    )
    document_steps.check_targets(document.steps)
    _check_references(document)
    return document


def _check_structure(data: Any) -> None:
    """Reject content nested too deeply or with too many elements (YAML alias expansion)."""
    pending: list[tuple[Any, int]] = [(data, 1)]
    nodes = 0
    while pending:
        value, depth = pending.pop()
        nodes += 1
        if depth > MAX_DEPTH:
            raise InvalidDocumentContent(
                f"Document content is nested more than {MAX_DEPTH} levels deep"
            )
        if nodes > MAX_NODES:
            raise InvalidDocumentContent(
                f"Document content has more than {MAX_NODES} elements once YAML aliases "
                "are expanded"
            )
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise InvalidDocumentContent(
                        f"Key {key!r} is not a string; quote it to use it as a key"
                    )
                pending.append((item, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)


def _schema_version(data: Mapping[str, Any]) -> str:
    if "schemaVersion" not in data:
        raise InvalidDocumentContent("Required key schemaVersion is missing; use '0.3'")
    value = data["schemaVersion"]
    # An unquoted 0.3 in YAML is a number; it still names schema version 0.3.
    text = str(value) if isinstance(value, (str, float)) else None
    if text != SCHEMA_VERSION:
        raise InvalidDocumentSchemaVersion(
            f"schemaVersion {value!r} is not supported for Automation documents; "
            f"use '{SCHEMA_VERSION}'"
        )
    return SCHEMA_VERSION


def _optional_text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidDocumentContent(f"{key} must be a string, not {type(value).__name__}")
    return value


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidDocumentContent(f"{where} must be a mapping, not {type(value).__name__}")
    return value


def _document_outputs(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidDocumentContent(
            "outputs must be a list of strings of the form StepName.OutputName"
        )
    return tuple(value)


def _check_references(document: AutomationDocument) -> None:
    """Check every {{ }} reference and every document output against what the document declares."""
    steps = {step.name: step for step in document.all_steps()}
    names = {p.name for p in document.parameters}
    variables = set(document.variables)

    def check(text: str, where: str) -> None:
        for match in REFERENCE.finditer(text):
            reference = match.group(1).strip()
            problem = _reference_problem(reference, names, variables, steps)
            if problem:
                raise InvalidDocumentContent(f"{where} references {{{{ {reference} }}}}: {problem}")

    if document.assume_role is not None:
        check(document.assume_role, "assumeRole")
    for step in steps.values():
        for text in document_steps.input_strings(step):
            check(text, f"Step {step.name!r}")
    for output in document.outputs:
        step_name, _, output_name = output.partition(".")
        problem = _output_problem(step_name, output_name, steps) if output_name else None
        if not output_name or problem:
            raise InvalidDocumentContent(
                f"Document output {output!r} is invalid: "
                + (problem or "it must have the form StepName.OutputName")
            )


def _reference_problem(
    reference: str, parameters: set[str], variables: set[str], steps: Mapping[str, Step]
) -> str | None:
    if reference in parameters or reference in SYSTEM_VARIABLES:
        return None
    prefix, colon, rest = reference.partition(":")
    if colon and prefix == "ssm" and rest:
        return None  # a Parameter Store parameter, resolved at run time
    if colon and prefix == "variable":
        return None if rest in variables else f"no runbook variable {rest!r} is declared"
    if colon:
        return "it is not a declared parameter and not one of the variables " + ", ".join(
            sorted(SYSTEM_VARIABLES)
        )
    step_name, dot, output_name = reference.partition(".")
    if dot:
        return _output_problem(step_name, output_name, steps)
    return "no parameter with this name is declared in parameters"


def _output_problem(step_name: str, output_name: str, steps: Mapping[str, Step]) -> str | None:
    step = steps.get(step_name)
    if step is None:
        return f"no step is named {step_name!r}"
    if step.provides_output(output_name):
        return None
    declared = ", ".join(repr(o.name) for o in step.outputs) or "none"
    return f"step {step_name!r} has no output {output_name!r} (declared outputs: {declared})"
