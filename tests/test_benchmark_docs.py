"""The figures in README.md and docs/ are the committed benchmark report's.

Every region between ``<!-- benchmarks:NAME -->`` markers must equal what
``benchmarks/report.py`` renders from ``benchmarks/results/*.json``: a
figure typed by hand, or a new report committed without
``python -m benchmarks --render``, fails here.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _report_module():
    name = "benchmarks.report"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


report = _report_module()


@pytest.mark.parametrize("path", report.doc_files(ROOT), ids=lambda p: p.name)
def test_generated_figures_match_the_committed_report(path: Path) -> None:
    """Each generated region is exactly what the committed report renders."""
    text = path.read_text(encoding="utf-8")
    for name, body in report.regions(text):
        assert name in report.REGIONS, f"{path.name}: unknown region {name!r}"
        assert body == report.render_region(name), (
            f"{path.name}: region {name!r} differs from benchmarks/results/: "
            "run `python -m benchmarks --render` (never edit the figures by hand)"
        )


def test_the_docs_carry_the_regions_and_a_report_is_committed() -> None:
    """README shows the targets and runtimes, performance.md every row, and
    both report files exist (the --quick runtime is measured, not guessed)."""
    readme = dict(report.regions((ROOT / "README.md").read_text(encoding="utf-8")))
    performance = dict(report.regions((ROOT / "docs/performance.md").read_text(encoding="utf-8")))
    assert {"runtime", "targets"} <= set(readme)
    assert {"runtime", "results", "targets"} <= set(performance)
    full = report.load_report(quick=False)
    quick = report.load_report(quick=True)
    assert full is not None and quick is not None
    assert quick["environment"]["quick"] is True and full["environment"]["quick"] is False
    assert f"`--quick` took {quick['elapsed_s']} s" in readme["runtime"]
    for row in full["rows"]:
        assert row["name"] in performance["results"]


def test_readme_types_no_figure_outside_the_regions() -> None:
    """The README's performance section has no hand-typed timing or ratio."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Performance"):]
    outside = report.MARKER.sub("", section)
    assert not re.search(r"\d\s*(us|ms|s)\b|\d(\.\d+)?x\b", outside), outside


def test_rendering_a_new_report_rewrites_only_the_regions(tmp_path: Path) -> None:
    """update_docs replaces region bodies from a report and leaves the prose."""
    results = tmp_path / "results"
    results.mkdir()
    rows = [
        {"name": "save@10 vs raw", "convo_s": 0.000267, "baseline_s": 4.36e-05, "ratio": 6.1,
         "target": 3.0, "met": False},
        {"name": "fork bytes", "convo_s": 112.0, "baseline_s": None, "ratio": None,
         "target": None, "target_text": "<= 200 B", "met": True, "unit": "B"},
    ]
    for quick, elapsed in ((False, 61.5), (True, 40.2)):
        (results / ("quick.json" if quick else "full.json")).write_text(json.dumps(
            {"environment": {"python": "3.11.7", "sqlite": "3.40.1", "machine": "x86_64",
                             "quick": quick}, "elapsed_s": elapsed, "rows": rows}))
    (tmp_path / "docs").mkdir()
    doc = tmp_path / "docs" / "perf.md"
    doc.write_text("Intro.\n\n<!-- benchmarks:results -->\nold\n<!-- /benchmarks:results -->\n"
                   "\n<!-- benchmarks:runtime -->\n<!-- /benchmarks:runtime -->\nEnd.\n")
    (tmp_path / "README.md").write_text("No regions.\n")
    changed = report.update_docs(tmp_path, results=results)
    assert changed == [doc]
    text = doc.read_text()
    assert text.startswith("Intro.\n") and text.endswith("End.\n") and "old" not in text
    assert "| save@10 vs raw | 267.0 us | 43.6 us | 6.10x | <= 3.0x | **no** |" in text
    assert "| fork bytes | 112 B | - | - | <= 200 B | yes |" in text
    assert "the full run took 61.5 s; `--quick` took 40.2 s" in text
    assert report.update_docs(tmp_path, results=results) == []  # idempotent
