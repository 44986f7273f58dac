"""Errors that reach clients in the wire format of the service they called.

A ``ServiceError`` carries the error code as AWS names it (the error shape's
name in the service model, which is also the class name). Its HTTP status and
the code that query-protocol clients expect come from the called service's
model when the service models that error, so one class serves every service:
``ResourceNotFoundException`` is 404 in ssm-incidents and 400 in ssm-contacts.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ServiceError(Exception):
    """A client-visible error; ``code`` is the AWS error code."""

    code: ClassVar[str] = "InternalFailure"
    # Status used when the called service's model does not define this error.
    default_status: ClassVar[int] = 400
    sender_fault: ClassVar[bool] = True

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.instance_code = code or type(self).code
        self.status = status
        self.fields = dict(fields or {})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            cls.code = cls.__name__

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.instance_code!r}, {self.message!r})"

    def code_for(self, protocol: str) -> str:
        """Return the wire code in ``protocol`` for an error that the model does not define."""
        return self.instance_code


class InternalFailure(ServiceError):
    default_status = 500
    sender_fault = False


class ValidationException(ServiceError):
    pass


class SerializationException(ServiceError):
    pass


class UnknownOperationException(ServiceError):
    pass


class InvalidAction(ServiceError):
    """Query-protocol equivalent of UnknownOperationException."""


class AccessDeniedException(ServiceError):
    default_status = 403

    def code_for(self, protocol: str) -> str:
        # Query services (STS, IAM, SNS) name this error AccessDenied.
        if protocol == "query" and self.instance_code == "AccessDeniedException":
            return "AccessDenied"
        return self.instance_code


class ResourceNotFoundException(ServiceError):
    default_status = 404


class ConflictException(ServiceError):
    default_status = 409


class ThrottlingException(ServiceError):
    default_status = 429


class RequestEntityTooLarge(ServiceError):
    default_status = 413


class RequestTimeout(ServiceError):
    default_status = 408


# Authentication errors. json and rest-json services use the first set of
# codes, query services (STS, IAM, SNS) the second; see ``AuthError``.
class MissingAuthenticationTokenException(ServiceError):
    default_status = 403


class IncompleteSignatureException(ServiceError):
    default_status = 403


class InvalidSignatureException(ServiceError):
    default_status = 403


class UnrecognizedClientException(ServiceError):
    default_status = 403


class ExpiredTokenException(ServiceError):
    default_status = 403


class InvalidClientTokenId(ServiceError):
    default_status = 403


class SignatureDoesNotMatch(ServiceError):
    default_status = 403


class MissingAuthenticationToken(ServiceError):
    default_status = 403


class IncompleteSignature(ServiceError):
    default_status = 403


class ExpiredToken(ServiceError):
    default_status = 403


# Failure kinds of authentication, mapped to the code per protocol family.
AUTH_CODES: dict[str, tuple[str, str]] = {
    # kind: (json and rest-json code, query code)
    "missing": ("MissingAuthenticationTokenException", "MissingAuthenticationToken"),
    "incomplete": ("IncompleteSignatureException", "IncompleteSignature"),
    "signature": ("InvalidSignatureException", "SignatureDoesNotMatch"),
    "unknown_key": ("UnrecognizedClientException", "InvalidClientTokenId"),
    "expired_token": ("ExpiredTokenException", "ExpiredToken"),
    "skew": ("InvalidSignatureException", "SignatureDoesNotMatch"),
}


class AuthError(ServiceError):
    """An authentication failure; the codec picks the code for its protocol from ``kind``."""

    default_status = 403

    def __init__(self, kind: str, message: str) -> None:
        if kind not in AUTH_CODES:
            raise ValueError(f"unknown authentication failure kind {kind!r}")
        super().__init__(message, code=AUTH_CODES[kind][0])
        self.kind = kind

    def code_for(self, protocol: str) -> str:
        json_code, query_code = AUTH_CODES[self.kind]
        return query_code if protocol == "query" else json_code
