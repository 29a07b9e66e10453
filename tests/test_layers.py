"""Layers point one way (DESIGN.md): no module imports a higher layer.

Every import in the package is read with ``ast`` (module level, inside
functions, and under ``TYPE_CHECKING`` alike) and mapped to its layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import convo

PACKAGE = Path(convo.__file__).parent

# DESIGN.md's layer list, lowest first.  Modules of one layer may import each
# other; a module never imports a layer above its own.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "models", "images", "versions", "_canonical", "_frozen", "_gcpause", "response_info",
     "inputs"),
    ("blocks",),
    ("codec",),
    ("turns",),
    ("rules", "cache", "prefix", "usage"),
    ("conversation",),
    ("tokens", "store", "transport", "compaction", "jsonl"),
    ("chat", "testing"),
    ("cli",),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
FACADE = len(LAYERS)  # ``import convo`` itself re-exports everything


def _component(module: str) -> str:
    """``convo.store._sync`` -> ``store``; ``convo`` -> ``""`` (the facade)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _rank(component: str) -> int:
    return FACADE if component == "" else RANK[component]


def _imports(path: Path, module: str) -> set[str]:
    """Every ``convo`` module the file imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            # A bare ``import convo`` (for ``convo.__file__``) reaches nothing:
            # the package is initialised before any of its modules runs.
            found.update(alias.name for alias in node.names if alias.name != "convo")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            if base == "convo":
                # ``from convo import tokens`` names a module; other names are the facade's.
                found.update(
                    f"convo.{a.name}" if (PACKAGE / a.name).exists() or (PACKAGE / f"{a.name}.py").exists()
                    else "convo"
                    for a in node.names
                )
            else:
                found.add(base)
    return {name for name in found if name == "convo" or name.startswith("convo.")}


def _modules() -> dict[str, Path]:
    result = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        result[name] = path
    return result


def test_every_module_has_a_layer():
    for module in _modules():
        if module != "convo":
            assert _component(module) in RANK, f"{module} is in no layer of DESIGN.md"


def test_no_module_imports_a_higher_layer():
    """The one-way rule, for every import of every module."""
    upward = []
    for module, path in _modules().items():
        if module == "convo":
            continue
        mine = _component(module)
        for target in _imports(path, module):
            other = _component(target)
            if other != mine and _rank(other) > _rank(mine):
                upward.append(f"{module} imports {target}")
    assert upward == []


def test_conversation_does_not_reach_into_tokens():
    """The import circle issue 10 names is gone: the budget lives in convo.tokens."""
    path = PACKAGE / "conversation.py"
    assert not {t for t in _imports(path, "convo.conversation") if t.startswith("convo.tokens")}
    assert not hasattr(convo.Conversation, "fits")
    from convo.tokens import fits

    assert fits(convo.Conversation().user("hi"), "claude-opus-4-8")


def test_the_layer_graph_has_no_cycle():
    """Between layers' components (store, tokens, rules...) there is no circle."""
    edges: dict[str, set[str]] = {}
    for module, path in _modules().items():
        if module == "convo":
            continue
        mine = _component(module)
        for target in _imports(path, module):
            other = _component(target)
            if other not in ("", mine):
                edges.setdefault(mine, set()).add(other)
    state: dict[str, int] = {}

    def visit(node: str, trail: tuple[str, ...]) -> None:
        if state.get(node) == 1:
            raise AssertionError(f"import circle: {' -> '.join((*trail, node))}")
        if state.get(node) == 2:
            return
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            visit(nxt, (*trail, node))
        state[node] = 2

    for node in sorted(edges):
        visit(node, ())


def test_the_checker_sees_function_level_imports(tmp_path):
    """The test would have caught the old ``Conversation.fits`` (an import inside a method)."""
    path = tmp_path / "conversation.py"
    path.write_text(
        "import convo\ndef fits(self):\n    from convo.tokens import fits\n    from . import rules\n"
        "    from convo import Conversation\n"
    )
    assert _imports(path, "convo.conversation") == {"convo.tokens", "convo.rules", "convo"}
