"""Every Python block in README.md and docs/ runs as written.

The collector reads README.md and every ``*.md`` file under docs/ (new files
are picked up without touching this test). Each ```` ```python ```` block
runs on its own, in a fresh namespace and an empty working directory, with
no API key and no network. Words after ``python`` in the fence's info
string say what a block needs from the test:

* ``fake-api``: a Messages API on 127.0.0.1 (a small fake started here),
  reached through ``ANTHROPIC_BASE_URL``, with a made-up ``ANTHROPIC_API_KEY``.

A block with top-level ``await`` runs in an event loop. Any other word is an
error, so a typo cannot silently skip a block.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs
import pytest

from convo.transport._sse import encode_event
from convo.transport.scripted import text_message
from convo.transport.stream import message_events

ROOT = Path(__file__).resolve().parents[1]
FLAGS = frozenset({"fake-api"})
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@attrs.frozen
class DocBlock:
    """One fenced Python block: where it is, what it needs, its source."""

    path: Path
    line: int
    flags: frozenset[str]
    source: str

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def doc_files(root: Path = ROOT) -> list[Path]:
    """README.md and every Markdown file under docs/, in a stable order."""
    docs = sorted((root / "docs").rglob("*.md")) if (root / "docs").is_dir() else []
    return [root / "README.md", *docs]


def python_blocks(path: Path) -> Iterator[DocBlock]:
    """The ```python blocks of one Markdown file (any fence length, indented or not)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if opened is None or (opened["fence"][0] == "`" and "`" in opened["info"]):
            # CommonMark: a backtick fence's info string has no backtick, so
            # a line opening with inline code (```` ```python ````) is text
            i += 1
            continue
        indent, fence = len(opened["indent"]), opened["fence"]
        words = opened["info"].split()
        body: list[str] = []
        start = i + 1
        i += 1
        while i < len(lines):
            closing = FENCE.match(lines[i])
            if closing and closing["fence"].startswith(fence) and not closing["info"].strip():
                break
            body.append(lines[i][indent:] if lines[i][:indent].isspace() else lines[i])
            i += 1
        i += 1
        if words and words[0].lower() in ("python", "py"):
            yield DocBlock(path, start, frozenset(words[1:]), "\n".join(body) + "\n")


def all_blocks() -> list[DocBlock]:
    return [block for path in doc_files() for block in python_blocks(path)]


# -- a fake Messages API on loopback --------------------------------------------------


def fake_reply(payload: dict[str, Any]) -> dict[str, Any]:
    """A deterministic answer: it quotes the last user text it was sent."""
    last = payload["messages"][-1]["content"] if payload.get("messages") else ""
    if isinstance(last, list):
        last = " ".join(str(b.get("text", b.get("type"))) for b in last if isinstance(b, dict))
    return text_message(f"(fake API) you said: {last}", payload)


class _FakeAPI(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        if self.path.endswith("/count_tokens"):
            self._json({"input_tokens": len(json.dumps(body)) // 4})
            return
        message = fake_reply(body)
        if not body.get("stream"):
            self._json(message)
            return
        data = b"".join(encode_event(event) for event in message_events(message))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("request-id", "req_fake_stream")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _json(self, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("request-id", "req_fake")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def fake_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# -- the tests -------------------------------------------------------------------------


BLOCKS = all_blocks()


def test_the_collector_sees_every_doc_file(tmp_path: Path) -> None:
    """A Markdown file added anywhere under docs/ is collected, fences of any
    length and indentation included, and non-Python blocks are not."""
    (tmp_path / "docs" / "deep").mkdir(parents=True)
    (tmp_path / "README.md").write_text(
        "```python\nx = 1\n```\n\n```` ```python ```` is inline code, not a fence\n"
    )
    (tmp_path / "docs" / "deep" / "new.md").write_text(
        "text\n\n  ````python fake-api\n  y = 2\n  ````\n\n```sh\nls\n```\n"
    )
    blocks = [b for p in doc_files(tmp_path) for b in python_blocks(p)]
    assert [(b.path.name, b.source, b.flags) for b in blocks] == [
        ("README.md", "x = 1\n", frozenset()),
        ("new.md", "y = 2\n", frozenset({"fake-api"})),
    ]
    assert len(BLOCKS) >= 30
    assert {b.path for b in BLOCKS} >= {ROOT / "README.md", *(ROOT / "docs").glob("*.md")} - {
        p for p in (ROOT / "docs").glob("*.md") if "```python" not in p.read_text()
    }


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.name)
def test_doc_block_runs(
    block: DocBlock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """The block runs as written: its own imports, no placeholders, no network."""
    unknown = block.flags - FLAGS
    assert not unknown, f"{block.name}: unknown fence words {sorted(unknown)}"
    monkeypatch.chdir(tmp_path)
    # A block may register a model profile (README: "Register your own"):
    # the registry is process-wide, so each block gets a copy of it.
    from convo import models

    monkeypatch.setattr(models, "_profiles", dict(models._profiles))
    if "fake-api" in block.flags:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", request.getfixturevalue("fake_api"))
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-doc-example-key")
    code = compile(
        block.source, block.name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
    )
    namespace: dict[str, Any] = {"__name__": "__doc_example__"}
    result = eval(code, namespace)
    if inspect.iscoroutine(result):
        asyncio.run(result)
