"""``ConversationMachine``: a Hypothesis state machine over conversations.

It grows a conversation the way a chatbot does (user turns, model
responses drawn from today's block catalogue, tool calls and their results,
mid-conversation system messages, prefills, forks) and checks convo's laws
after every step.  Subclass it to check your own code: override
``observe(conversation)`` to run your history handling on each state, and
add rules of your own.  Run it with ``TestCase = MyMachine.TestCase``.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from convo.conversation import Conversation
from convo.rules import tool_use_ids
from convo.testing.strategies import responses, texts

__all__ = ["ConversationMachine"]


class ConversationMachine(RuleBasedStateMachine):
    """Grow a conversation step by step and check the laws after each step.

    Attributes:
        conversation: the current conversation.
        history: every conversation the machine has held, oldest first.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conversation = Conversation("You are a test.")
        self.history: list[Conversation] = [self.conversation]

    # -- hooks for subclasses ---------------------------------------------

    def observe(self, conversation: Conversation) -> None:
        """Called with every new state; override to exercise your code."""

    def _set(self, conversation: Conversation) -> None:
        self.conversation = conversation
        self.history.append(conversation)
        self.observe(conversation)

    def _pending(self) -> tuple[str, ...]:
        head = self.conversation.head
        return () if head is None or head.role != "assistant" else tool_use_ids(head)

    def _expects_user(self) -> bool:
        head = self.conversation.head
        return head is None or head.role == "assistant"

    def _after_user(self) -> bool:
        head = self.conversation.head
        return head is not None and head.role == "user"

    # -- steps ---------------------------------------------------------------

    @precondition(lambda self: self._expects_user() and not self._pending())
    @rule(text=texts())
    def user_says(self, text: str) -> None:
        """A person types something."""
        self._set(self.conversation.user(text))

    @precondition(lambda self: self._after_user())
    @rule(text=texts())
    def system_interjects(self, text: str) -> None:
        """The program adds a mid-conversation system message; the model answers next."""
        before = self.conversation
        after = before.system_message(text)
        assert after.head is not None and after.head.role == "system"
        assert after.to_payload("m", 1)["messages"][-1] == {"role": "system", "content": text}
        self._set(after)

    @precondition(lambda self: not self._expects_user())
    @rule(response=responses())
    def model_replies(self, response: dict[str, Any]) -> None:
        """The API answers."""
        before = self.conversation
        after = before.append_response(response)
        assert len(after) == len(before) + 1
        assert after.head is not None and after.head.origin == "model"
        assert after.head.meta["id"] == response["id"]
        self._set(after)

    @precondition(lambda self: bool(self._pending()))
    @rule(data=st.data())
    def tools_answer(self, data: st.DataObject) -> None:
        """The program runs the requested tools."""
        ids = self._pending()
        results = {tool_id: data.draw(texts(), label=tool_id) for tool_id in ids}
        self._set(self.conversation.tool_results(results))

    @precondition(lambda self: not self._expects_user() and len(self.conversation) > 0)
    @rule(text=texts(max_size=10))
    def prefill_then_reply(self, text: str) -> None:
        """A prefill is joined with the model's continuation into one turn."""
        prefilled = self.conversation.prefill(text)
        reply = {"id": "msg_prefill", "type": "message", "role": "assistant",
                 "content": [{"type": "text", "text": "!"}], "model": "claude-test-1",
                 "stop_reason": "end_turn", "stop_sequence": None,
                 "usage": {"input_tokens": 1, "output_tokens": 1}}
        joined = prefilled.append_response(reply)
        assert len(joined) == len(prefilled)
        assert joined.head is not None and joined.head.text.startswith(text)
        self._set(joined)

    @precondition(lambda self: len(self.conversation) > 0)
    @rule(data=st.data())
    def fork(self, data: st.DataObject) -> None:
        """Go back to an earlier point; the fork shares every turn."""
        at = data.draw(st.integers(0, len(self.conversation)), label="at")
        forked = self.conversation.fork(at)
        assert len(forked) == at
        for mine, theirs in zip(forked.turns, self.conversation.turns, strict=False):
            assert mine is theirs
        self._set(forked)

    # -- laws ------------------------------------------------------------------

    @invariant()
    def payload_round_trips(self) -> None:
        """from_payload(to_payload(c)) == c, and the body comes back unchanged."""
        payload = self.conversation.to_payload("claude-test-1", 256)
        again = Conversation.from_payload(payload)
        assert again == self.conversation
        assert again.to_payload("claude-test-1", 256) == payload

    @invariant()
    def ids_chain(self) -> None:
        """Every turn's parent is the turn before it."""
        parent = None
        for turn in self.conversation.turns:
            assert turn.parent_id == parent
            parent = turn.id
