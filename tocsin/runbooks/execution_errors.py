"""Errors of Automation execution operations, each named after its SSM error code."""

from __future__ import annotations

from tocsin.protocol.errors import ServiceError


class AutomationDefinitionNotFoundException(ServiceError):
    pass


class AutomationDefinitionVersionNotFoundException(ServiceError):
    pass


class InvalidAutomationExecutionParametersException(ServiceError):
    pass


class AutomationExecutionLimitExceededException(ServiceError):
    pass


class IdempotentParameterMismatch(ServiceError):
    pass


class InvalidTarget(ServiceError):
    pass


class AutomationExecutionNotFoundException(ServiceError):
    pass


class InvalidAutomationStatusUpdateException(ServiceError):
    pass


class AutomationStepNotFoundException(ServiceError):
    pass


class InvalidAutomationSignalException(ServiceError):
    pass


class InvalidFilterValue(ServiceError):
    pass
