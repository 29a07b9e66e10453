"""Every Python block of docs/chat.md's "Bots" section runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "chat.md"
SECTION = "## Bots: the tool runner, streaming events, thread settings, conflicts"


def blocks() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text.split(SECTION, 1)[1], re.S)


@pytest.mark.parametrize("code", blocks())
def test_block_runs(code: str) -> None:
    """The block runs in a fresh namespace."""
    exec(compile(code, str(DOC), "exec"), {"__name__": "docs_chat"})
