"""Thread settings through the CLI: export, chat and fork use what the thread was built with."""

from __future__ import annotations

import json
from typing import Any

import pytest

from convo.chat import Chat, tool_schema
from convo.store import Store
from convo.transport import HTTPTransport
from tests.fake_api import API_KEY, FakeAPI


def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"{city}: sunny"


TOOLS = [tool_schema(get_weather)]


def built(store: Store, api: FakeAPI) -> Chat:
    with HTTPTransport(api_key=API_KEY, base_url=api.url, betas=["beta-x"]) as t:
        chat = Chat(store, t, "t1", model="claude-opus-4-5", max_tokens=300,
                    params={"tools": TOOLS, "tool_choice": {"type": "auto"}}, betas=["beta-x"])
        chat.run("weather in Rome", tools={"get_weather": get_weather})
    return chat


def test_export_payload_uses_the_thread_settings(run: Any, store: Store, api: FakeAPI) -> None:
    """export --format payload: the tools, tool_choice, model and max_tokens of the thread."""
    built(store, api)
    result = run("export", "t1", "--format", "payload")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["tools"] == TOOLS
    assert payload["tool_choice"] == {"type": "auto"}
    assert payload["max_tokens"] == 300
    assert payload["model"] == "claude-opus-4-5"
    assert payload["messages"] == store.load("t1").to_payload("m", 1)["messages"]


def test_convo_chat_resends_with_the_thread_settings(
    run: Any, store: Store, api: FakeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """convo chat T: tools, max_tokens, model and the beta header come from the thread."""
    built(store, api)
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
    result = run("chat", "t1", input="hello again\n")
    assert result.exit_code == 0, result.output
    body, headers = api.requests[-1], api.headers[-1]
    assert body["tools"] == TOOLS
    assert body["max_tokens"] == 300
    assert body["model"] == "claude-opus-4-5"
    assert headers["anthropic-beta"] == "beta-x"


def test_cli_fork_keeps_the_settings(run: Any, store: Store, api: FakeAPI) -> None:
    """convo fork: the fork reopens with the same settings."""
    chat = built(store, api)
    assert run("fork", "t1", "--at", "2", "--as", "t1-b").exit_code == 0
    with HTTPTransport(api_key=API_KEY, base_url=api.url) as t:
        assert Chat.reopen(store, t, "t1-b").settings == chat.settings
