"""Start-up time of each command against ``python -c "import torch"``, measured side by side in one run.

Every case is a fresh process (what a Makefile step or a shell pays): ``nnlab datasets``, ``nnlab models``,
``nnlab summarize`` of a small metrics table, ``nnlab inspect`` of that table, ``nnlab --help`` and each
command's ``--help``, and ``nnlab evaluate`` of a small CNN (random weights) on the test split of the built-in
``digits`` (360 images, so the time is start-up, data preparation and one pass). The files they read are written
first, by this script. Each repeat runs the baseline and every case once, in a shuffled order, so load changing
on a shared machine falls on all of them alike; the table gives each one's median seconds and its ratio to the
baseline's median, with the machine's load average before and after.

    .venv/bin/python benchmarks/startup.py --repeats 5
    .venv/bin/python benchmarks/startup.py --repeats 3 --no-help   # skip the per-command --help rows
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# command → the most its start-up may take, as a share of importing torch (issue 21)
TARGETS = {"datasets": 0.5, "summarize": 0.5, "inspect TABLE": 0.5, "evaluate (cnn, digits)": 1.5}


def write_inputs(folder: Path) -> tuple[Path, Path]:
    """A metrics table and a small CNN artifact for the summarize/inspect and evaluate cases."""
    import pandas as pd

    from nnlab import artifacts
    from nnlab.models import create_classifier, save_model

    table = artifacts.save_table(
        folder / "cnn.metrics.parquet",
        pd.DataFrame({"scope": ["overall", "class"], "class": ["", "0"], "accuracy": [0.5, None], "f1": [0.4, 0.3]}),
        {"table": "metrics"},
    )
    model = save_model(
        folder / "cnn.safetensors", create_classifier("cnn", [str(i) for i in range(10)], channels=1, size=8)
    )
    return table, model


def cases(folder: Path, table: Path, model: Path, with_help: bool) -> dict[str, list[str]]:
    """Name → the command line of each case."""
    nnlab = [sys.executable, "-m", "nnlab"]
    out = {
        "import torch (baseline)": [sys.executable, "-c", "import torch"],
        "datasets": [*nnlab, "datasets"],
        "models": [*nnlab, "models"],
        "summarize": [
            *nnlab,
            "summarize",
            f"a.acc={table}",
            f"a.f1={table}#class:0:f1",
            "-o",
            str(folder / "s.parquet"),
        ],
        "inspect TABLE": [*nnlab, "inspect", str(table)],
        "evaluate (cnn, digits)": [
            *nnlab,
            "evaluate",
            str(model),
            "--dataset",
            "digits",
            "--num-workers",
            "0",
            "--device",
            "cpu",
            "-o",
            str(folder / "e.parquet"),
        ],
        "--help": [*nnlab, "--help"],
    }
    if with_help:
        from nnlab.cli.main import COMMANDS

        for name, _, _ in COMMANDS:
            out[f"{name} --help"] = [*nnlab, name, "--help"]
    return out


def timed(cmd: list[str]) -> float:
    """Wall-clock seconds of one run of ``cmd`` (which must succeed)."""
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-help", action="store_true", help="Leave out the per-command --help rows.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the per-repeat order.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        table, model = write_inputs(folder)
        runs = cases(folder, table, model, not args.no_help)
        load_before = os.getloadavg()
        order = list(runs)
        rng = random.Random(args.seed)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for r in range(args.repeats):
            rng.shuffle(order)
            for name in order:
                times[name].append(timed(runs[name]))
            print(f"# repeat {r + 1}/{args.repeats} done", file=sys.stderr)
        load_after = os.getloadavg()

    base = statistics.median(times["import torch (baseline)"])
    print(
        f"# load average (1/5/15 min) before {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, "
        f"after {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}; {os.cpu_count()} CPUs; "
        f"{args.repeats} repeats"
    )
    width = max(map(len, runs))
    print(f"| {'command':<{width}} | median s |  min s | x import torch | target       |")
    print(f"|{'-' * (width + 2)}|---------:|-------:|---------------:|--------------|")
    for name, values in times.items():
        median = statistics.median(values)
        target = TARGETS.get(name)
        verdict = "" if target is None else f"<= {target}x {'ok' if median / base <= target else 'MISSED'}"
        print(f"| {name:<{width}} | {median:8.2f} | {min(values):6.2f} | {median / base:14.2f} | {verdict:<12} |")


if __name__ == "__main__":
    main()
