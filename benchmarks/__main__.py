"""Run every benchmark and print one table: ``python -m benchmarks [--quick]``.

Each figure is a median over several runs with its spread; each ratio is
convo against a baseline measured in the same run.  ``--json FILE`` writes
the rows so two runs can be compared (``--compare OLD.json``).  ``--report``
keeps the run in ``benchmarks/results/`` and regenerates the figures in
README.md and docs/ from it (``benchmarks.report``); ``--render`` only
regenerates them from the committed reports.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sqlite3
import sys
import time
from typing import Any

from benchmarks.report import figure, target

MODULES = ["bench_core", "bench_store", "bench_tokens", "bench_transport", "bench_cache", "bench_chat"]


def print_table(rows: list[dict[str, Any]], previous: dict[str, dict[str, Any]] | None = None) -> None:
    """Print rows as an aligned text table (``vs previous``: this run's convo
    figure over the same row's in ``previous``)."""
    header = ["workload", "convo", "baseline", "ratio", "target", "met", "spread"]
    if previous:
        header.append("vs previous")
    header.append("note")
    lines = [header]
    for r in rows:
        ratio = r.get("ratio")
        unit = r.get("unit", "s")
        cells = [
            r["name"],
            figure(r.get("convo_s"), unit),
            figure(r.get("baseline_s"), unit),
            "-" if ratio is None else f"{ratio:.2f}x",
            target(r),
            {True: "yes", False: "NO", None: "-"}[r.get("met")],
            f"{r.get('convo_spread', 0) * 100:.0f}%",
        ]
        if previous:
            old = previous.get(r["name"])
            cells.append("-" if not old or not old.get("convo_s") else f"{r['convo_s'] / old['convo_s']:.2f}x")
        cells.append(str(r.get("note", "")))
        lines.append(cells)
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    for n, line in enumerate(lines):
        print("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; exit 1 if a target is missed and --strict is given."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller workloads (< 2 minutes)")
    parser.add_argument("--only", action="append", help="run only these modules (e.g. bench_core)")
    parser.add_argument("--json", metavar="FILE", help="write the rows as JSON")
    parser.add_argument("--compare", metavar="FILE", help="compare with an earlier --json file")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--report", action="store_true",
                        help="keep this run in benchmarks/results/ and regenerate the docs' figures")
    parser.add_argument("--render", action="store_true",
                        help="only regenerate the docs' figures from benchmarks/results/")
    args = parser.parse_args(argv)
    if args.render:
        from benchmarks.report import update_docs

        for path in update_docs():
            print(f"updated {path}", file=sys.stderr)
        return 0
    if args.report and args.only:
        parser.error("--report keeps a whole run: use it without --only")
    rows: list[dict[str, Any]] = []
    ran: list[str] = []
    failed: dict[str, str] = {}
    started = time.perf_counter()
    for name in args.only or MODULES:
        try:
            module = importlib.import_module(f"benchmarks.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"benchmarks.{name}":
                continue
            raise
        print(f"running {name}...", file=sys.stderr, flush=True)
        ran.append(name)
        try:
            results = module.run(quick=args.quick)
        except Exception as exc:  # a broken module must not hide the others' figures
            failed[name] = f"{type(exc).__name__}: {exc}"
            print(f"  {name} failed: {failed[name]}", file=sys.stderr)
            continue
        for r in results:
            rows.append({"module": name, **r})
    previous = None
    if args.compare:
        with open(args.compare, encoding="utf-8") as fh:
            previous = {r["name"]: r for r in json.load(fh)["rows"]}
    print_table(rows, previous)
    elapsed = time.perf_counter() - started
    missed = [r["name"] for r in rows if r.get("met") is False]
    print(f"\n{len(rows)} figures in {elapsed:.0f} s; targets missed: {len(missed)}")
    for name in missed:
        print(f"  missed: {name}")
    env = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
           "machine": platform.machine(), "cpus": os.cpu_count(), "quick": args.quick,
           "modules": [m for m in ran if m not in failed], "failed": failed}
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"environment": env, "elapsed_s": round(elapsed, 1), "rows": rows}, fh,
                      indent=2)
    if args.report:
        from benchmarks.report import update_docs, write_report

        print(f"wrote {write_report(rows, env, elapsed, quick=args.quick)}", file=sys.stderr)
        for path in update_docs():
            print(f"updated {path}", file=sys.stderr)
    if failed:
        return 1
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
