"""The Parameters of StartAutomationExecution, checked against the document's declarations."""

from __future__ import annotations

from typing import Any

from tocsin.runbooks.document_parameters import coerce_value
from tocsin.runbooks.document_schema import AutomationDocument
from tocsin.runbooks.execution_errors import InvalidAutomationExecutionParametersException
from tocsin.runbooks.references import shown_value


def typed_parameters(
    document: AutomationDocument, given: dict[str, list[str]]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Return the run's parameters as typed values and as the API shows them.

    Every given name must be declared, every value must fit its parameter's
    type and constraints, and every parameter without a default needs a
    value. Otherwise InvalidAutomationExecutionParametersException names the
    parameter and the value.
    """
    declared = {parameter.name for parameter in document.parameters}
    unknown = sorted(set(given) - declared)
    if unknown:
        allowed = ", ".join(sorted(declared)) or "none"
        raise InvalidAutomationExecutionParametersException(
            f"Parameter {unknown[0]!r} is not declared by the document. Its parameters are: "
            f"{allowed}."
        )
    typed: dict[str, Any] = {}
    shown: dict[str, list[str]] = {}
    for parameter in document.parameters:
        if parameter.name in given:
            try:
                typed[parameter.name] = coerce_value(parameter, list(given[parameter.name]))
            except ValueError as exc:
                raise InvalidAutomationExecutionParametersException(str(exc)) from None
            shown[parameter.name] = list(given[parameter.name])
        elif parameter.has_default:
            typed[parameter.name] = parameter.default
            shown[parameter.name] = shown_value(parameter.default)
        else:
            raise InvalidAutomationExecutionParametersException(
                f"Parameter {parameter.name!r} is required: the document gives it no default. "
                f"Pass a value of type {parameter.type}."
            )
    return typed, shown
