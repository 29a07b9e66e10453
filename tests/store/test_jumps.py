"""Skew-binary jump pointers: the rule, the bound, and fork/load at any depth."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convo.store._jumps import MAX_HOPS, hops_to, jump_depth, jump_is_parent

from .conftest import BACKENDS, chat


def _myers(limit: int) -> list[int]:
    """Myers' rule, step by step: a node's jump is its parent's jump's jump
    when the parent's two jumps span equal distances, else its parent."""
    jumps = [0]
    for depth in range(1, limit):
        parent = depth - 1
        above = jumps[parent]
        twice = jumps[above]
        jumps.append(twice if parent - above == above - twice else parent)
    return jumps


def test_jump_depth_is_myers_rule():
    """The closed form equals the recursive definition."""
    jumps = _myers(5000)
    assert [jump_depth(d) for d in range(1, 5000)] == jumps[1:]
    for depth in range(2, 5000):
        assert jump_is_parent(depth) == (jumps[depth] == depth - 1)


@given(st.integers(min_value=1, max_value=2**62), st.data())
def test_any_ancestor_is_reached_in_logarithmic_hops(depth, data):
    """At most ~3 log2(depth) hops, and always within MAX_HOPS."""
    target = data.draw(st.integers(min_value=0, max_value=depth))
    hops = hops_to(depth, target)
    assert len(hops) <= 3 * math.log2(depth + 1) + 2
    assert len(hops) < MAX_HOPS
    # Replaying the hops lands exactly on the target.
    at = depth
    for jump in hops:
        at = jump_depth(at) if jump else at - 1
        assert at >= target
    assert at == target


def test_a_first_turn_has_no_jump():
    with pytest.raises(ValueError):
        jump_depth(0)
    with pytest.raises(ValueError):
        hops_to(3, 4)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_fork_and_partial_load_at_every_depth(store):
    """fork(at=n) and load(upto=n) find turn n of a long thread, every n."""
    c = chat(700)
    store.save("t", c)
    for n in [*range(40), *range(40, 700, 37), 511, 512, 513, 699, 700]:
        assert store.load("t", upto=n) == c.fork(n), n
        info = store.fork("t", at=n, new_id=f"f{n}")
        assert info.head_id == (c.turns[n - 1].id if n else None)
        assert store.load(f"f{n}") == c.fork(n)
    assert store.load("t", upto=-1) == c.fork(699)
    with pytest.raises(IndexError):
        store.load("t", upto=701)
    assert store.verify("t") == 700


@pytest.mark.parametrize("backend", ["sqlite-memory"], indirect=True)
def test_saves_in_pieces_keep_the_jumps_right(store):
    """Jumps written by fast-forward saves, fresh saves and forks' saves
    all verify (verify checks every jump)."""
    c = chat(1)
    store.save("t", c)
    for n in range(2, 90, 3):
        c = chat(n)
        store.save("t", c)
        assert store.verify("t") == n
    store.fork("t", at=40, new_id="f")
    branch = c.fork(40).user("elsewhere")
    store.save("f", branch)
    assert store.verify("f") == 41
