"""API versions as data: the 2026-10-21 send rules, 2023-06-01's acceptance
of the same histories, reporting every violation, and ``sendable_fork``."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convo import (
    API_VERSIONS,
    DEFAULT_API_VERSION,
    VERSIONS,
    Conversation,
    NotSendableError,
    version_rules,
    without_removed_params,
)
from convo._frozen import thaw
from convo.testing import conversations, texts

OLD, NEW = "2023-06-01", "2026-10-21"
CITATION = {"type": "char_location", "cited_text": "a", "document_index": 0,
            "document_title": None, "start_char_index": 0, "end_char_index": 1}
DOCUMENT = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "d"}}


def _cited(text: str = "quoted") -> dict[str, Any]:
    return {"type": "text", "text": text, "citations": [CITATION]}


def _search_result(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "search_result", "source": "https://example.com", "title": "t", "content": list(content)}


def _load(*messages: Any) -> Conversation:
    return Conversation.from_payload({"messages": list(messages)})


def _found(c: Conversation, **kwargs: Any) -> set[tuple[str, int | None]]:
    return {(v.rule, v.index) for v in c.send_violations(**kwargs)}


def test_versions_are_data():
    """Both live versions are known; the default is what the SDK 2.x sends."""
    assert API_VERSIONS == (OLD, NEW)
    assert DEFAULT_API_VERSION == NEW
    assert version_rules(OLD) == ()
    assert [r.name for r in version_rules(NEW)] == [
        "no-sampling-parameters", "no-assistant-document", "no-user-citations"]
    for info in VERSIONS.values():
        assert "platform.claude.com/docs/en/api/versioning" in info.source
    for rule in version_rules(NEW):
        assert rule.phases == ("send",) and "2026-10-21" in rule.summary and rule.source


@pytest.mark.parametrize("name", ["temperature", "top_p", "top_k"])
@pytest.mark.parametrize("value", [1.0, 0.0, 0.7, 5, None])
def test_sampling_parameters_are_rejected_under_2026_even_at_defaults(name, value):
    """A9: 2026-10-21 refuses each sampling parameter whatever its value; 2023-06-01 takes it."""
    c = Conversation().user("hi")
    with pytest.raises(NotSendableError) as err:
        c.check_sendable("claude-sonnet-4-6", **{name: value})
    assert (err.value.rule, err.value.index) == ("no-sampling-parameters", None)
    assert name in str(err.value)
    c.check_sendable("claude-sonnet-4-6", api_version=OLD, **{name: value})
    # to_payload stays the exact body: the parameter is passed through.
    assert c.to_payload("m", 1, **{name: value})[name] == value


def test_every_sampling_parameter_is_named_in_one_violation():
    c = Conversation().user("hi")
    [violation] = c.send_violations(temperature=1, top_p=1, top_k=1)
    assert violation.rule == "no-sampling-parameters"
    assert all(n in violation.detail for n in ("temperature", "top_p", "top_k"))


# (messages, rule, index) of histories 2026-10-21 refuses and 2023-06-01 takes.
VERSION_CASES = {
    "assistant-document": (
        [{"role": "user", "content": "q"},
         {"role": "assistant", "content": [{"type": "text", "text": "here"}, DOCUMENT]},
         {"role": "user", "content": "thanks"}],
        "no-assistant-document", 1),
    "trailing-assistant-document": (
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": [DOCUMENT]}],
        "no-assistant-document", 1),
    "user-citations": (
        [{"role": "user", "content": [_cited()]}], "no-user-citations", 0),
    "user-citations-later": (
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
         {"role": "user", "content": [{"type": "text", "text": "see"}, _cited()]}],
        "no-user-citations", 2),
    "search-result-citations": (
        [{"role": "user", "content": [_search_result(_cited()), {"type": "text", "text": "q"}]}],
        "no-user-citations", 0),
    "tool-result-search-result-citations": (
        [{"role": "user", "content": "q"},
         {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "s", "input": {}}]},
         {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                       "content": [_search_result(_cited())]}]}],
        "no-user-citations", 2),
}


@pytest.mark.parametrize("case", sorted(VERSION_CASES))
def test_2026_turn_rules_name_the_rule_and_the_turn(case):
    """Each 2026-10-21 turn rule is reported with its index; 2023-06-01 accepts the history."""
    messages, rule, index = VERSION_CASES[case]
    c = _load(*messages)
    with pytest.raises(NotSendableError) as err:
        c.check_sendable("claude-opus-4-5", api_version=NEW)
    assert (rule, index) in {(v.rule, v.index) for v in err.value.violations}
    assert f"messages.{index}:" in str(err.value)
    c.check_sendable("claude-opus-4-5", api_version=OLD)
    assert _found(c, model="claude-opus-4-5") == _found(c, model="claude-opus-4-5", api_version=NEW)


@pytest.mark.parametrize(
    "messages",
    [
        # empty or null citations are no citations
        [{"role": "user", "content": [{"type": "text", "text": "x", "citations": []}]}],
        [{"role": "user", "content": [{"type": "text", "text": "x", "citations": None}]}],
        # assistant text may cite; a user document may ask for citations
        [{"role": "user", "content": [DOCUMENT | {"citations": {"enabled": True}}, {"type": "text", "text": "q"}]},
         {"role": "assistant", "content": [_cited("the answer")]},
         {"role": "user", "content": "more"}],
        [{"role": "user", "content": [_search_result({"type": "text", "text": "plain"}),
                                      {"type": "text", "text": "q"}]}],
    ],
)
def test_2026_accepts_what_it_does_not_forbid(messages):
    """Never reject a history the API accepts: the rules are exactly as wide as documented."""
    _load(*messages).check_sendable("claude-opus-4-5", api_version=NEW)


def test_a_stored_thread_is_reported_with_every_rule_and_index():
    """Not the first violation: all of them, each with its rule and turn."""
    c = _load(
        {"role": "user", "content": [_cited()]},
        {"role": "assistant", "content": [DOCUMENT, {"type": "text", "text": "x"}]},
        {"role": "user", "content": [_search_result(_cited()), _cited()]},
        {"role": "assistant", "content": [{"type": "text", "text": "y"}, DOCUMENT]},
        {"role": "user", "content": "end"},
    )
    with pytest.raises(NotSendableError) as err:
        c.check_sendable("claude-opus-4-5", temperature=1.0)
    found = [(v.rule, v.index) for v in err.value.violations]
    assert found == [
        ("no-sampling-parameters", None),
        ("no-user-citations", 0),
        ("no-assistant-document", 1),
        ("no-user-citations", 2),
        ("no-user-citations", 2),
        ("no-assistant-document", 3),
    ]
    assert "6 violations" in str(err.value)
    assert not c.send_violations("claude-opus-4-5", api_version=OLD, temperature=1.0)


def test_unknown_api_version_is_a_named_violation():
    """A version convo does not know is reported, not guessed at."""
    with pytest.raises(NotSendableError) as err:
        Conversation().user("hi").check_sendable(api_version="2024-01-01")
    assert (err.value.rule, err.value.index) == ("api-version-known", None)
    assert {v.rule for v in Conversation().send_violations(api_version="x")} == {
        "api-version-known", "has-messages"}


def test_api_version_is_not_a_body_field():
    with pytest.raises(ValueError, match="header"):
        Conversation().user("hi").to_payload("m", 1, api_version=NEW)


def test_without_removed_params():
    params = {"temperature": 0.2, "top_p": 0.9, "top_k": 3, "tools": []}
    assert without_removed_params(params, NEW) == {"tools": []}
    assert without_removed_params(params, OLD) == params
    assert params["temperature"] == 0.2  # a new dict


# -- sendable_fork -----------------------------------------------------------------------


def _snapshot(c: Conversation) -> tuple[Any, ...]:
    return (c.head_id, tuple(t.id for t in c.turns), c.to_payload("m", 1),
            tuple(t.meta for t in c.turns))


def test_sendable_fork_changes_only_the_offending_turns():
    """The fork shares the prefix, strips citations and assistant documents,
    re-parents the rest byte for byte, and leaves the original untouched."""
    c = _load(
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [_search_result(_cited()), {"type": "text", "text": "q", "citations": []}]},
        {"role": "assistant", "content": [{"type": "text", "text": "y"}, DOCUMENT]},
        {"role": "user", "content": "last"},
    )
    before = _snapshot(c)
    fork = c.sendable_fork(NEW)
    assert _snapshot(c) == before
    fork.check_sendable("claude-opus-4-5", api_version=NEW)
    assert fork.turns[:2] == c.turns[:2] and fork.turns[1] is c.turns[1]
    assert all(a.id != b.id for a, b in zip(fork.turns[2:], c.turns[2:], strict=True))
    sent = fork.to_payload("m", 1)["messages"]
    assert sent[2]["content"] == [
        _search_result({"type": "text", "text": "quoted"}), {"type": "text", "text": "q", "citations": []}]
    assert sent[3]["content"] == [{"type": "text", "text": "y"}]
    assert sent[4] == c.to_payload("m", 1)["messages"][4]
    fix = fork.turns[2].meta["api_version_fix"]
    assert fix == {"api_version": NEW, "changes": ["content.0.content.0: removed citations"],
                   "removed": [{"path": "content.0.content.0", "citations": [CITATION]}]}
    assert fork.turns[3].meta["api_version_fix"]["removed"] == [DOCUMENT]
    assert "api_version_fix" not in fork.turns[4].meta
    assert [t.origin for t in fork.turns] == [t.origin for t in c.turns]
    for turn in fork.turns:
        turn.verify()


def test_sendable_fork_is_the_conversation_when_nothing_breaks():
    c = _load({"role": "user", "content": [_cited()]})
    assert c.sendable_fork(OLD) is c
    clean = Conversation().user("hi")
    assert clean.sendable_fork() is clean


def test_sendable_fork_refuses_an_unknown_version():
    with pytest.raises(NotSendableError) as err:
        Conversation().user("hi").sendable_fork("2099-01-01")
    assert err.value.rule == "api-version-known"


def test_sendable_fork_does_not_invent_content():
    """An assistant turn of documents only cannot be fixed by removal."""
    c = _load({"role": "user", "content": "q"}, {"role": "assistant", "content": [DOCUMENT]},
              {"role": "user", "content": "r"})
    with pytest.raises(NotSendableError) as err:
        c.sendable_fork()
    assert (err.value.rule, err.value.index) == ("no-assistant-document", 1)


@st.composite
def _broken_threads(draw: Any) -> Conversation:
    """A valid history with 2026-10-21 violations spliced into some turns."""
    base = draw(conversations(max_turns=6, end_with="user", complete=True, images=False))
    messages = [dict(m) for m in base.to_payload("m", 1)["messages"]]
    for i, message in enumerate(messages):
        if not draw(st.booleans()):
            continue
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
        if message["role"] == "user":
            extra = draw(st.sampled_from([_cited(draw(texts())), _search_result(_cited(draw(texts())))]))
            lead = [b for b in blocks if b.get("type") == "tool_result"]
            rest = [b for b in blocks if b.get("type") != "tool_result"]
            messages[i] = {"role": "user", "content": [*lead, *rest, extra]}
        elif not any(b.get("type") in ("thinking", "redacted_thinking") for b in blocks):
            messages[i] = {"role": "assistant", "content": [*blocks, DOCUMENT]}
    return Conversation.from_payload({"messages": messages, "system": base.system_json}
                                     if base.system_json is not None else {"messages": messages})


@settings(max_examples=60, deadline=None)
@given(_broken_threads())
def test_sendable_fork_passes_the_version_rules_and_keeps_the_original(c):
    """Law: for any thread, sendable_fork(v) breaks none of v's rules, shares
    the prefix before the first changed turn, and the original is untouched."""
    before = _snapshot(c)
    names = {r.name for r in version_rules(NEW)}
    fork = c.sendable_fork(NEW)
    assert _snapshot(c) == before
    assert not [v for v in fork.send_violations(api_version=NEW) if v.rule in names]
    # everything else the fork is judged by is what the original was judged by
    rest = {(v.rule, v.index) for v in c.send_violations(api_version=NEW) if v.rule not in names}
    assert {(v.rule, v.index) for v in fork.send_violations(api_version=NEW)} == rest
    if not rest:
        fork.check_sendable(api_version=NEW)
    assert len(fork) == len(c)
    changed = [i for i, t in enumerate(fork.turns) if "api_version_fix" in t.meta]
    first = changed[0] if changed else len(c)
    assert fork.turns[:first] == c.turns[:first]
    for old, new in zip(c.turns, fork.turns, strict=True):
        assert old.role == new.role and old.origin == new.origin
        if "api_version_fix" not in new.meta:
            assert old.content == new.content
        else:
            assert _restore(new) == old.content  # nothing lost: meta holds what was removed
    assert fork.sendable_fork(NEW) is fork  # idempotent


def _restore(turn: Any) -> Any:
    """The content before sendable_fork, rebuilt from meta["api_version_fix"]."""
    content = thaw(turn.content)
    fix = turn.meta["api_version_fix"]
    if turn.role == "assistant":
        documents = iter(thaw(fix["removed"]))
        positions = [int(line.split(".")[1].split(":")[0]) for line in fix["changes"]]
        for position in positions:  # ascending: each insert lands at its old index
            content.insert(position, next(documents))
        return content
    for removed in thaw(fix["removed"]):
        target: Any = content
        steps = removed["path"].split(".")[1:]
        for step in steps[:-1]:
            target = target[int(step)] if step.isdigit() else target[step]
        target[int(steps[-1])]["citations"] = removed["citations"]
    return content


def test_a_stored_thread_is_reported_whole_and_forked_without_rewriting_it(tmp_path):
    """Saved under 2023-06-01 rules, loaded, judged under 2026-10-21: every rule
    and index; the sendable fork saves as a new thread and the stored one keeps
    its turns and ids (verify() recomputes every hash)."""
    from convo import Store

    c = _load(
        {"role": "user", "content": [_cited()]},
        {"role": "assistant", "content": [{"type": "text", "text": "y"}, DOCUMENT]},
        {"role": "user", "content": "more"},
    )
    with Store(tmp_path / "threads.db") as store:
        store.save("old", c)
        loaded = store.load("old")
        assert {(v.rule, v.index) for v in loaded.send_violations("claude-opus-4-8")} == {
            ("no-user-citations", 0), ("no-assistant-document", 1)}
        fork = loaded.sendable_fork()
        fork.check_sendable("claude-opus-4-8")
        store.save("new", fork)
        again = store.load("old")
        assert [t.id for t in again.turns] == [t.id for t in c.turns]
        assert again.to_payload("m", 1) == c.to_payload("m", 1)
        assert store.verify("old") == 3 and store.verify("new") == 3
        assert store.load("new").head_id == fork.head_id
