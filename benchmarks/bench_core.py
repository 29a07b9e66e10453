"""In-memory costs: append flat in the history's length, payload after one
append about a list build plus one turn.

Ratios, all measured in this run:

* ``append@N / append@10``: an append must not grow with the length.
* ``append@N / json.dumps(message)``: appending costs a few serialisations
  of the new turn (it hashes and caches its canonical JSON).
* ``payload after append@N / list(N)``: building the request body after one
  append against copying a list of N prepared message dicts.
* ``payload after append@N / (append + list(N))``: the body after one
  append costs an append and a copy of N pointers, no per-turn work: flat
  in N (target <= 2.5x at 1 000 and 10 000 turns: convo copies N pointers
  twice, into the cached message tuple and into the list it hands out).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from benchmarks._timing import Stat, measure, row
from convo import Conversation


def _grow(length: int) -> Conversation:
    c = Conversation("You are terse.")
    for i in range(length):
        c = c.user(f"question {i}") if i % 2 == 0 else c.assistant(f"answer {i}")
    return c


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Run the core benchmarks; one row per workload."""
    lengths = [10, 1_000, 10_000, 100_000]
    repeat, number = (5, 200) if quick else (9, 500)
    message = {"role": "user", "content": "question again"}
    dumps = measure(lambda: json.dumps(message), repeat=repeat, number=number)
    rows: list[dict[str, Any]] = []
    base_append = None
    for length in lengths:
        c = _grow(length if length % 2 == 0 else length + 1)  # ends with assistant
        stat = measure(lambda c=c: c.user("question again"), repeat=repeat, number=number)
        if base_append is None:
            base_append = stat
        rows.append(row(f"append@{length} vs append@10", stat, base_append, target=1.5,
                        baseline_name="append@10"))
        rows.append(row(f"append@{length} vs json.dumps(message)", stat, dumps,
                        baseline_name="json.dumps(message)"))
    for length in [1_000, 10_000]:
        c = _grow(length)
        c.to_payload("claude-opus-4-6", 1024)  # warm each turn's cached message
        prepared = [dict(t.message) for t in c]
        inner = max(10, number // 20)
        after_samples: list[float] = []
        floor_samples: list[float] = []
        copy_samples: list[float] = []
        for _ in range(repeat):  # alternated, so that each ratio is a pair
            after_samples += measure(
                lambda c=c: c.user("one more").to_payload("claude-opus-4-6", 1024),
                repeat=1, number=inner,
            ).samples
            appended = measure(lambda c=c: c.user("one more"), repeat=1, number=inner)
            copied = measure(lambda p=prepared: list(p), repeat=1, number=inner)
            floor_samples.append(appended.median + copied.median)
            copy_samples += copied.samples
        after, floor, copy = Stat(after_samples), Stat(floor_samples), Stat(copy_samples)
        rows.append(row(f"payload after append@{length} vs list copy", after, copy,
                        baseline_name=f"list({length} dicts)"))
        rows.append(row(f"payload after append@{length} vs append + list copy (flat)", after,
                        floor, target=2.5, baseline_name=f"append + list({length} dicts)"))
        full = measure(lambda p=prepared: json.dumps(p), repeat=3, number=5)
        rows.append(row(f"payload after append@{length} vs json.dumps(all)", after, full,
                        target=1.0, baseline_name=f"json.dumps({length} messages)"))
    # Serialising the body: convo hands json/orjson its shared read-only
    # views; the baselines serialise the same body built from plain dicts.
    c = _grow(1_000)
    body = c.to_payload("claude-opus-4-6", 1024)
    plain = json.loads(json.dumps(body))
    samples: list[list[float]] = [[], [], []]
    contenders = [
        lambda: orjson.dumps(c.to_payload("claude-opus-4-6", 1024)),
        lambda: json.dumps(plain),
        lambda: orjson.dumps(plain),
    ]
    for _ in range(repeat):  # alternated: each ratio is taken pair by pair
        for i, fn in enumerate(contenders):
            samples[i] += measure(fn, repeat=1, number=50).samples
    convo_bytes, json_plain, orjson_plain = (Stat(s) for s in samples)
    rows.append(row("payload@1000 to bytes (orjson) vs json.dumps(plain)", convo_bytes,
                    json_plain, baseline_name="json.dumps(plain dict)"))
    rows.append(row("payload@1000 to bytes (orjson) vs orjson.dumps(plain)", convo_bytes,
                    orjson_plain, target=1.5, baseline_name="orjson.dumps(plain dict)"))
    return rows


def main() -> None:
    """Print the rows as a table."""
    from benchmarks.__main__ import print_table

    print_table(run())


if __name__ == "__main__":
    main()
