"""The learned-metric location (locate(method="metric"))."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree
from stcross.errors import InputError
from stcross.locate.metric import metric_locations


def _tissue(n: int, rng: np.random.Generator, n_noise: int = 40):
    """Cells on a 10 x 10 square: 4 genes are smooth functions of position, the rest noise."""
    coords = rng.uniform(0, 10, size=(n, 2))
    signal = np.column_stack([np.sin(coords[:, 0] / 3), np.cos(coords[:, 0] / 3), np.sin(coords[:, 1] / 3), np.cos(coords[:, 1] / 3)])
    panel = np.hstack([signal + 0.05 * rng.normal(size=signal.shape), rng.normal(size=(n, n_noise))])
    panel = (panel - panel.mean(0)) / panel.std(0)
    latent = rng.normal(size=(n, 8))  # a latent that knows nothing of position
    return coords, panel.astype(np.float32), latent.astype(np.float32)


def _median_error(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.median(np.linalg.norm(pred - truth, axis=1)))


def test_the_metric_learns_which_genes_carry_position():
    rng = np.random.default_rng(0)
    coords, panel, latent = _tissue(1500, rng)
    query_coords, query_panel, query_latent = _tissue(300, rng)
    pred, sd = metric_locations(latent, coords, query_latent, panel_st=panel, panel_query=query_panel, seed=0)
    # Plain kNN-10 on the same inputs: the 40 noise genes and the latent drown the 4 that carry position.
    plain = coords[cKDTree(np.hstack([latent, panel])).query(np.hstack([query_latent, query_panel]), k=10)[1]].mean(1)
    learned, baseline = _median_error(pred, query_coords), _median_error(plain, query_coords)
    assert learned < 0.4 * baseline, (learned, baseline)
    assert learned < 1.0  # on a 10 x 10 square
    assert sd.shape == (300,) and np.all(sd > 0)


def test_seeded_and_leaves_the_global_generator_alone():
    rng = np.random.default_rng(1)
    coords, panel, latent = _tissue(400, rng, n_noise=5)
    args = (latent, coords, latent[:50])
    kwargs = dict(panel_st=panel, panel_query=panel[:50])
    state = torch.random.get_rng_state()
    first = metric_locations(*args, **kwargs, seed=3)
    assert torch.equal(state, torch.random.get_rng_state())
    np.testing.assert_array_equal(first[0], metric_locations(*args, **kwargs, seed=3)[0])
    assert not np.allclose(first[0], metric_locations(*args, **kwargs, seed=4)[0])


@pytest.mark.parametrize("n_neighbors", [0, 2.5, True])
def test_bad_neighbour_counts_are_refused(n_neighbors):
    rng = np.random.default_rng(2)
    coords, panel, latent = _tissue(50, rng, n_noise=2)
    with pytest.raises(InputError, match="n_neighbors must be a positive integer"):
        metric_locations(latent, coords, latent, panel_st=panel, panel_query=panel, n_neighbors=n_neighbors)


def test_cells_piled_on_one_spot_are_refused():
    rng = np.random.default_rng(3)
    _, panel, latent = _tissue(50, rng, n_noise=2)
    with pytest.raises(InputError, match="on top of each other"):
        metric_locations(latent, np.zeros((50, 2)), latent, panel_st=panel, panel_query=panel)
