"""CloudWatch error codes, named as the error shapes of the CloudWatch model.

The codecs send each one's modeled code: ``InvalidParameterValueException``
travels as ``InvalidParameterValue`` in the query protocol and in the
query-compatible header of json and CBOR responses.
"""

from __future__ import annotations

from tocsin.protocol.errors import ServiceError


class InvalidParameterValueException(ServiceError):
    pass


class InvalidParameterCombinationException(ServiceError):
    pass


class MissingRequiredParameterException(ServiceError):
    pass


class ResourceNotFound(ServiceError):
    default_status = 404


class ResourceNotFoundException(ServiceError):
    default_status = 404


class ResourceConflict(ServiceError):
    default_status = 409


class InvalidFormatFault(ServiceError):
    pass


class LimitExceededFault(ServiceError):
    pass


def invalid_value(member: str, value: object, allowed: str) -> InvalidParameterValueException:
    """Build the error of a member whose value is not allowed, naming both and what is."""
    return InvalidParameterValueException(
        f"The value {value!r} for parameter {member} is not valid: {allowed}."
    )
