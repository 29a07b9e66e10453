"""The tool runner's overhead per step against the same loop written by hand.

Workload: one ``chat.run`` of ``STEPS`` requests (``STEPS - 1`` tool calls,
then a final answer) through a ``ScriptedTransport``, saved in an
in-memory SQLite store.  The baseline is the loop a user writes without
the runner, on the same transport and store: ``to_payload`` ->
``transport.send`` -> ``append_response`` -> ``store.save`` -> call the
tool -> ``tool_results``.  The runner also checks each request against the
send rules (``check_sendable``), drives the sans-IO core and derives the
tool schema; that is the overhead measured.  Target: <= 1.5x per step.

``python -m benchmarks.bench_chat [--quick]`` or ``run(quick)``.
"""

from __future__ import annotations

import itertools
import sys
from typing import Any

from benchmarks._timing import Stat, measure, row
from convo import Conversation
from convo.chat import Chat, tool_schema
from convo.store import Store
from convo.transport import ScriptedTransport

MODEL = "claude-opus-4-6"
STEPS = 6


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"{city}: 18 C and sunny"


def _reply(payload: dict[str, Any]) -> dict[str, Any]:
    n = len(payload["messages"])
    if n < 2 * STEPS - 1:
        content: list[dict[str, Any]] = [
            {"type": "text", "text": "Let me check that for you."},
            {"type": "tool_use", "id": f"toolu_{n}", "name": "get_weather", "input": {"city": "Paris"}},
        ]
        stop = "tool_use"
    else:
        content = [{"type": "text", "text": "It is 18 C and sunny in Paris all week. " * 4}]
        stop = "end_turn"
    return {
        "id": f"msg_{n}", "type": "message", "role": "assistant", "model": MODEL,
        "content": content, "stop_reason": stop, "stop_sequence": None,
        "usage": {"input_tokens": 100 + n, "output_tokens": 20},
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Run the chat benchmarks; one row per workload."""
    repeat = 5 if quick else 9
    number = 3 if quick else 10
    store = Store("sqlite://")
    transport = ScriptedTransport(_reply)
    ids = itertools.count()
    tools = [tool_schema(get_weather)]

    def with_runner() -> None:
        chat = Chat(store, transport, f"r{next(ids)}", model=MODEL, max_tokens=512)
        turn = chat.run("What is the weather in Paris this week?", tools={"get_weather": get_weather})
        assert turn.info.stop_reason == "end_turn"
        transport.requests.clear()

    def by_hand() -> None:
        thread = f"h{next(ids)}"
        conversation = Conversation().user("What is the weather in Paris this week?")
        while True:
            response = transport.send(conversation.to_payload(MODEL, 512, tools=tools))
            conversation = conversation.append_response(response)
            store.save(thread, conversation)
            if response["stop_reason"] != "tool_use":
                break
            calls = [b for b in response["content"] if b["type"] == "tool_use"]
            conversation = conversation.tool_results({c["id"]: get_weather(**c["input"]) for c in calls})
        transport.requests.clear()

    with_runner()
    by_hand()
    runner, hand = [], []
    for _ in range(repeat):  # alternate, so a slow phase hits both sides
        runner.append(measure(with_runner, repeat=1, number=number).median / STEPS)
        hand.append(measure(by_hand, repeat=1, number=number).median / STEPS)
    store.close()
    return [
        row(
            f"chat.run per step ({STEPS}-step tool loop) vs transport+store by hand",
            Stat(runner),
            Stat(hand),
            target=1.5,
            baseline_name="to_payload/send/append_response/save/tool_results loop",
        )
    ]


if __name__ == "__main__":
    from benchmarks.__main__ import print_table

    print_table(run(quick="--quick" in sys.argv))
