"""``convo demo``: a short scripted tour, offline, with no API key.

A ``ScriptedTransport`` plays Claude, so nothing leaves the machine.  The
tour covers the seed examples (a multi-turn exchange after a synthetic
assistant turn, a prefill, an image made in code, a tool call and its
result), saves the thread, forks it, replays it on another model, and
shows the thread, the last request body and the fork tree.  It resets its
own threads (``demo``, ``demo-fork``, ``demo-replay``) first, so it can run
any number of times.
"""

from __future__ import annotations

import contextlib
import json
import struct
import zlib
from collections.abc import Mapping
from typing import Any

import click
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from convo.blocks import ImageBlock, TextBlock, ToolResultBlock
from convo.cli.app import App, main
from convo.cli.render import payload_view, token_counts, turns_table
from convo.cli.threads import tree_of
from convo.cli.usage import print_cached_exchange
from convo.errors import NotSendableError, ThreadNotFoundError
from convo.transport.scripted import estimate_tokens

__all__ = ["DEMO_DB", "DEMO_THREADS", "demo", "demo_png", "demo_reply"]

DEMO_DB = "sqlite:///./convo-demo.db"
DEMO_THREADS = ("demo", "demo-fork", "demo-replay", "demo-cache")
DEMO_MODEL = "claude-opus-4-6"
PREFILL_MODEL = "claude-opus-4-5"
REPLAY_MODEL = "claude-sonnet-4-5"
SYSTEM = "You are a concise, friendly assistant."
ANT_QUESTION = "What is latin for Ant? (A) Apoidea, (B) Rhopalocera, (C) Formicidae"
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "The current weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def demo_png(size: int = 8, rgb: tuple[int, int, int] = (139, 69, 19)) -> bytes:
    """A real ``size`` x ``size`` PNG of one colour (ant brown), made in code."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    row = b"\x00" + bytes(rgb) * size
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * size))
        + chunk(b"IEND", b"")
    )


def _message(payload: Mapping[str, Any], content: list[dict[str, Any]], stop: str) -> dict[str, Any]:
    text = "".join(str(b.get("text", "")) for b in content) or json.dumps(content)
    number = len(payload.get("messages", ()))
    return {
        "id": f"msg_demo_{number:03d}",
        "type": "message",
        "role": "assistant",
        "model": payload.get("model", DEMO_MODEL),
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": estimate_tokens(
                {k: v for k, v in payload.items() if k in ("messages", "system", "tools")}
            ),
            "output_tokens": max(1, len(text) // 4),
        },
    }


def demo_reply(payload: Mapping[str, Any]) -> dict[str, Any]:
    """What the scripted Claude answers to a request (deterministic)."""
    messages = payload.get("messages") or [{}]
    last = messages[-1]
    content = last.get("content")
    blocks = content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
    text = " ".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")
    kinds = {b.get("type") for b in blocks}

    def say(words: str, stop: str = "end_turn") -> dict[str, Any]:
        return _message(payload, [{"type": "text", "text": words}], stop)

    if last.get("role") == "assistant":  # a prefill: continue it
        return say("C", "max_tokens" if payload.get("max_tokens") == 1 else "end_turn")
    if "tool_result" in kinds:
        result = next(b for b in blocks if b.get("type") == "tool_result")
        return say(f"It is {result.get('content')} in Paris right now.")
    if "image" in kinds:
        return say("A tiny 8x8 square of ant brown: the most abstract ant I have seen.")
    if "weather" in text:
        calls = sum(1 for m in messages if m.get("role") == "user")
        call = {"type": "tool_use", "id": f"toolu_demo_{calls:02d}", "name": "get_weather",
                "input": {"city": "Paris"}}
        return _message(payload, [{"type": "text", "text": "Let me check."}, call], "tool_use")
    if "latin" in text:
        return say("The answer is (C) Formicidae.")
    if "five-year-old" in text:
        return say("It is a very well-read parrot that guesses the next word, one word at a time.")
    if "LLM" in text:
        return say(
            "Sure! A large language model is a neural network trained on a great deal of "
            "text to predict the next token; that one skill turns out to cover writing, "
            "summarising, translating and answering questions."
        )
    return say(f"(scripted) you said: {text[:60]}")


def _reset(store: Any) -> None:
    for thread in reversed(DEMO_THREADS):
        with contextlib.suppress(ThreadNotFoundError):
            store.delete(thread)


@main.command()
@click.option("--db", "demo_db", metavar="URL",
              help="Database for the demo (default ./convo-demo.db; the global --db also works).")
@click.pass_context
def demo(ctx: click.Context, demo_db: str | None) -> None:
    """A two-second offline tour: chat, prefill, image, tools, fork, replay."""
    from convo.chat import Chat
    from convo.cli.app import db_url
    from convo.transport import ScriptedTransport

    app: App = ctx.find_object(App)  # type: ignore[assignment]
    parent = ctx.parent
    explicit = parent is not None and parent.get_parameter_source("db") == click.core.ParameterSource.COMMANDLINE
    url = db_url(demo_db) if demo_db else (app.db if explicit else DEMO_DB)
    store = app.store(url)
    _reset(store)
    transport = ScriptedTransport(demo_reply, chunk_size=12)
    out = app.out
    out.print(Panel.fit(
        f"[bold]convo demo[/]  offline: a ScriptedTransport plays Claude, no API key\n"
        f"[dim]database {escape(url)}[/]",
        border_style="cyan",
    ))
    steps = Table.grid(padding=(0, 1))
    steps.add_column(style="green")
    steps.add_column()

    def step(text: str, mark: str = "✓") -> None:
        steps.add_row(mark, text)

    chat = Chat(store, transport, "demo", model=DEMO_MODEL, system=SYSTEM,
                params={"tools": [WEATHER_TOOL]}, title="convo demo")
    chat.commit(chat.conversation.user("Hello, Claude").assistant("Hello!"))
    step("few-shot user turn + [yellow]synthetic[/] assistant turn: saved, nothing sent")

    deltas: list[str] = []
    reply = chat.send("Can you describe LLMs to me?", stream=True, on_text=deltas.append)
    step(f"streamed reply ({len(deltas)} deltas): [magenta]{escape(_clip(reply.text))}[/]")

    sent = len(transport.requests)
    try:
        chat.send(ANT_QUESTION, prefill="The answer is (", max_tokens=1)
    except NotSendableError as exc:
        assert len(transport.requests) == sent
        step(f"prefill on {DEMO_MODEL}: refused locally [red]\\[{exc.rule}][/]", "✗")
    reply = chat.send(ANT_QUESTION, prefill="The answer is (", model=PREFILL_MODEL, max_tokens=1)
    step(f"prefill on {PREFILL_MODEL}: joined turn [magenta]{escape(repr(reply.text))}[/] "
         f"({chat.stop_reason})")

    image = ImageBlock.from_bytes(demo_png())
    reply = chat.send([image, TextBlock("What is in the above image?")])
    step(f"image (8x8 PNG made in code): [magenta]{escape(_clip(reply.text))}[/]")

    reply = chat.send("What's the weather in Paris?")
    call = chat.tool_calls[0]
    step(f"tool call [blue]{call.name}({json.dumps(dict(call.input))})[/] ({chat.stop_reason})")
    reply = chat.tool_results({call.id: ToolResultBlock(call.id, "18 °C and sunny")})
    step(f"tool result sent: [magenta]{escape(_clip(reply.text))}[/]")

    fork = chat.fork(at=4, new_thread="demo-fork")
    reply = fork.send("Now explain it to a five-year-old.")
    step(f"fork at turn 4 -> demo-fork: [magenta]{escape(_clip(reply.text))}[/]")

    before = len(transport.requests)
    replay = chat.replay(REPLAY_MODEL, new_thread="demo-replay")
    kept = any("prefix" in t.meta for t in replay.conversation)
    step(f"replay on {REPLAY_MODEL} -> demo-replay: {len(transport.requests) - before} "
         f"requests, prefill {'kept' if kept else 'dropped'}")
    out.print(steps)
    out.print()

    conversation = chat.conversation
    out.print(turns_table(conversation, title=f"[bold]thread demo[/] · {len(conversation)} turns",
                          tokens=token_counts(conversation), width=60, models=False))
    out.print()
    assert chat.last_payload is not None
    out.print(Panel(payload_view(chat.last_payload, compact=True, width=out.width - 4),
                    title="the last request body (POST /v1/messages)", title_align="left",
                    border_style="dim"))
    out.print(Panel.fit(tree_of(store.history("demo"), highlight=None), title="fork tree",
                        title_align="left", border_style="dim"))
    print_cached_exchange(out, store)  # prompt caching and its ledger (convo.cli.usage)
    where = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
    out.print(f"[dim]{len(transport.requests)} requests, all offline. Next:[/]")
    for command in ("show demo", "tree demo", "usage demo-cache", "export demo --format markdown"):
        out.print(f"  convo --db {escape(where)} {command}", soft_wrap=True)


def _clip(text: str, width: int = 34) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
