"""Round-trip properties over generated conversations, on every backend."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convo import Conversation, Turn
from convo.errors import ConflictError
from convo.store import Store
from convo.testing import conversations

from .conftest import FILE_BACKENDS

MEMORY_AND_PG = ["sqlite-memory", pytest.param("postgres", marks=pytest.mark.postgres)]

_IDS = itertools.count()


def _same(loaded: Conversation, saved: Conversation) -> None:
    assert loaded == saved
    assert loaded.system_json == saved.system_json
    assert loaded.system == saved.system
    assert len(loaded) == len(saved)
    for got, want in zip(loaded.turns, saved.turns, strict=True):
        assert got.id == want.id
        assert got.parent_id == want.parent_id
        assert got.role == want.role
        assert got.origin == want.origin
        assert got.meta == want.meta
        assert got.content == want.content
        assert got.blocks == want.blocks


@pytest.mark.parametrize("backend", FILE_BACKENDS, indirect=True)
def test_load_of_save_is_identity(store: Store):
    """For any conversation, load(save(c)) equals c turn for turn: ids,
    origins, meta, content and the system prompt; and it verifies."""

    @given(conversations(max_turns=8))
    def check(c: Conversation) -> None:
        thread = f"t{next(_IDS)}"
        info = store.save(thread, c)
        assert info.length == len(c) and info.head_id == c.head_id
        _same(store.load(thread), c)
        assert store.verify(thread) == len(c)

    check()


@pytest.mark.parametrize("backend", MEMORY_AND_PG, indirect=True)
def test_forks_and_fast_forwards(store: Store):
    """Saving growing prefixes always fast-forwards; fork(at=k) loads c[:k];
    a diverging conversation conflicts and changes nothing."""

    @given(conversations(min_turns=1, max_turns=8), st.data())
    def check(c: Conversation, data: st.DataObject) -> None:
        thread = f"p{next(_IDS)}"
        cuts = sorted(data.draw(st.sets(st.integers(0, len(c)), max_size=3)) | {len(c)})
        for cut in cuts:
            store.save(thread, c[:cut])
        _same(store.load(thread), c)
        at = data.draw(st.integers(0, len(c)))
        fork = store.fork(thread, at=at, new_id=f"{thread}-f")
        assert fork.length == at
        _same(store.load(fork.id), c[:at])
        last = c.turns[-1]
        ending = Turn.create(
            last.role, "a different ending", origin="synthetic", parent_id=last.parent_id
        )
        other = Conversation.from_turns((*c.turns[:-1], ending), c.system, validate=False)
        if other.head_id != c.head_id:
            with pytest.raises(ConflictError) as caught:
                store.save(thread, other)
            assert caught.value.stored_head == c.head_id
            _same(store.load(thread), c)

    check()
