"""Where a training step's time goes on a GPU, and the partner search's block size.

Usage (on a GPU machine, after ``run_scale.py --stage generate`` has written the data)::

    python benchmarks/run_gpu_profile.py --n 100000 --work /tmp/stcross_scale

Times one epoch of the scale benchmark's synthetic pair at batch 256 and 1,024; the chunked
exact top-k search (100,000 random 50-d queries against 1,000,000 references, k 15) at the
shipped block size and at eight times it; then trains one epoch under ``torch.profiler`` and
prints the operators by host time and the GPU's busy share. The profiler slows an epoch many
times over (a first try at 100,000 cells did not finish in 140 s), so it comes last and
``gpu_profile_<n>.json`` in ``--out`` is rewritten after every figure.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="cells a side (the data of run_scale.py)")
    parser.add_argument("--work", default="/tmp/stcross_scale")
    parser.add_argument("--out", default=".")
    args = parser.parse_args()

    import anndata as ad
    import torch
    from torch.profiler import ProfilerActivity, profile

    import stcross
    from stcross import neighbors

    folder = Path(args.work) / f"{args.n}x{args.n}_2000g_300p_seed0"
    sc, st = ad.read_h5ad(folder / "sc.h5ad", backed="r"), ad.read_h5ad(folder / "st.h5ad", backed="r")
    result: dict = {"n": args.n, "gpu": torch.cuda.get_device_name()}
    path = Path(args.out) / f"gpu_profile_{args.n}.json"

    def record(key: str, value) -> None:
        result[key] = value
        path.write_text(json.dumps(result, indent=1))
        print(f"{key}: {value}", flush=True)

    model = stcross.CrossModalModel(sc, st)
    model.train(device="cuda", max_epochs=1, progress_bar=False)  # warm-up: CUDA context, partner graph
    for batch_size in (256, 1024):
        model.train(device="cuda", max_epochs=1, batch_size=batch_size, progress_bar=False)
        record(f"epoch_s_batch_{batch_size}", float(model.history["seconds"].iloc[0]))

    rng = np.random.default_rng(0)
    reference = neighbors.unit_rows(rng.standard_normal((1_000_000, 50)).astype(np.float32))
    query = neighbors.unit_rows(rng.standard_normal((100_000, 50)).astype(np.float32))
    shipped = neighbors._MAX_BLOCK_VALUES
    for factor in (1, 8):
        neighbors._MAX_BLOCK_VALUES = shipped * factor
        torch.cuda.synchronize()
        started = time.perf_counter()
        neighbors.top_k_similar(query, reference, 15, device="cuda")
        record(f"top_k_s_block_x{factor}", time.perf_counter() - started)
    neighbors._MAX_BLOCK_VALUES = shipped

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        model.train(device="cuda", max_epochs=1, progress_bar=False)
    events = prof.key_averages()
    print(events.table(sort_by="self_cpu_time_total", row_limit=25))
    gpu_us = sum(e.self_device_time_total for e in events)
    record("profiled_epoch_s", float(model.history["seconds"].iloc[0]))
    record("gpu_busy_share", gpu_us / 1e6 / result["profiled_epoch_s"])
    record("top_host_ops", [
        {"op": e.key, "calls": e.count, "self_cpu_ms": e.self_cpu_time_total / 1e3}
        for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:15]
    ])


if __name__ == "__main__":
    main()
