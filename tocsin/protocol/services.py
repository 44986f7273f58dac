"""The AWS services that Tocsin's endpoint serves, with their botocore models.

Requests are routed by the service name in the SigV4 credential scope (the
model's signing name), so one endpoint serves every service.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from botocore.loaders import Loader
from botocore.model import ServiceModel

# Protocols that Tocsin's codecs implement, by botocore's names.
SUPPORTED_PROTOCOLS = ("json", "rest-json", "query", "smithy-rpc-v2-cbor")


@dataclass(frozen=True)
class ServiceInfo:
    """Wire facts about one service that its model does not state."""

    name: str  # botocore's service name, as in boto3.client(name)
    validation_error: str  # code of input-validation failures
    idempotency_error: str  # code for a reused idempotency token with new parameters
    invalid_token_error: str  # code for a pagination token that does not decode


SERVICE_INFO: dict[str, ServiceInfo] = {
    info.name: info
    for info in (
        ServiceInfo(
            "ssm-incidents", "ValidationException", "ConflictException", "ValidationException"
        ),
        ServiceInfo(
            "ssm-contacts", "ValidationException", "ConflictException", "ValidationException"
        ),
        ServiceInfo(
            "ram",
            "InvalidParameterException",
            "IdempotentParameterMismatchException",
            "InvalidNextTokenException",
        ),
        ServiceInfo("events", "ValidationException", "ValidationException", "ValidationException"),
        ServiceInfo(
            "sns",
            "InvalidParameterException",
            "InvalidParameterException",
            "InvalidParameterException",
        ),
        ServiceInfo(
            "ssm", "ValidationException", "IdempotentParameterMismatch", "InvalidNextToken"
        ),
        ServiceInfo(
            "organizations",
            "InvalidInputException",
            "InvalidInputException",
            "InvalidInputException",
        ),
        ServiceInfo("sts", "ValidationError", "ValidationError", "ValidationError"),
        ServiceInfo("iam", "ValidationError", "ValidationError", "ValidationError"),
        ServiceInfo(
            "cloudwatch",
            "InvalidParameterValueException",
            "InvalidParameterValueException",
            "InvalidNextToken",
        ),
    )
}


@dataclass(frozen=True)
class ServiceSpec:
    """A served service: its model, its signing name and its protocols."""

    info: ServiceInfo
    model: ServiceModel

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def signing_name(self) -> str:
        return str(self.model.signing_name)

    @property
    def protocols(self) -> tuple[str, ...]:
        """Protocols of this service that Tocsin speaks, preferred first."""
        listed = self.model.metadata.get("protocols") or [self.model.metadata["protocol"]]
        return tuple(p for p in listed if p in SUPPORTED_PROTOCOLS)

    @property
    def is_global(self) -> bool:
        """True for services whose resources belong to no Region (IAM, Organizations)."""
        return self.name in ("iam", "organizations")


@cache
def _loader() -> Loader:
    return Loader()


@cache
def load_spec(name: str) -> ServiceSpec:
    """Load the newest botocore model of service ``name``."""
    data = _loader().load_service_model(name, "service-2")
    return ServiceSpec(SERVICE_INFO[name], ServiceModel(data, service_name=name))


@cache
def specs_by_signing_name() -> dict[str, ServiceSpec]:
    """Map each served service's signing name (the credential scope's service) to its spec."""
    specs = (load_spec(name) for name in SERVICE_INFO)
    return {spec.signing_name: spec for spec in specs}
