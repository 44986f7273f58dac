"""SNS error codes, named as the error shapes of the SNS model.

The query protocol sends each one's modeled code: ``InvalidParameterException``
travels as ``InvalidParameter``, ``NotFoundException`` as ``NotFound``.
"""

from tocsin.protocol.errors import ServiceError


class InvalidParameterException(ServiceError):
    pass


class InvalidParameterValueException(ServiceError):
    pass


class InternalErrorException(ServiceError):
    default_status = 500
    sender_fault = False


class NotFoundException(ServiceError):
    default_status = 404


class ResourceNotFoundException(ServiceError):
    default_status = 404


class AuthorizationErrorException(ServiceError):
    default_status = 403


class TagLimitExceededException(ServiceError):
    pass


class FilterPolicyLimitExceededException(ServiceError):
    default_status = 403


class EmptyBatchRequestException(ServiceError):
    pass


class TooManyEntriesInBatchRequestException(ServiceError):
    pass


class BatchEntryIdsNotDistinctException(ServiceError):
    pass


class InvalidBatchEntryIdException(ServiceError):
    pass


class BatchRequestTooLongException(ServiceError):
    pass


def invalid_parameter(name: str, reason: str | None = None) -> InvalidParameterException:
    """Build the error in SNS's wording: ``Invalid parameter: NAME Reason: REASON``."""
    message = f"Invalid parameter: {name}"
    if reason:
        message += f" Reason: {reason}"
    return InvalidParameterException(message)
