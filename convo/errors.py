"""Every error convo raises on purpose, under one base class.

The tree::

    ConvoError(Exception)
    ├── RuleError(ConvoError, ValueError)      .rule, .index, .detail
    │   └── NotSendableError                   .violations
    ├── CodecError(ConvoError, ValueError)     .errors, .path
    ├── StoreError(ConvoError)
    │   ├── ConflictError                      .thread_id, .stored_head, .attempted_head
    │   ├── ThreadNotFoundError(StoreError, LookupError)   .thread_id
    │   ├── ThreadExistsError                  .thread_id
    │   ├── ForkPointError(StoreError, IndexError)   .thread_id, .at, .length
    │   ├── TurnNotFoundError(StoreError, LookupError)     .turn_id
    │   ├── HashMismatchError                  .turn_id, .thread_id
    │   ├── IntegrityError                     .thread_id, .turn_id (a damaged chain)
    │   ├── DatabaseLockedError                another writer held the lock past the busy timeout
    │   └── SchemaVersionError                 .database_revision, .head_revision
    ├── BudgetError(ConvoError, ValueError)    .budget, .needed
    ├── ChatStateError(ConvoError, ValueError) a Chat step that does not fit its state
    │   └── ToolLoopError                      .steps, .thread_id: chat.run hit max_steps
    ├── ToolSchemaError(ConvoError, TypeError) .tool: no tool definition for this function
    ├── RequestParamError(ConvoError, TypeError) .unknown, .known: not a request field
    └── TransportError(ConvoError)
        ├── APIConnectionError
        │   └── APITimeoutError
        ├── APIStatusError                     .status_code, .error_type, .request_id, ...
        │   ├── BadRequestError                   400
        │   ├── AuthenticationError               401
        │   ├── PaymentRequiredError              402
        │   ├── PermissionDeniedError             403
        │   ├── NotFoundError                     404
        │   ├── RequestTimeoutError               408
        │   ├── APIConflictError                  409 (the SDK's ConflictError; see below)
        │   ├── PreconditionFailedError           412
        │   ├── RequestTooLargeError              413 (alias ContentTooLargeError)
        │   ├── UnprocessableEntityError          422
        │   ├── RateLimitError                    429
        │   ├── RequestHeaderFieldsTooLargeError  431
        │   ├── ClientClosedRequestError          499
        │   └── InternalServerError               >= 500 without a class of its own
        │       ├── HTTPNotImplementedError       501
        │       ├── ServiceUnavailableError       503
        │       ├── GatewayTimeoutError           504
        │       └── OverloadedError               529
        ├── StreamError
        └── CassetteMissError

The status classes are the official SDK's (``anthropic/_exceptions.py``,
``_error_classes.py``), by status, with the SDK's names, except 409:
``ConflictError`` has named the store's lost compare-and-set since convo's
first release (``except ConflictError`` around a save must keep meaning
"the head moved"), so the HTTP 409 is ``APIConflictError``.  Both are
reachable from ``convo`` and neither name means two things.

Context is keyword-only and never holds an API key or request headers:
errors end up in logs.  Every class pickles (attributes survive a trip
through ``multiprocessing``) because ``__reduce__`` replays the keywords.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "APIConflictError",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetError",
    "CassetteMissError",
    "ChatStateError",
    "ClientClosedRequestError",
    "CodecError",
    "ConflictError",
    "ContentTooLargeError",
    "ConvoError",
    "DatabaseLockedError",
    "GatewayTimeoutError",
    "HTTPNotImplementedError",
    "ForkPointError",
    "HashMismatchError",
    "IntegrityError",
    "InternalServerError",
    "NotFoundError",
    "NotSendableError",
    "OverloadedError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "RateLimitError",
    "RequestParamError",
    "RequestHeaderFieldsTooLargeError",
    "RequestTimeoutError",
    "RequestTooLargeError",
    "RuleError",
    "SchemaVersionError",
    "ServiceUnavailableError",
    "StoreError",
    "StreamError",
    "ThreadExistsError",
    "ThreadNotFoundError",
    "ToolLoopError",
    "ToolSchemaError",
    "TransportError",
    "TurnNotFoundError",
    "UnprocessableEntityError",
]


class ConvoError(Exception):
    """Base class of every error convo raises on purpose."""

    _kwargs: dict[str, Any]

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message)
        self._kwargs = kwargs
        for key, value in kwargs.items():
            setattr(self, key, value)

    @property
    def message(self) -> str:
        """The human-readable message."""
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self._kwargs))


def _rebuild(cls: type[ConvoError], message: str, kwargs: dict[str, Any]) -> ConvoError:
    err = cls.__new__(cls)
    ConvoError.__init__(err, message, **kwargs)
    return err


class RuleError(ConvoError, ValueError):
    """A history rule was broken.

    ``rule`` is the rule's stable kebab-case name (see ``convo.rules``);
    ``index`` is the turn index in the API's ``messages.N`` numbering, or
    ``None`` when the problem is not tied to one turn.
    """

    rule: str
    index: int | None
    detail: str

    def __init__(self, rule: str, detail: str, *, index: int | None = None) -> None:
        where = f"messages.{index}: " if index is not None else ""
        super().__init__(f"[{rule}] {where}{detail}", rule=rule, index=index, detail=detail)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_rule_error, (type(self), self.rule, self.detail, self.index))


def _rebuild_rule_error(cls: type[RuleError], rule: str, detail: str, index: int | None) -> RuleError:
    return cls(rule, detail, index=index)


class NotSendableError(RuleError):
    """``check_sendable`` found one or more violations; all are listed.

    ``rule`` and ``index`` are those of the first violation.
    """

    violations: tuple[RuleError, ...]

    def __init__(self, violations: Sequence[RuleError]) -> None:
        first = violations[0]
        lines = "\n".join(f"  - {v}" for v in violations)
        count = len(violations)
        RuleError.__init__(
            self,
            first.rule,
            f"not sendable ({count} violation{'s' if count != 1 else ''}):\n{lines}",
            index=first.index,
        )
        self.violations = tuple(violations)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.violations,))


class CodecError(ConvoError, ValueError):
    """A payload or response could not be read; ``path`` is where, e.g.
    ``$.messages[3].content[0].source``.  ``errors`` lists every problem."""

    errors: tuple[str, ...]
    path: str

    def __init__(self, message: str, *, path: str = "$", errors: Sequence[str] = ()) -> None:
        errs = tuple(errors) or (f"{message} @ {path}",)
        super().__init__(f"{message} @ {path}", path=path, errors=errs)


class StoreError(ConvoError):
    """Base of the store's errors."""


class ConflictError(StoreError):
    """The thread's head moved since this conversation was loaded.

    The turns of the attempted conversation are already stored: reload and
    re-apply, or save it under a new thread id.  Nothing was lost.
    """

    thread_id: str
    stored_head: str | None
    attempted_head: str | None

    def __init__(self, *, thread_id: str, stored_head: str | None, attempted_head: str | None) -> None:
        super().__init__(
            f"thread {thread_id!r} has head {stored_head}, which is not an ancestor of "
            f"{attempted_head}; the new turns are stored: reload and re-apply, or save "
            "under a new thread id",
            thread_id=thread_id,
            stored_head=stored_head,
            attempted_head=attempted_head,
        )


class ThreadNotFoundError(StoreError, LookupError):
    """No thread with this id."""

    thread_id: str

    def __init__(self, thread_id: str) -> None:
        super().__init__(f"no thread {thread_id!r}", thread_id=thread_id)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.thread_id,))


class ThreadExistsError(StoreError):
    """A thread with this id already exists (e.g. the target of a fork)."""

    thread_id: str

    def __init__(self, thread_id: str) -> None:
        super().__init__(f"thread {thread_id!r} already exists", thread_id=thread_id)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.thread_id,))


class TurnNotFoundError(StoreError, LookupError):
    """No turn with this id, or a thread's chain is missing a turn."""

    turn_id: str

    def __init__(self, turn_id: str) -> None:
        super().__init__(f"no turn {turn_id!r}", turn_id=turn_id)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.turn_id,))


class ForkPointError(StoreError, IndexError):
    """A fork point outside the thread: ``at`` must be within ``-length..length``."""

    thread_id: str
    at: int
    length: int

    def __init__(self, thread_id: str, *, at: int, length: int) -> None:
        super().__init__(
            f"cannot fork thread {thread_id!r} at {at}: it has {length} "
            f"turn{'s' if length != 1 else ''} (use 0 to {length}, or -{length} to -1 "
            "from the end)",
            thread_id=thread_id,
            at=at,
            length=length,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_fork_point, (type(self), self.thread_id, self.at, self.length))


def _rebuild_fork_point(cls: type[ForkPointError], thread_id: str, at: int, length: int) -> Any:
    return cls(thread_id, at=at, length=length)


class HashMismatchError(StoreError):
    """A stored turn no longer hashes to its id (the data was altered)."""

    turn_id: str
    thread_id: str | None
    actual: str

    def __init__(self, *, turn_id: str, actual: str, thread_id: str | None = None) -> None:
        where = f" in thread {thread_id!r}" if thread_id is not None else ""
        super().__init__(
            f"turn {turn_id}{where} hashes to {actual}: its stored content was altered",
            turn_id=turn_id,
            actual=actual,
            thread_id=thread_id,
        )


class IntegrityError(StoreError):
    """A stored chain is damaged: its links or depths do not form the thread
    it claims (a corrupted or hand-edited database).  ``turn_id`` names the
    turn where the damage was found (``None`` when no turn could be read)."""

    thread_id: str | None
    turn_id: str | None

    def __init__(
        self, message: str, *, thread_id: str | None = None, turn_id: str | None = None
    ) -> None:
        super().__init__(message, thread_id=thread_id, turn_id=turn_id)


class DatabaseLockedError(StoreError):
    """The database stayed locked by another writer past the busy timeout."""


class SchemaVersionError(StoreError):
    """The database schema is not the one this convo expects."""

    database_revision: str | None
    head_revision: str
    newer: bool

    def __init__(self, *, database_revision: str | None, head_revision: str, newer: bool) -> None:
        if newer:
            advice = "this database is newer than this convo: upgrade convo"
        else:
            advice = "run `convo db upgrade` (or open the Store with auto_upgrade=True)"
        super().__init__(
            f"database schema is at revision {database_revision}, convo expects "
            f"{head_revision}: {advice}",
            database_revision=database_revision,
            head_revision=head_revision,
            newer=newer,
        )


class BudgetError(ConvoError, ValueError):
    """No valid conversation fits the token budget."""

    budget: int
    needed: int

    def __init__(self, message: str, *, budget: int, needed: int) -> None:
        super().__init__(message, budget=budget, needed=needed)


class ChatStateError(ConvoError, ValueError):
    """The chat is not in a state where this step makes sense (e.g.
    ``resume()`` when the last reply was not paused, or a replay whose new
    replies no longer match the recorded tool calls)."""


class ToolLoopError(ChatStateError):
    """``chat.run`` sent ``max_steps`` requests and the model still asks for
    tools.  Every step up to then is saved (the thread ends with the
    unanswered tool calls: ``chat.run(None, tools=...)`` goes on)."""

    steps: int
    thread_id: str

    def __init__(self, message: str, *, steps: int, thread_id: str) -> None:
        super().__init__(message, steps=steps, thread_id=thread_id)


class ToolSchemaError(ConvoError, TypeError):
    """``tool_schema(fn)`` cannot describe ``fn`` (``.tool`` names it)."""

    tool: str

    def __init__(self, message: str, *, tool: str) -> None:
        super().__init__(message, tool=tool)


class RequestParamError(ConvoError, TypeError):
    """A keyword given to a ``Chat`` step is not a known request field.

    ``unknown`` are the offending names, ``known`` every accepted one.  It
    is raised before anything is sent; a field convo does not know yet goes
    in ``extra={...}``.
    """

    unknown: tuple[str, ...]
    known: tuple[str, ...]
    where: str

    def __init__(self, unknown: Sequence[str], *, known: Sequence[str], where: str = "send") -> None:
        import difflib

        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, known, n=1)
            hints.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
        plural = "s" if len(unknown) != 1 else ""
        super().__init__(
            f"{where}() got unknown request field{plural} {', '.join(hints)}; the known "
            f"fields are: {', '.join(known)}; pass a field convo does not know yet in "
            "extra={...}",
            unknown=tuple(unknown),
            known=tuple(known),
            where=where,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_param_error, (type(self), self.unknown, self.known, self.where))


def _rebuild_param_error(
    cls: type[RequestParamError], unknown: tuple[str, ...], known: tuple[str, ...], where: str
) -> RequestParamError:
    return cls(unknown, known=known, where=where)


class TransportError(ConvoError):
    """Base of the transport's errors."""


class APIConnectionError(TransportError):
    """The request did not get a response (network failure)."""

    attempts: int

    def __init__(self, message: str = "connection error", *, attempts: int = 1) -> None:
        super().__init__(message, attempts=attempts)


class APITimeoutError(APIConnectionError):
    """The request timed out."""

    def __init__(self, message: str = "request timed out", *, attempts: int = 1) -> None:
        super().__init__(message, attempts=attempts)


class APIStatusError(TransportError):
    """The API answered with an error status."""

    status_code: int
    error_type: str | None
    request_id: str | None
    body: Any
    retry_after: float | None
    attempts: int

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_type: str | None = None,
        request_id: str | None = None,
        body: Any = None,
        retry_after: float | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(
            message,
            status_code=status_code,
            error_type=error_type,
            request_id=request_id,
            body=body,
            retry_after=retry_after,
            attempts=attempts,
        )


class BadRequestError(APIStatusError):
    """400 invalid_request_error."""


class AuthenticationError(APIStatusError):
    """401 authentication_error."""


class PaymentRequiredError(APIStatusError):
    """402 billing_error."""


class PermissionDeniedError(APIStatusError):
    """403 permission_error."""


class NotFoundError(APIStatusError):
    """404 not_found_error."""


class RequestTimeoutError(APIStatusError):
    """408: the server timed out waiting for the request (retried)."""


class APIConflictError(APIStatusError):
    """409 conflict_error (retried).  The SDK calls it ``ConflictError``; in convo
    that name is the store's head conflict, so the HTTP one is named apart."""


class PreconditionFailedError(APIStatusError):
    """412."""


class RequestTooLargeError(APIStatusError):
    """413 request_too_large (the SDK's ``ContentTooLargeError``)."""


ContentTooLargeError = RequestTooLargeError
"""The SDK's current name for 413."""


class UnprocessableEntityError(APIStatusError):
    """422."""


class RateLimitError(APIStatusError):
    """429 rate_limit_error."""


class RequestHeaderFieldsTooLargeError(APIStatusError):
    """431."""


class ClientClosedRequestError(APIStatusError):
    """499."""


class InternalServerError(APIStatusError):
    """A status >= 500 (api_error); the base of the 5xx classes below."""


class HTTPNotImplementedError(InternalServerError):
    """501."""


class ServiceUnavailableError(InternalServerError):
    """503."""


class GatewayTimeoutError(InternalServerError):
    """504 timeout_error."""


class OverloadedError(InternalServerError):
    """529 overloaded_error."""


class StreamError(TransportError):
    """A stream was malformed or ended before ``message_stop``."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)


class CassetteMissError(TransportError):
    """Replay mode: no recorded exchange matches this request."""

    key: str

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message, key=key)

