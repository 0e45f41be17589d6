"""Training, imputation, location, latent space, reproducibility and save/load."""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
import stcross
from stcross.benchmark.integration import label_purity, modality_mixing
import torch

EPOCHS = 6


@pytest.fixture(scope="module")
def trained():
    from conftest import make_pair

    sc, st, truth = make_pair()
    model = stcross.CrossModalModel(sc, st).train(max_epochs=EPOCHS, seed=0, progress_bar=False)
    return model, sc, st, truth


def test_impute_returns_every_layer_with_sane_values(trained):
    model, sc, st, _ = trained
    hidden = [g for g in sc.var_names if g not in set(st.var_names)]
    imp = model.impute(genes=hidden)
    assert imp.shape == (st.n_obs, len(hidden))
    assert list(imp.obs_names) == list(st.obs_names)
    assert set(imp.layers.keys()) == {"mean", "sd", "p_zero", "lower", "upper"}
    np.testing.assert_array_equal(imp.X, imp.layers["mean"])
    assert np.all(imp.layers["sd"] > 0)
    assert np.all((imp.layers["p_zero"] >= 0) & (imp.layers["p_zero"] <= 1))
    assert np.all(imp.layers["lower"] <= imp.layers["upper"])
    assert np.all(imp.layers["lower"] >= 0)
    assert imp.uns["stcross"]["calibrated"] is False
    assert "not calibrated" in imp.uns["stcross"]["interval_method"]
    np.testing.assert_array_equal(imp.obsm["spatial"], st.obsm["spatial"])
    assert not imp.var["measured_in_st"].any()


def test_imputation_is_on_the_st_count_scale_and_tracks_truth(trained):
    model, sc, st, truth = trained
    hidden = [g for g in sc.var_names if g not in set(st.var_names)]
    imp = model.impute(genes=hidden)
    true = truth[hidden].to_numpy()
    # Library scaling: the ST cell's own depth, not SC's (SC is ~3x deeper here).
    ratio = imp.X.sum() / true.sum()
    assert 0.5 < ratio < 2.0
    pcc = [np.corrcoef(imp.X[:, j], true[:, j])[0, 1] for j in range(len(hidden))]
    assert np.nanmean(pcc) > 0.5


def test_interval_level_orders_widths(trained):
    model, *_ = trained
    narrow = model.impute(genes=["Gene30"], interval=0.5)
    wide = model.impute(genes=["Gene30"], interval=0.95)
    assert np.all(wide.layers["upper"] - wide.layers["lower"] >= narrow.layers["upper"] - narrow.layers["lower"])
    assert np.mean(wide.layers["upper"] - wide.layers["lower"]) > np.mean(narrow.layers["upper"] - narrow.layers["lower"])


def test_latent_sampling_widens_the_spread(trained):
    model, *_ = trained
    plain = model.impute(genes=["Gene30"])
    sampled = model.impute(genes=["Gene30"], n_samples=20, seed=1)
    assert np.mean(sampled.layers["sd"]) >= np.mean(plain.layers["sd"]) * 0.99
    again = model.impute(genes=["Gene30"], n_samples=20, seed=1)
    np.testing.assert_array_equal(sampled.layers["sd"], again.layers["sd"])


def test_unknown_gene_and_bad_interval(trained):
    model, *_ = trained
    with pytest.raises(ValueError, match="cannot be imputed"):
        model.impute(genes=["Gene30", "Missing"])
    with pytest.raises(ValueError, match=r"e\.g\. \['Missing'\]"):
        model.impute(genes=np.array(["Gene30", "Missing"]))
    with pytest.raises(ValueError, match="between 0 and 1"):
        model.impute(genes=["Gene30"], interval=1.5)


@pytest.mark.parametrize(("n_samples", "kind"), [(-3, ValueError), (2.5, TypeError), (None, TypeError)])
def test_impute_refuses_a_bad_number_of_samples(trained, n_samples, kind):
    # -3 used to mean 0 silently.
    model, *_ = trained
    with pytest.raises(kind, match="n_samples must be a non-negative integer"):
        model.impute(genes=["Gene30"], n_samples=n_samples)


def test_latent_shapes_and_alignment(trained):
    model, sc, st, _ = trained
    z_sc, z_st = model.latent("sc"), model.latent("st")
    assert z_sc.shape == (sc.n_obs, model.config.n_latent)
    assert z_st.shape == (st.n_obs, model.config.n_latent)
    # Cells of the same type should be closer across modalities than cells of other types.
    types_sc = sc.obs["cell_type"].to_numpy()
    types_st = st.obs["cell_type"].to_numpy()
    a = z_st / np.linalg.norm(z_st, axis=1, keepdims=True)
    b = z_sc / np.linalg.norm(z_sc, axis=1, keepdims=True)
    nearest = (a @ b.T).argmax(1)
    assert np.mean(types_sc[nearest] == types_st) > 0.6
    with pytest.raises(ValueError, match="'sc' or 'st'"):
        model.latent("both")


def test_joint_embedding_mixes_the_modalities_more_than_the_latent_and_keeps_types(trained):
    model, sc, st, _ = trained
    e_sc, e_st = model.joint_embedding("sc"), model.joint_embedding("st")
    assert e_sc.shape == (sc.n_obs, model.config.n_latent) and e_st.shape == (st.n_obs, model.config.n_latent)
    latent_mixing = modality_mixing(model.latent("sc"), model.latent("st"), k=20)
    joint_mixing = modality_mixing(e_sc, e_st, k=20)
    assert min(joint_mixing) > min(latent_mixing)
    types = np.r_[sc.obs["cell_type"].to_numpy(), st.obs["cell_type"].to_numpy()]
    assert label_purity(np.vstack([e_sc, e_st]), types, k=10) > 0.6
    both = model.joint_embedding(None)
    np.testing.assert_array_equal(both[0], e_sc)
    np.testing.assert_array_equal(both[1], e_st)
    with pytest.raises(ValueError, match="'sc', 'st' or None"):
        model.joint_embedding("both")


def test_joint_embedding_after_loading_and_with_a_narrow_partner_graph(trained, tmp_path):
    model, sc, st, _ = trained
    loaded = stcross.CrossModalModel.load(model.save(tmp_path / "model"), sc, st)
    np.testing.assert_allclose(loaded.joint_embedding("st"), model.joint_embedding("st"), rtol=1e-5, atol=1e-6)
    # A graph of 3 partners per cell: the default takes all 3; asking for more is a clear error.
    narrow = stcross.CrossModalModel(sc, st, config=stcross.ModelConfig(n_partners=3)).train(max_epochs=1, progress_bar=False)
    assert narrow.joint_embedding("sc").shape == (sc.n_obs, narrow.config.n_latent)
    with pytest.raises(ValueError, match="holds 3 partners per cell"):
        narrow.joint_embedding("sc", n_partners=5)


@pytest.mark.parametrize("method", ["metric", "regression", "knn"])
def test_locate_places_cells_by_type(trained, method):
    model, sc, st, _ = trained
    loc = model.locate(method=method)
    assert list(loc.index) == list(sc.obs_names)
    assert list(loc.columns) == ["x", "y", "sd"]
    assert np.all(loc["sd"] > 0)
    # Types occupy x-bands [t, t+1): the inferred x should follow the type.
    types = sc.obs["cell_type"].astype(int).to_numpy()
    assert np.corrcoef(loc["x"], types)[0, 1] > 0.7


def test_locate_bad_method(trained):
    model, *_ = trained
    with pytest.raises(ValueError, match="one of 'metric', 'knn', 'regression'"):
        model.locate(method="tangram")


def test_same_seed_same_model_different_seed_different(pair):
    sc, st = pair
    first = stcross.CrossModalModel(sc, st).train(max_epochs=2, seed=3, progress_bar=False)
    second = stcross.CrossModalModel(sc, st).train(max_epochs=2, seed=3, progress_bar=False)
    other = stcross.CrossModalModel(sc, st).train(max_epochs=2, seed=4, progress_bar=False)
    a, b, c = (m.impute(genes=["Gene30"]).X for m in (first, second, other))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    np.testing.assert_array_equal(first.history["total"].to_numpy(), second.history["total"].to_numpy())


def test_training_leaves_global_rng_untouched(pair):
    sc, st = pair
    torch.manual_seed(123)
    np.random.seed(123)
    expected_torch, expected_np = torch.rand(3), np.random.rand(3)
    torch.manual_seed(123)
    np.random.seed(123)
    stcross.CrossModalModel(sc, st).train(max_epochs=1, progress_bar=False).locate()
    np.testing.assert_array_equal(torch.rand(3), expected_torch)
    np.testing.assert_array_equal(np.random.rand(3), expected_np)


def test_sparse_and_dense_inputs_give_the_same_model(pair):
    sc, st = pair
    sc_sparse, st_sparse = sc.copy(), st.copy()
    sc_sparse.X, st_sparse.X = sp.csr_matrix(sc.X), sp.csc_matrix(st.X)
    dense = stcross.CrossModalModel(sc, st).train(max_epochs=2, progress_bar=False)
    sparse = stcross.CrossModalModel(sc_sparse, st_sparse).train(max_epochs=2, progress_bar=False)
    np.testing.assert_array_equal(dense.impute(genes=["Gene30"]).X, sparse.impute(genes=["Gene30"]).X)


def test_outputs_do_not_depend_on_batch_size_at_inference(trained):
    model, *_ = trained
    small = model.impute(genes=["Gene30", "Gene31"], batch_size=7)
    large = model.impute(genes=["Gene30", "Gene31"], batch_size=1000)
    np.testing.assert_allclose(small.X, large.X, rtol=1e-5, atol=1e-6)


def test_history_has_every_loss_term(trained):
    model, *_ = trained
    for column in ("total", "reconstruction_sc", "reconstruction_st", "kl", "alignment", "validation_total"):
        assert column in model.history.columns
    assert len(model.history) <= EPOCHS


def test_save_load_round_trip(trained, tmp_path):
    model, sc, st, _ = trained
    path = model.save(tmp_path / "model")
    assert (path / "config.json").is_file() and (path / "model.pt").is_file()
    loaded = stcross.CrossModalModel.load(path, sc, st)
    np.testing.assert_array_equal(model.impute(genes=["Gene30"]).X, loaded.impute(genes=["Gene30"]).X)
    np.testing.assert_array_equal(model.latent("sc"), loaded.latent("sc"))
    with pytest.raises(FileExistsError, match="overwrite=True"):
        model.save(path)
    model.save(path, overwrite=True)


def test_load_refuses_different_genes(trained, tmp_path):
    model, sc, st, _ = trained
    path = model.save(tmp_path / "model")
    with pytest.raises(ValueError, match="different shared"):
        stcross.CrossModalModel.load(path, sc, st[:, st.var_names[:-1]].copy())
    with pytest.raises(FileNotFoundError, match="not a saved stcross model"):
        stcross.CrossModalModel.load(tmp_path, sc, st)


def test_load_refuses_an_older_format(trained, tmp_path):
    model, sc, st, _ = trained
    path = model.save(tmp_path / "model")
    config = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**config, "format_version": 1}))
    with pytest.raises(ValueError, match="saved in format 1.*Train the model again"):
        stcross.CrossModalModel.load(path, sc, st)


def test_gaussian_likelihood_on_log_data(pair):
    sc, st = pair
    sc_log, st_log = sc.copy(), st.copy()
    sc_log.X = np.log1p(np.asarray(sc.X))
    st_log.X = np.log1p(np.asarray(st.X))
    model = stcross.CrossModalModel(sc_log, st_log, likelihood_sc="gaussian", likelihood_st="gaussian")
    imp = model.train(max_epochs=2, progress_bar=False).impute(genes=["Gene30"])
    assert np.all(imp.layers["lower"] < imp.layers["upper"])
    assert np.all(np.isfinite(imp.X))


def test_gaussian_unmeasured_genes_land_on_the_st_scale(pair_with_truth):
    # ST values on another scale than SC's (like in-situ intensities against log counts):
    # a gene ST never measured must come out on ST's scale, not SC's.
    sc, st, truth = pair_with_truth
    sc_log = sc.copy()
    sc_log.X = np.log1p(np.asarray(sc.X))
    st_scaled = st.copy()
    st_scaled.X = 0.2 * np.log1p(np.asarray(st.X)) + 1.0
    model = stcross.CrossModalModel(sc_log, st_scaled, likelihood_sc="gaussian", likelihood_st="gaussian")
    hidden = [g for g in sc.var_names if g not in set(st.var_names)]
    imp = model.train(max_epochs=30, progress_bar=False).impute(genes=hidden)
    true = 0.2 * np.log1p(truth[hidden].to_numpy()) + 1.0
    level_error = np.abs(imp.X.mean(0) - true.mean(0)) / true.std(0)
    spread_ratio = imp.X.std(0) / true.std(0)
    assert np.median(level_error) < 0.5
    assert 0.2 < np.median(spread_ratio) < 2.0
    inside = (true >= imp.layers["lower"]) & (true <= imp.layers["upper"])
    assert inside.mean() > 0.8


def test_train_refuses_config_together_with_keywords(pair):
    sc, st = pair
    model = stcross.CrossModalModel(sc, st)
    with pytest.raises(ValueError, match="both config= and lr=, seed="):
        model.train(config=stcross.TrainConfig(max_epochs=1), lr=0.1, seed=3, progress_bar=False)
    with pytest.raises(TypeError, match="config must be a stcross.TrainConfig"):
        model.train(config={"max_epochs": 1}, progress_bar=False)


def test_model_config_from_dict_refuses_unknown_fields():
    config = stcross.ModelConfig(n_latent=8)
    assert stcross.ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match=r"Unknown ModelConfig fields \['n_latnet'\]"):
        stcross.ModelConfig.from_dict({"n_latnet": 8})
