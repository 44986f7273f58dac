"""Errors of SSM document operations, each named after its SSM error code."""

from __future__ import annotations

from tocsin.protocol.errors import ServiceError


class InvalidDocumentContent(ServiceError):
    pass


class InvalidDocumentSchemaVersion(ServiceError):
    pass


class MaxDocumentSizeExceeded(ServiceError):
    pass


class InvalidDocumentType(ServiceError):
    pass


class DocumentAlreadyExists(ServiceError):
    pass


class InvalidDocument(ServiceError):
    pass


class InvalidDocumentVersion(ServiceError):
    pass


class InvalidDocumentOperation(ServiceError):
    pass


class DuplicateDocumentContent(ServiceError):
    pass


class DuplicateDocumentVersionName(ServiceError):
    pass


class DocumentLimitExceeded(ServiceError):
    pass


class DocumentVersionLimitExceeded(ServiceError):
    pass


class InvalidFilterKey(ServiceError):
    pass


class InvalidResourceType(ServiceError):
    pass


class InvalidResourceId(ServiceError):
    pass


class TooManyTagsError(ServiceError):
    pass


class InvalidPermissionType(ServiceError):
    pass


class DocumentPermissionLimit(ServiceError):
    pass
