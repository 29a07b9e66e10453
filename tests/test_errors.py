"""The error hierarchy: one base, builtin mixins, picklable with context."""

from __future__ import annotations

import pickle

import pytest

import convo
from convo import errors


def test_every_error_derives_from_convo_error():
    """Callers can catch everything convo raises on purpose."""
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.ConvoError)


def test_builtin_mixins():
    """ValueError for bad input, LookupError for missing ids."""
    assert issubclass(errors.RuleError, ValueError)
    assert issubclass(errors.CodecError, ValueError)
    assert issubclass(errors.ThreadNotFoundError, LookupError)
    assert issubclass(errors.TurnNotFoundError, LookupError)
    assert issubclass(errors.NotSendableError, errors.RuleError)
    assert issubclass(errors.APITimeoutError, errors.APIConnectionError)
    assert issubclass(errors.RateLimitError, errors.APIStatusError)


@pytest.mark.parametrize(
    "error",
    [
        errors.RuleError("roles-alternate", "two user turns", index=3),
        errors.NotSendableError([errors.RuleError("has-messages", "empty")]),
        errors.CodecError("bad", path="$.messages[0]"),
        errors.ConflictError(thread_id="t", stored_head="sha256:a", attempted_head="sha256:b"),
        errors.ThreadNotFoundError("t"),
        errors.ThreadExistsError("t"),
        errors.TurnNotFoundError("sha256:x"),
        errors.HashMismatchError(turn_id="sha256:x", actual="sha256:y", thread_id="t"),
        errors.SchemaVersionError(database_revision="0001", head_revision="0002", newer=False),
        errors.BudgetError("too small", budget=10, needed=20),
        errors.RateLimitError("slow down", status_code=429, error_type="rate_limit_error",
                              request_id="req_1", retry_after=2.0, attempts=3),
        errors.APITimeoutError(attempts=2),
        errors.StreamError("broken"),
        errors.CassetteMissError("missing", key="k"),
    ],
)
def test_errors_pickle_with_their_context(error):
    """Errors cross process boundaries with message and attributes intact."""
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error)
    for key, value in vars(error).items():
        if key == "violations":
            assert [str(v) for v in again.violations] == [str(v) for v in value]
        else:
            assert getattr(again, key) == value


def test_rule_error_attributes():
    """.rule, .index and .detail are plain attributes."""
    err = errors.RuleError("first-turn-is-user", "must be user", index=0)
    assert (err.rule, err.index, err.detail) == ("first-turn-is-user", 0, "must be user")
    assert errors.RuleError("x", "y").index is None


def test_schema_error_says_what_to_do():
    """The message tells the user what to run."""
    older = errors.SchemaVersionError(database_revision="0001", head_revision="0002", newer=False)
    newer = errors.SchemaVersionError(database_revision="0009", head_revision="0002", newer=True)
    assert "convo db upgrade" in str(older)
    assert "upgrade convo" in str(newer)


def test_top_level_reexports_errors():
    """Every error is importable from convo."""
    for name in errors.__all__:
        assert getattr(convo, name) is getattr(errors, name)
