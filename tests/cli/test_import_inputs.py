"""``convo import`` applies the input policy: every bad file is one error line.

Non-UTF-8 bytes, NaN, lone surrogate escapes, nesting past the limit and
integers past the limit each give ``error: ...`` on stderr and exit 1 (no
traceback, nothing saved); big integers within the limit are kept exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from convo import Conversation
from convo.cli.formats import export_jsonl, read_import
from convo.inputs import MAX_INTEGER_DIGITS
from convo.store import Store

GOOD = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def test_non_utf8_import_file_is_one_clear_error(run: Any, tmp_path: Path, store: Store,
                                                 error_line: Any) -> None:
    """A Latin-1 file: the byte, its offset and line, exit 1, nothing saved."""
    path = tmp_path / "latin.json"
    path.write_bytes(json.dumps(GOOD).replace("hi", "caf\u00e9").encode("latin-1"))
    result = run("import", str(path))
    assert result.exit_code == 1
    line = error_line(result)
    assert "latin.json is not UTF-8 text: byte 0xe9 at offset" in line and "(line 1)" in line
    assert store.threads() == []


def test_non_utf8_stdin_is_one_clear_error(run: Any, error_line: Any) -> None:
    """The same from stdin."""
    result = run("import", "-", "--as", "t", input=b"\xff\xfe{}")  # type: ignore[arg-type]
    assert result.exit_code == 1
    assert "stdin is not UTF-8 text: byte 0xff at offset 0" in error_line(result)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"messages": [{"role": "user", "content": "x"}], "temperature": NaN}', "NaN"),
        ('{"messages": [{"role": "user", "content": "\\ud800"}]}', "lone surrogate"),
        ('{"messages": [{"role": "user", "content": ' + "[" * 3000 + "]" * 3000 + "}]}", "MAX_DEPTH"),
        ('{"messages": [], "n": ' + "9" * (MAX_INTEGER_DIGITS + 1) + "}", "integer"),
        ('{"messages": [{"role": "user", "content": [{"type": "x", "v": Infinity}]}]}', "Infinity"),
    ],
    ids=["nan", "surrogate", "deep", "huge-int", "infinity"],
)
def test_hostile_payload_files_are_one_error_line(run: Any, tmp_path: Path, store: Store,
                                                  error_line: Any, text: str, fragment: str) -> None:
    """Each policy violation: exit 1 and an error line that says what."""
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    result = run("import", str(path))
    assert result.exit_code == 1, result.output
    assert fragment.lower() in error_line(result).lower()
    assert store.threads() == []


def test_jsonl_with_nan_meta_is_refused_not_saved(run: Any, tmp_path: Path, store: Store,
                                                  error_line: Any) -> None:
    """NaN in a JSONL turn's meta (it used to reach save and fail there)."""
    lines = list(export_jsonl("t", Conversation().user("hi", meta={"score": 1.5})))
    lines[1] = lines[1].replace('"score":1.5', '"score":NaN')
    path = tmp_path / "t.jsonl"
    path.write_text("".join(lines), encoding="utf-8")
    result = run("import", str(path))
    assert result.exit_code == 1
    assert "line 2.meta.score" in error_line(result)
    assert store.threads() == []


def test_big_integers_survive_an_import(run: Any, tmp_path: Path, store: Store) -> None:
    """An integer past 64 bits in an imported payload is kept exactly."""
    number = 2**64 + 1
    payload = {"model": "m", "max_tokens": 5,
               "messages": [{"role": "user", "content": [{"type": "future", "n": number}]}]}
    path = tmp_path / "big.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    imported = read_import(path.read_text(encoding="utf-8"))
    kept = imported.conversation.turns[0].content[0]["n"]
    assert type(kept) is int and kept == number
    result = run("import", str(path))
    assert result.exit_code == 0, result.output
    assert store.info("big").head_id == Conversation.from_payload(payload).head_id
