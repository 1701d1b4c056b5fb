"""How `digest send` (and the demo) show long work: a live bar with count, rate and ETA on a terminal, plain
progress lines otherwise, and afterwards a summary per edition (a table on a terminal, one line each otherwise,
or one JSON document with `--json`). All progress goes to stderr, so stdout stays the result."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import typer


@dataclass
class Timing:
    total: int
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    done: int = 0

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def eta(self) -> float | None:
        return (self.total - self.done) / self.rate if self.rate > 0 and self.total >= self.done else None


class Tracker:
    """Duck-types `pipeline.Progress` and remembers each edition's count and time for the summary."""

    def __init__(self) -> None:
        self.timings: dict[str, Timing] = {}
        self.key = ""

    def start(self, key: str, total: int) -> None:
        self.key = key
        self.timings[key] = Timing(total)
        self.started(key, total)

    def advance(self, n: int) -> None:
        timing = self.timings[self.key]
        timing.done += n
        self.advanced(timing)

    def finish(self) -> None:
        if self.key in self.timings:
            self.timings[self.key].finished = time.monotonic()
            self.finished(self.timings[self.key])

    def started(self, key: str, total: int) -> None: ...

    def advanced(self, timing: Timing) -> None: ...

    def finished(self, timing: Timing) -> None: ...


def clock_text(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class LineProgress(Tracker):
    """Without a terminal: a line at the start, about every tenth of the edition, and at the end."""

    def started(self, key: str, total: int) -> None:
        self.step = max(1, total // 10)
        self.shown = 0
        typer.echo(f"{key}: {total} to send", err=True)

    def advanced(self, timing: Timing) -> None:
        if timing.done // self.step != self.shown // self.step or timing.done == timing.total:
            self.shown = timing.done
            typer.echo(f"{self.key}: {timing.done}/{timing.total}, {timing.rate:.1f} msg/s, "
                       f"ETA {clock_text(timing.eta())}", err=True)


class BarProgress(Tracker):
    """On a terminal: Rich's live bar with count, rate, elapsed time and ETA, on stderr."""

    def started(self, key: str, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
        )

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"),
                            TimeRemainingColumn(), console=Console(stderr=True), transient=False)
        self.bar.start()
        self.task = self.bar.add_task(key, total=total or None, rate="0.0 msg/s")

    def advanced(self, timing: Timing) -> None:
        self.bar.update(self.task, advance=None, completed=timing.done, rate=f"{timing.rate:.1f} msg/s")

    def finished(self, timing: Timing) -> None:
        self.bar.update(self.task, completed=timing.done, rate=f"{timing.rate:.1f} msg/s")
        self.bar.stop()


def make_progress() -> Tracker:
    return BarProgress() if sys.stderr.isatty() else LineProgress()


def report_doc(report, timing: Timing | None) -> dict:
    return {"edition": report.key, "counts": dict(sorted(report.counts.items())), "total": report.total,
            "planned": report.planned, "attempted": report.attempted, "expired": report.expired,
            "variants": report.variants, "inlined": report.inlined, "stopped": report.stopped,
            "interrupted": report.interrupted, "clean": report.clean,
            "seconds": round(timing.seconds, 3) if timing else 0.0,
            "rate_per_second": round(timing.rate, 1) if timing else 0.0}


def print_summary(docs: list[dict], *, table: bool) -> None:
    """One row per edition: a Rich table on a terminal, otherwise one line each (scripts read those)."""
    if not table:
        for d in docs:
            counts = ", ".join(f"{n} {s}" for s, n in d["counts"].items())
            typer.echo(f"{d['edition']}: {counts} ({d['attempted']} attempted now in {d['seconds']:.1f} s, "
                       f"{d['rate_per_second']} msg/s, {d['variants']} variants, {d['inlined']} inlined)")
        return
    from rich.console import Console
    from rich.table import Table

    statuses = sorted({s for d in docs for s in d["counts"]})
    grid = Table("edition", *statuses, "total", "attempted now", "time", "msg/s", "variants", title="digest send")
    for d in docs:
        grid.add_row(d["edition"], *(str(d["counts"].get(s, 0)) for s in statuses), str(d["total"]),
                     str(d["attempted"]), clock_text(d["seconds"]), f"{d['rate_per_second']}", str(d["variants"]))
    Console().print(grid)
