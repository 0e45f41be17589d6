"""``locate()``'s methods side by side at scale, on the scale benchmark's synthetic data.

    python benchmarks/run_scale.py --n-sc 300000 --n-st 300000 --stage generate --work /tmp/scale300k
    OMP_NUM_THREADS=1 python benchmarks/run_locate_speed.py --work /tmp/scale300k/300000x300000_2000g_300p_seed0

Opens the generated pair backed, trains the default model for one epoch (the searches' cost does
not depend on how well it is trained), then times ``locate(method=...)`` for each method in turn,
A B A B, in one process with one torch thread, and prints each call's wall seconds, the ratios
pair by pair and the process's peak resident memory before and after the calls.
"""
from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import anndata as ad

import stcross
from real_data import RESULTS_DIR


def _peak_rss_mib() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", required=True, help="the folder run_scale.py wrote sc.h5ad and st.h5ad to")
    parser.add_argument("--methods", default="knn,metric")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS_DIR))
    args = parser.parse_args()
    work, methods = Path(args.work), args.methods.split(",")
    sc, st = ad.read_h5ad(work / "sc.h5ad", backed="r"), ad.read_h5ad(work / "st.h5ad", backed="r")
    model = stcross.CrossModalModel(sc, st).train(max_epochs=1, seed=0, progress_bar=False)
    peak_before = _peak_rss_mib()
    seconds: dict[str, list[float]] = {method: [] for method in methods}
    for _ in range(args.repeats):
        for method in methods:
            started = time.perf_counter()
            model.locate(method=method)
            seconds[method].append(round(time.perf_counter() - started, 1))
            print(f"{method}: {seconds[method][-1]} s", flush=True)
    first = methods[0]
    result = {
        "n_sc": sc.n_obs,
        "n_st": st.n_obs,
        "seconds": seconds,
        "ratios_to_" + first: {m: [round(b / a, 2) for a, b in zip(seconds[first], seconds[m])] for m in methods[1:]},
        "peak_rss_mib_before_locate": peak_before,
        "peak_rss_mib": _peak_rss_mib(),
    }
    print(json.dumps(result, indent=1))
    Path(args.out, f"locate_speed_{sc.n_obs}x{st.n_obs}.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
