"""The benchmark report, and the figures in README.md and docs/ made from it.

``python -m benchmarks --report`` writes the run to ``benchmarks/results/``
(``full.json``, or ``quick.json`` with ``--quick``): every row, the
environment and the measured wall time. It then rewrites each generated
region of the docs from those files. A region is the text between two
markers::

    <!-- benchmarks:NAME -->
    ...generated, never edited by hand...
    <!-- /benchmarks:NAME -->

``NAME`` is one of :data:`REGIONS`. ``tests/test_benchmark_docs.py`` checks
that every region in README.md and docs/ equals what the committed report
files render, so a figure typed by hand, or a report committed without
regenerating the docs, fails the suite.

A benchmark module needs nothing from this file: its ``run(quick)`` returns
rows (``benchmarks._timing.row``), and every row is rendered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "REGIONS",
    "RESULTS",
    "doc_files",
    "load_report",
    "render_region",
    "update_docs",
    "write_report",
]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MARKER = re.compile(
    r"(?P<open><!-- benchmarks:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)(?P<close><!-- /benchmarks:(?P=name) -->)",
    re.DOTALL,
)

Report = Mapping[str, Any]


def report_path(*, quick: bool) -> Path:
    """Where a run of this kind is kept."""
    return RESULTS / ("quick.json" if quick else "full.json")


def write_report(
    rows: Sequence[Mapping[str, Any]], environment: Mapping[str, Any], elapsed: float, *, quick: bool
) -> Path:
    """Write one run's report file; returns its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = report_path(quick=quick)
    document = {"environment": dict(environment), "elapsed_s": round(elapsed, 1), "rows": list(rows)}
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def load_report(*, quick: bool, results: Path = RESULTS) -> Report | None:
    """The committed report of that kind, or ``None`` when there is none."""
    path = results / ("quick.json" if quick else "full.json")
    if not path.is_file():
        return None
    loaded: Report = json.loads(path.read_text(encoding="utf-8"))
    return loaded


# -- formatting ---------------------------------------------------------------------------


def seconds(value: float | None) -> str:
    """A duration the way the tables show it (``8.2 us``, ``7.27 ms``, ``1.20 s``)."""
    if value is None:
        return "-"
    if value < 1e-3:
        return f"{value * 1e6:.1f} us"
    if value < 1:
        return f"{value * 1e3:.2f} ms"
    return f"{value:.2f} s"


def figure(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return seconds(value)
    places = 1 if abs(value) < 10 else 0  # 4.6 frames, 146 B
    return f"{value:,.{places}f} {unit}".replace(",", " ")


def target(row: Mapping[str, Any]) -> str:
    if row.get("target_text"):
        return str(row["target_text"])
    return "-" if row.get("target") is None else f"<= {row['target']}x"


def met(row: Mapping[str, Any]) -> str:
    return {True: "yes", False: "**no**", None: "-"}[row.get("met")]


def ratio(row: Mapping[str, Any]) -> str:
    value = row.get("ratio")
    return "-" if value is None else f"{value:.2f}x"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|")


def _table(header: Sequence[str], lines: Sequence[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    out += ["| " + " | ".join(_cell(c) for c in line) + " |" for line in lines]
    return "\n".join(out) + "\n"


def _environment(report: Report) -> str:
    env = report.get("environment", {})
    kind = "`--quick` run" if env.get("quick") else "full run"
    text = (
        f"{kind}: Python {env.get('python', '?')}, SQLite {env.get('sqlite', '?')}, "
        f"{env.get('machine', '?')}, {report.get('elapsed_s', '?')} s wall time"
    )
    failed = env.get("failed") or {}
    if failed:
        text += " (not run, it failed: " + "; ".join(
            f"{name}: {_cell(why)[:120]}" for name, why in sorted(failed.items())
        ) + ")"
    return text


# -- the regions --------------------------------------------------------------------------


def _results(full: Report | None, quick: Report | None) -> str:
    report = full or quick
    if report is None:
        return "No benchmark report is committed yet: run `python -m benchmarks --report`.\n"
    lines = [
        [
            r["name"],
            figure(r.get("convo_s"), r.get("unit", "s")),
            figure(r.get("baseline_s"), r.get("unit", "s")),
            ratio(r),
            target(r),
            met(r),
        ]
        for r in report["rows"]
    ]
    table = _table(["workload", "convo", "baseline", "ratio", "target", "met"], lines)
    return f"From the {_environment(report)}:\n\n{table}"


def _targets(full: Report | None, quick: Report | None) -> str:
    report = full or quick
    if report is None:
        return "No benchmark report is committed yet: run `python -m benchmarks --report`.\n"
    lines = [
        [r["name"], figure(r.get("convo_s"), r.get("unit", "s")), ratio(r), target(r), met(r)]
        for r in report["rows"]
        if r.get("met") is not None
    ]
    missed = sum(1 for r in report["rows"] if r.get("met") is False)
    table = _table(["target", "convo", "ratio", "target", "met"], lines)
    return f"From the {_environment(report)}; {missed} missed:\n\n{table}"


def _modules(report: Report) -> str:
    failed = report.get("environment", {}).get("failed") or {}
    return f" (without {', '.join(sorted(failed))}, which failed)" if failed else ""


def _runtime(full: Report | None, quick: Report | None) -> str:
    parts = []
    if full is not None:
        parts.append(f"the full run took {full.get('elapsed_s', '?')} s{_modules(full)}")
    if quick is not None:
        parts.append(f"`--quick` took {quick.get('elapsed_s', '?')} s{_modules(quick)}")
    if not parts:
        return "No run is recorded yet.\n"
    return "Measured (wall time, last committed reports): " + "; ".join(parts) + ".\n"


REGIONS: dict[str, Callable[[Report | None, Report | None], str]] = {
    "results": _results,
    "targets": _targets,
    "runtime": _runtime,
}
"""Every region a doc may hold, by name."""


def render_region(name: str, *, results: Path = RESULTS) -> str:
    """The text of region ``name`` from the report files in ``results``."""
    if name not in REGIONS:
        raise KeyError(f"unknown benchmark region {name!r} (known: {sorted(REGIONS)})")
    return REGIONS[name](load_report(quick=False, results=results),
                         load_report(quick=True, results=results))


def doc_files(root: Path = ROOT) -> list[Path]:
    """README.md and every Markdown file under docs/."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def regions(text: str) -> list[tuple[str, str]]:
    """The (name, body) of every generated region in ``text``."""
    return [(m["name"], m["body"]) for m in MARKER.finditer(text)]


def rendered(text: str, *, results: Path = RESULTS) -> str:
    """``text`` with every region replaced by its rendering."""
    return MARKER.sub(
        lambda m: m["open"] + render_region(m["name"], results=results) + m["close"], text
    )


def update_docs(root: Path = ROOT, *, results: Path = RESULTS) -> list[Path]:
    """Rewrite every region of the docs; returns the files that changed."""
    changed = []
    for path in doc_files(root):
        text = path.read_text(encoding="utf-8")
        new = rendered(text, results=results)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed
