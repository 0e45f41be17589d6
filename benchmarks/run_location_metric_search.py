"""How ``locate(method="metric")`` was chosen (benchmarks/REPORT.md, "The learned metric").

    python benchmarks/run_location_metric_search.py --dataset osmfish|bdtnp|starmap [--seed S] [--round 1|2]
    python benchmarks/run_location_metric_search.py --dataset D [--seed S] --uncertainty

The location benchmark's split (seed 0's, as ``run_location_blend.py``) and its model trained
from ``--seed``. ``--round``: embeddings of the reference cells' inputs trained so that spatial
neighbours sit together, then kNN-10 and kNN-5 in the embedding; every variant tried, printed as
one JSON row each with the median error / diagonal and the panel kNN-10 anchor. Inputs: the
latent, the panel genes (log-normalised for counts) or both, each z-scored within its side.
Losses: ``sne`` (the softmax of embedding similarities to a random pool of reference cells
matches a Gaussian of their spatial distances, scale: the median distance to the ``k_scale``-th
nearest cell) or ``reg`` (the softmax-weighted pool position regresses the cell's own).
``sphere`` puts the embedding on the unit sphere with a learned inverse temperature (what
shipped, as ``Gs``). ``--uncertainty``: the shipped method's positions and the Spearman
correlation of their errors with candidate sds.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from scipy.spatial import cKDTree
from scipy.stats import spearmanr

from run_location_blend import LocationRun, zscore
from stcross.locate import metric
from stcross.locate.knn import knn_locations, position_and_spread
from stcross.module.vae import SC, ST
from stcross.neighbors import top_k_similar
from stcross.threads import torch_threads

FIRST_ROUND = {
    f"{inputs} {loss} {'h64' if hidden else 'linear'}": dict(inputs=inputs, loss=loss, hidden=hidden, dropout=0.2, k_scale=10)
    for inputs in ("latent", "panel", "both")
    for loss in ("sne", "reg")
    for hidden in (0, 64)
}
SECOND_ROUND = {
    "A panel linear": dict(inputs="panel"),
    "B both linear": dict(inputs="both"),
    "C panel h64 dropout 0.5": dict(inputs="panel", hidden=64, dropout=0.5),
    "D both h64 dropout 0.5": dict(inputs="both", hidden=64, dropout=0.5),
    "E panel linear k_scale 30": dict(inputs="panel", k_scale=30),
    "F both h64 k_scale 30": dict(inputs="both", hidden=64, k_scale=30),
    "G both h64 dropout 0.5 k_scale 30": dict(inputs="both", hidden=64, dropout=0.5, k_scale=30),
    "H latent h64 dropout 0.5": dict(inputs="latent", hidden=64, dropout=0.5),
    "Gs G on the sphere (shipped)": dict(inputs="both", hidden=64, dropout=0.5, k_scale=30, sphere=True),
    "Ds D on the sphere": dict(inputs="both", hidden=64, dropout=0.5, sphere=True),
}


def train_embedding(inputs, coords, *, loss="sne", hidden=0, dropout=0.2, k_scale=10, sphere=False, seed=0,
                    dim=32, steps=400, batch=256, pool=2048, lr=1e-2):
    """A variant's embedding, trained on the reference cells; returns the map of input rows."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # a throwaway process: the global generator is ours to seed
    x, c = torch.tensor(inputs, dtype=torch.float32), torch.tensor(coords, dtype=torch.float32)
    n = len(x)
    scale2 = float(np.median(cKDTree(coords).query(coords, k=k_scale + 1)[0][:, -1])) ** 2
    if hidden:
        net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.GELU(), torch.nn.Linear(hidden, dim))
    else:
        net = torch.nn.Linear(x.shape[1], dim, bias=False)
    log_kappa = torch.nn.Parameter(torch.tensor(np.log(10.0), dtype=torch.float32))
    optimizer = torch.optim.Adam(list(net.parameters()) + ([log_kappa] if sphere else []), lr=lr)
    embed = (lambda v: torch.nn.functional.normalize(net(v), dim=1)) if sphere else net
    for _ in range(steps):
        a = torch.randperm(n, generator=generator)[:batch]
        p = torch.randperm(n, generator=generator)[:pool]
        xa = x[a]
        if dropout:
            xa = xa * (torch.rand(xa.shape, generator=generator) > dropout) / (1 - dropout)
        fa, fp = embed(xa), embed(x[p])
        logits = log_kappa.exp() * fa @ fp.T if sphere else -torch.cdist(fa, fp) ** 2
        itself = a[:, None] == p[None, :]
        log_p = torch.log_softmax(logits.masked_fill(itself, -1e9), 1)
        if loss == "sne":
            target = torch.softmax((-torch.cdist(c[a], c[p]) ** 2 / (2 * scale2)).masked_fill(itself, -1e9), 1)
            value = -(target * log_p).sum(1).mean()
        else:
            value = ((log_p.exp() @ c[p] - c[a]) ** 2).sum(1).mean() / scale2
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    return lambda v: embed(torch.tensor(v, dtype=torch.float32)).detach().numpy()


def search(run: LocationRun, dataset: str, seed: int, variants: dict) -> None:
    z_query, z_ref = run.model.latent("sc"), run.model.latent("st")
    inputs = {
        "latent": (zscore(z_query), zscore(z_ref)),
        "panel": (zscore(run.x_query), zscore(run.x_ref)),
        "both": (np.hstack([zscore(z_query), zscore(run.x_query)]), np.hstack([zscore(z_ref), zscore(run.x_ref)])),
    }
    anchor = run.error(run.panel_knn(run.x_query, run.x_ref, 10))
    for name, settings in variants.items():
        settings = dict(settings)
        query, reference = inputs[settings.pop("inputs")]
        embed = train_embedding(reference, run.ref_coords, seed=seed, **settings)
        e_query, e_ref = embed(query), embed(reference)
        row = {"dataset": dataset, "variant": name, "seed": seed, "anchor": round(anchor, 4)}
        for k in (10, 5):
            error = run.error(run.panel_knn(e_query, e_ref, k))
            row[f"knn{k}"], row[f"knn{k}_ratio"] = round(error, 4), round(error / anchor, 3)
        print(json.dumps(row), flush=True)


def uncertainty(run: LocationRun, dataset: str, seed: int) -> None:
    """The shipped method's positions (embedding seed 0) against candidate sds."""
    model = run.model
    z_query, z_ref = model.latent("sc"), model.latent("st")
    panel_query, panel_ref = model.data[SC].partner_features, model.data[ST].partner_features

    ref_inputs, query_inputs = metric.input_rows(z_ref, panel_ref), metric.input_rows(z_query, panel_query)
    head = metric._train(ref_inputs, run.ref_coords, 0, "cpu")
    e_ref = metric._embed(head, ref_inputs, len(z_ref), "cpu")
    e_query = metric._embed(head, query_inputs, len(z_query), "cpu")
    index, similarity = top_k_similar(e_query, e_ref, 100)

    def spread(k):
        return position_and_spread(run.ref_coords[index[:, :k]], np.full((len(index), k), 1.0 / k))

    position, sd10 = spread(10)
    error = np.linalg.norm(position - run.truth, axis=1)
    latent_sd = knn_locations(z_ref, run.ref_coords, z_query)[1]
    candidates = {
        "spread of the 10 nearest (embedding)": sd10,
        "spread of the 30 nearest": spread(30)[1],
        "spread of the 50 nearest": spread(50)[1],
        "spread of the 100 nearest": spread(100)[1],
        "latent kNN-10 spread (method knn's sd)": latent_sd,
        "10 nearest + latent (root of summed variances)": np.hypot(sd10, latent_sd),
        "50 nearest + latent (shipped)": np.hypot(spread(50)[1], latent_sd),
        "1 - mean similarity of the 10 nearest": 1 - similarity[:, :10].mean(1),
    }
    row = {"dataset": dataset, "seed": seed, "median_error": round(run.error(position), 4)}
    row.update({name: round(float(spearmanr(sd, error)[0]), 3) for name, sd in candidates.items()})
    print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=("osmfish", "bdtnp", "starmap"), required=True)
    parser.add_argument("--seed", type=int, default=0, help="the model's seed (and each embedding's)")
    parser.add_argument("--round", type=int, choices=(1, 2), default=2)
    parser.add_argument("--uncertainty", action="store_true")
    args = parser.parse_args()
    with torch_threads(1):
        run = LocationRun(args.dataset, args.seed)
        if args.uncertainty:
            uncertainty(run, args.dataset, args.seed)
        else:
            search(run, args.dataset, args.seed, FIRST_ROUND if args.round == 1 else SECOND_ROUND)


if __name__ == "__main__":
    main()
