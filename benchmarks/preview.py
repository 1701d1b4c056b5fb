"""`digest preview` from a cold start, alone: wall and CPU seconds of each run (a new interpreter each time).

    .venv/bin/python benchmarks/preview.py [--subscribers 20000] [--runs 7] [--src OTHER/src]

The store is `make bench`'s (benchmarks/run.py: 400 articles, `--subscribers` readers); the preview is the one
`make bench` times. CPU seconds (user + system of the child) say more than wall time on a shared machine.
`--src` times another checkout's code against the same store, interleaved with this one's (before/after).
Each checkout's modules are compiled to bytecode first, as `pip install` leaves an installed digest (the Docker
image): with PYTHONDONTWRITEBYTECODE=1 in the shell, every run would otherwise compile about 95 of the project's
modules from source (0.1-0.2 s a run that no deployment pays).
(Remove the checkouts' __pycache__ directories and keep that variable set to time that case.)
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks import run  # noqa: E402


def cold_preview(env: dict) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak KiB) of one `digest preview`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, _, peak = run.digest(env, "preview", "--date", run.DAY.isoformat(), "--out", os.devnull)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, peak


def summary(name: str, runs: list[tuple[float, float, int]]) -> tuple[str, str]:
    walls, cpus = sorted(r[0] for r in runs), sorted(r[1] for r in runs)
    return (f"`digest preview` cold, {name} (median of {len(runs)})",
            f"wall {statistics.median(walls):.2f} s (best {walls[0]:.2f}), CPU {statistics.median(cpus):.2f} s "
            f"(best {cpus[0]:.2f}), peak {max(r[2] for r in runs) // 1024} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="cold `digest preview`")
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--src", type=Path, help="another checkout's src/ to time as well (interleaved)")
    args = parser.parse_args(argv)
    sources = {"this checkout": ROOT / "src", **({str(args.src): args.src.resolve()} if args.src else {})}
    for src in sources.values():
        compileall.compile_dir(str(src), quiet=1)
    times: dict[str, list] = {name: [] for name in sources}
    with tempfile.TemporaryDirectory(prefix="digest-preview-") as tmp:
        env = run.env_for(Path(tmp), 2525)  # preview sends nothing: no relay needed
        env["PYTHONPATH"] = str(ROOT / "src")
        run.seed(Path(tmp), env, args.subscribers)
        for _ in range(args.runs):
            for name, src in sources.items():
                times[name].append(cold_preview({**env, "PYTHONPATH": str(src)}))
    run.print_table("digest preview, cold (bytecode compiled)", [summary(name, runs) for name, runs in times.items()])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
