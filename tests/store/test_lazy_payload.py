"""The payload of a loaded, undecoded thread (issue 11, load half).

``to_payload`` builds an undecoded turn's message straight from its stored
JSON text; everything else decodes on first use.  The laws: the lazy
payload equals the decoded one byte for byte, whatever the content; ids and
``verify`` do not change; a payload's fresh dicts are the caller's.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convo import Conversation, TextBlock, Turn, UnknownBlock
from convo._canonical import legacy_turn_id
from convo.codec import dumps
from convo.errors import CodecError
from convo.store import Store
from convo.testing import conversations
from convo.turns import _loads_frozen, _loads_plain, stored_turns

from .conftest import FILE_BACKENDS

_IDS = itertools.count()
_MODEL = "claude-opus-4-6"


def _lazy_copy(c: Conversation) -> Conversation:
    """``c`` as a store loads it: turns rebuilt from their stored texts."""
    rows = [(t.id, t.role, t.origin, t.content_text, t.meta_text) for t in c]
    return Conversation.from_turns(stored_turns(rows, (0, 1, 2, 3, 4)), c.system, validate=False)


def _decode_all(c: Conversation) -> None:
    for turn in c:
        assert isinstance(turn.blocks, tuple)


def _body(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False)


_PARAMS = st.sampled_from([
    {},
    {"cache": "auto"},
    {"cache": "auto", "cache_ttl": "1h"},
    {"temperature": 0.5, "cache_diagnostics": True},
])


@given(conversations(max_turns=10, beta=True, future=True), _PARAMS, st.data())
def test_lazy_payload_equals_decoded_payload(
    c: Conversation, params: dict[str, Any], data: st.DataObject
) -> None:
    """For any conversation, any payload options and any subset of turns
    decoded first, the payload of the stored form equals the decoded one,
    byte for byte as JSON, and equals the original's."""
    lazy = _lazy_copy(c)
    for i in data.draw(st.sets(st.integers(0, max(len(c) - 1, 0)), max_size=len(c))):
        if i < len(c):
            lazy[i].blocks  # noqa: B018 (decodes that turn only)
    want = _body(c.to_payload(_MODEL, 1024, **params))
    assert _body(lazy.to_payload(_MODEL, 1024, **params)) == want
    assert _body(lazy.to_payload(_MODEL, 1024, **params)) == want  # again: nothing went stale
    ids = [t.id for t in lazy]
    _decode_all(lazy)
    assert _body(lazy.to_payload(_MODEL, 1024, **params)) == want
    assert [t.id for t in lazy] == ids == [t.id for t in c]
    for turn in lazy:
        turn.verify()


@pytest.mark.parametrize("backend", FILE_BACKENDS, indirect=True)
def test_loaded_payload_equals_saved_payload(store: Store) -> None:
    """load(save(c)).to_payload() is c.to_payload() byte for byte; the
    thread still verifies and loads equal after the lazy payload."""

    @given(conversations(max_turns=8, future=True), _PARAMS)
    def check(c: Conversation, params: dict[str, Any]) -> None:
        thread = f"lazy{next(_IDS)}"
        store.save(thread, c)
        loaded = store.load(thread)
        payload = loaded.to_payload(_MODEL, 1024, **params)
        assert _body(payload) == _body(c.to_payload(_MODEL, 1024, **params))
        assert loaded == c and [t.id for t in loaded] == [t.id for t in c]
        assert store.verify(thread) == len(c)
        _decode_all(loaded)
        assert _body(loaded.to_payload(_MODEL, 1024, **params)) == _body(payload)

    check()


def _stored(content_text: str, *, role: str = "user", turn_id: str | None = None) -> Conversation:
    content = json.loads(content_text)
    tid = turn_id or legacy_turn_id(None, {"content": content, "role": role})
    turn = Turn.from_stored(
        id=tid, parent_id=None, role=role, origin="human", content_text=content_text, meta_text="{}"
    )
    return Conversation.from_turns([turn], validate=False)


@pytest.mark.parametrize(
    "content",
    [
        # stored before the null rule: the id hashed the nulls
        [{"type": "text", "text": "hi", "cache_control": None}],
        # keys in the order the API sent them, not sorted
        [{"text": "hi", "type": "text", "citations": None}],
        # a block type convo does not know, kept verbatim
        [{"type": "future", "n": 2**64 + 1, "x": [1.5, -0.0, {"deep": [None, True]}]}],
        # a known block with a field convo does not model
        [{"type": "text", "text": "hi", "new_field": {"a": 1}}],
        "plain string content",
    ],
)
def test_stored_edge_cases_send_what_was_stored(content: Any) -> None:
    """Legacy ids with nulls, key order, unknown blocks and extra fields:
    the lazy payload sends exactly the stored JSON, as the decoded one does."""
    c = _stored(json.dumps(content))
    lazy = _body(c.to_payload(_MODEL, 64))
    assert json.loads(lazy)["messages"][0]["content"] == content
    c.head.verify()  # type: ignore[union-attr]
    _decode_all(c)
    assert _body(c.to_payload(_MODEL, 64)) == lazy


def test_big_integers_keep_their_value_in_a_lazy_payload() -> None:
    """2**64 + 1 and 2**64 are different content: orjson's float would
    merge them, so the payload must not carry one."""
    for n in (2**64, 2**64 + 1, -(2**63) - 1, 10**30):
        c = Conversation().user([UnknownBlock({"type": "future", "n": n})])
        sent = _lazy_copy(c).to_payload(_MODEL, 1)["messages"][0]["content"][0]["n"]
        assert sent == n and type(sent) is int


def test_lazy_payload_messages_are_the_callers() -> None:
    """Editing a payload built from stored text changes neither the next
    payload nor the turns; a decoded turn's message stays read-only."""
    c = _lazy_copy(Conversation("sys").user("hello").assistant([TextBlock("hi")]))
    first = c.to_payload(_MODEL, 1)
    first["messages"][1]["content"][0]["text"] = "edited"
    first["messages"].append({"role": "user", "content": "injected"})
    again = c.to_payload(_MODEL, 1)
    assert again["messages"][1]["content"][0]["text"] == "hi"
    assert len(again["messages"]) == 2
    assert c[1].text == "hi"
    with pytest.raises(TypeError):
        c[1].message["content"] = "no"  # type: ignore[index]


_JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(min_value=-(2**80), max_value=2**80) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)


def _typed(value: Any) -> Any:
    """A value with every number's type made visible (1 and 1.0 differ)."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, float):
        return ("float", math.copysign(1.0, value), repr(value))
    return (type(value).__name__, value)


@given(_JSON)
def test_stored_text_decodes_as_json_loads_does(value: Any) -> None:
    """Whatever decoder runs, a stored text decodes to what ``json.loads``
    gives: same values, same number types, same key order; frozen or not."""
    text = dumps(value)
    want = _typed(json.loads(text))
    assert _typed(_loads_plain(text, "t")) == want
    assert _typed(_loads_frozen(text, "t")) == want
    assert json.dumps(_loads_plain(text, "t")) == json.dumps(json.loads(text))


def test_a_float_deep_in_the_text_is_found() -> None:
    """A big integer nested deep (orjson's float at the bottom) keeps its
    value; nested beyond what json.loads can read, a clear CodecError."""
    text = "[" * 500 + str(2**64 + 1) + "]" * 500
    value = _loads_plain(text, "t")
    for _ in range(500):
        value = value[0]
    assert value == 2**64 + 1 and type(value) is int
    with pytest.raises(CodecError, match="nested too deeply"):
        _loads_plain("[" * 1000 + str(2**64 + 1) + "]" * 1000, "t")


def test_a_stored_row_with_an_unknown_role_or_origin_is_refused() -> None:
    """A damaged row's role or origin is named in a ValueError (the store
    turns it into a StoreError), never a turn with a made-up role."""
    good = ("sha256:" + "0" * 64, "user", "human", '"hi"', "{}")
    assert stored_turns([good], (0, 1, 2, 3, 4))[0].role == "user"
    with pytest.raises(ValueError, match="'robot'"):
        stored_turns([good, (good[0], "robot", "human", '"x"', "{}")], (0, 1, 2, 3, 4))
    with pytest.raises(ValueError, match="'alien'"):
        stored_turns([(good[0], "user", "alien", '"x"', "{}")], (0, 1, 2, 3, 4))
