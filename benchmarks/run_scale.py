"""Scale benchmark: wall time and peak memory of one end-to-end run on large synthetic data.

Usage::

    python benchmarks/run_scale.py --n-sc 100000 --n-st 100000
    python benchmarks/run_scale.py --n-sc 20000 --n-st 20000 --device cuda

Synthetic data with realistic sparsity: SC cells draw negative-binomial counts (about 2,000 UMIs a
cell over ``--n-genes`` genes, about two thirds zeros) from one of 20 cell-type profiles; ST cells
measure a ``--n-panel``-gene panel at a quarter of that depth, their types laid out in spatial
bands. Counts are drawn in blocks of 5,000 cells, each from its own seed stream (spawned from
``--seed``), by ``--workers`` processes: the data do not depend on the number of workers. The
data are written to ``--work`` by a first subprocess; a second one, whose peak resident memory
(``ru_maxrss``) is reported, opens them backed (``read_h5ad(backed="r")``) and runs
``CrossModalModel(...).train()`` (minibatch ``--batch-size``, default 256), ``locate()``, and
``impute()`` of every SC gene (``--n-impute`` to impute fewer) streamed to ``imputed.h5ad`` in
``--work``, then saves the model. Results go to ``--out`` as
``scale_<n_sc>x<n_st>_<device>.json``, rewritten after each step (``"complete": false`` until the
end), with the GPU's peak allocated memory on ``cuda``. Above 4e9 cell pairs
the CPU's partner graph and location search are approximate (``stcross[scale]``, FAISS); on a
GPU they stay exact.

``--impute-genes 500,2000`` then loads the saved model in fresh processes and imputes that many
genes, streamed to disk and in memory, reporting each process's peak memory: streamed output
should stay flat as genes grow.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from real_data import RESULTS_DIR

N_TYPES = 20
BLOCK_CELLS = 5000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-sc", type=int, default=100_000)
    parser.add_argument("--n-st", type=int, default=100_000)
    parser.add_argument("--n-genes", type=int, default=2000, help="SC genes")
    parser.add_argument("--n-panel", type=int, default=300, help="ST panel genes (a subset of the SC genes)")
    parser.add_argument("--n-impute", type=int, default=0, help="genes to impute (default 0: every SC gene)")
    parser.add_argument("--impute-genes", default=None,
                        help="comma-separated gene counts: impute-only runs (streamed and in memory) from the saved model")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=256,
                        help="training minibatch (train()'s default 256; larger means fewer, host-bound GPU steps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes drawing the counts")
    parser.add_argument("--work", default="/tmp/stcross_scale", help="folder for the generated .h5ad files")
    parser.add_argument("--out", default=str(RESULTS_DIR))
    parser.add_argument("--stage", choices=["all", "generate", "run", "impute"], default="all", help=argparse.SUPPRESS)
    parser.add_argument("--impute-mode", choices=["stream", "memory"], default="stream", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _count_block(seed: np.random.SeedSequence, profiles: np.ndarray, types: np.ndarray, depth: float):
    """Sparse NB counts (dispersion 2) for one block of cells of the given types."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    library = rng.lognormal(np.log(depth), 0.4, len(types))
    mu = profiles[types] * library[:, None]
    lam = rng.gamma(2.0, mu / 2.0).astype(np.float32)
    return sp.csr_matrix(rng.poisson(lam).astype(np.float32))


def _counts(seed: np.random.SeedSequence, profiles: np.ndarray, types: np.ndarray, depth: float, workers: int):
    """Counts for every cell, block by block, each block from its own child of ``seed``."""
    import scipy.sparse as sp

    starts = range(0, len(types), BLOCK_CELLS)
    seeds = seed.spawn(len(starts))
    jobs = [(s, profiles, types[start : start + BLOCK_CELLS], depth) for s, start in zip(seeds, starts)]
    if workers <= 1:
        blocks = [_count_block(*job) for job in jobs]
    else:
        with ProcessPoolExecutor(workers) as pool:
            blocks = list(pool.map(_count_block, *zip(*jobs)))
    return sp.vstack(blocks).tocsr()


def generate(args: argparse.Namespace, work: Path) -> None:
    import anndata as ad
    import pandas as pd

    root = np.random.SeedSequence(args.seed)
    rng = np.random.default_rng(root.spawn(1)[0])
    profiles = rng.gamma(0.3, 1.0, size=(N_TYPES, args.n_genes)) + 1e-3
    markers = rng.integers(0, N_TYPES, args.n_genes)
    profiles[markers, np.arange(args.n_genes)] *= 8.0
    profiles /= profiles.sum(1, keepdims=True)
    genes = [f"G{i}" for i in range(args.n_genes)]
    panel = np.sort(rng.choice(args.n_genes, args.n_panel, replace=False))
    sc_types = rng.integers(0, N_TYPES, args.n_sc)
    sc = ad.AnnData(
        _counts(root.spawn(1)[0], profiles, sc_types, 2000.0, args.workers),
        obs=pd.DataFrame({"cell_type": sc_types.astype(str)}, index=[f"sc{i}" for i in range(args.n_sc)]),
        var=pd.DataFrame(index=genes),
    )
    x, y = rng.uniform(0, 1000, args.n_st), rng.uniform(0, 1000, args.n_st)
    st_types = np.minimum((x / 1000 * N_TYPES).astype(int), N_TYPES - 1)
    st = ad.AnnData(
        _counts(root.spawn(1)[0], profiles[:, panel], st_types, 500.0 * args.n_panel / args.n_genes, args.workers),
        obs=pd.DataFrame({"cell_type": st_types.astype(str)}, index=[f"st{i}" for i in range(args.n_st)]),
        var=pd.DataFrame(index=[genes[i] for i in panel]),
    )
    st.obsm["spatial"] = np.column_stack([x, y])
    work.mkdir(parents=True, exist_ok=True)
    sc.write_h5ad(work / "sc.h5ad")
    st.write_h5ad(work / "st.h5ad")
    print(f"[scale] SC {sc.shape} ({1 - sc.X.nnz / np.prod(sc.shape):.1%} zeros), ST {st.shape} "
          f"({1 - st.X.nnz / np.prod(st.shape):.1%} zeros) written to {work}", flush=True)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _reset_peak() -> bool:
    """Restart the kernel's peak-memory count (VmHWM) of this process; False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_since_reset_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _genes(sc, n: int) -> list[str] | None:
    return None if n <= 0 else list(sc.var_names[:n])


def _gpu_peak_gib(device: str) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None


def run(args: argparse.Namespace, work: Path, out: Path) -> None:
    import anndata as ad

    import stcross

    # stcross's progress records (epochs, gene chunks written) with their times, for a run cut short.
    logging.basicConfig(format="%(asctime)s %(message)s")
    logging.getLogger("stcross").setLevel(logging.DEBUG)
    out.mkdir(parents=True, exist_ok=True)
    sc, st = ad.read_h5ad(work / "sc.h5ad", backed="r"), ad.read_h5ad(work / "st.h5ad", backed="r")
    path = out / f"scale_{sc.n_obs}x{st.n_obs}_{args.device}.json"
    info: dict = {"n_sc": sc.n_obs, "n_st": st.n_obs, "n_genes": sc.n_vars, "n_panel": st.n_vars,
                  "device": args.device, "batch_size": args.batch_size, "inputs": "backed h5ad", "complete": False,
                  "rss_after_open_mib": _rss_mib()}

    def record(**values) -> None:
        """Add figures and rewrite the result file, so a run cut short still leaves its steps so far."""
        info.update(values, peak_rss_mib=_rss_mib(), gpu_peak_allocated_gib=_gpu_peak_gib(args.device))
        path.write_text(json.dumps(info, indent=1))
        print(f"[scale] {json.dumps(values)}", flush=True)

    started = time.perf_counter()
    model = stcross.CrossModalModel(sc, st)
    record(setup_s=time.perf_counter() - started, rss_after_setup_mib=_rss_mib())
    model.train(device=args.device, seed=args.seed, batch_size=args.batch_size, progress_bar=False)
    # epochs_s: the epochs alone; the rest of train_s - setup_s is the partner graph.
    record(train_s=time.perf_counter() - started, epochs=len(model.history),
           epochs_s=float(model.history["seconds"].sum()), rss_after_train_mib=_rss_mib())
    step = time.perf_counter()
    located = model.locate()
    record(locate_s=time.perf_counter() - step, located_rows=len(located))
    step = time.perf_counter()
    imputed = model.impute(genes=_genes(sc, args.n_impute), out=work / "imputed.h5ad", overwrite=True)
    record(impute_s=time.perf_counter() - step, imputed_shape=list(imputed.shape),
           imputed_file_gib=(work / "imputed.h5ad").stat().st_size / 2**30, rss_after_impute_mib=_rss_mib())
    record(total_s=time.perf_counter() - started, complete=True)
    model.save(work / "model", overwrite=True)
    print(json.dumps(info, indent=1))
    print(f"[scale] written to {path}")


def impute_only(args: argparse.Namespace, work: Path) -> None:
    """Load the saved model and impute ``--n-impute`` genes, streamed or in memory; print peak memory."""
    import anndata as ad

    import stcross

    sc, st = ad.read_h5ad(work / "sc.h5ad", backed="r"), ad.read_h5ad(work / "st.h5ad", backed="r")
    model = stcross.CrossModalModel.load(work / "model", sc, st, device=args.device)
    # The peak while imputing alone: loading (data, partner graph) peaks higher than a streamed imputation.
    reset = _reset_peak()
    before = _peak_since_reset_mib()
    step = time.perf_counter()
    target = work / f"imputed_{args.n_impute}.h5ad" if args.impute_mode == "stream" else None
    imputed = model.impute(genes=_genes(sc, args.n_impute), out=target, overwrite=True)
    seconds = time.perf_counter() - step
    print(json.dumps({"mode": args.impute_mode, "genes": imputed.n_vars, "cells": imputed.n_obs,
                      "impute_s": round(seconds, 1), "rss_at_start_mib": round(before),
                      "peak_rss_while_imputing_mib": round(_peak_since_reset_mib()) if reset else None,
                      "peak_rss_process_mib": round(_rss_mib())}))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(args.work) / f"{args.n_sc}x{args.n_st}_{args.n_genes}g_{args.n_panel}p_seed{args.seed}"
    if args.stage == "generate":
        generate(args, work)
        return 0
    if args.stage == "run":
        run(args, work, Path(args.out))
        return 0
    if args.stage == "impute":
        impute_only(args, work)
        return 0
    # Each stage in its own process, so the run's peak memory excludes data generation.
    base = [sys.executable, str(Path(__file__).resolve()), *(argv if argv is not None else sys.argv[1:])]
    if not (work / "st.h5ad").exists():
        subprocess.run([*base, "--stage", "generate"], check=True)
    if args.impute_genes is None:
        subprocess.run([*base, "--stage", "run"], check=True)
        return 0
    if not (work / "model").exists():
        subprocess.run([*base, "--stage", "run"], check=True)
    for n in (int(g) for g in args.impute_genes.split(",")):
        for mode in ("stream", "memory"):
            subprocess.run([*base, "--stage", "impute", "--n-impute", str(n), "--impute-mode", mode], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
