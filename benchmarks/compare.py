#!/usr/bin/env python
"""Before and after, in one run: `benchmarks/media.py` against two checkouts, alternately.

    python benchmarks/compare.py --before e069a7e [--after HEAD] [--runs 3] [media.py options]

Each side is unpacked with ``git archive`` into a temporary folder and served by this
checkout's benchmark (``media.py --root``), so both run the same cases, clients and
servers. The runs alternate (before, after, before, after, …) so that the machine's drift
falls on both sides alike. Every media.py run measures its own truly bare Flask app, and
only those same-run ratios (``hit_ratio_to_bare_app`` and the rest) are compared: an
absolute rate would compare two minutes of a shared machine, not two commits.

The last stdout line is one JSON object: for each compared key, the median of each side's
runs, every run's value, and ``after ÷ before`` (``change``: 0.95 is a 5 % loss of a ratio
where higher is better). ``within_10_percent`` is the verdict on the CPU ratios (the
bare app's CPU per request ÷ the case's): true when none fell by more than 10 %. The
requests/s ratios and the costs are reported beside it but not judged: on a machine that
other jobs keep busy they spread wider than 10 % between two runs of the same commit
(docs/benchmarks.md), while the CPU a request costs stays within a few per cent.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HIGHER_IS_BETTER = ("hit_ratio_to_bare_app", "revalidate_ratio_to_bare_app",
                    "share_hit_ratio_to_bare_app", "hit_ratio_to_bare",
                    "revalidate_ratio_to_bare", "hit_cpu_ratio_to_bare_app",
                    "revalidate_cpu_ratio_to_bare_app", "share_hit_cpu_ratio_to_bare_app")
# The same comparisons in CPU per request (the bare app's ÷ the case's): on a machine
# that other jobs keep busy every case's rate tends to the same share of the cores, while
# the CPU a request costs still tells two commits apart.
CPU_RATIOS = {"hit_cpu_ratio_to_bare_app": "hit",
              "revalidate_cpu_ratio_to_bare_app": "revalidate",
              "share_hit_cpu_ratio_to_bare_app": "hit_share"}
COSTS = ("tracking_cost", "limits_cost")  # fractions: 0.10 is 10 %


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="a commit, tag or branch")
    parser.add_argument("--after", default="HEAD", help="a commit, tag or branch (HEAD)")
    parser.add_argument("--runs", type=int, default=3, help="media.py runs per side (3)")
    args, media_args = parser.parse_known_args(argv)
    return args, media_args


def unpack(ref: str, into: Path) -> Path:
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    subprocess.run([str(Path(sys.executable).parent / "pybabel"), "-q", "compile", "-d",
                    str(into / "translations")], check=True, capture_output=True)
    return into


def run_media(root: Path, media_args: list[str]) -> dict:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "media.py"),
                           "--root", str(root), *media_args],
                          stdout=subprocess.PIPE, text=True, check=True)
    return with_cpu_ratios(json.loads(done.stdout.strip().splitlines()[-1]))


def with_cpu_ratios(summary: dict) -> dict:
    cpu = summary.get("cpu_ms_per_request") or {}
    for key, case in CPU_RATIOS.items():
        if cpu.get("bare_app") and cpu.get(case):
            summary[key] = round(cpu["bare_app"] / cpu[case], 3)
    return summary


def compare(before: list[dict], after: list[dict]) -> dict:
    keys = [k for k in (*HIGHER_IS_BETTER, *COSTS)
            if all(isinstance(run.get(k), (int, float)) for run in (*before, *after))]
    out, ok = {}, True
    for key in keys:
        b = statistics.median(run[key] for run in before)
        a = statistics.median(run[key] for run in after)
        entry = {"before": round(b, 3), "after": round(a, 3),
                 "before_runs": [run[key] for run in before],
                 "after_runs": [run[key] for run in after]}
        if key in HIGHER_IS_BETTER:
            entry["change"] = round(a / b, 3) if b else None
            if key in CPU_RATIOS:
                ok = ok and (entry["change"] is None or entry["change"] >= 0.9)
        else:
            entry["change_points"] = round((a - b) * 100, 1)
        out[key] = entry
    return {"compared": out, "within_10_percent": ok}


def main(argv=None) -> int:
    args, media_args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="papelera-compare-") as tmp:
        sides = {"before": unpack(args.before, Path(tmp) / "before"),
                 "after": unpack(args.after, Path(tmp) / "after")}
        results: dict[str, list[dict]] = {"before": [], "after": []}
        for index in range(args.runs):
            for side, root in sides.items():
                print(f"run {index + 1}/{args.runs}: {side} ({getattr(args, side)})",
                      file=sys.stderr, flush=True)
                results[side].append(run_media(root, media_args))
    report = {"before": args.before, "after": args.after, "runs": args.runs,
              **compare(results["before"], results["after"])}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
