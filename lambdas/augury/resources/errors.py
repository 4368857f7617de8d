"""Errors the services raise; the API layer writes them in Amazon's error shape."""

from __future__ import annotations


class ServiceError(Exception):
    """An error with an Amazon error code (``__type``) and HTTP status."""

    code = "InternalFailure"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ServiceError):
    code = "InvalidInputException"
    status = 400


class ValidationError(ServiceError):
    """A request that breaks the service model's constraints (Coral's error)."""

    code = "ValidationException"
    status = 400


class ResourceNotFound(ServiceError):
    code = "ResourceNotFoundException"
    status = 400


class ResourceAlreadyExists(ServiceError):
    code = "ResourceAlreadyExistsException"
    status = 400


class ResourceInUse(ServiceError):
    code = "ResourceInUseException"
    status = 400


class LimitExceeded(ServiceError):
    code = "LimitExceededException"
    status = 400


class InvalidNextToken(ServiceError):
    code = "InvalidNextTokenException"
    status = 400


class AccessDenied(ServiceError):
    """What AWS's authorization answers a caller without a permission the request needs
    (``iam:PassRole`` on the role it names): no operation's error list declares it."""

    code = "AccessDeniedException"
    status = 400


class Throttling(ServiceError):
    """A dependency refused for now (IAM's rate limit): botocore retries this code."""

    code = "ThrottlingException"
    status = 400


class TooManyTags(ServiceError):
    code = "TooManyTagsException"
    status = 400


class TooManyTagKeys(ServiceError):
    code = "TooManyTagKeysException"
    status = 400


class UnknownOperation(ServiceError):
    code = "UnknownOperationException"
    status = 400


class NotImplementedOperation(ServiceError):
    """An operation in Amazon's model that Augury has not built yet.

    501 is not retried by botocore, so callers fail at once with a clear message.
    """

    code = "NotImplementedException"
    status = 501


class SerializationError(ServiceError):
    code = "SerializationException"
    status = 400


class RequestTooLarge(ServiceError):
    """A body over the front end's payload limit (API Gateway's 10 MB)."""

    code = "RequestEntityTooLargeException"
    status = 413


class ServiceUnavailable(ServiceError):
    """The server is stopping; botocore retries a 503 on its own."""

    code = "ServiceUnavailableException"
    status = 503


class InternalFailure(ServiceError):
    code = "InternalFailure"
    status = 500
