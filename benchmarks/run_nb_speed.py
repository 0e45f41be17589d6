"""Training time with the NB likelihood's gamma terms computed at every value (before) or at non-zeros only (now).

Usage::

    python benchmarks/run_nb_speed.py --terms dense      # the formula before
    python benchmarks/run_nb_speed.py --terms nonzero    # stcross's
    python benchmarks/run_nb_speed.py --terms nonzero --data /tmp/stcross_scale/10000x10000_2000g_300p_seed0

Trains the default model (ZINB for SC, NB for ST) for ``--epochs`` epochs, one torch thread, on
the bundled osmFISH pair or on a ``run_scale.py`` folder (2,000 SC genes), and prints the seconds
and the final training loss; time the two commands side by side (they must reach the same loss
to rounding).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import anndata
import torch

import stcross
from stcross.likelihoods.base import EPS
from stcross.likelihoods.nb import NegativeBinomial


def dense_gamma_terms_log_prob(self, value: torch.Tensor) -> torch.Tensor:
    """The NB log-probability as computed before: every term at every value."""
    mu, theta = self.mu, self.theta
    log_theta_mu = torch.log(theta + mu + EPS)
    return (
        theta * (torch.log(theta + EPS) - log_theta_mu)
        + value * (torch.log(mu + EPS) - log_theta_mu)
        + torch.lgamma(value + theta)
        - torch.lgamma(theta)
        - torch.lgamma(value + 1)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--terms", choices=["dense", "nonzero"], required=True)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--data", default=None, help="a run_scale.py data folder (default: bundled osmFISH)")
    args = parser.parse_args()
    if args.terms == "dense":
        NegativeBinomial.log_prob = dense_gamma_terms_log_prob
    if args.data:
        sc, st = (anndata.read_h5ad(Path(args.data) / f"{m}.h5ad") for m in ("sc", "st"))
    else:
        sc, st = stcross.datasets.osmfish()
    started = time.perf_counter()
    model = stcross.CrossModalModel(sc, st).train(max_epochs=args.epochs, seed=0, progress_bar=False)
    print(f"{args.terms}: {time.perf_counter() - started:.1f} s, final loss {model.history['total'].iloc[-1]:.4f}")


if __name__ == "__main__":
    main()
