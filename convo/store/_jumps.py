"""Skew-binary jump pointers: the ancestor at any depth in O(log n) rows.

Each stored turn keeps, besides its parent, one more link: ``jump``, the
ancestor at depth ``jump_depth(depth)`` (Myers, "An applicative random-access
stack", 1983).  The jump depths follow the skew-binary number system: from
any depth, following a jump where it does not overshoot the target and the
parent otherwise reaches any ancestor in at most ~3 log2(depth) steps.

``jump_depth`` is a pure function of the depth, so a row's jump is known
from its parent's links alone (``jump_parent_is``): a save never searches.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MAX_HOPS", "hops_to", "jump_depth", "jump_is_parent"]

MAX_HOPS: Final = 256
"""More hops than any walk can need below depth 2**63 (3 * 63 < 256): the
bound a walk over a damaged chain stops at."""


def jump_depth(depth: int) -> int:
    """The depth of the jump target of a turn at ``depth`` (``depth >= 1``).

    Myers' rule: a turn's jump is its grandparent-by-jumps when the parent's
    two jumps span equal distances, else its parent.  Unrolled, a depth
    ``d`` decomposes into complete skew-binary trees of ``2**k - 1`` nodes:
    at the boundary of one the jump goes to its start.
    """
    if depth < 1:
        raise ValueError(f"a first turn has no jump (depth {depth})")
    offset = 0
    n = depth
    while True:
        block = (1 << ((n + 1).bit_length() - 1)) - 1
        if n == block:
            return offset
        offset += block
        n -= block


def jump_is_parent(depth: int) -> bool:
    """True when a turn at ``depth`` jumps to its parent (otherwise its jump
    is its parent's jump's jump)."""
    return jump_depth(depth) == depth - 1


def hops_to(depth: int, target: int) -> list[bool]:
    """The walk from ``depth`` down to ``target``: ``True`` follows the jump,
    ``False`` the parent (what the SQL walk in ``_sql`` decides row by row)."""
    if not 0 <= target <= depth:
        raise ValueError(f"no ancestor at depth {target} below depth {depth}")
    steps: list[bool] = []
    while depth > target:
        jump = jump_depth(depth)
        if jump >= target:
            steps.append(True)
            depth = jump
        else:
            steps.append(False)
            depth -= 1
    return steps
