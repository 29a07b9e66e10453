"""The public surface: __all__ is complete and every name resolves."""

from __future__ import annotations

import convo


def test_all_names_resolve():
    """Every name in __all__ exists; nothing private is exported."""
    for name in convo.__all__:
        assert hasattr(convo, name), name
        assert not name.startswith("_") or name == "__version__"


def test_all_has_no_duplicates_and_includes_the_contract():
    """The names the issues promise are exported."""
    assert len(convo.__all__) == len(set(convo.__all__))
    for name in ("Conversation", "Turn", "TextBlock", "ImageBlock", "ToolUseBlock",
                 "ToolResultBlock", "UnknownBlock", "RuleError", "NotSendableError", "ConvoError"):
        assert name in convo.__all__


def test_import_convo_stays_light():
    """`import convo` loads neither SQLAlchemy nor httpx until they are used."""
    import subprocess
    import sys

    code = (
        "import sys, convo; heavy = [m for m in ('sqlalchemy', 'httpx') if m in sys.modules];"
        "print(','.join(heavy)); convo.Store; print('sqlalchemy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True"]


def test_lazy_names_resolve_and_unknown_names_fail():
    """Every lazily exported name resolves; others raise AttributeError."""
    for name in convo._LAZY:
        assert getattr(convo, name) is not None
    import pytest

    with pytest.raises(AttributeError):
        convo.NoSuchThing  # noqa: B018


def test_first_hour_names_are_exported():
    """ThreadTree, the JSONL functions and ForkPointError are public, from convo itself."""
    from convo.jsonl import export_jsonl, import_jsonl
    from convo.store import ThreadTree

    assert convo.ThreadTree is ThreadTree
    assert (convo.export_jsonl, convo.import_jsonl) == (export_jsonl, import_jsonl)
    for name in ("ThreadTree", "ThreadInfo", "export_jsonl", "import_jsonl", "ForkPointError"):
        assert name in convo.__all__
