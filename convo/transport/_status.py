"""Error responses of the Messages API -> convo's ``APIStatusError`` family.

One table maps an HTTP status to its class (``API_RULES.md`` G2), one maps
an ``error.type`` to the status it has on a non-streamed request (used for
``error`` events inside a 200 stream, G6).  Both the HTTP transports and
the stream fold build their status errors here.  No httpx in this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from convo.errors import (
    APIConflictError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ClientClosedRequestError,
    GatewayTimeoutError,
    HTTPNotImplementedError,
    InternalServerError,
    NotFoundError,
    OverloadedError,
    PaymentRequiredError,
    PermissionDeniedError,
    PreconditionFailedError,
    RateLimitError,
    RequestHeaderFieldsTooLargeError,
    RequestTimeoutError,
    RequestTooLargeError,
    ServiceUnavailableError,
    UnprocessableEntityError,
)
from convo.transport._json import StrictJSONError, strict_loads

__all__ = [
    "ERROR_TYPE_STATUS",
    "STATUS_ERRORS",
    "error_class",
    "error_fields",
    "event_error",
    "read_body",
    "status_error",
]

STATUS_ERRORS: Mapping[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: RequestTimeoutError,
    409: APIConflictError,
    412: PreconditionFailedError,
    413: RequestTooLargeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    431: RequestHeaderFieldsTooLargeError,
    499: ClientClosedRequestError,
    501: HTTPNotImplementedError,
    503: ServiceUnavailableError,
    504: GatewayTimeoutError,
    529: OverloadedError,
}
"""Statuses with their own class, as the SDK's ``ERROR_CLASSES`` has them by
status; other >= 500 are ``InternalServerError``, other statuses ``APIStatusError``."""

ERROR_TYPE_STATUS: Mapping[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "conflict_error": 409,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
"""``error.type`` -> the HTTP status it comes with on a non-streamed request."""

_MAX_TEXT = 500  # characters of a non-JSON error body quoted in the message


def error_class(status_code: int) -> type[APIStatusError]:
    """The ``APIStatusError`` subclass for an HTTP status."""
    cls = STATUS_ERRORS.get(status_code)
    if cls is not None:
        return cls
    return InternalServerError if status_code >= 500 else APIStatusError


def read_body(content: bytes) -> Any:
    """An error body as strict JSON when it is, else as (lossy) text, or ``None``.

    A body too deep, non-finite or otherwise not strict JSON is text: the
    status still classifies and retries the error, as the SDK's does.
    """
    if not content:
        return None
    try:
        return strict_loads(content)
    except StrictJSONError:
        return content.decode("utf-8", errors="replace")


def error_fields(body: Any) -> tuple[str | None, str | None, str | None]:
    """``(error.type, error.message, request_id)`` from an error body, if present."""
    if not isinstance(body, Mapping):
        return None, None, None
    error = body.get("error")
    request_id = body.get("request_id")
    request_id = request_id if isinstance(request_id, str) else None
    if not isinstance(error, Mapping):
        return None, None, request_id
    kind, message = error.get("type"), error.get("message")
    return (
        kind if isinstance(kind, str) else None,
        message if isinstance(message, str) else None,
        request_id,
    )


def status_error(
    status_code: int,
    body: Any,
    *,
    request_id: str | None = None,
    retry_after: float | None = None,
    attempts: int = 1,
    reason: str = "",
    cls: type[APIStatusError] | None = None,
    note: str = "",
    scrub: Callable[[str], str] = str,
) -> APIStatusError:
    """Build the error for an error response.

    Args:
        status_code: the HTTP status (for a stream ``error`` event, the
            status that error type has on a non-streamed request).
        body: the parsed body (a dict when it was JSON, else text or ``None``).
        request_id: the ``request-id`` header; the body's ``request_id``
            is used when the header is missing.
        retry_after: the parsed ``retry-after`` wait, in seconds.
        attempts: how many attempts were made.
        reason: the HTTP reason phrase, used when the body says nothing.
        cls: force a class (default: by status).
        note: appended to the message, e.g. where the error arrived.
        scrub: applied to the message text (removes a leaked secret).
    """
    kind, detail, body_request_id = error_fields(body)
    request_id = request_id or body_request_id
    if detail is None and isinstance(body, str) and body.strip():
        detail = body.strip()[:_MAX_TEXT]
    parts = [str(status_code)]
    if kind:
        parts.append(kind)
    head = " ".join(parts)
    text = f"{head}: {detail}" if detail else f"{head}: {reason or 'error response'}"
    if request_id:
        text += f" (request-id {request_id})"
    if attempts > 1:
        text += f" after {attempts} attempts"
    if note:
        text += f" {note}"
    return (cls or error_class(status_code))(
        scrub(text),
        status_code=status_code,
        error_type=kind,
        request_id=request_id,
        body=body,
        retry_after=retry_after,
        attempts=attempts,
    )


def event_error(event: Mapping[str, Any], *, request_id: str | None = None) -> APIStatusError:
    """The error an ``error`` event inside a 200 stream stands for.

    Its class and ``status_code`` are those the same ``error.type`` has on a
    non-streamed request (``overloaded_error`` -> ``OverloadedError``, 529),
    so one ``except`` clause serves both kinds of call; an unknown type
    gives a plain ``APIStatusError`` with status 200 (what the wire said).
    """
    kind, _, _ = error_fields(event)
    status = ERROR_TYPE_STATUS.get(kind, 200) if kind is not None else 200
    cls = error_class(status) if status != 200 else APIStatusError
    return status_error(
        status, dict(event), request_id=request_id, cls=cls, note="(error event in a 200 stream)"
    )
