"""The fuzz suite's seeded mutation corpus and its harness.

``seeds()`` builds valid inputs of every shape convo parses (request
payloads, responses, single blocks, message contents, JSONL and payload
exports); ``mutants(n, seed)`` derives ``n`` hostile inputs from them with a
seeded ``random.Random``: structural edits of the JSON (a node replaced by
NaN, ±Infinity, a huge integer, a lone surrogate, deep nesting, a wrong
type, a long string; keys dropped or added) and edits of the text (byte
flips, truncation, spliced bytes, deep brackets, ``NaN`` tokens, huge
digit runs, lone ``\\ud800`` escapes, non-UTF-8 bytes).

``Harness`` runs one entry point on one input and records what happened:
success, a ``ConvoError`` (by class), or a failure (any other exception,
or a call over the time budget).  The tests assert there are no failures.
"""

from __future__ import annotations

import base64
import json
import math
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from convo import (
    CacheControl,
    Conversation,
    ConvoError,
    DocumentBlock,
    ImageBlock,
    PlainTextSource,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    UnknownBlock,
)
from convo.cli.formats import export_jsonl, export_payload
from convo.codec import block_to_json, content_to_json

TIME_LIMIT = 1.0
"""No single call may take longer (CPU seconds of this thread)."""

_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


# -- seeds ---------------------------------------------------------------------


def _conversations() -> list[Conversation]:
    plain = Conversation("Be brief.").user("Hello").assistant("Hi!").user("caf\u00e9 \U0001f600")
    tools = (
        Conversation([TextBlock("You may call tools.", cache_control=CacheControl(ttl="1h"))])
        .user("weather in Paris?")
        .append(
            "assistant",
            [
                ThinkingBlock("let me think", "sig=="),
                TextBlock("Let me look."),
                ToolUseBlock("toolu_1", "weather", {"city": "Paris", "days": [1, 2], "n": 2**70}),
            ],
            origin="model",
            meta={"id": "msg_1", "stop_reason": "tool_use", "usage": {"input_tokens": 9}},
        )
        .tool_results({"toolu_1": [TextBlock("sunny"), UnknownBlock({"type": "future", "x": [1.5, None]})]})
        .assistant([RedactedThinkingBlock("opaque"), TextBlock("It is sunny.")])
    )
    media = Conversation().user(
        [
            ImageBlock.from_bytes(_PNG),
            DocumentBlock(PlainTextSource("some text"), title="doc", context="ctx"),
            TextBlock("what is this?", cache_control=CacheControl()),
        ]
    )
    return [plain, tools, media]


def _responses() -> list[dict[str, Any]]:
    return [
        {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-opus-4-6",
            "content": [{"type": "text", "text": "Hello!"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 5, "cache_creation": {"ephemeral_5m_input_tokens": 0}},
        },
        {
            "id": "msg_02",
            "type": "message",
            "role": "assistant",
            "model": "claude-opus-4-6",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "c2ln"},
                {"type": "text", "text": "Checking.", "citations": [{"type": "char_location", "cited_text": "x"}]},
                {"type": "tool_use", "id": "toolu_9", "name": "lookup", "input": {"q": "x", "n": 18446744073709551617}},
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 1, "output_tokens": 2},
        },
    ]


def seeds() -> dict[str, list[Any]]:
    """Valid inputs by kind: ``payload``, ``response``, ``block``, ``content``
    (JSON values) and ``text`` (import files: payload and JSONL exports)."""
    conversations = _conversations()
    payloads = [c.to_payload("claude-opus-4-6", 64, temperature=0.5) for c in conversations]
    blocks = [
        json.loads(json.dumps(block_to_json(b)))
        for c in conversations
        for t in c.turns
        for b in t.blocks
    ]
    contents = [json.loads(json.dumps(content_to_json(t.blocks))) for c in conversations for t in c.turns]
    texts = [export_payload(c, model="m", max_tokens=8) for c in conversations]
    texts += ["".join(export_jsonl(f"t{i}", c, title="x", meta={"k": 1})) for i, c in enumerate(conversations)]
    return {
        "payload": [json.loads(json.dumps(p)) for p in payloads],
        "response": _responses(),
        "block": blocks,
        "content": contents,
        "text": texts,
    }


# -- mutations -----------------------------------------------------------------


def _deep(depth: int, rng: random.Random) -> Any:
    value: Any = rng.choice([0, "x", None, {}])
    for _ in range(depth):
        value = [value] if rng.random() < 0.5 else {"k": value}
    return value


def _hostile_value(rng: random.Random) -> Any:
    choice = rng.randrange(16)
    return [
        lambda: math.nan,
        lambda: math.inf,
        lambda: -math.inf,
        lambda: 2 ** rng.choice([63, 64, 65, 128, 1000]) + rng.choice([-1, 0, 1]),
        lambda: 10 ** rng.choice([4299, 4300, 20_000]),
        lambda: "\ud800",
        lambda: "ok \udfff tail",
        lambda: _deep(rng.choice([50, 101, 200, 1_000, 20_000]), rng),
        lambda: [1, "two", None],
        lambda: {"type": rng.choice(["text", "tool_use", "image", ["text"], 5])},
        lambda: rng.choice([None, True, False, 0, -1, 1.5, ""]),
        lambda: "x" * rng.choice([10_000, 1_000_000]),
        lambda: {"\ud800": 1},
        lambda: {1: "int key"},
        lambda: (1, 2),
        lambda: rng.choice([b"bytes", {1, 2}, object()]),
    ][choice]()


def _nodes(value: Any) -> Iterator[tuple[tuple[Any, ...], Any]]:
    # Iterative and depth-capped: mutants can already be deeply nested.
    stack: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while stack:
        path, node = stack.pop()
        yield path, node
        if len(path) >= 40:
            continue
        if isinstance(node, dict):
            stack.extend(((*path, k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in enumerate(node))


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {k: (_replace(v, rest, new) if k == head else v) for k, v in value.items()}
    return [(_replace(v, rest, new) if i == head else v) for i, v in enumerate(value)]


def mutate_json(value: Any, rng: random.Random) -> Any:
    """One structural edit of a JSON value (a fresh copy; ``value`` is kept)."""
    nodes = list(_nodes(value))
    path, node = rng.choice(nodes)
    op = rng.randrange(5)
    if op == 0 and isinstance(node, dict) and node:
        key = rng.choice(list(node))
        return _replace(value, path, {k: v for k, v in node.items() if k != key})
    if op == 1 and isinstance(node, dict):
        return _replace(value, path, {**node, rng.choice(["extra", "type", "content", "role"]): _hostile_value(rng)})
    if op == 2 and isinstance(node, list) and node:
        return _replace(value, path, [*node, rng.choice(node)] if rng.random() < 0.5 else node[1:])
    return _replace(value, path, _hostile_value(rng))


def mutate_text(text: str, rng: random.Random) -> str | bytes:
    """One textual edit of a JSON document (bytes when it breaks UTF-8)."""
    data = text.encode("utf-8")
    op = rng.randrange(9)
    at = rng.randrange(len(data) + 1)
    if op == 0:
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(flipped))
            flipped[i] ^= 1 << rng.randrange(8)
        return _text_or_bytes(bytes(flipped))
    if op == 1:
        return _text_or_bytes(data[:at])
    if op == 2:
        return _text_or_bytes(data[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 16))) + data[at:])
    if op == 3:
        n = rng.choice([150, 1_000, 100_000])
        return text[:at] + "[" * n + "]" * n + text[at:] if rng.random() < 0.5 else text[:at] + "[" * n + text[at:]
    if op == 4:
        return _swap_token(text, rng, rng.choice(["NaN", "Infinity", "-Infinity", "1e999", "9" * 5000]))
    if op == 5:
        return _swap_token(text, rng, '"\\ud800"')
    if op == 6:
        return text.replace('"', "", 1) if rng.random() < 0.5 else text.replace(":", ",", 1)
    if op == 7:
        return data[:at] + b"\xff\xfe\xc0" + data[at:]
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    return "\n".join([*lines[:i], lines[i], *lines[i:]]) if rng.random() < 0.5 else "\n".join(lines[::-1])


def _swap_token(text: str, rng: random.Random, token: str) -> str:
    # Replace one scalar token (a number, true/false/null or a string) with ``token``.
    spots = [m.span() for m in re.finditer(r'-?\d+(?:\.\d+)?|true|false|null|"(?:[^"\\]|\\.)*"', text)]
    if not spots:
        return text + token
    start, end = rng.choice(spots)
    return text[:start] + token + text[end:]


def _text_or_bytes(data: bytes) -> str | bytes:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def mutants(count: int, seed: int) -> Iterator[tuple[str, Any]]:
    """``count`` (kind, input) pairs, the same for the same ``seed``."""
    rng = random.Random(seed)
    pool = seeds()
    kinds = sorted(pool)
    for _ in range(count):
        kind = rng.choice(kinds)
        value = rng.choice(pool[kind])
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            value = mutate_text(value, rng) if kind == "text" else mutate_json(value, rng)
            if isinstance(value, bytes):
                break
        yield kind, value


# -- the harness -----------------------------------------------------------------


class Harness:
    """Runs entry points and sorts every outcome: ok, a convo error, a failure."""

    def __init__(self, time_limit: float = TIME_LIMIT) -> None:
        self.time_limit = time_limit
        self.calls = 0
        self.outcomes: Counter[str] = Counter()
        self.failures: list[str] = []

    def run(self, name: str, call: Callable[[], Any], *, must_succeed: bool = False) -> Any:
        """``call()``; returns its result, or ``None`` when it raised.

        ``must_succeed``: a law about accepted input, so even a convo error
        is a failure."""
        self.calls += 1
        start = time.thread_time()
        try:
            result = call()
        except ConvoError as exc:
            if must_succeed:
                self.failures.append(f"{name}: {type(exc).__name__}: {str(exc)[:300]}")
            self.outcomes[f"{name}: {type(exc).__name__}"] += 1
            result = None
        except Exception as exc:  # what the suite hunts for
            self.outcomes[f"{name}: FAILURE {type(exc).__name__}"] += 1
            self.failures.append(f"{name}: {type(exc).__name__}: {str(exc)[:200]}")
            result = None
        else:
            self.outcomes[f"{name}: ok"] += 1
        spent = time.thread_time() - start
        if spent > self.time_limit:
            self.failures.append(f"{name}: took {spent:.2f} s")
        return result

    def kinds(self) -> Counter[str]:
        """Distinct failures: entry point, exception and the message's start
        (numbers blanked, so one bug counts once)."""
        return Counter(re.sub(r"\d+", "N", f)[:90] for f in self.failures)

    def report(self) -> str:
        """A summary (inputs tried, outcome kinds) for the test's output."""
        lines = [
            f"{self.calls} calls, {len(self.failures)} failures "
            f"of {len(self.kinds())} distinct kinds"
        ]
        lines += [f"  {count:6d}  {kind}" for kind, count in sorted(self.outcomes.items())]
        lines += [f"  {count:6d}  FAILURE {kind}" for kind, count in self.kinds().most_common(60)]
        return "\n".join(lines)
