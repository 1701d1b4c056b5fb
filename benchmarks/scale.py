"""Planning and the dry run at scale (issue 19, target 4): `digest send --dry-run` of 100,000 and 1,000,000
subscribers on SQLite, its wall time, peak memory (VmHWM of the child) and seconds per 1,000 readers.

    .venv/bin/python benchmarks/scale.py                    # 100,000 and 1,000,000 (about 10 minutes alone)
    .venv/bin/python benchmarks/scale.py --sizes 100000     # the 100,000 figure only (what `make bench` prints)

The first size is imported with `digest subscribers import` (timed: the import's own figure). Larger sizes are
grown from it by bulk SQL (each imported reader and their subscription copied under new addresses and token
keys): importing 1,000,000 rows through the CLI would take minutes and measures the import, not the dry run.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.run import DAY, digest, env_for, print_table, seed  # noqa: E402

NO_RELAY = 9  # the dry run connects to nothing: any port will do


def grow(db: Path, base: int, size: int) -> None:
    """Copies of the `base` imported readers (ids 1..base) and their subscriptions until there are `size`."""
    conn = sqlite3.connect(db)
    with conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(subscriber)") if r[1] not in ("id", "email",
                                                                                              "token_key")]
        sub_columns = [r[1] for r in conn.execute("PRAGMA table_info(subscription)") if r[1] not in ("id",
                                                                                                   "subscriber_id")]
        (have,) = conn.execute("SELECT count(*) FROM subscriber").fetchone()
        (top_sub,) = conn.execute("SELECT max(id) FROM subscription").fetchone()
        for k in range(have // base, size // base):
            cols = ", ".join(columns)
            conn.execute(f"INSERT INTO subscriber (id, email, token_key, {cols}) SELECT id + {k * base}, "
                         f"'c{k}.' || email, lower(hex(randomblob(16))), {cols} FROM subscriber WHERE id <= {base}")
            cols = ", ".join(sub_columns)
            conn.execute(f"INSERT INTO subscription (id, subscriber_id, {cols}) SELECT id + {k * top_sub}, "
                         f"subscriber_id + {k * base}, {cols} FROM subscription WHERE subscriber_id <= {base} "
                         f"AND id <= {top_sub}")
    conn.execute("ANALYZE")
    conn.close()


def dry_run(env: dict) -> tuple[float, int, int]:
    """(wall seconds, peak KiB, lines printed) of `digest send --dry-run` of DAY."""
    with tempfile.TemporaryFile("w+") as out:
        wall, _, peak = digest(env, "send", "--dry-run", "--date", DAY.isoformat(), stdout=out)
        out.seek(0)
        lines = sum("@example.com" in line for line in out)
    return wall, peak, lines


def rows(sizes=(100_000, 1_000_000), work: Path | None = None, echo: bool = False) -> list[tuple[str, str]]:
    """The rows of the README's table; `echo`: each printed as soon as it is measured too."""
    found = Rows(echo)
    with tempfile.TemporaryDirectory(prefix="digest-scale-", dir=work) as tmp:
        env = env_for(Path(tmp), NO_RELAY)
        base = sizes[0]
        took = seed(Path(tmp), env, base)
        found.append((f"`digest subscribers import` of {base:,} rows", f"{took:.1f} s"))
        per = {}
        for size in sizes:
            if size > base:
                grow(Path(tmp) / "digest.db", base, size)
            wall, peak, lines = dry_run(env)
            if lines != size:
                raise SystemExit(f"the dry run of {size:,} readers printed {lines:,} reader lines")
            per[size] = wall / size * 1000
            found.append((f"`digest send --dry-run`, {size:,} subscribers",
                          f"{wall:.1f} s wall, {peak / 1024:.0f} MB peak, {per[size]:.3f} s per 1,000 readers"))
        if len(per) > 1:
            small, large = min(per), max(per)
            found.append((f"per 1,000 readers at {large:,} ÷ at {small:,}", f"{per[large] / per[small]:.2f}"))
    return found


class Rows(list):
    def __init__(self, echo: bool) -> None:
        super().__init__()
        self.echo = echo

    def append(self, row: tuple[str, str]) -> None:
        super().append(row)
        if self.echo:
            print(f"  ... {row[0]}: {row[1]}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000],
                        help="subscriber counts, smallest first; each a multiple of the first")
    args = parser.parse_args(argv)
    print_table("digest scale benchmark", rows(tuple(args.sizes), echo=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
