"""One place that turns errors into the API's documented shapes (docs: ../shared/docs/api.md)."""

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, InterfaceError, OperationalError
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from cad.errors import DomainError, ServiceUnavailable

logger = logging.getLogger(__name__)


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response({"detail": exc.detail, "code": exc.code}, status=exc.status)
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    if isinstance(exc, ServiceUnavailable | OperationalError | InterfaceError):
        logger.warning("backing service unavailable: %s", exc)
        return Response(
            {"detail": "A backing service is unavailable; nothing was saved. Try again."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, DatabaseError):
        # Integrity and similar errors that slipped past validation: report, do not 500.
        logger.exception("database refused a write")
        return Response(
            {"detail": "The database refused this change.", "code": "conflict"},
            status=status.HTTP_409_CONFLICT,
        )
    return drf_exception_handler(exc, context)
