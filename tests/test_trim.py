"""Trimming to a token budget: the result is valid, fits, and keeps what
it promises (system, pinned turns, whole tool exchanges, thinking)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from convo import (
    BudgetError,
    Conversation,
    ImageBlock,
    RuleError,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from convo.rules import tool_result_ids, tool_use_ids
from convo.testing import conversations
from convo.tokens import SUMMARY_ACK, SUMMARY_PREFIX, clear_cache, count, trim


def content_of(turn):
    return turn.content if turn.shorthand else turn.blocks


def rebuild(turns, system, policy="strict"):
    """Append ``turns`` one by one to a fresh conversation (raises RuleError)."""
    c = Conversation(system, policy=policy)
    for turn in turns:
        c = c.append(turn.role, content_of(turn), origin=turn.origin, meta=turn.meta)
    return c


def fresh_count(c, model=None):
    """An uncached count: payloads are counted from their JSON every time."""
    return count(c.to_payload(model or "m", 1))


def agent_chat(exchanges, *, system="You are helpful.", thinking=True):
    """User questions answered through tool loops (with thinking) and text."""
    c = Conversation(system)
    for i in range(exchanges):
        c = c.user(f"question {i}: " + "please look this up " * 5)
        if i % 2 == 0:
            head = [ThinkingBlock(f"I should call the tool for {i}", f"sig{i}")] if thinking else []
            c = c.assistant([*head, ToolUseBlock(f"toolu_{i}a", "lookup", {"q": i})], origin="model")
            c = c.tool_results({f"toolu_{i}a": "result " * 10})
            c = c.assistant([ToolUseBlock(f"toolu_{i}b", "lookup", {"q": i + 1})], origin="model")
            c = c.tool_results({f"toolu_{i}b": "more " * 10})
        c = c.assistant(f"answer {i}: " + "here it is " * 5, origin="model", meta={"id": f"msg_{i}"})
    return c


def assert_valid_trim(original, result, budget, keep_first=0, synthetic=0, model=None):
    """Everything trim promises about a result."""
    assert fresh_count(result, model) <= budget
    assert count(result, model=model) == fresh_count(result, model)
    assert rebuild(result.turns, result.system) == result.with_policy("strict")
    assert Conversation.from_payload(result.to_payload("m", 1)) == result.with_policy("strict")
    assert result.system == original.system
    assert result.policy == original.policy
    assert result.turns[:keep_first] == original.turns[:keep_first]
    kept = len(result) - keep_first - synthetic
    assert kept >= 1
    for new, old in zip(result.turns[-kept:], original.turns[-kept:], strict=True):
        assert (new.role, new.content, new.origin, new.meta) == (old.role, old.content, old.origin, old.meta)
    for turn in result.turns[keep_first : keep_first + synthetic]:
        assert turn.origin == "synthetic"
    cut = len(original) - kept
    if original.turns[cut].role == "assistant":
        assert not tool_result_ids(original.turns[cut - 1]), "suffix starts inside a tool loop"
    if original.is_sendable():
        assert result.is_sendable()


# -- oldest ------------------------------------------------------------------------------


def test_a_conversation_within_budget_is_returned_unchanged():
    """budget >= count: the very same conversation."""
    c = agent_chat(4)
    assert trim(c, count(c)) is c
    assert trim(c, count(c) + 1000, "summary", summarize=lambda r: "never called") is c


def test_oldest_drops_whole_exchanges_from_the_front():
    """The result starts at a user question, fits, and keeps the newest turns whole."""
    c = agent_chat(8)
    budget = count(c) // 2
    result = trim(c, budget)
    assert_valid_trim(c, result, budget)
    first = result.turns[0]
    assert first.role == "user"
    assert first.content.startswith("question")


def test_oldest_removes_as_little_as_possible():
    """Keeping one more exchange would break the budget."""
    c = agent_chat(8)
    budget = count(c) // 2
    result = trim(c, budget)
    starts = [i for i, turn in enumerate(c.turns) if turn.role == "user" and not tool_result_ids(turn)]
    cut = len(c) - len(result)
    earlier = max(i for i in starts if i < cut)
    assert fresh_count(rebuild(c.turns[earlier:], c.system)) > budget


def test_a_cut_never_separates_a_tool_use_from_its_result():
    """Budgets that would cut inside a tool loop move the cut to the next question."""
    c = agent_chat(6)
    last_question = max(i for i, turn in enumerate(c.turns) if turn.role == "user" and not tool_result_ids(turn))
    smallest = count(rebuild(c.turns[last_question:], c.system))
    for budget in range(smallest, count(c), 7):  # every few tokens, from tightest to loosest
        result = trim(c, budget)
        assert_valid_trim(c, result, budget)
        assert not tool_result_ids(result.turns[0])


def test_thinking_of_the_last_assistant_turn_survives_intact():
    """Trimming as far as possible keeps the open tool loop whole, thinking first."""
    c = agent_chat(3).user("last question")
    thinking = ThinkingBlock("thinking about the last question", "sig-last")
    c = c.assistant([thinking, ToolUseBlock("toolu_last", "lookup", {})], origin="model")
    c = c.tool_results({"toolu_last": "done"})
    smallest = count(rebuild(c.turns[-3:], c.system))
    result = trim(c, smallest)
    assert len(result) == 3
    assert result.turns[1].blocks == (thinking, ToolUseBlock("toolu_last", "lookup", {}))
    assert_valid_trim(c, result, smallest)


def test_the_system_prompt_origin_meta_and_shorthand_are_kept():
    """Re-parented turns keep role, content form, origin and meta."""
    c = agent_chat(5)
    result = trim(c, count(c) // 2)
    last = result.turns[-1]
    assert last.shorthand
    assert last.origin == "model"
    assert last.meta == c.turns[-1].meta
    assert result.system == "You are helpful."
    assert result.turns[-1].id != c.turns[-1].id  # a new parent, so a new id


def test_a_merge_policy_conversation_stays_merge():
    """The result has the original's append policy."""
    c = agent_chat(4).with_policy("merge")
    result = trim(c, count(c) // 2)
    assert result.policy == "merge"


def test_no_valid_cut_raises_budget_error():
    """A budget below the smallest valid suffix raises BudgetError with the numbers."""
    c = agent_chat(4)  # ends with an answer: the smallest valid suffix is its whole exchange
    last_question = max(i for i, turn in enumerate(c.turns) if turn.role == "user" and not tool_result_ids(turn))
    needed = count(rebuild(c.turns[last_question:], c.system))
    with pytest.raises(BudgetError) as info:
        trim(c, needed - 1)
    assert info.value.budget == needed - 1
    assert info.value.needed == needed
    assert trim(c, needed) == rebuild(c.turns[last_question:], c.system)


def test_a_budget_below_the_fixed_costs_raises():
    """Even the system prompt alone does not fit in 0 tokens."""
    c = agent_chat(2)
    with pytest.raises(BudgetError) as info:
        trim(c, 0)
    assert info.value.needed > 0


def test_trim_counts_with_the_model_profile():
    """model= sets the image costs the budget is checked with."""
    # A PNG signature and IHDR chunk are all the size estimate reads.
    header = b"\x89PNG\r\n\x1a\n" + struct.pack(">I4sII5B", 13, b"IHDR", 2000, 1500, 8, 2, 0, 0, 0)
    image = ImageBlock.from_bytes(header + b"\x00" * 4)
    c = Conversation().user([image, TextBlock("what is it?")]).assistant("a chart")
    c = c.user("and now?").assistant("still a chart")
    budget = count(c) + 100  # fits with the default profile...
    assert trim(c, budget) is c
    result = trim(c, budget, model="claude-opus-4-7")  # ...not with a high-res one
    assert len(result) == 2
    assert count(result, model="claude-opus-4-7") <= budget


# -- keep_first ---------------------------------------------------------------------------


def test_keep_first_pins_the_prefix_and_the_junction_alternates():
    """The first N turns stay (same ids); the suffix follows them validly."""
    c = agent_chat(8)
    for keep in range(8):
        budget = count(c.fork(keep)) + (count(c) - count(c.fork(keep))) // 2
        if keep and tool_use_ids(c.turns[keep - 1]):
            continue  # an open tool call must be followed by its result (tested below)
        result = trim(c, budget, keep_first=keep)
        assert_valid_trim(c, result, budget, keep_first=keep)
        if keep:
            assert result.turns[keep].role != result.turns[keep - 1].role


def test_keep_first_after_a_user_turn_resumes_at_an_answer():
    """With a pinned user question, the suffix starts at an assistant reply
    to a plain user turn, never mid tool loop."""
    c = agent_chat(8)
    result = trim(c, count(c) // 2, keep_first=1)
    assert result.turns[0] == c.turns[0]
    assert result.turns[1].role == "assistant"
    assert_valid_trim(c, result, count(c) // 2, keep_first=1)


def test_keep_first_ending_in_an_open_tool_call_cannot_be_cut():
    """A pinned prefix ending with a tool_use must be followed by its result: no cut."""
    c = agent_chat(6)
    with pytest.raises(BudgetError, match="no cut point"):
        trim(c, count(c) - 1, keep_first=2)


def test_keep_first_must_not_be_negative():
    """A negative keep_first is a ValueError; one past the length pins everything."""
    c = agent_chat(2)
    with pytest.raises(ValueError, match="keep_first"):
        trim(c, 10, keep_first=-1)
    with pytest.raises(BudgetError):
        trim(c, 10, keep_first=len(c) + 1)


def test_keep_everything_pinned_cannot_trim():
    """Pinning every turn leaves nothing to remove."""
    c = agent_chat(2)
    with pytest.raises(BudgetError) as info:
        trim(c, count(c) - 1, keep_first=len(c))
    assert info.value.needed == count(c)


# -- summary -------------------------------------------------------------------------------


def test_summary_replaces_the_removed_prefix_with_a_synthetic_pair():
    """The removed turns become a user summary turn and an assistant acknowledgement."""
    c = agent_chat(8)
    seen = []

    def summarize(removed):
        seen.append(removed)
        return f"We discussed {len(removed)} turns about lookups."

    budget = count(c) // 2
    result = trim(c, budget, "summary", summarize=summarize)
    assert_valid_trim(c, result, budget, synthetic=2)
    user, ack = result.turns[:2]
    assert (user.role, ack.role) == ("user", "assistant")
    assert user.content == SUMMARY_PREFIX + f"We discussed {len(seen[-1])} turns about lookups."
    assert ack.content == SUMMARY_ACK
    assert user.meta["trim"]["removed_turns"] == len(seen[-1])
    removed = seen[-1]
    assert removed == c.fork(len(removed))  # the conversation up to the cut
    assert len(removed) + len(result) - 2 == len(c)


def test_summary_blocks_are_used_as_given():
    """A summarizer may return blocks; they become the user turn's content."""
    c = agent_chat(6)
    result = trim(c, count(c) // 2, "summary", summarize=lambda r: [TextBlock("short recap")])
    assert result.turns[0].blocks == (TextBlock("short recap"),)
    assert_valid_trim(c, result, count(c) // 2, synthetic=2)


def test_summary_after_a_pinned_user_turn_is_one_assistant_turn():
    """When the pinned prefix ends with a user turn, one assistant summary keeps alternation."""
    c = agent_chat(8)
    budget = count(c) // 2
    result = trim(c, budget, "summary", keep_first=1, summarize=lambda r: "recap")
    assert result.turns[0] == c.turns[0]
    assert result.turns[1].role == "assistant"
    assert result.turns[1].content == SUMMARY_PREFIX + "recap"
    assert result.turns[2].role == "user"
    assert_valid_trim(c, result, budget, keep_first=1, synthetic=1)


def test_summary_after_pinned_turns_ending_with_an_answer():
    """keep_first ending on an assistant turn: pinned, then the pair, then the suffix."""
    c = agent_chat(8)
    keep = 6  # the first exchange, through its final answer
    assert c.turns[keep - 1].role == "assistant"
    budget = count(c.fork(keep)) + (count(c) - count(c.fork(keep))) // 2
    result = trim(c, budget, "summary", keep_first=keep, summarize=lambda r: "recap")
    assert [t.role for t in result.turns[keep : keep + 2]] == ["user", "assistant"]
    assert_valid_trim(c, result, budget, keep_first=keep, synthetic=2)


def test_a_summary_too_long_for_its_cut_moves_the_cut_and_asks_again():
    """If the summary does not fit, a later cut is tried with a new summary."""
    c = agent_chat(10)
    calls = []

    def summarize(removed):
        calls.append(len(removed))
        return "long recap " * (200 if len(calls) == 1 else 5)

    budget = count(c) // 2
    result = trim(c, budget, "summary", summarize=summarize)
    assert len(calls) >= 2
    assert calls == sorted(calls)
    assert calls[0] < calls[-1]
    assert_valid_trim(c, result, budget, synthetic=2)


def test_a_summary_that_never_fits_raises_budget_error():
    """No cut leaves room for the summary: BudgetError."""
    c = agent_chat(4)
    with pytest.raises(BudgetError):
        trim(c, count(c) - 1, "summary", summarize=lambda r: "recap " * 10_000)


def test_summary_needs_a_summarizer_and_a_non_empty_summary():
    """strategy='summary' without summarize, or an empty summary, is a ValueError."""
    c = agent_chat(4)
    with pytest.raises(ValueError, match="summarize"):
        trim(c, count(c) // 2, "summary")
    with pytest.raises(ValueError, match="empty"):
        trim(c, count(c) // 2, "summary", summarize=lambda r: "  ")


def test_a_summary_that_breaks_the_rules_raises_rule_error():
    """A summary holding a tool_result cannot be a user turn after the pinned prefix."""
    c = agent_chat(4)
    with pytest.raises(RuleError):
        trim(c, count(c) // 2, "summary", summarize=lambda r: [ToolResultBlock("toolu_x", "no")])


def test_an_unknown_strategy_is_a_value_error():
    """Only 'oldest' and 'summary' exist."""
    c = agent_chat(2)
    with pytest.raises(ValueError, match="strategy"):
        trim(c, 1, "newest")


def test_the_result_counts_the_same_after_the_cache_is_cleared():
    """trim reuses the kept turns' counts; a cold recount agrees."""
    c = agent_chat(8)
    result = trim(c, count(c) // 2)
    warm = count(result)
    clear_cache()
    assert count(result) == warm


# -- the law ------------------------------------------------------------------------------


def _candidates(c, keep, synthetic):
    """Every valid result's count by cut, by brute force: the pinned prefix,
    the ``(role, text)`` synthetic turns, then each suffix, built through append."""
    turns = c.turns
    found = {}
    for cut in range(keep + 1, len(turns)):
        if turns[cut].role == "assistant" and tool_result_ids(turns[cut - 1]):
            continue  # inside a tool loop
        try:
            built = c.fork(keep).with_policy("strict")
            for role, text in synthetic:
                built = built.append(role, text, origin="synthetic")
            for turn in turns[cut:]:
                built = built.append(turn.role, content_of(turn), origin=turn.origin, meta=turn.meta)
        except RuleError:
            continue
        found[cut] = fresh_count(built)
    return found


def _budgets(total, costs):
    """Any budget up to the total, or one within a few tokens of a valid cut's count."""
    near = st.sampled_from(sorted(costs.values())).flatmap(lambda n: st.sampled_from([n, n + 3, n - 1]))
    return near | st.integers(0, total + 5) if costs else st.integers(0, total + 5)


@pytest.mark.parametrize("strategy", ["oldest", "summary"])
@given(data=st.data())
def test_law_trim_gives_a_valid_fitting_conversation_or_raises(strategy, data):
    """For every valid conversation, pinned prefix and budget: trim returns a
    valid conversation within budget that removes as little as possible, or
    raises BudgetError exactly when no valid cut fits (summaries are "S")."""
    c = data.draw(conversations(min_turns=4, max_turns=16), label="conversation")
    total = count(c)
    keep = data.draw(st.just(0) | st.integers(0, len(c)) | st.integers(0, 2), label="keep_first")
    summary = SUMMARY_PREFIX + "S"
    if strategy == "oldest":
        synthetic = []
    elif keep > 0 and c.turns[keep - 1].role == "user":
        synthetic = [("assistant", summary)]
    else:
        synthetic = [("user", summary), ("assistant", SUMMARY_ACK)]
    costs = _candidates(c, keep, synthetic)
    budget = data.draw(_budgets(total, costs), label="budget")
    fitting = {cut for cut, n in costs.items() if n <= budget}
    try:
        result = trim(c, budget, strategy, keep_first=keep, summarize=lambda removed: "S")
    except BudgetError as error:
        event("budget error")
        assert total > budget
        assert not fitting
        assert error.budget == budget
        assert error.needed > budget
        return
    if total <= budget:
        event("unchanged")
        assert result is c
        return
    event("trimmed")
    assert_valid_trim(c, result, budget, keep_first=keep, synthetic=len(synthetic))
    assert len(c) - (len(result) - len(synthetic)) + keep == min(fitting)


def test_keep_first_beyond_the_length_pins_everything():
    """keep_first larger than the conversation pins all of it: a fitting
    conversation comes back as it is, one that does not is a BudgetError."""
    from convo import BudgetError

    short = Conversation("You are a helpful assistant.").user("Hello!")
    assert trim(short, 50_000, keep_first=2) is short
    longer = short.assistant("x " * 300).user("y " * 300)
    with pytest.raises(BudgetError):
        trim(longer, 20, keep_first=5)
    with pytest.raises(ValueError, match="0 or more"):
        trim(short, 50_000, keep_first=-1)
