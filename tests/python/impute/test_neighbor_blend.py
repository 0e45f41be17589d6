"""The latent-neighbour blend of imputed means (ModelConfig.neighbor_blend)."""
from __future__ import annotations

import numpy as np
import pytest
import stcross
import torch
from stcross.impute.st_scale import gaussian_sc_to_st

SMALL = dict(n_hidden=32, n_latent=8, n_heads=2, n_partners=10, n_pcs=10)
GAUSSIAN = dict(likelihood_sc="gaussian", likelihood_st="gaussian")


def _log_pair():
    from conftest import make_pair

    sc, st, truth = make_pair()
    sc_log, st_log = sc.copy(), st.copy()
    sc_log.X = np.log1p(np.asarray(sc.X))
    st_log.X = np.log1p(np.asarray(st.X))
    return sc_log, st_log, np.log1p(truth)


def _imputed(sc, st, genes, weight, **kwargs):
    config = stcross.ModelConfig(neighbor_blend=weight, **SMALL)
    model = stcross.CrossModalModel(sc, st, config=config, **kwargs).train(max_epochs=3, seed=0, progress_bar=False)
    return model, model.impute(genes=genes)


@pytest.fixture(scope="module")
def gaussian_runs():
    sc, st, truth = _log_pair()
    hidden = [g for g in sc.var_names if g not in set(st.var_names)]
    genes = [*hidden, st.var_names[0]]
    runs = {w: _imputed(sc, st, genes, w, **GAUSSIAN) for w in (0.0, 0.5, 1.0)}
    return runs, sc, st, truth, hidden


def test_default_weight_depends_on_the_likelihoods():
    config = stcross.ModelConfig()
    assert config.blend_weight(("gaussian", "gaussian")) == 0.5
    assert config.blend_weight(("zinb", "nb")) == 0.0
    assert config.blend_weight(("gaussian", "nb")) == 0.0
    assert stcross.ModelConfig(neighbor_blend=0.3).blend_weight(("zinb", "nb")) == 0.3


def test_bad_weights_are_clear_errors(pair):
    with pytest.raises(ValueError, match=r"neighbor_blend must lie in \[0, 1\]"):
        stcross.ModelConfig(neighbor_blend=1.5)
    with pytest.raises(ValueError, match="n_blend_neighbors must be a positive integer"):
        stcross.ModelConfig(n_blend_neighbors=0)
    sc, st = pair
    st_log = st.copy()
    st_log.X = np.log1p(np.asarray(st.X))
    with pytest.raises(ValueError, match="both likelihoods counts or both gaussian"):
        stcross.CrossModalModel(sc, st_log, likelihood_st="gaussian", config=stcross.ModelConfig(neighbor_blend=0.5))


def test_weight_zero_is_the_decoder_and_the_blend_is_linear(gaussian_runs):
    runs, *_ = gaussian_runs
    decoder, half, neighbours = (runs[w][1] for w in (0.0, 0.5, 1.0))
    assert decoder.uns["stcross"]["neighbor_blend"] == 0.0
    assert half.uns["stcross"]["neighbor_blend"] == 0.5
    np.testing.assert_allclose(half.X, 0.5 * (decoder.X + neighbours.X), atol=1e-4)
    # A panel gene keeps the model's reconstruction.
    np.testing.assert_array_equal(half.X[:, -1], decoder.X[:, -1])
    assert not np.allclose(half.X[:, :-1], decoder.X[:, :-1])
    # The panel gene keeps its spread; intervals stay centred on the blended mean.
    np.testing.assert_array_equal(half.layers["sd"][:, -1], decoder.layers["sd"][:, -1])
    np.testing.assert_allclose(half.layers["upper"] - half.X, half.X - half.layers["lower"], atol=1e-4)


def _dense_reference_weights(z_st, z_sc, k=30, temperature=0.1):
    """Cosine top-k softmax weights over all of ``z_sc``, from a dense similarity matrix (small data)."""
    unit = lambda z: z / np.linalg.norm(z, axis=1, keepdims=True)  # noqa: E731
    sim = unit(z_st) @ unit(z_sc).T
    top = np.argsort(-sim, axis=1)[:, :k]
    top_sim = np.take_along_axis(sim, top, 1)
    w = np.exp((top_sim - top_sim[:, :1]) / temperature)
    return top, w / w.sum(1, keepdims=True)


def test_full_weight_is_the_similarity_weighted_sc_values_on_st_scale(gaussian_runs):
    runs, sc, st, _, hidden = gaussian_runs
    model, imputed = runs[1.0]
    top, w = _dense_reference_weights(model.latent("st"), model.latent("sc"))
    expected_sc = np.einsum("nk,nkg->ng", w, np.asarray(sc[:, hidden].X)[top])
    index = torch.tensor([list(model.plan.decoder).index(g) for g in hidden])
    level, ratio, sc_mean = (t.numpy() for t in gaussian_sc_to_st(model.module, index))
    np.testing.assert_allclose(imputed.X[:, :-1], level + ratio * (expected_sc - sc_mean), rtol=1e-3, atol=1e-3)


def test_gaussian_spread_is_the_mixture_of_decoder_and_neighbours(gaussian_runs):
    runs, sc, _, _, hidden = gaussian_runs
    model, half = runs[0.5]
    decoder, neighbours = runs[0.0][1], runs[1.0][1]
    top, w = _dense_reference_weights(model.latent("st"), model.latent("sc"))
    values = np.asarray(sc[:, hidden].X, dtype=np.float64)[top]  # (ST, k, genes)
    index = torch.tensor([list(model.plan.decoder).index(g) for g in hidden])
    ratio = gaussian_sc_to_st(model.module, index)[1].numpy()
    mean_sc = np.einsum("nk,nkg->ng", w, values)
    variance = np.einsum("nk,nkg->ng", w, (values - mean_sc[:, None, :]) ** 2) * ratio**2
    d, k = decoder.X[:, :-1], neighbours.X[:, :-1]
    expected = np.sqrt(0.5 * decoder.layers["sd"][:, :-1] ** 2 + 0.5 * variance + 0.25 * (d - k) ** 2)
    np.testing.assert_allclose(half.layers["sd"][:, :-1], expected, rtol=1e-3, atol=1e-5)
    # A per-gene sd became a per-cell one.
    assert np.all(np.ptp(decoder.layers["sd"][:, :-1], axis=0) < 1e-5)
    assert np.all(half.layers["sd"][:, :-1].std(0) > 1e-3)


def test_blend_imputes_hidden_log_genes_better_than_the_short_trained_decoder(gaussian_runs):
    runs, _, _, truth, hidden = gaussian_runs

    def mean_pcc(imputed):
        return np.mean([np.corrcoef(imputed[:, g].X.ravel(), truth[g])[0, 1] for g in hidden])

    assert mean_pcc(runs[0.5][1]) > mean_pcc(runs[0.0][1])


def test_count_blend_uses_panel_fractions_times_the_st_library(pair):
    sc, st = pair
    sc = sc.copy()
    panel = [sc.var_names.get_loc(g) for g in st.var_names]
    sc.X[0, panel] = 0  # an SC cell without panel counts has no fractions: it must be left out
    hidden = [g for g in sc.var_names if g not in set(st.var_names)][:3]
    model, decoder = _imputed(sc, st, hidden, 0.0)
    _, blended = _imputed(sc, st, hidden, 1.0)
    counts = np.asarray(sc.X, dtype=np.float64)
    kept = np.flatnonzero(counts[:, panel].sum(1) > 0)
    assert len(kept) == sc.n_obs - 1
    fractions = counts[kept][:, [sc.var_names.get_loc(g) for g in hidden]] / counts[kept][:, panel].sum(1, keepdims=True)
    top, w = _dense_reference_weights(model.latent("st"), model.latent("sc")[kept])
    library = np.asarray(st.X).sum(1)
    expected = np.einsum("nk,nkg->ng", w, fractions[top]) * library[:, None]
    np.testing.assert_allclose(blended.X, expected, rtol=1e-4)
    # P(0) follows the moved mean: the NB keeps theta, so a larger mean means fewer zeros.
    larger = blended.X > decoder.X * 1.5
    assert larger.any()
    assert np.all(blended.layers["p_zero"][larger] < decoder.layers["p_zero"][larger])


def test_blended_model_survives_save_and_load(gaussian_runs, tmp_path):
    runs, sc, st, _, hidden = gaussian_runs
    model, imputed = runs[0.5]
    model.save(tmp_path / "m")
    loaded = stcross.CrossModalModel.load(tmp_path / "m", sc, st, device="cpu")
    assert loaded.neighbor_blend == 0.5
    np.testing.assert_allclose(loaded.impute(genes=list(imputed.var_names)).X, imputed.X, rtol=1e-5, atol=1e-6)
