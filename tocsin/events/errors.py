"""EventBridge error codes, named as the error shapes of the events model."""

from __future__ import annotations

from tocsin.protocol.errors import ResourceNotFoundException, ServiceError, ValidationException

__all__ = [
    "InvalidEventPatternException",
    "LimitExceededException",
    "PolicyLengthExceededException",
    "ResourceAlreadyExistsException",
    "ResourceNotFoundException",
    "ValidationException",
]


class ResourceAlreadyExistsException(ServiceError):
    pass


class InvalidEventPatternException(ServiceError):
    pass


class LimitExceededException(ServiceError):
    pass


class PolicyLengthExceededException(ServiceError):
    pass
