"""Benchmark: the analyst's export of a year, `consultbot consults`, over a million consults
(issue 23 item 8: "today 49 s and 2.1 GB of memory"; the export is now streamed).

1. Creates (or with --reuse keeps) the database of bench/bench_stats.py: N consults (default
   1,000,000) requested over the local year 2027, written straight into SQLite with the
   store's own summaries.
2. Runs `consultbot consults --from 2027-01-01 --to 2027-12-31 --format F -o FILE` as a whole
   process for each format (csv, jsonl) under `/usr/bin/time -v`: wall, CPU and peak RSS
   ("Maximum resident set size").
3. With --before DIR, runs the same export (csv) with the code of another checkout (e.g. the
   main branch before the change: PYTHONPATH=DIR) against the same database.
4. Checks that every export has one row per counted consult of the year.

Results are printed and recorded in BENCHMARKS.md between markers unless --no-record.
Run: `.venv/bin/python bench/bench_export.py [--consults N] [--before /work/main]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sqlite3
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import benchlib
from bench_roster import Proc, consultbot_argv, run_ok, write_config
from bench_stats import YEAR_END, YEAR_START, generate

from consultbot.adapters.sql.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parent.parent
MARK_START = "<!-- bench_export:start -->"
MARK_END = "<!-- bench_export:end -->"
PERIOD = ("--from", "2027-01-01", "--to", "2027-12-31")
TIME = "/usr/bin/time"


def counted(db_path: Path) -> int:
    low, high = (round(t.timestamp() * 1000) for t in (YEAR_START, YEAR_END))
    with sqlite3.connect(db_path) as db:
        [(n,)] = db.execute(
            "SELECT count(*) FROM consult_stat WHERE counted = 1"
            " AND requested_ms >= ? AND requested_ms < ?",
            (low, high),
        ).fetchall()
    return int(n)


def rows_in(path: Path, form: str) -> int:
    with path.open("rb") as handle:
        lines = sum(1 for _ in handle)
    return lines - 1 if form == "csv" else lines  # the CSV's header


def export(config: Path, workdir: Path, form: str, before: Path | None = None) -> Proc:
    """One export as a whole process under `/usr/bin/time -v`: its "Maximum resident set
    size" is the export's own (a spawned child's getrusage also counts the pages it shared
    with this process before exec, this bench's own ~200 MiB)."""
    target = workdir / f"export{'-before' if before else ''}.{form}"
    argv = consultbot_argv(config, "consults", *PERIOD, "--format", form, "-o", str(target))
    if before is not None:
        argv = [sys.executable, "-m", "consultbot", *argv[argv.index("consults") :]]
    argv = [TIME, "-v", *argv]
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(before or ROOT)
    try:
        proc = run_ok(argv, workdir)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    if found is None:
        raise SystemExit(f"no peak RSS from {TIME}: {proc.stderr[-2000:]}")
    return replace(proc, max_rss_mib=int(found.group(1)) / 1024)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--consults", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out" / "export")
    parser.add_argument("--reuse", action="store_true", help="keep the database of a last run")
    parser.add_argument("--before", type=Path, help="a checkout to compare with (csv only)")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()

    workdir: Path = args.workdir
    db_path = workdir / "consultbot.db"
    if not (args.reuse and db_path.exists()):
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)

        async def create() -> None:
            await (await SqliteStore.open(db_path)).close()

        asyncio.run(create())
        generate(db_path, args.consults, args.seed)
    config = write_config(workdir)
    expected = counted(db_path)
    results: list[tuple[str, Proc]] = []
    if args.before is not None:
        proc = export(config, workdir, "csv", args.before)
        results.append((f"csv, before ({args.before})", proc))
        assert rows_in(workdir / "export-before.csv", "csv") == expected
    for form in ("csv", "jsonl"):
        proc = export(config, workdir, form)
        found = rows_in(workdir / f"export.{form}", form)
        if found != expected:
            raise SystemExit(f"{form}: {found} rows, {expected} counted consults expected")
        results.append((form, proc))
    rows = [
        (
            f"`consults {' '.join(PERIOD)} --format {name}`",
            f"{p.wall_s:.1f} s wall, {p.cpu_s:.1f} s CPU, peak RSS {p.max_rss_mib:,.0f} MiB",
        )
        for name, p in results
    ]
    for name, result in rows:
        print(f"{name}: {result}")
    text = "\n".join(
        [
            MARK_START,
            "## The analyst's export of a year, streamed",
            "",
            "Issue 23 item 8: `consultbot consults` for a year of a million consults took 49 s"
            " and 2.1 GB of memory; it now reads the store in batches of 2,000 (keyset"
            " pagination) and writes each batch as it comes, so its memory stays flat.",
            "",
            f"- Command: `.venv/bin/python bench/bench_export.py --consults {args.consults}"
            + (f" --before {args.before}`" if args.before else "`"),
            f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            f"- Machine: {benchlib.machine(f'SQLite {sqlite3.sqlite_version}')}",
            f"- Data: bench_stats.py's database, {expected:,} counted consults in 2027;"
            " every export checked to have one row per counted consult.",
            '- Peak RSS: `/usr/bin/time -v`\'s "Maximum resident set size" of the export.'
            + (
                f" Before: the code of {args.before} (a copy of the main branch before this"
                " change, `git archive 960303b`), whose export has fewer columns."
                if args.before
                else ""
            ),
            "",
            "| export | result |",
            "|---|---|",
            *(f"| {a} | {b} |" for a, b in rows),
            MARK_END,
        ]
    )
    if not args.no_record:
        print(f"recorded in {benchlib.record(text + chr(10), MARK_START, MARK_END)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
