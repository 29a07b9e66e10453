"""Properties of the export/import formats, over convo.testing's conversations."""

from __future__ import annotations

import json

from hypothesis import given

from convo import Conversation
from convo.cli.formats import export_jsonl, export_payload, read_import
from convo.cli.markdown import export_markdown
from convo.testing import conversations


@given(conversations())
def test_jsonl_round_trips_every_valid_conversation(conversation: Conversation) -> None:
    """read_import(export_jsonl(c)) is c: ids, system, origins and meta."""
    text = "".join(export_jsonl("t", conversation, title="x", meta={"k": [1]}))
    back = read_import(text)
    assert back.conversation == conversation
    assert [(t.id, t.origin, t.meta) for t in back.conversation] == [
        (t.id, t.origin, t.meta) for t in conversation
    ]
    assert (back.format, back.thread, back.title, back.meta) == ("jsonl", "t", "x", {"k": [1]})


@given(conversations(min_turns=1))
def test_payload_round_trips_every_valid_conversation(conversation: Conversation) -> None:
    """A payload export imports back to the same turns (ids), with its request fields."""
    text = export_payload(conversation, model="m", max_tokens=5, params={"temperature": 1})
    back = read_import(text)
    assert back.conversation == conversation
    assert back.meta == {"request": {"model": "m", "max_tokens": 5, "temperature": 1}}
    assert json.loads(text)["messages"] == json.loads(json.dumps(conversation.to_payload("m", 5)))[
        "messages"
    ]


@given(conversations())
def test_markdown_has_a_section_per_turn(conversation: Conversation) -> None:
    """Markdown export never fails and has one heading per turn."""
    text = "".join(export_markdown("t", conversation))
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert len(headings) == len(conversation)


def test_jsonl_lines_split_only_on_newline() -> None:
    """U+2028, U+0085 and friends inside strings do not end a JSONL line (found by Hypothesis)."""
    conversation = Conversation().user("a\u2028b\x85c\x1cd").assistant("e\u2029f")
    text = "".join(export_jsonl("t", conversation))
    assert read_import(text).conversation == conversation
