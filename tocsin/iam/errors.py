"""IAM and STS error codes, named as in the service models."""

from tocsin.protocol.errors import ServiceError


class NoSuchEntityException(ServiceError):
    default_status = 404


class EntityAlreadyExistsException(ServiceError):
    default_status = 409


class DeleteConflictException(ServiceError):
    default_status = 409


class LimitExceededException(ServiceError):
    default_status = 409


class MalformedPolicyDocumentException(ServiceError):
    pass


class PasswordPolicyViolationException(ServiceError):
    pass
