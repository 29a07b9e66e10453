"""Status classes named and arranged as the official SDK's (the SDK is the oracle)."""

from __future__ import annotations

import pytest

import convo
from convo.errors import (
    APIConflictError,
    APIStatusError,
    ConflictError,
    InternalServerError,
    StoreError,
)
from convo.transport._status import STATUS_ERRORS, error_class

sdk_exceptions = pytest.importorskip("anthropic._exceptions")
sdk_classes = pytest.importorskip("anthropic._error_classes")

# Where convo's name differs from the SDK's, and why (convo/errors.py).
RENAMED = {
    "ConflictError": "APIConflictError",  # convo.ConflictError is the store's head conflict
    "ContentTooLargeError": "RequestTooLargeError",  # convo's first name; the SDK's is an alias
}


def sdk_by_status() -> dict[int, type[Exception]]:
    return {
        status: cls for (status, code), cls in sdk_classes.ERROR_CLASSES.items() if code is None
    }


@pytest.mark.parametrize("status", sorted(sdk_by_status()))
def test_each_sdk_status_class_has_its_convo_twin(status: int) -> None:
    """For every status the SDK names, convo raises the class of the same name, with the
    same place under InternalServerError."""
    sdk = sdk_by_status()[status]
    ours = error_class(status)
    assert ours.__name__ == RENAMED.get(sdk.__name__, sdk.__name__)
    assert getattr(convo, ours.__name__) is ours
    assert issubclass(ours, InternalServerError) == issubclass(
        sdk, sdk_exceptions.InternalServerError
    )


@pytest.mark.parametrize("status", [418, 450, 500, 502, 505, 599])
def test_statuses_without_a_class_fall_back_as_the_sdk_does(status: int) -> None:
    """Other >= 500 are InternalServerError, other statuses plain APIStatusError."""
    assert status not in STATUS_ERRORS
    assert error_class(status) is (InternalServerError if status >= 500 else APIStatusError)


def test_the_two_conflicts_are_distinct_and_both_reachable() -> None:
    """convo.ConflictError stays the store's; the HTTP 409 is APIConflictError."""
    assert issubclass(ConflictError, StoreError)
    assert not issubclass(ConflictError, APIStatusError)
    assert issubclass(APIConflictError, APIStatusError)
    assert not issubclass(APIConflictError, StoreError)
    assert convo.ConflictError is ConflictError
    assert convo.APIConflictError is APIConflictError
    assert convo.ContentTooLargeError is convo.RequestTooLargeError
