"""docs/rules.md: its examples run, and it lists every rule with its source."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from convo import RULES, VERSIONS

DOC = Path(__file__).resolve().parent.parent / "docs" / "rules.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_examples_run_as_written(index):
    exec(compile(BLOCKS[index], f"docs/rules.md[{index}]", "exec"), {})


def test_every_rule_is_listed_with_its_version():
    text = DOC.read_text(encoding="utf-8")
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([a-z0-9-]+)` \|.*$", text, re.M)}
    for name in RULES:
        assert name in rows, f"{name} missing from docs/rules.md"
    for version, info in VERSIONS.items():
        for name in info.send_rules:
            assert f"| {version} |" in rows[name]
    assert "rules.md" in (DOC.parent.parent / "README.md").read_text(encoding="utf-8")
