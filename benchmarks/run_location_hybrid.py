"""Location experiment: latent and panel-gene positions blended, the blend chosen leave-one-dataset-out.

    python benchmarks/run_location_hybrid.py --dataset osmfish|bdtnp|starmap   # one grid each
    python benchmarks/run_location_hybrid.py --select                          # after all three
    # the same with the model trained from another seed
    python benchmarks/run_location_hybrid.py --dataset D --seed 1; ... --select --seed 1

The split and model of ``run_location.py`` (seed 0). Per dataset, a grid of positions
``w * latent kNN-k_latent + (1 - w) * panel kNN-k_panel``, the panel genes z-scored within each
modality (log-normalised first for counts), as a locator must across platforms; written to
``location_hybrid_<dataset>.json`` with the anchor (panel kNN-10, not z-scored, as the peers'
anchor). ``--select`` picks the grid point with the lowest mean error ratio to the anchor on two
datasets and reports it on the third, so no dataset's choice is read off its own split.
"""
from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from run_location_blend import FOLDERS, LocationRun, zscore

WEIGHTS = [round(0.1 * i, 1) for i in range(11)]
K_LATENT = [5, 10, 20]
K_PANEL = [5, 10, 20]
RESULTS = Path(__file__).parent / "results"


def grid(dataset: str, seed: int) -> dict:
    run = LocationRun(dataset, seed)
    x_query, x_ref = zscore(run.x_query), zscore(run.x_ref)
    latent = {k: run.model.locate(n_neighbors=k)[run.dims].to_numpy() for k in K_LATENT}
    panel = {k: run.panel_knn(x_query, x_ref, k) for k in K_PANEL}
    points = {
        f"w={w} kl={kl} kp={kp}": run.error(w * latent[kl] + (1 - w) * panel[kp])
        for w, kl, kp in itertools.product(WEIGHTS, K_LATENT, K_PANEL)
    }
    anchor = run.error(run.panel_knn(run.x_query, run.x_ref, 10))
    return {"dataset": dataset, "model_seed": seed, "anchor_panel_knn10": anchor, "grid": points}


def result_file(dataset: str, seed: int) -> Path:
    return RESULTS / f"location_hybrid_{dataset}{'' if seed == 0 else f'_seed{seed}'}.json"


def select(seed: int) -> None:
    runs = {d: json.loads(result_file(d, seed).read_text()) for d in FOLDERS}
    ratio = {d: {p: e / r["anchor_panel_knn10"] for p, e in r["grid"].items()} for d, r in runs.items()}
    for criterion, pool in (("mean", np.mean), ("worst", np.max)):
        print(f"held-out dataset: blend with the lowest {criterion} error ratio to the anchor on the other two -> its error "
              "(anchor panel kNN-10; latent kNN-10; z-panel kNN-5)")
        for held_out in FOLDERS:
            others = [d for d in FOLDERS if d != held_out]
            best = min(ratio[held_out], key=lambda p: pool([ratio[d][p] for d in others]))
            r = runs[held_out]
            print(
                f"  {held_out:<8} {best:<18} {r['grid'][best]:.4f}  (anchor {r['anchor_panel_knn10']:.4f}; "
                f"latent {r['grid']['w=1.0 kl=10 kp=10']:.4f}; z-panel {r['grid']['w=0.0 kl=5 kp=5']:.4f})"
            )
    overall = min(ratio["osmfish"], key=lambda p: np.mean([ratio[d][p] for d in FOLDERS]))
    print(f"best on all three (not held out): {overall}: " + ", ".join(f"{d} {runs[d]['grid'][overall]:.4f}" for d in FOLDERS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=sorted(FOLDERS))
    parser.add_argument("--select", action="store_true")
    parser.add_argument("--seed", type=int, default=0, help="the model's training seed (the split stays seed 0's)")
    args = parser.parse_args()
    if args.select:
        select(args.seed)
        return
    result = grid(args.dataset, args.seed)
    result_file(args.dataset, args.seed).write_text(json.dumps(result, indent=1))
    print(f"{args.dataset}: anchor {result['anchor_panel_knn10']:.4f}, best {min(result['grid'].items(), key=lambda kv: kv[1])}")


if __name__ == "__main__":
    main()
