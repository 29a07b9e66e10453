"""convo export and convo import: the three formats, round trips and broken files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from convo import Conversation, ImageBlock, TextBlock
from convo.cli.formats import JSONL_FORMAT, read_import
from convo.errors import CodecError, RuleError
from convo.jsonl import export_jsonl
from convo.store import Store
from convo.testing.strategies import _png


def test_export_jsonl_round_trips_exactly(run: Any, seeded: Conversation, store: Store,
                                         tmp_path: Path) -> None:
    """export --format jsonl then import gives the same turns, ids, origins and meta."""
    result = run("export", "t1", "--format", "jsonl")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    header, turns = lines[0], lines[1:]
    assert header["format"] == JSONL_FORMAT and header["version"] == 1
    assert (header["thread"], header["title"], header["system"]) == ("t1", "first", "Be brief.")
    assert header["length"] == 4 and header["head_id"] == seeded.head_id
    assert [t["id"] for t in turns] == [t.id for t in seeded]
    assert [t["parent_id"] for t in turns] == [None, *[t.id for t in seeded.turns[:-1]]]
    assert [t["origin"] for t in turns] == ["human", "synthetic", "human", "model"]
    assert turns[3]["meta"]["stop_reason"] == "end_turn"

    path = tmp_path / "t1.jsonl"
    path.write_text(result.stdout, encoding="utf-8")
    imported = run("import", str(path), "--as", "copy")
    assert imported.exit_code == 0, imported.output
    assert "imported 4 turns (jsonl) into new thread copy" in imported.stdout
    copy = store.load("copy")
    assert copy == seeded and [t.meta for t in copy] == [t.meta for t in seeded]
    assert [t.origin for t in copy] == [t.origin for t in seeded]
    assert store.info("copy").title == "first"


def test_export_payload_is_the_request_body(run: Any, seeded: Conversation) -> None:
    """--format payload prints exactly to_payload(model, max_tokens) of the thread."""
    result = run("export", "t1", "--format", "payload", "--max-tokens", "77")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == seeded.to_payload("claude-opus-4-6", 77)
    other = run("export", "t1", "--format", "payload", "--model", "claude-haiku-4-5")
    assert json.loads(other.stdout)["model"] == "claude-haiku-4-5"


def test_payload_import_then_export_gives_it_back(run: Any, tmp_path: Path, store: Store) -> None:
    """An imported payload keeps its other fields, so exporting it returns the same body."""
    payload = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 300,
        "system": [{"type": "text", "text": "Be brief."}],
        "temperature": 0.2,
        "messages": [
            {"role": "user", "content": "What is latin for Ant?"},
            {"role": "assistant", "content": "The answer is ("},
        ],
    }
    path = tmp_path / "request.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    result = run("import", str(path))
    assert result.exit_code == 0, result.output
    assert "into new thread request" in result.stdout
    assert [t.origin for t in store.load("request")] == ["human", "synthetic"]
    back = run("export", "request", "--format", "payload")
    assert json.loads(back.stdout) == payload


def test_export_markdown_to_a_file(run: Any, store: Store, tmp_path: Path) -> None:
    """--format markdown -o FILE writes a readable document (images and tools summarised)."""
    image = ImageBlock.from_bytes(_png(3, 2))
    conversation = (
        Conversation(system="Be brief.")
        .user([image, TextBlock("What is this?")])
        .assistant("A grey rectangle.")
    )
    store.save("pic", conversation, title="A picture")
    out = tmp_path / "pic.md"
    result = run("export", "pic", "--format", "markdown", "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# A picture\n")
    assert "> Be brief." in text and "## 0. user (human)" in text
    assert "*[image image/png 3x2," in text and "What is this?" in text
    assert "## 1. assistant (synthetic)" in text
    assert "wrote 2 turns of pic" in result.stderr


def test_export_missing_thread(run: Any, store: Store, error_line: Any) -> None:
    """Exporting a thread that does not exist: exit 3."""
    result = run("export", "nope")
    assert result.exit_code == 3 and error_line(result) == "error: no thread 'nope'"


BROKEN: dict[str, Any] = {
    "model": "claude-opus-4-6",
    "max_tokens": 100,
    "messages": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]},
        {"role": "assistant", "content": "It is sunny."},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_9", "content": "??"}]},
    ],
}


def test_import_reports_the_first_broken_rule(run: Any, tmp_path: Path, store: Store,
                                              error_line: Any) -> None:
    """A payload breaking a rule: one line with the rule and the message index, exit 1."""
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(BROKEN), encoding="utf-8")
    result = run("import", str(path))
    assert result.exit_code == 1
    line = error_line(result)
    assert line.startswith("error: [tool-result-follows-tool-use] messages.4: ")
    assert store.threads() == []


def test_import_reports_unknown_tool_result_ids(run: Any, tmp_path: Path, error_line: Any) -> None:
    """The brief's example: a tool result answering an id nobody asked for."""
    payload = dict(BROKEN, messages=[*BROKEN["messages"][:2], {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "x"}]}])
    path = tmp_path / "ids.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    result = run("import", str(path))
    assert result.exit_code == 1
    assert error_line(result).startswith("error: [tool-result-ids-known] messages.2: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"model": "x", "messages": [', "not valid JSON: Expecting value (line 1, column 29)"),
        ("", "the file is empty"),
        ("[1, 2]", "not a payload"),
        ('{"messages": [{"role": "robot", "content": "x"}]}',
         "role must be one of user, assistant, system, got 'robot' @ $.messages[0].role"),
    ],
)
def test_import_malformed_files(run: Any, tmp_path: Path, error_line: Any, text: str,
                                message: str) -> None:
    """Malformed JSON or shapes: one line, exit 1."""
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    result = run("import", str(path))
    assert result.exit_code == 1
    assert message in error_line(result)


def jsonl(seeded: Conversation) -> list[dict[str, Any]]:
    from convo.cli.formats import export_jsonl

    return [json.loads(line) for line in export_jsonl("t1", seeded)]


def write_jsonl(path: Path, records: list[Any]) -> None:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")


def test_import_jsonl_catches_edits(seeded: Conversation, tmp_path: Path) -> None:
    """A JSONL file whose content no longer hashes to its id, or whose chain is broken, is refused."""
    records = jsonl(seeded)
    records[2]["content"] = "Hello?"
    with pytest.raises(CodecError, match=r"is not what the turn hashes to .* @ line 3.id"):
        read_import("\n".join(json.dumps(r) for r in records))
    records = jsonl(seeded)
    records[3]["parent_id"] = records[1]["id"]
    with pytest.raises(CodecError, match=r"line 4\.parent_id"):
        read_import("\n".join(json.dumps(r) for r in records))
    records = jsonl(seeded)
    for record in records[1:]:
        del record["id"], record["parent_id"]
    assert read_import("\n".join(json.dumps(r) for r in records)).conversation == seeded


def test_import_jsonl_rule_error_and_bad_line(run: Any, seeded: Conversation, tmp_path: Path,
                                              error_line: Any) -> None:
    """A JSONL turn breaking a rule names it; a line that is not JSON names the line."""
    records = jsonl(seeded)
    del records[2]  # two user turns in a row now
    for record in records[1:]:
        del record["id"], record["parent_id"]
    path = tmp_path / "rule.jsonl"
    write_jsonl(path, records)
    result = run("import", str(path))
    assert result.exit_code == 1
    assert error_line(result).startswith("error: [roles-alternate] messages.1: ")
    path.write_text(json.dumps(jsonl(seeded)[0]) + "\n{oops\n", encoding="utf-8")
    bad = run("import", str(path))
    assert bad.exit_code == 1 and error_line(bad).endswith("@ line 2")


def test_read_import_validates_the_header(seeded: Conversation) -> None:
    """Version, meta, system and length in the header are checked."""
    header, *turns = jsonl(seeded)
    body = [json.dumps(t) for t in turns]
    with pytest.raises(CodecError, match="version 2 is not supported"):
        read_import("\n".join([json.dumps(header | {"version": 2}), *body]))
    with pytest.raises(CodecError, match="header says 9 turns"):
        read_import("\n".join([json.dumps(header | {"length": 9}), *body]))
    with pytest.raises(CodecError, match=r"head_id sha256:0 is not the last turn's id"):
        read_import("\n".join([json.dumps(header | {"head_id": "sha256:0"}), *body]))
    with pytest.raises(CodecError, match="system must be"):
        read_import("\n".join([json.dumps(header | {"system": 5}), *body]))
    with pytest.raises(CodecError, match="system blocks must be text blocks"):
        read_import("\n".join([json.dumps(header | {"system": [{"type": "tool_use", "id": "t", "name": "n", "input": {}}]}), *body]))
    blocks = header | {"system": [{"type": "text", "text": "Be brief."}]}
    imported = read_import("\n".join([json.dumps(blocks), *body]))
    assert imported.conversation.system == (TextBlock("Be brief."),)
    assert read_import("\n".join([json.dumps(header | {"length": None}), *body])).thread == "t1"
    swapped = [{k: v for k, v in t.items() if k not in ("id", "parent_id")} for t in turns[1::-1]]
    with pytest.raises(RuleError, match="first-turn-is-user"):
        read_import("\n".join([json.dumps(header | {"length": 2}), *map(json.dumps, swapped)]))


def test_import_from_stdin_needs_a_name_for_a_payload(run: Any, store: Store,
                                                     error_line: Any) -> None:
    """'-' reads stdin; a payload has no thread name of its own, so --as is required."""
    text = json.dumps({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]})
    missing = run("import", "-", input=text)
    assert missing.exit_code == 2 and "--as" in error_line(missing)
    assert run("import", "-", "--as", "s", input=text).exit_code == 0
    assert store.load("s").head is not None


def test_import_into_an_existing_thread(run: Any, seeded: Conversation, tmp_path: Path,
                                        store: Store, error_line: Any) -> None:
    """Importing an extension of a thread fast-forwards it; anything else is exit 4."""
    longer = seeded.user("And more?")
    path = tmp_path / "longer.json"
    path.write_text(json.dumps(longer.to_payload("claude-opus-4-6", 10)), encoding="utf-8")
    # from_payload gives assistant turns origin "synthetic": same ids, so it extends t1.
    assert run("import", str(path), "--as", "t1").exit_code == 0
    assert len(store.load("t1")) == 5
    other = tmp_path / "other.json"
    other.write_text(json.dumps(Conversation(system="Be brief.").user("Different").to_payload(
        "claude-opus-4-6", 10)), encoding="utf-8")
    result = run("import", str(other), "--as", "t1")
    assert result.exit_code == 4 and "error: thread 't1' has head" in error_line(result)


def test_reimport_counts_only_what_was_written(run: Any, tmp_path: Path, seeded: Conversation,
                                              store: Store) -> None:
    """Importing a thread's own export again writes nothing and says so; a
    longer file says how many turns were new."""
    path = tmp_path / "t1.jsonl"
    assert run("export", "t1", "-o", str(path)).exit_code == 0
    again = run("import", str(path))
    assert again.exit_code == 0, again.output
    assert "nothing new: t1 already has these 4 turns" in again.stdout
    assert "nothing was written" in again.stdout
    longer = seeded.user("And now?")
    path.write_text("".join(export_jsonl("t1", longer)))
    more = run("import", str(path))
    assert "imported 1 turn (jsonl) into t1: 4 turns were already there (now 5 turns)" in more.stdout
    assert len(store.load("t1")) == 5
