"""The laws of the core, as Hypothesis properties, plus the state machine."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from convo import Conversation
from convo.testing import ConversationMachine, conversations, payloads, responses, turns


@given(conversations(beta=True, future=True))
def test_payload_round_trip(c):
    """from_payload(c.to_payload(...)) == c, and the body is exact JSON."""
    payload = c.to_payload("claude-opus-4-6", 1024, temperature=0.5)
    wire = json.loads(json.dumps(payload))
    again = Conversation.from_payload(wire)
    assert again == c
    assert again.to_payload("claude-opus-4-6", 1024, temperature=0.5) == wire
    assert json.dumps(again.to_payload("claude-opus-4-6", 1024, temperature=0.5)) == json.dumps(wire)


@given(payloads(beta=True, future=True))
def test_from_payload_to_payload_is_identity(p):
    """from_payload(p).to_payload(**rest) == p."""
    rest = {k: v for k, v in p.items() if k not in ("messages", "system")}
    assert Conversation.from_payload(p).to_payload(**rest) == p


@given(conversations())
def test_ids_are_a_verified_chain(c):
    """Each id hashes its parent and content; recomputing agrees."""
    parent = None
    for turn in c:
        assert turn.parent_id == parent
        turn.verify()
        parent = turn.id


@given(conversations(), conversations())
def test_equal_iff_same_history(a, b):
    """Equality is the same system and the same head id."""
    same = a.to_payload("m", 1) == b.to_payload("m", 1)
    assert (a == b) == same
    if a == b:
        assert hash(a) == hash(b)


@given(st.data())
def test_rebuilding_gives_equal_ids(data):
    """Equal content gives equal ids, however it was built."""
    c = data.draw(conversations())
    rebuilt = Conversation(c.system)
    for turn in c:
        rebuilt = rebuilt.append(turn.role, turn.content if turn.shorthand else turn.blocks,
                                 origin=turn.origin, meta=turn.meta)
    assert [t.id for t in rebuilt] == [t.id for t in c]


@given(turns())
def test_turn_text_json_round_trip(turn):
    """content_text decodes to content."""
    assert json.loads(turn.content_text) == turn.content
    assert json.loads(turn.meta_text) == turn.meta


@given(conversations(end_with="user"), responses())
def test_append_response_adds_one_model_turn(c, response):
    """A response becomes exactly one more turn, sendable back verbatim."""
    after = c.append_response(response)
    assert len(after) == len(c) + 1
    assert after.to_payload("m", 1)["messages"][-1]["content"] == response["content"]


class Machine(ConversationMachine):
    """convo's own state machine run against convo."""


Machine.TestCase.settings = settings(max_examples=25, stateful_step_count=15, deadline=None)
TestConversationMachine = Machine.TestCase


_ROLES = st.sampled_from(["user", "assistant", "system"])
_PARENTS = st.none() | st.text("0123456789abcdef", min_size=64, max_size=64).map("sha256:".__add__)


@given(st.text(), _ROLES, _PARENTS)
def test_a_string_turn_is_hashed_from_its_stored_text(text, role, parent):
    """Encoded once: the id hashed from the stored text (``shorthand_turn_id``)
    is the canonical record's id, for every string (surrogates aside, which
    neither form can encode and the input policy refuses)."""
    from convo._canonical import shorthand_turn_id, turn_id
    from convo.codec import dumps

    stored = dumps(text)
    try:
        expected = turn_id(parent, {"content": text, "role": role})
    except UnicodeEncodeError:
        return
    assert shorthand_turn_id(parent, role, stored) == expected


@given(st.text().filter(lambda s: not any(0xD800 <= ord(ch) <= 0xDFFF for ch in s)), _PARENTS)
def test_a_string_turn_has_the_id_of_its_block_free_record(text, parent):
    """A string turn built through ``Turn.create`` gets the contract's id and
    stores the JSON text of its content; ``verify`` agrees."""
    from convo import Turn
    from convo._canonical import turn_id
    from convo.errors import ConvoError

    try:
        turn = Turn.create("user", text, origin="human", parent_id=parent)
    except ConvoError:  # the input policy (e.g. NUL) refuses some strings
        return
    assert turn.id == turn_id(parent, {"content": text, "role": "user"})
    assert json.loads(turn.content_text) == text
    assert turn.meta_text == "{}"
    turn.verify()
    assert turn.with_parent(None).id == turn_id(None, {"content": text, "role": "user"})
