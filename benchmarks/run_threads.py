"""Torch threads on a shared CPU: training time at 1 and 2 threads, quiet and beside a busy process.

    python benchmarks/run_threads.py [--dataset osmfish|bdtnp] [--epochs 10] [--repeats 3]

Trains the bundled pair for a fixed number of epochs with ``threads=1`` and ``threads=2``
alternately (A B A B, in one process), first on the machine as it is, then with one other
process spinning on a core, as happens on a shared workstation or CI runner. Prints each
wall time and the 2-thread / 1-thread ratio pair by pair. Say what else ran when quoting it.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import stcross

SETTINGS = {
    "osmfish": {},
    "bdtnp": {"likelihood_sc": "gaussian", "likelihood_st": "gaussian"},
}


def train_seconds(sc, st, kwargs, epochs: int, threads: int) -> float:
    model = stcross.CrossModalModel(sc, st, **kwargs)
    config = stcross.TrainConfig(max_epochs=epochs, patience=epochs, seed=0)
    start = time.perf_counter()
    model.train(config=config, device="cpu", progress_bar=False, threads=threads)
    return time.perf_counter() - start


def measure(sc, st, kwargs, epochs: int, repeats: int) -> dict[int, list[float]]:
    times: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(repeats):
        for threads in (1, 2):
            times[threads].append(train_seconds(sc, st, kwargs, epochs, threads))
    return times


def report(label: str, times: dict[int, list[float]]) -> None:
    ratios = [b / a for a, b in zip(times[1], times[2])]
    print(
        f"{label:<22} 1 thread: {' '.join(f'{t:5.1f}' for t in times[1])} s | "
        f"2 threads: {' '.join(f'{t:5.1f}' for t in times[2])} s | "
        f"2/1 ratio pair by pair: {' '.join(f'{r:.2f}' for r in ratios)} (median {statistics.median(ratios):.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(SETTINGS), default="osmfish")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sc, st = stcross.datasets.load(args.dataset)
    kwargs = SETTINGS[args.dataset]
    print(f"{args.dataset}: SC {sc.n_obs} x {sc.n_vars}, ST {st.n_obs} x {st.n_vars}; {args.epochs} epochs a run; "
          f"{os.cpu_count()} CPUs; load average before: {os.getloadavg()[0]:.2f}")
    train_seconds(sc, st, kwargs, 1, 1)  # warm-up: imports, allocator
    report("quiet", measure(sc, st, kwargs, args.epochs, args.repeats))
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)
        report("one busy neighbour", measure(sc, st, kwargs, args.epochs, args.repeats))
    finally:
        busy.kill()
        busy.wait()


if __name__ == "__main__":
    main()
