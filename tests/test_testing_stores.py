"""convo.testing.memory_store: a fresh, migrated, private store per call."""

from __future__ import annotations

from hypothesis import given, settings

from convo import Conversation
from convo.store import head_revision
from convo.store.migrate import database_revision
from convo.testing import conversations, memory_store


def test_memory_store_is_migrated_and_private():
    """Each store is at the head revision and shares nothing with another."""
    with memory_store() as first, memory_store() as second:
        with first.engine.connect() as connection:
            assert database_revision(connection) == head_revision()
        first.save("t", Conversation().user("hi"))
        assert [i.id for i in first.threads()] == ["t"]
        assert second.threads() == []
    with memory_store() as third:
        assert third.threads() == []


@settings(max_examples=15)
@given(conversations(max_turns=6))
def test_memory_store_round_trips_in_a_property_test(c):
    """The documented use: one store per example, inside the test."""
    with memory_store() as store:
        store.save("t", c)
        assert store.load("t") == c
