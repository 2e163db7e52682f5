"""Run every benchmark module and print one table of medians and ratios.

Usage: ``python -m bench [MODULE ...]`` (default: all of ``BENCH_MODULES``). Each module measures
its own baseline in the same run, so the ratios are meaningful on a noisy machine; targets are
printed next to the figures, never asserted.
"""

import argparse
import importlib
import sys
import time
import traceback

from bench.common import BenchRow

BENCH_MODULES = (
    "lesson",
    "config",
    "notion",
    "tts",
    "pipeline",
    "dagster",
    "api",
    "launch_hang",
    "api_real",
    "jobs_read",
    "faults",
    "events",
    "stack",
    "job_metrics",
    "runs",
)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0 or 0.01 <= abs(value) < 100_000:
        return f"{value:.3g}" if abs(value) < 10 else f"{value:,.1f}"
    return f"{value:.3e}"


def print_table(rows: list[tuple[str, BenchRow]]) -> None:
    headers = ("module", "benchmark", "value", "unit", "baseline", "ratio", "target")
    table = [
        (mod, r.name, _fmt(r.value), r.unit, _fmt(r.baseline), _fmt(r.ratio), r.target or "-")
        for mod, r in rows
    ]
    widths = [
        max(len(h), *(len(row[i]) for row in table)) if table else len(h)
        for i, h in enumerate(headers)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("-" * len(line))
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("modules", nargs="*", metavar="MODULE", help=", ".join(BENCH_MODULES))
    args = parser.parse_args(argv)
    unknown = sorted(set(args.modules) - set(BENCH_MODULES))
    if unknown:
        parser.error(f"unknown benchmark module(s): {', '.join(unknown)}")
    rows: list[tuple[str, BenchRow]] = []
    failed = 0
    for name in args.modules or BENCH_MODULES:
        started = time.perf_counter()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(f"bench.{name}")
            rows.extend((name, row) for row in module.run())
        except Exception:
            failed += 1
            traceback.print_exc()
            print(f"[bench] {name} FAILED", file=sys.stderr)
        print(f"[bench] {name} took {time.perf_counter() - started:.1f}s", file=sys.stderr)
    print_table(rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
