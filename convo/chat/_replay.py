"""Replay planning: which turns to copy and which to re-send (pure)."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping, Sequence
from typing import Any, Literal

import attrs

from convo.blocks import Block, ToolResultBlock, ToolUseBlock
from convo.chat._core import (
    _calls,
    _Core,
)
from convo.codec import content_from_json
from convo.conversation import Conversation
from convo.errors import ChatStateError
from convo.models import profile_for
from convo.turns import Content, Origin, Turn

# -- replay planning (pure) ---------------------------------------------------


def _is_reply(turn: Turn | None) -> bool:
    return turn is not None and turn.role == "assistant" and turn.origin == "model"


def _replay_start(turns: Sequence[Turn]) -> int:
    """The index of the first prompt (a user turn answered by the model)."""
    for i in range(len(turns) - 1):
        if turns[i].role == "user" and _is_reply(turns[i + 1]):
            return i
    raise ChatStateError("nothing to replay: the thread has no model replies")


def _as_content(turn: Turn) -> Content:
    return turn.content if turn.shorthand else turn.blocks


def _prefill_of(reply: Turn) -> tuple[Content, Origin, Mapping[str, Any]] | None:
    """The prefill a recorded reply continued, if the program wrote one."""
    meta: Mapping[str, Any] = reply.meta
    while "prefix" in meta:
        origin = meta.get("prefix_origin", "synthetic")
        inner: Mapping[str, Any] = meta.get("prefix_meta") or {}
        if origin == "model":  # a continued pause/max_tokens reply: look further back
            meta = inner
            continue
        prefix = meta["prefix"]
        content: Content = prefix if isinstance(prefix, str) else content_from_json(prefix)
        return content, origin, inner
    return None


def _with_prefill(
    conversation: Conversation, reply: Turn, keep_prefill: bool | None, model: str
) -> Conversation:
    prefill = _prefill_of(reply)
    if prefill is None:
        return conversation
    keep = profile_for(model).prefill if keep_prefill is None else keep_prefill
    if not keep:
        return conversation
    content, origin, meta = prefill
    return conversation.append("assistant", content, origin=origin, meta=meta)


def _replayed_results(
    conversation: Conversation, asked: Turn, answered: Turn, index: int
) -> Conversation:
    """The recorded tool results, re-addressed to the new reply's calls."""
    new_calls = _calls(conversation)
    old_calls = [b for b in asked.blocks if isinstance(b, ToolUseBlock)]
    if not new_calls or [c.name for c in new_calls] != [c.name for c in old_calls]:
        raise ChatStateError(
            f"replay diverged at messages.{index}: the new reply calls "
            f"{[c.name for c in new_calls]}, the recorded one called "
            f"{[c.name for c in old_calls]}; pass tool_handler= to run the tools"
        )
    new_id = {old.id: new.id for old, new in zip(old_calls, new_calls, strict=True)}
    blocks: list[Block] = []
    for block in answered.blocks:
        if isinstance(block, ToolResultBlock) and block.tool_use_id in new_id:
            blocks.append(attrs.evolve(block, tool_use_id=new_id[block.tool_use_id]))
        else:
            blocks.append(block)
    return conversation.append("user", blocks, origin="tool", meta=answered.meta)




_Action = tuple[Literal["send", "answer", "commit"], Any]


def _replay_plan(
    turns: Sequence[Turn],
    start: int,
    forked: Conversation,
    *,
    model: str,
    keep_prefill: bool | None,
    run_tools: bool,
) -> Generator[_Action, Conversation, None]:
    """The replay, without I/O: yields what to do next and receives the saved
    conversation after it is done.

    Actions: ``("send", conversation)`` send it and save the reply (resuming
    paused replies); ``("answer", calls)`` run the tool handler on the calls
    and send the results; ``("commit", conversation)`` save turns the
    program wrote.  ``forked`` is the new thread: ``turns[:start + 1]``.
    """
    current = yield "send", _with_prefill(forked, turns[start + 1], keep_prefill, model)
    i = start + 2
    while i < len(turns):
        turn = turns[i]
        tool_turn = turn.role == "user" and turn.origin == "tool"
        calls = _calls(current)
        if calls and run_tools:  # the tools run for real, recorded results or not
            current = yield "answer", calls
            if tool_turn:
                i += 2 if i + 1 < len(turns) and _is_reply(turns[i + 1]) else 1
            continue
        if calls and not tool_turn:
            raise ChatStateError(
                f"replay diverged at messages.{i}: the new reply calls "
                f"{[c.name for c in calls]} where the recorded thread has no tool results; "
                "pass tool_handler= to run the tools"
            )
        if turn.role == "assistant":  # written by the program (few-shot): copied
            current = current.append(
                "assistant", _as_content(turn), origin=turn.origin, meta=turn.meta
            )
            i += 1
            continue
        if tool_turn and i > 0 and turns[i - 1].role == "assistant":
            current = _replayed_results(current, turns[i - 1], turn, i)
        else:
            current = current.append("user", _as_content(turn), origin=turn.origin, meta=turn.meta)
        reply = turns[i + 1] if i + 1 < len(turns) else None
        i += 1
        if reply is not None and _is_reply(reply):
            current = yield "send", _with_prefill(current, reply, keep_prefill, model)
            i += 1
    yield "commit", current


def _pump(plan: Generator[_Action, Conversation, None], chat: _Core) -> Iterator[_Action]:
    """Drive a replay plan: hand out each action, then send the chat's
    conversation back in once the caller has performed it."""
    try:
        action = next(plan)
        while True:
            yield action
            action = plan.send(chat.conversation)
    except StopIteration:
        return
