"""Command line: ``stcross fit-impute`` on two ``.h5ad`` or Seurat ``.rds`` files, ``stcross demo`` on bundled data.

Exit codes: 0 success, 2 usage or input errors (message on stderr, no traceback).
"""
from __future__ import annotations

import argparse
import datetime
import logging
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .errors import InputError
from .likelihoods import NAMES as LIKELIHOOD_NAMES
from .likelihoods import get_likelihood
from .locate import METHODS as LOCATE_METHODS
from .threads import DEFAULT_THREADS, check_threads, torch_threads

logger = logging.getLogger("stcross")

# Errors stcross raises for bad input (stcross.errors.InputError and its subclasses); the CLI turns
# them into a message and exit code 2. Any other exception is a bug and keeps its traceback.
USER_ERRORS = (InputError,)
EXIT_USAGE = 2
N_PLOT_GENES = 4
# Above this many cells x genes, fit-impute streams imputed.h5ad to disk (about 100 MB per statistic in memory).
STREAM_ABOVE = 25_000_000
# Gene folds the demo calibrates on: calibrate()'s default (one training whatever the number).
DEMO_CALIBRATION_FOLDS = 5


class UsageError(Exception):
    """A problem with the command line or its input files."""


# ---------------------------------------------------------------- small helpers


def _dense(x) -> np.ndarray:
    return x.toarray() if sp.issparse(x) else np.asarray(x)


def _safe_name(gene: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(gene))


def _pearson_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of matching columns (NaN where either column is constant)."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    denom = np.sqrt((a**2).sum(axis=0) * (b**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (a * b).sum(axis=0) / denom, np.nan)


def _read_h5ad(path: str, role: str):
    import anndata as ad

    file = Path(path)
    if not file.exists():
        msg = f"--{role} file not found: {file}"
        raise UsageError(msg)
    if not file.is_file():
        msg = f"--{role} is not a file: {file}"
        raise UsageError(msg)
    try:
        return ad.read_h5ad(file)
    except (OSError, KeyError, ValueError) as err:
        msg = f"could not read --{role} {file} as .h5ad: {err}"
        raise UsageError(msg) from err


def _read_rds(path: str, role: str, *, assay: str | None, layer: str | None, coords: str | None):
    file = Path(path)
    if not file.is_file():
        msg = f"--{role} file not found: {file}"
        raise UsageError(msg)
    try:
        from .io import read_seurat

        return read_seurat(file, assay=assay, layer=layer or "counts",
                           coords=coords.split(",") if coords else None)
    except (ImportError, RuntimeError) as err:  # no rpy2, or no R / SeuratObject for it
        msg = f"cannot read --{role} {file} as a Seurat .rds: {err}"
        raise UsageError(msg) from err


def _is_rds(path: str) -> bool:
    return Path(path).suffix.lower() == ".rds"


def _read_input(args: argparse.Namespace, role: str):
    """An input file as AnnData, and the layer of it that holds the expression."""
    path, layer = getattr(args, role), getattr(args, f"layer_{role}")
    if _is_rds(path):
        coords = args.coords_st if role == "st" else None
        adata = _read_rds(path, role, assay=getattr(args, f"assay_{role}"), layer=layer, coords=coords)
        return adata, None  # read_seurat put the chosen Seurat layer in X
    if getattr(args, f"assay_{role}") is not None or (role == "st" and args.coords_st is not None):
        msg = f"--assay-{role}/--coords-st apply to Seurat .rds inputs only; --{role} is {path}."
        raise UsageError(msg)
    return _read_h5ad(path, role), layer


def _check_out(out: str | Path, *, overwrite: bool) -> Path:
    """Refuse a non-empty output directory early; it is created only when results are written."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        msg = f"--out {path} exists and is not a directory."
        raise UsageError(msg)
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        msg = f"output directory {path} is not empty; choose another --out or pass --overwrite."
        raise UsageError(msg)
    return path


def _parse_genes(genes: str | None, genes_file: str | None) -> list[str] | None:
    if genes is not None and genes_file is not None:
        msg = "give either --genes or --genes-file, not both."
        raise UsageError(msg)
    if genes is not None:
        names = [g.strip() for g in genes.split(",") if g.strip()]
    elif genes_file is not None:
        file = Path(genes_file)
        if not file.is_file():
            msg = f"--genes-file not found: {file}"
            raise UsageError(msg)
        lines = file.read_text().splitlines()
        names = [line.split("#", 1)[0].strip() for line in lines]
        names = [n for n in names if n]
    else:
        return None
    if not names:
        msg = "the gene list given by --genes/--genes-file is empty."
        raise UsageError(msg)
    return list(dict.fromkeys(names))


def _check_device(device: str) -> None:
    """Reject an unusable --device before any work is done."""
    import torch

    if device == "auto":
        return
    try:
        parsed = torch.device(device)
    except RuntimeError as err:
        msg = f"--device {device!r} is not a device name; use auto, cpu or cuda."
        raise UsageError(msg) from err
    if parsed.type == "cuda" and not torch.cuda.is_available():
        msg = f"--device {device} was requested but PyTorch sees no CUDA GPU here; use --device cpu or auto."
        raise UsageError(msg)


def _pick_plot_genes(imputed, panel: set[str], n: int) -> list[str]:
    """Genes worth showing: prefer genes the ST panel never measured, most variable across cells."""
    mean = imputed.layers["mean"] if "mean" in imputed.layers else imputed.X
    # Column blocks keep the working copy small for large imputed matrices.
    spread = np.concatenate([
        np.log1p(np.clip(_dense(mean[:, j : j + 1024]).astype(np.float64), 0, None)).var(axis=0)
        for j in range(0, imputed.n_vars, 1024)
    ])
    names = np.asarray(imputed.var_names)
    unmeasured = np.array([g not in panel for g in names])
    pool = np.flatnonzero(unmeasured) if unmeasured.any() else np.arange(names.size)
    best = pool[np.argsort(-spread[pool], kind="stable")][:n]
    return names[best].tolist()


def _most_patterned_gene(adata_st, genes: Sequence[str], spatial_key: str) -> str | None:
    """The shared gene whose ST expression is most spatially smooth (neighbour-mean correlation)."""
    from scipy.spatial import cKDTree

    genes = [g for g in genes if g in adata_st.var_names]
    if not genes:
        return None
    coords = np.asarray(adata_st.obsm[spatial_key], dtype=np.float64)
    k = min(10, adata_st.n_obs - 1)
    if k < 1:
        return genes[0]
    _, idx = cKDTree(coords).query(coords, k=k + 1)
    x = np.log1p(np.clip(_dense(adata_st[:, genes].X).astype(np.float64), 0, None))
    smooth = x[idx[:, 1:]].mean(axis=1)
    score = np.nan_to_num(_pearson_columns(x, smooth), nan=-1.0)
    return genes[int(np.argmax(score))]


def _save_plots(model, imputed, locations, adata_sc, adata_st, out: Path, *, spatial_key: str,
                plot_genes: Sequence[str], label=None, label_name: str | None = None, joint=None) -> list[Path]:
    import matplotlib.pyplot as plt

    from . import pl

    written = []
    plots = out / "plots"
    for gene in plot_genes:
        file = plots / f"imputed_{_safe_name(gene)}.png"
        fig = pl.spatial_gene(imputed, gene, spatial_key=spatial_key, save=file)
        plt.close(fig)
        written.append(file)
    file = plots / "sc_locations.png"
    ax = pl.locations(
        locations,
        color=label,
        reference_coords=np.asarray(adata_st.obsm[spatial_key]),
        title=f"{locations.shape[0]} SC cells at inferred positions"
        + (f", coloured by {label_name}" if label_name else ""),
        save=file,
    )
    plt.close(ax.figure)
    written.append(file)
    file = plots / "joint_embedding.png"
    # joint: the (SC, ST) joint embedding when the caller already has it.
    ax = pl.embedding(*(joint if joint is not None else model.joint_embedding(None, threads=None)), save=file)
    plt.close(ax.figure)
    written.append(file)
    history = getattr(model, "history", None)
    if isinstance(history, pd.DataFrame) and not history.empty:
        file = plots / "training_loss.png"
        plt.close(pl.history(history, save=file))
        written.append(file)
    return written


def _history_line(model) -> str:
    history = getattr(model, "history", None)
    if not isinstance(history, pd.DataFrame) or history.empty:
        return "loss history: not available"
    last = history.iloc[-1]
    # Bookkeeping columns are not losses.
    skip = {"seconds", "epoch", "kl_weight", "lr"}
    terms = ", ".join(
        f"{k}={float(v):.4g}" for k, v in last.items() if k not in skip and pd.api.types.is_number(v)
    )
    return f"epochs run: {len(history)}; loss at the last epoch: {terms}"


def _short_history(model) -> str:
    history = getattr(model, "history", None)
    if not isinstance(history, pd.DataFrame) or history.empty:
        return "no loss history"
    text = f"{len(history)} epochs"
    for key in ("total", "validation_total"):
        if key in history.columns:
            text += f", {key.replace('_', ' ')} loss {float(history[key].iloc[-1]):.4g}"
    return text


def _write_outputs(model, imputed, locations, out: Path, *, imputed_written: bool = False) -> dict[str, Path]:
    (out / "plots").mkdir(parents=True, exist_ok=True)
    files = {"imputed": out / "imputed.h5ad", "locations": out / "sc_locations.csv", "model": out / "model"}
    if not imputed_written:
        imputed.write_h5ad(files["imputed"], compression="gzip")
    locations.to_csv(files["locations"], index_label="cell")
    model.save(files["model"], overwrite=True)
    return files


def _write_rds(args: argparse.Namespace, model, imputed, locations, out: Path) -> dict[str, Path]:
    """The input Seurat objects with the results added, as the R verbs add them."""
    from .io import write_seurat

    return {
        "st_rds": write_seurat(out / "st.rds", args.st, imputed=imputed, model=model, overwrite=True, threads=None),
        "sc_rds": write_seurat(out / "sc.rds", args.sc, locations=locations, model=model, overwrite=True,
                               threads=None),
    }


def _report(out: Path, lines: list[str]) -> Path:
    file = out / "report.txt"
    file.write_text("\n".join(lines).rstrip() + "\n")
    return file


def _layer_name(args: argparse.Namespace, role: str) -> str:
    layer = getattr(args, f"layer_{role}")
    if _is_rds(getattr(args, role)):
        return f"{layer or 'counts'} of assay {getattr(args, f'assay_{role}') or 'DefaultAssay'}"
    return layer or "X"


def _describe(adata) -> str:
    return f"{adata.n_obs} cells x {adata.n_vars} genes"


def _device_of(model) -> str:
    device = getattr(model, "device", None)
    return str(device) if device is not None else "?"


# ---------------------------------------------------------------- fit-impute


def _launch_processes(args: argparse.Namespace) -> int:
    """Run this same command in ``--nproc`` processes through torchrun's launcher; rank 0 writes the outputs."""
    import uuid

    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    # What `torchrun --standalone --nproc-per-node N` sets up, without its command-line parser
    # (which would take --st for an abbreviation of its own --standalone).
    config = LaunchConfig(
        min_nodes=1, max_nodes=1, nproc_per_node=args.nproc, run_id=str(uuid.uuid4()),
        rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0,
    )
    _say(args, f"training in {args.nproc} processes (torch.distributed, gloo on CPU / NCCL on GPUs)")
    try:
        elastic_launch(config, sys.executable)("-m", "stcross.cli", *args.argv)
    except ChildFailedError as err:
        print(f"stcross {args.command}: a training process failed:\n{err}", file=sys.stderr)
        return 1
    return 0


def _fit_impute(args: argparse.Namespace) -> int:
    import stcross

    if args.nproc < 1:
        msg = f"--nproc must be 1 or more, got {args.nproc}."
        raise UsageError(msg)
    distributed = args.nproc > 1
    if distributed and "RANK" not in os.environ:
        return _launch_processes(args)
    rank = int(os.environ.get("RANK", "0")) if distributed else 0
    if rank != 0:
        args.quiet = True
    genes = _parse_genes(args.genes, args.genes_file)
    if args.out_rds and not (_is_rds(args.sc) and _is_rds(args.st)):
        msg = "--out-rds adds the results to the input Seurat objects: give --sc and --st as .rds files."
        raise UsageError(msg)
    adata_sc, layer_sc = _read_input(args, "sc")
    adata_st, layer_st = _read_input(args, "st")
    if args.label_key is not None and args.label_key not in adata_sc.obs.columns:
        msg = f"--label-key {args.label_key!r} is not a column of the SC obs: {list(adata_sc.obs.columns)}"
        raise UsageError(msg)
    if not 0 < args.interval < 1:
        msg = f"--interval must lie strictly between 0 and 1, got {args.interval}."
        raise UsageError(msg)
    if args.n_plot_genes < 0:
        msg = f"--n-plot-genes must be 0 or more, got {args.n_plot_genes}."
        raise UsageError(msg)
    _check_device(args.device)
    out = _check_out(args.out, overwrite=args.overwrite)

    model = stcross.CrossModalModel(
        adata_sc,
        adata_st,
        layer_sc=layer_sc,
        layer_st=layer_st,
        spatial_key=args.spatial_key,
        likelihood_sc=args.likelihood_sc,
        likelihood_st=args.likelihood_st,
        genes=genes,
        config=stcross.ModelConfig(neighbor_blend=args.neighbor_blend),
    )
    _say(args, f"stcross fit-impute: SC {_describe(adata_sc)}, ST {_describe(adata_st)}, "
               f"{len(model.shared_genes)} shared genes, {len(model.imputable_genes)} imputable genes")
    start = time.perf_counter()
    model.train(max_epochs=args.max_epochs, seed=args.seed, device=args.device,
                progress_bar=not args.quiet and sys.stderr.isatty(), threads=None,
                strategy="ddp" if distributed else "single")
    train_s = time.perf_counter() - start
    if rank != 0:  # every rank holds the trained model; rank 0 alone writes
        return 0
    _say(args, f"trained in {train_s:.1f} s ({_short_history(model)})")
    if args.calibrate:
        start = time.perf_counter()
        model.calibrate(n_samples=args.n_samples, threads=None)
        _say(args, f"calibrated intervals on held-out panel genes in {time.perf_counter() - start:.1f} s")
    n_genes = len(genes) if genes else len(model.imputable_genes)
    stream = args.stream == "yes" or (args.stream == "auto" and adata_st.n_obs * n_genes > STREAM_ABOVE)
    if stream:
        out.mkdir(parents=True, exist_ok=True)
        _say(args, f"streaming the imputation ({adata_st.n_obs} cells x {n_genes} genes) to {out / 'imputed.h5ad'}")
    imputed = model.impute(interval=args.interval, n_samples=args.n_samples, threads=None,
                           out=out / "imputed.h5ad" if stream else None, overwrite=True)
    locations = model.locate(method=args.locate_method, seed=args.seed, threads=None)

    files = _write_outputs(model, imputed, locations, out, imputed_written=stream)
    if args.out_rds:
        files.update(_write_rds(args, model, imputed, locations, out))
    panel = set(model.shared_genes)
    plot_genes = _pick_plot_genes(imputed, panel, args.n_plot_genes)
    label = adata_sc.obs[args.label_key] if args.label_key is not None else None
    plots = _save_plots(model, imputed, locations, adata_sc, adata_st, out, spatial_key=args.spatial_key,
                        plot_genes=plot_genes, label=label, label_name=args.label_key)
    info = imputed.uns.get("stcross", {})
    n_unmeasured = sum(g not in panel for g in imputed.var_names)
    report = _report(out, [
        f"stcross {stcross.__version__} fit-impute, {datetime.datetime.now().isoformat(timespec='seconds')}",
        "",
        f"SC input: {args.sc} ({_describe(adata_sc)}), likelihood {args.likelihood_sc}, layer {_layer_name(args, 'sc')}",
        f"ST input: {args.st} ({_describe(adata_st)}), likelihood {args.likelihood_st}, layer {_layer_name(args, 'st')}, "
        f"coordinates obsm[{args.spatial_key!r}] ({np.asarray(adata_st.obsm[args.spatial_key]).shape[1]}D)",
        f"shared (panel) genes used for alignment: {len(model.shared_genes)}",
        f"imputed genes: {imputed.n_vars} ({n_unmeasured} not in the ST panel) for {imputed.n_obs} ST cells",
        f"located SC cells: {locations.shape[0]} by method {args.locate_method!r} "
        f"(columns {', '.join(map(str, locations.columns))})",
        "",
        f"training: seed {args.seed}, device {args.device} ({_device_of(model)}), max_epochs {args.max_epochs}, "
        f"{train_s:.1f} s" + (f" in {args.nproc} processes (torch.distributed)" if distributed else ""),
        _history_line(model),
        f"prediction intervals: {info.get('interval', args.interval):.0%}, "
        + ("calibrated on held-out panel genes" if info.get("calibrated") else "not calibrated (run with --calibrate)"),
        "",
        "files:",
        f"  {files['imputed']}  imputed ST AnnData: X = predictive mean; layers mean, sd, p_zero, lower, upper",
        f"  {files['locations']}  inferred SC coordinates and their sd",
        f"  {files['model']}/  the trained model (stcross.CrossModalModel.load(path, adata_sc, adata_st))",
        *([f"  {files['st_rds']}  the ST Seurat object with the imputation and the joint embedding",
           f"  {files['sc_rds']}  the SC Seurat object with locations and the joint embedding"]
          if args.out_rds else []),
        *[f"  {p}" for p in plots],
    ])
    rds = "st.rds, sc.rds, " if args.out_rds else ""
    _say(args, f"wrote {out}/: imputed.h5ad, sc_locations.csv, model/, {rds}{len(plots)} plots, {report.name}")
    return 0


# ---------------------------------------------------------------- demo


def _knn_baseline(adata_sc, adata_st_kept, hidden: list[str], *, counts: bool) -> np.ndarray | None:
    """Held-out predictions of the kNN library baseline (``None`` if the benchmark module is absent)."""
    try:
        from .benchmark.baselines import knn_library_baseline
    except ImportError:
        return None
    pred = knn_library_baseline(adata_sc, adata_st_kept, genes=hidden, counts=counts)
    return _dense(pred[:, hidden].X).astype(np.float64)


def _demo(args: argparse.Namespace) -> int:
    import stcross
    from stcross import datasets
    from stcross.benchmark.integration import modality_mixing

    total = time.perf_counter()
    if not 0 < args.holdout < 1 or not 0 < args.interval < 1:
        msg = f"--holdout and --interval must lie strictly between 0 and 1, got {args.holdout} and {args.interval}."
        raise UsageError(msg)
    _check_device(args.device)
    out = _check_out(args.out or f"stcross-results/demo_{args.dataset}", overwrite=args.overwrite)
    spec = datasets.DATASETS[args.dataset]
    adata_sc, adata_st = datasets.load(args.dataset)
    kw = {"likelihood_sc": spec["likelihood_sc"], "likelihood_st": spec["likelihood_st"]}
    # A progress bar only on a terminal: logs and tests stay clean.
    train_kw = {"max_epochs": args.max_epochs, "seed": args.seed, "device": args.device,
                "progress_bar": sys.stderr.isatty(), "threads": None}
    print(f"stcross demo on '{args.dataset}': {spec['description']}")
    print(f"  likelihoods SC={kw['likelihood_sc']}, ST={kw['likelihood_st']}; results go to {out}/")

    # 1. Held-out check: hide a fifth of the panel genes from ST and predict them.
    shared = [g for g in adata_st.var_names if g in adata_sc.var_names]
    rng = np.random.default_rng(args.seed)
    n_hide = min(max(1, int(round(args.holdout * len(shared)))), len(shared) - 1)
    hidden = sorted(rng.choice(shared, size=n_hide, replace=False).tolist(), key=shared.index)
    kept = [g for g in adata_st.var_names if g not in set(hidden)]
    st_kept = adata_st[:, kept].copy()
    start = time.perf_counter()
    cv_model = stcross.CrossModalModel(adata_sc, st_kept, **kw).train(**train_kw)
    if args.calibration_folds:
        cv_model.calibrate(n_folds=args.calibration_folds, threads=None)
    cv_s = time.perf_counter() - start
    held = cv_model.impute(genes=hidden, interval=args.interval, threads=None)
    truth = _dense(adata_st[:, hidden].X).astype(np.float64)
    pred = _dense(held.layers["mean"]).astype(np.float64)
    pcc = _pearson_columns(pred, truth)
    inside = (truth >= _dense(held.layers["lower"])) & (truth <= _dense(held.layers["upper"]))
    counts = get_likelihood(kw["likelihood_st"]).is_count
    baseline = _knn_baseline(adata_sc, st_kept, hidden, counts=counts)
    base_pcc = _pearson_columns(baseline, truth) if baseline is not None and baseline.shape == truth.shape else None
    print(f"[1/2] Held-out check: {n_hide} of {len(shared)} panel genes hidden from ST "
          f"(seed {args.seed}), trained{' and calibrated' if args.calibration_folds else ''} in {cv_s:.0f} s")
    line = f"      mean PCC of hidden genes vs measured: stcross {np.nanmean(pcc):.3f}"
    if base_pcc is not None:
        line += f" | kNN baseline {np.nanmean(base_pcc):.3f}"
    print(line)
    state = "calibrated" if held.uns.get("stcross", {}).get("calibrated") else "uncalibrated"
    print(f"      {args.interval:.0%} intervals ({state}) cover {inside.mean():.1%} of hidden values")

    # 2. Full model: all panel genes, impute every SC gene, place SC cells.
    start = time.perf_counter()
    model = stcross.CrossModalModel(adata_sc, adata_st, **kw).train(**train_kw)
    if args.calibration_folds:
        model.calibrate(n_folds=args.calibration_folds, threads=None)
    full_s = time.perf_counter() - start
    imputed = model.impute(interval=args.interval, threads=None)
    locations = model.locate(threads=None)
    panel = set(model.shared_genes)
    n_unmeasured = sum(g not in panel for g in imputed.var_names)
    what = (f"{n_unmeasured} never measured in situ" if n_unmeasured
            else "all on the panel: this SC reference has no other genes")
    print(f"[2/2] Full model on all {len(panel)} panel genes, trained{' and calibrated' if args.calibration_folds else ''} in {full_s:.0f} s: imputed "
          f"{imputed.n_vars} genes ({what}) for {imputed.n_obs} ST cells; located {locations.shape[0]} SC cells")

    joint = model.joint_embedding(None, threads=None)
    mixing = {
        "joint": modality_mixing(*joint, k=20),
        "latent": modality_mixing(model.latent("sc", threads=None), model.latent("st", threads=None), k=20),
    }
    mixing_line = (f"modality mixing (1 mixed, 0 apart), SC / ST: joint embedding {mixing['joint'][0]:.2f} / "
                   f"{mixing['joint'][1]:.2f}; raw latent {mixing['latent'][0]:.2f} / {mixing['latent'][1]:.2f}")
    print(f"      {mixing_line}")

    files = _write_outputs(model, imputed, locations, out)
    plot_genes = _pick_plot_genes(imputed, panel, N_PLOT_GENES if n_unmeasured else 2)
    marker = _most_patterned_gene(adata_st, model.shared_genes, "spatial")
    label = None
    if marker is not None:
        label = pd.Series(np.log1p(np.clip(_dense(adata_sc[:, marker].X).ravel(), 0, None)), index=adata_sc.obs_names)
    plots = _save_plots(model, imputed, locations, adata_sc, adata_st, out, spatial_key="spatial",
                        plot_genes=plot_genes, label=label,
                        label_name=f"SC expression of {marker} (log1p)" if marker else None, joint=joint)
    # The held-out genes with the best and the median PCC, next to their measured values.
    import matplotlib.pyplot as plt

    from . import pl

    order = np.argsort(-np.nan_to_num(pcc, nan=-2.0), kind="stable")
    for tag, i in (("best", order[0]), ("median", order[len(order) // 2])):
        file = out / "plots" / f"heldout_{tag}_{_safe_name(hidden[i])}.png"
        plt.close(pl.spatial_gene(held, hidden[i], measured=truth[:, i], save=file))
        plots.append(file)
    per_gene = pd.DataFrame({"gene": hidden, "pcc_stcross": pcc, "coverage": inside.mean(axis=0)})
    if base_pcc is not None:
        per_gene["pcc_knn_baseline"] = base_pcc
    per_gene.to_csv(out / "heldout_genes.csv", index=False)
    _report(out, [
        f"stcross {stcross.__version__} demo '{args.dataset}', {datetime.datetime.now().isoformat(timespec='seconds')}",
        spec["description"],
        f"likelihoods SC={kw['likelihood_sc']}, ST={kw['likelihood_st']}; seed {args.seed}; "
        f"max_epochs {args.max_epochs}; device {args.device} ({_device_of(model)}); "
        f"calibration folds {args.calibration_folds}",
        "",
        f"held-out check: {n_hide} of {len(shared)} panel genes hidden from ST: {', '.join(hidden)}",
        f"  mean PCC stcross {np.nanmean(pcc):.4f}"
        + (f"; kNN library baseline {np.nanmean(base_pcc):.4f}" if base_pcc is not None else ""),
        f"  {args.interval:.0%} interval coverage of the hidden values {inside.mean():.4f} ({state})",
        f"  training {cv_s:.1f} s; {_history_line(cv_model)}",
        "  per gene: heldout_genes.csv",
        "",
        f"full model: {len(panel)} panel genes; imputed {imputed.n_vars} genes ({n_unmeasured} not in the panel) "
        f"for {imputed.n_obs} ST cells; located {locations.shape[0]} SC cells",
        f"  training {full_s:.1f} s; {_history_line(model)}",
        f"  {mixing_line}",
        "",
        "files:",
        *[f"  {p}" for p in (*files.values(), *plots)],
    ])
    shown = ", ".join(plot_genes)
    print(f"Wrote {out}/: imputed.h5ad, sc_locations.csv, model/, report.txt, plots/ "
          f"(imputed genes with uncertainty: {shown}; SC locations; held-out genes)")
    print(f"Done in {time.perf_counter() - total:.0f} s. Next: stcross fit-impute --sc SC.h5ad --st ST.h5ad --out DIR")
    return 0


# ---------------------------------------------------------------- entry point


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text)


def _positive_int(text: str) -> int:
    try:
        return check_threads(int(text))
    except ValueError:
        msg = f"expected a positive whole number, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stcross",
        description="Join scRNA-seq and single-cell spatial transcriptomics: impute unmeasured genes with "
        "uncertainty and place single cells in the tissue.",
    )
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("-v", "--verbose", action="store_true", help="show stcross's log messages (INFO)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    fit = sub.add_parser("fit-impute", help="train on two .h5ad or Seurat .rds files, write imputed genes, locations, plots",
                         description="Train a cross-modal model on an SC and an ST file (.h5ad or Seurat .rds); write the imputed "
                         "ST AnnData (with uncertainty layers), SC locations, the model, plots and a report.")
    fit.add_argument("--sc", required=True, help="scRNA-seq .h5ad (cells x genes) or Seurat .rds (needs stcross[r])")
    fit.add_argument("--st", required=True,
                     help="spatial .h5ad (cells x panel genes, coordinates in obsm) or Seurat .rds (coordinates "
                          "from its first FOV or --coords-st)")
    fit.add_argument("--out", required=True, help="output directory (must be empty unless --overwrite)")
    genes = fit.add_mutually_exclusive_group()
    genes.add_argument("--genes", help="comma-separated genes to impute (default: every SC gene)")
    genes.add_argument("--genes-file", help="file with one gene to impute per line")
    fit.add_argument("--likelihood-sc", default="zinb", help=f"{', '.join(LIKELIHOOD_NAMES)} (default zinb)")
    fit.add_argument("--likelihood-st", default="nb", help=f"{', '.join(LIKELIHOOD_NAMES)} (default nb)")
    fit.add_argument("--layer-sc", default=None, help="SC layer holding the expression (default X; counts for .rds)")
    fit.add_argument("--layer-st", default=None, help="ST layer holding the expression (default X; counts for .rds)")
    fit.add_argument("--assay-sc", default=None, help="assay of the SC .rds (default its DefaultAssay)")
    fit.add_argument("--assay-st", default=None, help="assay of the ST .rds (default its DefaultAssay)")
    fit.add_argument("--coords-st", default=None,
                     help="comma-separated metadata columns of the ST .rds with the coordinates (default its FOV)")
    fit.add_argument("--out-rds", action="store_true",
                     help="also write the .rds inputs with the results added (st.rds, sc.rds), as the R verbs add them")
    fit.add_argument("--spatial-key", default="spatial", help="obsm key of the ST coordinates (default spatial)")
    fit.add_argument("--label-key", default=None, help="SC obs column to colour the location plot by")
    fit.add_argument("--max-epochs", type=int, default=None, help="training epochs (default: the model's)")
    fit.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    fit.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    fit.add_argument("--nproc", type=int, default=1,
                     help="train in this many processes (torch.distributed via torchrun: gloo on CPU, one GPU "
                          "each with --device cuda); default 1")
    fit.add_argument("--threads", type=_positive_int, default=DEFAULT_THREADS,
                     help=f"torch threads for the whole command (default {DEFAULT_THREADS}; see README)")
    fit.add_argument("--locate-method", choices=list(LOCATE_METHODS), default="metric",
                     help="how SC cells are placed (default metric; see CrossModalModel.locate)")
    fit.add_argument("--interval", type=float, default=0.9, help="prediction interval level (default 0.9)")
    fit.add_argument("--calibrate", action="store_true", help="calibrate intervals on held-out panel genes")
    fit.add_argument("--n-samples", type=int, default=0,
                     help="latent draws per cell, adding the model's uncertainty to the spread (default 0)")
    fit.add_argument("--neighbor-blend", type=float, default=None,
                     help="weight of the latent-neighbour estimate in imputed means, 0 to 1 "
                          "(default: 0.5 for gaussian data, 0 for counts)")
    fit.add_argument("--stream", choices=["auto", "yes", "no"], default="auto",
                     help="write imputed.h5ad block by block as it is computed, with memory bounded by the block "
                          f"(auto: when cells x genes exceeds {STREAM_ABOVE:.0e}; default auto)")
    fit.add_argument("--n-plot-genes", type=int, default=N_PLOT_GENES, help="imputed genes to plot (default 4)")
    fit.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")
    fit.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    fit.set_defaults(func=_fit_impute)

    demo = sub.add_parser("demo", help="run on a bundled example and show held-out accuracy",
                          description="Hide a fifth of the panel genes, predict them, then impute genes the "
                          "panel never measured and place the SC cells in the tissue.")
    demo.add_argument("--dataset", choices=["bdtnp", "osmfish"], default="bdtnp",
                      help="bundled example (default bdtnp)")
    demo.add_argument("--out", default=None, help="output directory (default stcross-results/demo_DATASET)")
    demo.add_argument("--max-epochs", type=int, default=None, help="training epochs (default: the model's)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    demo.add_argument("--threads", type=_positive_int, default=DEFAULT_THREADS,
                      help=f"torch threads for the whole command (default {DEFAULT_THREADS})")
    demo.add_argument("--holdout", type=float, default=0.2, help="share of panel genes hidden (default 0.2)")
    demo.add_argument("--interval", type=float, default=0.9, help="prediction interval level (default 0.9)")
    demo.add_argument("--calibration-folds", type=int, default=DEMO_CALIBRATION_FOLDS,
                      help=f"folds of panel genes for calibrating the intervals; 0 skips calibration "
                           f"(default {DEMO_CALIBRATION_FOLDS})")
    demo.add_argument("--overwrite", action="store_true", help="write into a non-empty --out")
    demo.set_defaults(func=_demo)
    return parser


def _version() -> str:
    try:
        from importlib.metadata import version

        return f"stcross {version('stcross')}"
    except Exception:  # not installed as a distribution
        return "stcross"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``stcross`` command line.

    Parameters
    ----------
    argv
        Arguments without the program name; ``sys.argv[1:]`` when ``None``.

    Returns
    -------
    Exit code: 0 on success, 2 for usage or input errors (message printed to stderr).
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse reports usage errors (2) and --help (0) this way
        return int(exit_.code or 0)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    handler = None
    if args.verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("stcross: %(levelname)s: %(message)s"))
        logger.addHandler(handler)
        previous = logger.level
        logger.setLevel(logging.INFO)
    try:
        # Every model call inside runs with threads=None, i.e. under this setting.
        with torch_threads(args.threads):
            return args.func(args)
    except UsageError as err:
        print(f"stcross {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except USER_ERRORS as err:
        text = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"stcross {args.command}: error: {text}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if handler is not None:
            logger.removeHandler(handler)
            logger.setLevel(previous)


if __name__ == "__main__":
    sys.exit(main())
