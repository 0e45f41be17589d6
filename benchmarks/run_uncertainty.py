"""Uncertainty benchmark: calibrated vs predictive-distribution intervals, and P(0), on held-out genes.

Usage::

    nice -n 10 python benchmarks/run_uncertainty.py --dataset osmfish
    nice -n 10 python benchmarks/run_uncertainty.py --dataset bdtnp --calibration refits
    # ablations of the masked method (see REPORT.md)
    nice -n 10 python benchmarks/run_uncertainty.py --dataset bdtnp --shared-encoder --own-noise
    # quicker: two outer folds, capped epochs
    nice -n 10 python benchmarks/run_uncertainty.py --dataset osmfish --folds 0,1 --max-epochs 40

Protocol: the outer 5-fold gene CV of ``benchmarks/run_cv.py`` (folds of
:func:`stcross.benchmark.gene_folds` over the shared genes, seed 0). For each outer fold the
model is trained on ST without the fold's genes; it is then calibrated on its *training* panel
genes only (``--inner-folds`` folds of them), as :meth:`stcross.CrossModalModel.calibrate` does,
run here through its two steps so the calibration predictions are cached and variants can be
compared without retraining. ``--calibration masked`` (the default) scores each inner fold's
genes with one masked-gene training that holds a fold path per inner fold (``--masked-networks
N``: N networks sharing its epochs, their predictions averaged)
(:func:`stcross.impute.heldout_masked.masked_heldout_predictions`); ``--calibration refits``
hides each inner fold in turn from a refit with the same settings
(:func:`stcross.impute.calibration.heldout_predictions`). Both feed
:func:`stcross.impute.conformal.fit_calibration`.
The outer fold's genes are never seen by the calibration.

On the held-out genes it reports, for the calibrated intervals and for the raw intervals of the
predictive distribution (``impute()`` before ``calibrate()``):

- empirical coverage at 50/80/90/95% of all held-out values, zeros included (also of the
  zeros and the non-zeros apart, and the median over genes of each gene's coverage);
- interval width relative to the gene's own sd over cells: per gene the mean and the median
  width divided by the sd, then the median over genes (as the TISSUE peer table does);
- whether the spread is informative per cell: the Spearman correlation over cells of the
  predicted sd with the absolute error, per gene (median over genes);
- P(0) (same for both: calibration changes only the bounds): ROC AUC of the predicted P(0)
  for the observed zeros, pooled over values and the median over genes; a calibration line
  fitted to 5 bins of predicted P(0) (quantile bins, pooled over values), observed zero
  frequency against mean predicted P(0): slope and intercept (1 and 0 when calibrated).

Writes ``uncertainty_<dataset>[_<method>].txt`` (tables, settings, command), ``.png``
(reliability plots) and ``_genes.csv`` to ``--out`` (no method suffix for refits, whose files came
first). Fits are cached in
``--cache`` (one file per outer fold); ``--reuse`` reads them instead of refitting.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from real_data import DATASETS, RESULTS_DIR, data_dir

LEVELS = (0.5, 0.8, 0.9, 0.95)
# TISSUE (SpaGE) on osmFISH, the same outer folds, as quoted in DESIGN.md (90% intervals); the peer
# benchmark's own table (benchmarks/peers, peers_<dataset>_tissue.txt) is quoted instead when present.
TISSUE_OSMFISH = "TISSUE(SpaGE), osmFISH raw input: coverage 0.918, median width 16x gene sd; normalize_total+log1p input: 0.905, 5.3x"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    parser.add_argument("--outer-folds", type=int, default=5, help="outer gene folds (as run_cv.py)")
    parser.add_argument("--folds", default=None, help="comma-separated outer folds to run (default: all)")
    parser.add_argument("--inner-folds", type=int, default=5, help="calibration folds of the training panel")
    parser.add_argument("--max-epochs", type=int, default=None, help="cap on the outer model's epochs (default: automatic)")
    parser.add_argument("--calib-max-epochs", type=int, default=None, help="cap on each calibration refit's epochs (default: as the outer model)")
    parser.add_argument("--calibration", choices=["masked", "refits"], default="masked",
                        help="calibrate() method: one masked-gene training (the default), or one refit per inner fold")
    parser.add_argument("--shared-encoder", action="store_true",
                        help="masked: one ST encoder for all folds, the decoder trained by ST too (the first design)")
    parser.add_argument("--own-noise", action="store_true",
                        help="masked: score with the masked network's own noise parameters, not the model's")
    parser.add_argument("--masked-networks", type=int, default=None,
                        help="masked networks sharing one training's epochs, averaged (default 1, as calibrate())")
    parser.add_argument("--n-refits", type=int, default=None,
                        help="with refits: refit only this many of the inner folds and calibrate on their genes")
    parser.add_argument("--seed", type=int, default=0, help="seed of the outer folds, the calibration folds and training")
    parser.add_argument("--level-bins", type=int, default=3, help="calibration gene groups by predicted level")
    parser.add_argument("--zero-bins", type=int, default=1, help="calibration sub-groups by predicted P(0)")
    parser.add_argument("--min-genes", type=int, default=5, help="genes a calibration group needs")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 is fastest on a busy 2-core CPU)")
    parser.add_argument("--out", default=str(RESULTS_DIR))
    parser.add_argument("--cache", default=os.environ.get("STCROSS_UNCERTAINTY_CACHE", "/tmp/stcross_uncertainty_cache"))
    parser.add_argument("--reuse", action="store_true", help="use cached fits where their settings match")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    args.folds = None if args.folds is None else [int(f) for f in args.folds.split(",") if f.strip()]
    if args.n_refits is not None and args.calibration != "refits":
        parser.error("--n-refits goes with --calibration refits")
    if (args.shared_encoder or args.own_noise) and args.calibration != "masked":
        parser.error("--shared-encoder and --own-noise go with --calibration masked")
    return args


def fit_fold(args, sc, st, fold: int, held: list[str], model_kwargs: dict) -> dict[str, np.ndarray]:
    """Train on the fold's training panel, calibrate on it, predict the held-out genes."""
    import stcross
    from stcross.impute.calibration import heldout_predictions
    from stcross.impute.heldout_masked import masked_heldout_predictions

    started, cpu = time.perf_counter(), time.process_time()
    kept = [g for g in st.var_names if g not in set(held)]
    model = stcross.CrossModalModel(sc, st[:, kept].copy(), **model_kwargs)
    model.train(max_epochs=args.max_epochs, seed=args.seed, progress_bar=False)
    fit_s = time.perf_counter() - started
    out: dict[str, np.ndarray] = {}
    for level in LEVELS:
        imputed = model.impute(genes=held, interval=level)[:, held]
        out[f"raw_lower_{level}"] = np.asarray(imputed.layers["lower"])
        out[f"raw_upper_{level}"] = np.asarray(imputed.layers["upper"])
    for key in ("mean", "sd", "p_zero"):
        out[key] = np.asarray(imputed.layers[key], np.float64)
    calibration_started = time.perf_counter()
    if args.calibration != "refits":
        inner = masked_heldout_predictions(model, n_folds=args.inner_folds, seed=args.seed, max_epochs=args.calib_max_epochs,
                                           fold_paths=not args.shared_encoder, noise_from_model=not args.own_noise,
                                           networks=args.masked_networks or 1)
    else:
        inner = heldout_predictions(model, n_folds=args.inner_folds, seed=args.seed, max_epochs=args.calib_max_epochs,
                                    n_refits=args.n_refits)
    calibration_s = time.perf_counter() - calibration_started
    for key in ("truth", "mean", "sd", "p_zero"):
        out[f"inner_{key}"] = inner[key]
    out["inner_genes"] = np.array(inner["genes"])
    out["epochs"] = np.array([len(model.history), *inner["epochs"]])
    out["seconds"] = np.array([fit_s, time.perf_counter() - started, time.process_time() - cpu, calibration_s])
    print(
        f"[uncertainty] {args.dataset} fold {fold}: {len(held)} held-out genes, epochs {out['epochs'].tolist()}, "
        f"fit {fit_s:.0f} s, calibration ({args.calibration}) {calibration_s:.0f} s = {calibration_s / fit_s:.2f}x the fit, "
        f"total {out['seconds'][1]:.0f} s (cpu {out['seconds'][2]:.0f} s)",
        flush=True,
    )
    return out


def settings_key(args) -> dict:
    return {
        "dataset": args.dataset, "outer_folds": args.outer_folds, "inner_folds": args.inner_folds,
        "max_epochs": args.max_epochs, "calib_max_epochs": args.calib_max_epochs, "seed": args.seed,
        "calibration": args.calibration,
        **({} if args.n_refits is None else {"n_refits": args.n_refits}),
        **({} if args.masked_networks in (None, 1) else {"masked_networks": args.masked_networks}),
        **{flag: True for flag in ("shared_encoder", "own_noise") if getattr(args, flag)},
    }


def run_label(args) -> str:
    """The calibration method in file names: '' for refits (the first default, whose files keep their names)."""
    label = "" if args.calibration == "refits" else args.calibration
    if args.n_refits is not None:
        label += f"{args.n_refits}of{args.inner_folds}refits"
    label += "_shared_encoder" * args.shared_encoder + "_own_noise" * args.own_noise
    if args.calibration == "masked" and args.masked_networks not in (None, 1):
        label += f"_{args.masked_networks}network" + "s" * (args.masked_networks > 1)
    return label


def load_or_fit(args, fold: int, held: list[str], loader) -> dict[str, np.ndarray]:
    cache = Path(args.cache)
    stem = cache / f"{args.dataset}_{run_label(args) or 'refits'}_fold{fold}"
    key = settings_key(args)
    if args.reuse and stem.with_suffix(".json").exists():
        saved = json.loads(stem.with_suffix(".json").read_text())
        if saved == {**key, "held": held}:
            with np.load(stem.with_suffix(".npz")) as arrays:
                return {k: arrays[k] for k in arrays.files}
        print(f"[uncertainty] cached fold {fold} has other settings; refitting", flush=True)
    sc, st, model_kwargs = loader()
    out = fit_fold(args, sc, st, fold, held, model_kwargs)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(stem.with_suffix(".npz"), **out)
    stem.with_suffix(".json").write_text(json.dumps({**key, "held": held}))
    return out


# -- metrics ---------------------------------------------------------------------------------


def roc_auc(score: np.ndarray, label: np.ndarray) -> float:
    """Mann-Whitney ROC AUC (ties count one half); NaN without both classes."""
    from scipy.stats import rankdata

    label = np.asarray(label, bool)
    n_pos, n_neg = int(label.sum()), int((~label).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[label].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def zero_calibration(p_zero: np.ndarray, is_zero: np.ndarray, n_bins: int = 5) -> tuple[float, float, list]:
    """Slope and intercept of observed zero frequency on mean predicted P(0) over quantile bins."""
    edges = np.unique(np.quantile(p_zero, np.linspace(0, 1, n_bins + 1)))
    which = np.clip(np.searchsorted(edges, p_zero, side="right") - 1, 0, len(edges) - 2)
    bins = [(float(p_zero[which == b].mean()), float(is_zero[which == b].mean()), int((which == b).sum()))
            for b in range(len(edges) - 1) if (which == b).any()]
    if len(bins) < 2:
        return float("nan"), float("nan"), bins
    x, y = np.array([b[0] for b in bins]), np.array([b[1] for b in bins])
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept), bins


def interval_metrics(truth, lower, upper) -> dict[str, float]:
    inside = (truth >= lower) & (truth <= upper)
    zero = truth == 0
    width = upper - lower
    sd = truth.std(axis=0)
    ok = sd > 0
    return {
        "coverage": float(inside.mean()),
        "coverage_nonzero": float(inside[~zero].mean()) if (~zero).any() else float("nan"),
        "coverage_zeros": float(inside[zero].mean()) if zero.any() else float("nan"),
        "median_gene_coverage": float(np.median(inside.mean(axis=0))),
        "median_gene(mean_width/sd)": float(np.median(width.mean(axis=0)[ok] / sd[ok])),
        "median_gene(median_width/sd)": float(np.median(np.median(width, axis=0)[ok] / sd[ok])),
        "empty_or_point": float((width <= 0).mean()),
    }


def sd_error_spearman(truth: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Per gene, Spearman correlation over cells of the predicted sd with the absolute error (NaN for a flat sd)."""
    from scipy.stats import rankdata

    out = np.full(truth.shape[1], np.nan)
    for j in range(truth.shape[1]):
        if np.ptp(sd[:, j]) > 1e-9 * max(np.abs(sd[:, j]).max(), 1e-12):
            out[j] = np.corrcoef(rankdata(sd[:, j]), rankdata(np.abs(truth[:, j] - mean[:, j])))[0, 1]
    return out


def tissue_reference(results: Path, dataset: str) -> str:
    """The TISSUE rows of the peer benchmark for this dataset, if it has been run."""
    path = results / f"peers_{dataset}_tissue.txt"
    if not path.exists():
        return f"Reference (DESIGN.md): {TISSUE_OSMFISH}." if dataset == "osmfish" else ""
    lines = path.read_text().splitlines()
    table = [line for line in lines if line.strip() and not line.startswith(("TISSUE", "Command"))]
    return f"Reference, TISSUE(SpaGE) 90% intervals on the same outer folds ({path.name}):\n" + "\n".join(table)


def fmt_table(rows: list[dict], columns: list[str]) -> str:
    cells = [[c, *[("" if r.get(c) is None else (f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]))) for r in rows]] for c in columns]
    widths = [max(len(x) for x in col) for col in cells]
    lines = []
    for i in range(len(rows) + 1):
        lines.append("  ".join(cells[j][i].ljust(widths[j]) for j in range(len(columns))))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(max(1, args.threads))
    import anndata as ad
    import pandas as pd

    import stcross
    from stcross.impute.conformal import fit_calibration

    spec = DATASETS[args.dataset]
    folder = data_dir(args.data_dir) / spec["folder"]
    st = ad.read_h5ad(folder / "st.h5ad")
    sc_cache: dict = {}

    def loader():
        if "sc" not in sc_cache:
            sc_cache["sc"] = ad.read_h5ad(folder / "sc.h5ad")
        return sc_cache["sc"], st, dict(spec["model_kwargs"])

    sc_names = ad.read_h5ad(folder / "sc.h5ad", backed="r").var_names
    shared = [g for g in st.var_names if g in set(sc_names)]
    folds = stcross.benchmark.gene_folds(shared, args.outer_folds, seed=args.seed)
    chosen = list(range(len(folds))) if args.folds is None else args.folds
    x_st = st.X.toarray() if hasattr(st.X, "toarray") else np.asarray(st.X)
    likelihood = spec["model_kwargs"].get("likelihood_st", "nb")

    started = time.perf_counter()
    pooled: dict[str, list] = {"truth": [], "p_zero": [], "library_only": [], "oracle_level": []}
    bounds: dict[str, list] = {}
    per_gene, fold_rows, calib_groups = [], [], []
    seconds = []
    for fold in chosen:
        held = folds[fold]
        fit = load_or_fit(args, fold, held, loader)
        truth = x_st[:, st.var_names.get_indexer(held)].astype(np.float64)
        calibration = fit_calibration(
            fit["inner_truth"], fit["inner_mean"], fit["inner_sd"], fit["inner_p_zero"],
            likelihood=likelihood, level_bins=args.level_bins, zero_bins=args.zero_bins, min_genes=args.min_genes,
        )
        calib_groups.append(calibration.summary().assign(fold=fold))
        summary = {"mean": fit["mean"], "sd": fit["sd"], "p_zero": fit["p_zero"]}
        pooled["truth"].append(truth)
        pooled["p_zero"].append(fit["p_zero"])
        # Reference scores for P(0): the visible library alone, and a Poisson at the held-out
        # gene's true share of the library (unknowable to any method: it reads the answer).
        library = np.delete(x_st, st.var_names.get_indexer(held), axis=1).sum(axis=1, keepdims=True)
        pooled["library_only"].append(np.broadcast_to(-library, truth.shape))
        pooled["oracle_level"].append(np.exp(-library * (truth.sum(axis=0) / max(library.sum(), 1e-12))))
        seconds.append(fit["seconds"])
        for level in LEVELS:
            lower, upper = calibration.interval(summary, held, level)
            bounds.setdefault(("calibrated", level), []).append((lower, upper))
            bounds.setdefault(("raw", level), []).append((fit[f"raw_lower_{level}"], fit[f"raw_upper_{level}"]))
        lower, upper = bounds[("calibrated", 0.9)][-1]
        raw_lower, raw_upper = bounds[("raw", 0.9)][-1]
        inside = (truth >= lower) & (truth <= upper)
        sd = truth.std(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_gene.append(pd.DataFrame({
                "gene": held, "fold": fold,
                "coverage_90_calibrated": inside.mean(axis=0),
                "coverage_90_raw": ((truth >= raw_lower) & (truth <= raw_upper)).mean(axis=0),
                "median_width_over_sd_90_calibrated": np.median(upper - lower, axis=0) / sd,
                "median_width_over_sd_90_raw": np.median(raw_upper - raw_lower, axis=0) / sd,
                "gene_sd": sd, "frac_zero": (truth == 0).mean(axis=0),
                "p0_auc": [roc_auc(fit["p_zero"][:, j], truth[:, j] == 0) for j in range(len(held))],
                "sd_error_spearman": sd_error_spearman(truth, fit["mean"], fit["sd"]),
            }))
        fold_rows.append({
            "fold": fold, "genes": len(held), "epochs": " ".join(map(str, fit["epochs"].tolist())),
            "coverage_90_cal": float(inside.mean()),
            "coverage_90_raw": float(((truth >= raw_lower) & (truth <= raw_upper)).mean()),
            "fit_s": float(fit["seconds"][0]), "total_s": float(fit["seconds"][1]),
            "calibration_s": float(fit["seconds"][3]), "calibration_over_fit": float(fit["seconds"][3] / fit["seconds"][0]),
        })
        print(f"[uncertainty] fold {fold}: 90% coverage calibrated {fold_rows[-1]['coverage_90_cal']:.3f}, "
              f"raw {fold_rows[-1]['coverage_90_raw']:.3f}", flush=True)

    truth = np.concatenate(pooled["truth"], axis=1)
    p_zero = np.concatenate(pooled["p_zero"], axis=1)
    rows = []
    for kind in ("calibrated", "raw"):
        for level in LEVELS:
            lower = np.concatenate([b[0] for b in bounds[(kind, level)]], axis=1)
            upper = np.concatenate([b[1] for b in bounds[(kind, level)]], axis=1)
            rows.append({"intervals": kind, "nominal": level, **interval_metrics(truth, lower, upper)})
    is_zero = truth == 0
    auc = roc_auc(p_zero.ravel(), is_zero.ravel())
    reference_auc = {k: roc_auc(np.concatenate(pooled[k], axis=1).ravel(), is_zero.ravel()) for k in ("library_only", "oracle_level")}
    genes = pd.concat(per_gene, ignore_index=True)
    slope, intercept, zero_bins = zero_calibration(p_zero.ravel(), is_zero.ravel().astype(float))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"uncertainty_{args.dataset}" + (f"_{run_label(args)}" if run_label(args) else "")
    genes.to_csv(out / f"{stem}_genes.csv", index=False, float_format="%.5g")
    plot(rows, zero_bins, out / f"{stem}.png", args.dataset)

    total = time.perf_counter() - started
    columns = ["intervals", "nominal", "coverage", "coverage_zeros", "coverage_nonzero", "median_gene_coverage",
               "median_gene(mean_width/sd)", "median_gene(median_width/sd)", "empty_or_point"]
    command = "nice -n 10 python benchmarks/run_uncertainty.py " + " ".join(sys.argv[1:] if argv is None else argv)
    n_values = truth.size
    zero_note = ""
    if is_zero.mean() < 0.01:
        zero_note = (
            f" Only {int(is_zero.sum())} held-out values are exactly 0 ({is_zero.mean():.4%}): the P(0) metrics "
            "are not meaningful on these data."
        )
    text = [
        f"Uncertainty on held-out genes: {args.dataset}, {st.n_obs} ST cells, {len(shared)} shared genes, "
        f"outer {args.outer_folds}-fold gene CV (seed {args.seed}; folds run: {chosen}), "
        f"calibration ({run_label(args) or 'refits'}): {args.inner_folds} inner folds of each outer fold's training panel"
        f"{'' if args.n_refits is None else f', only the first {args.n_refits} refitted and scored'} "
        f"(level bins {args.level_bins}, zero bins {args.zero_bins}, min genes {args.min_genes}); "
        f"model epochs: {'automatic' if args.max_epochs is None else f'<= {args.max_epochs}'}, calibration refits: "
        f"{'as the model' if args.calib_max_epochs is None else f'<= {args.calib_max_epochs}'}.",
        f"{genes.shape[0]} held-out genes, {n_values} values ({is_zero.mean():.3f} zeros). Coverage counts zeros; "
        "widths are relative to each held-out gene's sd over cells (median over genes).",
        "",
        fmt_table(rows, columns),
        "",
        f"P(0) of the predictive distribution (identical for both kinds of interval): ROC AUC pooled {auc:.3f}, "
        f"median over genes {np.nanmedian(genes['p0_auc']):.3f} ({int(genes['p0_auc'].notna().sum())} genes with zeros); "
        f"calibration over 5 quantile bins: slope {slope:.3f}, intercept {intercept:.3f}.{zero_note}",
        (
            f"Reference P(0) AUCs, pooled: the ST cell's visible library size alone {reference_auc['library_only']:.3f}; "
            f"a Poisson at each held-out gene's true share of the library {reference_auc['oracle_level']:.3f} "
            "(reads the held-out truth, so no method can use it: it shows how much the unknown gene level costs)."
            if likelihood != "gaussian" else ""
        ),
        (
            "Per-cell spread: Spearman over cells of the predicted sd with the absolute error, median over "
            f"genes {np.nanmedian(genes['sd_error_spearman']):.3f} ({int(genes['sd_error_spearman'].notna().sum())} "
            "genes whose sd varies by cell; 0 would mean the sd says nothing about which cells are off)."
            if genes["sd_error_spearman"].notna().any() else
            "Per-cell spread: the predicted sd is constant over cells for every held-out gene."
        ),
        "P(0) bins (mean predicted, observed zero frequency, values): "
        + "; ".join(f"({p:.3f}, {o:.3f}, {n})" for p, o, n in zero_bins),
        "",
        "Per outer fold:",
        fmt_table(fold_rows, list(fold_rows[0])),
        "",
        "Calibration groups (90% score quantiles) per fold:",
        pd.concat(calib_groups).to_string(float_format=lambda v: f"{v:.3f}"),
        "",
        tissue_reference(out, args.dataset),
        f"Wall time of the fits: {sum(s[1] for s in seconds):.0f} s (cpu {sum(s[2] for s in seconds):.0f} s); "
        f"this run {total:.0f} s; torch threads {args.threads}"
        + (" (--reuse: fits read from the cache of an earlier run with the same settings)." if args.reuse else "."),
        f"Command: {command}",
    ]
    report = "\n".join(text) + "\n"
    (out / f"{stem}.txt").write_text(report)
    print(report)
    return 0


def plot(rows: list[dict], zero_bins: list, path: Path, dataset: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from stcross import pl

    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    table = pd.DataFrame(rows).rename(columns={"coverage": "empirical"})
    pl.calibration(table[["nominal", "empirical", "intervals"]], group="intervals", ax=axes[0],
                   title=f"{dataset}: interval coverage (held-out genes)")
    ax = axes[1]
    ax.plot([0, 1], [0, 1], ls="--", c="0.5", lw=1, label="ideal")
    ax.plot([b[0] for b in zero_bins], [b[1] for b in zero_bins], marker="o", lw=1.5, label="5 quantile bins")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_aspect("equal")
    ax.set_xlabel("mean predicted P(0)")
    ax.set_ylabel("observed zero frequency")
    ax.set_title(f"{dataset}: P(0) reliability", fontsize=10)
    ax.legend(fontsize=8, frameon=False, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
