"""ssm-contacts errors with the members that the service model gives them."""

from __future__ import annotations

from tocsin.protocol.errors import (
    ConflictException,
    ResourceNotFoundException,
    ServiceError,
    ValidationException,
)

SERVICE_CODE = "ssm-contacts"

# Values of the ResourceType member of ResourceNotFoundException and ConflictException.
CONTACT = "CONTACT"
CONTACT_CHANNEL = "CONTACT_CHANNEL"
ROTATION = "ROTATION"
ROTATION_OVERRIDE = "ROTATION_OVERRIDE"
RESOURCE = "RESOURCE"


class ServiceQuotaExceededException(ServiceError):
    pass


def not_found(resource_type: str, resource_id: str) -> ResourceNotFoundException:
    noun = resource_type.replace("_", " ").lower()
    return ResourceNotFoundException(
        f"The {noun} {resource_id} does not exist or is not visible to this account.",
        fields={"ResourceId": resource_id, "ResourceType": resource_type},
    )


def conflict(message: str, resource_type: str, resource_id: str) -> ConflictException:
    return ConflictException(
        message, fields={"ResourceId": resource_id, "ResourceType": resource_type}
    )


def invalid(message: str, field: str | None = None) -> ValidationException:
    """Return a ValidationException; with ``field`` it names the member at fault."""
    if field is None:
        return ValidationException(message, fields={"Reason": "OTHER"})
    return ValidationException(
        message,
        fields={
            "Reason": "FIELD_VALIDATION_FAILED",
            "Fields": [{"Name": field, "Message": message}],
        },
    )


def quota_exceeded(
    message: str, quota_code: str, resource_type: str, resource_id: str
) -> ServiceQuotaExceededException:
    return ServiceQuotaExceededException(
        message,
        fields={
            "QuotaCode": quota_code,
            "ServiceCode": SERVICE_CODE,
            "ResourceId": resource_id,
            "ResourceType": resource_type,
        },
    )
