"""Conformal calibration: coverage on genes never seen, asymmetry, save/load, clear errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import stcross
import torch
from conftest import make_pair
from stcross.errors import InputError
from stcross.impute.conformal import Calibration, ScoreTable, fit_calibration

# Small and short: the end-to-end tests train 1 + N_FOLDS models.
EPOCHS = 40
# The masked calibration trains each fold's ST encoder in 1/N_FOLDS of the steps: at 40 epochs
# (30 steps a fold here) it is still conservative (0.94-0.95 at 90%); by 120 (early stopping
# near 80) it covers 0.90-0.91, as the refits do at 40.
EPOCHS_MASKED = 120
N_FOLDS = 4
CONFIG = stcross.ModelConfig(n_hidden=32, n_latent=8, n_heads=2, n_partners=10, n_pcs=10)


def _synthetic(n_cells: int, n_genes: int, *, counts: bool, seed: int):
    """Predictions whose sd is half the truth and whose errors are right-skewed."""
    rng = np.random.default_rng(seed)
    mean = rng.gamma(2.0, 1.5, (1, n_genes)) * rng.lognormal(0.0, 0.3, (n_cells, 1))
    if counts:
        truth = rng.negative_binomial(2, 2 / (2 + mean)).astype(np.float64)
        sd = 0.5 * np.sqrt(mean + mean**2 / 2)
        p_zero = (2 / (2 + mean)) ** 2
    else:
        spread = 0.3 * mean + 0.2
        truth = mean + spread * (rng.gamma(2.0, 1.0, mean.shape) - 2.0)
        sd = 0.5 * spread
        p_zero = np.zeros_like(mean)
    return truth, mean, sd, p_zero


def _coverage(truth, lower, upper) -> float:
    return float(((truth >= lower) & (truth <= upper)).mean())


@pytest.mark.parametrize("counts", [False, True])
def test_fit_calibration_covers_new_genes_at_every_level(counts):
    cal = fit_calibration(*_synthetic(300, 30, counts=counts, seed=0), likelihood="nb" if counts else "gaussian")
    truth, mean, sd, p_zero = _synthetic(300, 200, counts=counts, seed=1)
    summary = {"mean": mean, "sd": sd, "p_zero": p_zero}
    raw = _coverage(truth, mean - 1.645 * sd, mean + 1.645 * sd)
    assert raw < 0.8  # the spread alone is too narrow: calibration has work to do
    for level in (0.5, 0.8, 0.9, 0.95):
        lower, upper = cal.interval(summary, None, level)
        assert abs(_coverage(truth, lower, upper) - level) < 0.03, level
        assert np.all(lower <= upper)
    if counts:
        lower, upper = cal.interval(summary, None, 0.9)
        assert np.all(lower >= 0)
        assert np.array_equal(lower, np.round(lower)) and np.array_equal(upper, np.round(upper))


def test_skewed_errors_give_asymmetric_intervals():
    cal = fit_calibration(*_synthetic(300, 30, counts=False, seed=0), likelihood="gaussian", level_bins=1)
    q_lo, q_hi = cal.tables["pooled"].quantiles(0.9)
    # Gamma(2)-2 errors in units of sd/0.5: a short left tail, a long right one.
    assert -q_lo < 0.7 * q_hi


def test_quantiles_use_the_finite_sample_rank():
    scores = np.arange(1, 20, dtype=np.float64)  # n = 19: the 90% upper bound is the 19th score
    table = ScoreTable.from_scores(scores, scores, n_genes=1)
    q_lo, q_hi = table.quantiles(0.9)
    assert q_hi == 19.0
    assert q_lo == 1.0  # floor(20 * 0.05) = 1st smallest


def test_zero_heavy_groups_get_zero_upper_bounds():
    # 90% zeros: a 50% interval must be [0, 0] and still cover the zeros.
    rng = np.random.default_rng(0)
    truth = (rng.uniform(size=(400, 10)) < 0.1).astype(np.float64)
    mean = np.full(truth.shape, 0.1)
    sd = np.full(truth.shape, 0.3)
    cal = fit_calibration(truth, mean, sd, np.full(truth.shape, 0.9), likelihood="nb", level_bins=1)
    lower, upper = cal.interval({"mean": mean, "sd": sd, "p_zero": np.full(truth.shape, 0.9)}, None, 0.5)
    assert np.all(lower == 0) and np.all(upper == 0)
    assert _coverage(truth, lower, upper) >= 0.5


def test_groups_fall_back_to_coarser_ones():
    truth, mean, sd, _ = _synthetic(100, 12, counts=False, seed=2)
    p_zero = np.exp(-mean)
    cal = fit_calibration(truth, mean, sd, p_zero, likelihood="gaussian", level_bins=3, zero_bins=2, min_genes=4)
    assert "pooled" in cal.tables and "L0" in cal.tables
    assert not any("Z" in key for key in cal.tables)  # 4 genes per level bin cannot split in two
    assert set(cal.groups(mean, p_zero)) <= set(cal.tables)


def test_fit_calibration_rejects_bad_input():
    truth, mean, sd, p_zero = _synthetic(50, 4, counts=False, seed=0)
    with pytest.raises(ValueError, match="at least 5 genes"):
        fit_calibration(truth, mean, sd, p_zero, likelihood="gaussian")
    truth, mean, sd, p_zero = _synthetic(50, 8, counts=False, seed=0)
    with pytest.raises(ValueError, match="one shape"):
        fit_calibration(truth[:, :3], mean, sd, p_zero, likelihood="gaussian")
    with pytest.raises(ValueError, match="level_bins"):
        fit_calibration(truth, mean, sd, p_zero, likelihood="gaussian", level_bins=0)
    cal = fit_calibration(truth, mean, sd, p_zero, likelihood="gaussian")
    with pytest.raises(ValueError, match="strictly between"):
        cal.interval({"mean": mean, "sd": sd, "p_zero": p_zero}, None, 1.0)


# -- end to end, with a model ------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    # Tiny networks on a shared 2-core CPU: a second intra-op thread only adds waiting.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module", params=["refits", "masked"])
def calibrated(request):
    sc, st, truth = make_pair(n_st=300, seed=3)
    epochs = EPOCHS_MASKED if request.param == "masked" else EPOCHS
    model = stcross.CrossModalModel(sc, st, config=CONFIG)
    model.train(max_epochs=epochs, progress_bar=False)
    raw = model.impute(interval=0.9)
    model.calibrate(n_folds=N_FOLDS, max_epochs=epochs, method=request.param)
    return model, sc, st, truth, raw


def test_calibrated_intervals_cover_genes_never_measured(calibrated):
    model, _, st, truth, raw = calibrated
    unseen = [g for g in model.imputable_genes if g not in set(st.var_names)]
    imputed = model.impute(genes=unseen, interval=0.9)
    info = imputed.uns["stcross"]
    assert info["calibrated"] is True and raw.uns["stcross"]["calibrated"] is False
    y = truth[unseen].to_numpy()
    lower, upper = imputed.layers["lower"], imputed.layers["upper"]
    coverage = _coverage(y, lower, upper)  # zeros included
    assert 0.85 <= coverage <= 0.95, coverage
    assert np.all(lower >= 0) and np.all(lower <= upper)
    assert np.array_equal(upper, np.round(upper))  # counts: integer bounds
    # Other levels come from the same stored scores.
    narrow = model.impute(genes=unseen, interval=0.5)
    assert 0.4 <= _coverage(y, narrow.layers["lower"], narrow.layers["upper"]) <= 0.65
    assert np.all(narrow.layers["upper"] - narrow.layers["lower"] <= upper - lower)
    # Calibration changes only the bounds.
    assert np.array_equal(imputed.layers["mean"], raw[:, unseen].layers["mean"])


def test_calibration_records_its_trainings(calibrated):
    model = calibrated[0]
    info = model.calibration.info
    masked = "masked" in info["method"]
    assert info["n_folds"] == N_FOLDS and len(info["epochs"]) == (1 if masked else N_FOLDS)
    assert max(info["epochs"]) <= (EPOCHS_MASKED if masked else EPOCHS)
    assert sorted(info["genes"]) == sorted(model.shared_genes)


def test_calibration_survives_save_and_load(calibrated, tmp_path):
    model, sc, st, _, _ = calibrated
    path = model.save(tmp_path / "model")
    text = (path / "config.json").read_text()
    assert "Infinity" not in text and "NaN" not in text  # strict JSON
    json.loads(text)
    loaded = stcross.CrossModalModel.load(path, sc, st, device="cpu")
    assert isinstance(loaded.calibration, Calibration)
    for level in (0.9, 0.6):
        before = model.impute(interval=level)
        after = loaded.impute(interval=level)
        assert after.uns["stcross"]["calibrated"] is True
        np.testing.assert_array_equal(after.layers["lower"], before.layers["lower"])
        np.testing.assert_array_equal(after.layers["upper"], before.layers["upper"])


def test_too_few_panel_genes_is_a_clear_error():
    sc, st, _ = make_pair(n_sc=60, n_st=50, n_panel=4, seed=1)
    model = stcross.CrossModalModel(sc, st, config=CONFIG).train(max_epochs=1, progress_bar=False)
    with pytest.raises(ValueError, match="Too few ST panel genes to calibrate: 4 shared genes"):
        model.calibrate(n_folds=2)
    assert model.calibration is None
    sc, st, _ = make_pair(n_sc=60, n_st=50, n_panel=10, seed=1)
    model = stcross.CrossModalModel(sc, st, config=CONFIG).train(max_epochs=1, progress_bar=False)
    with pytest.raises(ValueError, match="two held-out genes per fold"):
        model.calibrate(n_folds=6)
    with pytest.raises(ValueError, match="n_folds"):
        model.calibrate(n_folds=1)


def test_every_fold_keeps_enough_panel_genes_to_train_on():
    from stcross.data.genes import MIN_SHARED_GENES
    from stcross.impute.calibration import check_folds

    # 5 genes in 2 folds would leave a refit with 2 shared genes, which the model refuses.
    with pytest.raises(ValueError, match=f"needs at least 6 .*{MIN_SHARED_GENES} kept to train each fold"):
        check_folds(2, 5)
    assert check_folds(2, 6) == 2
    assert check_folds(3, 6) == 3


def test_calibrate_needs_a_trained_model():
    sc, st, _ = make_pair(n_sc=60, n_st=50, seed=1)
    with pytest.raises(RuntimeError, match="not trained"):
        stcross.CrossModalModel(sc, st, config=CONFIG).calibrate()


def test_other_latent_draws_than_calibrated_are_flagged(caplog):
    truth, mean, sd, p_zero = _synthetic(50, 8, counts=False, seed=0)
    cal = fit_calibration(truth, mean, sd, p_zero, likelihood="gaussian", info={"n_samples": 0})
    summary = {"mean": mean, "sd": sd, "p_zero": p_zero}
    with caplog.at_level("WARNING", logger="stcross"):
        cal.interval(summary, None, 0.9, n_samples=0)
        assert not caplog.records
        cal.interval(summary, None, 0.9, n_samples=20)
    assert "n_samples" in caplog.text


def test_unknown_calibration_method_is_refused():
    sc, st, _ = make_pair(n_st=60, n_sc=60)
    model = stcross.CrossModalModel(sc, st, config=CONFIG).train(max_epochs=1, progress_bar=False)
    with pytest.raises(InputError, match="'refits' or 'masked'"):
        model.calibrate(method="fast")
    assert model.calibration is None


def test_masked_calibration_leaves_the_trained_network_alone():
    sc, st, _ = make_pair(n_st=80, n_sc=80)
    model = stcross.CrossModalModel(sc, st, config=CONFIG).train(max_epochs=1, progress_bar=False)
    before = {k: v.clone() for k, v in model.module.state_dict().items()}
    model.calibrate(n_folds=2, max_epochs=1, method="masked")
    after = model.module.state_dict()
    assert all(torch.allclose(before[k], after[k], rtol=0, atol=0, equal_nan=True) for k in before)


def test_refitting_only_some_folds_scores_their_genes_as_the_full_refits_do():
    from stcross.impute.calibration import heldout_predictions

    sc, st, _ = make_pair(n_st=80, n_sc=80)
    model = stcross.CrossModalModel(sc, st, config=CONFIG).train(max_epochs=2, progress_bar=False)
    every = heldout_predictions(model, n_folds=3, max_epochs=2)
    first = heldout_predictions(model, n_folds=3, max_epochs=2, n_refits=1)
    assert first["folds"] == every["folds"][:1] and len(first["epochs"]) == 1
    assert first["genes"] == [g for g in every["genes"] if g in set(every["folds"][0])]
    columns = [every["genes"].index(g) for g in first["genes"]]
    for key in ("truth", "mean", "sd", "p_zero"):
        np.testing.assert_array_equal(first[key], every[key][:, columns], err_msg=key)
    expected = st[:, first["genes"]].X
    np.testing.assert_array_equal(first["truth"], expected.toarray() if hasattr(expected, "toarray") else expected)
    for bad in (0, 4, True, 1.5):
        with pytest.raises(InputError, match="n_refits must be an integer from 1 to n_folds"):
            heldout_predictions(model, n_folds=3, max_epochs=1, n_refits=bad)


@pytest.mark.parametrize("method", ["masked", "refits"])
def test_training_seed_draws_other_networks_and_defaults_to_the_models(method):
    """The benchmark's knob for the calibration's spread: only the held-out networks' draw moves."""
    from stcross.impute.calibration import heldout_predictions
    from stcross.impute.heldout_masked import masked_heldout_predictions

    def predict(**kwargs):
        if method == "masked":
            return masked_heldout_predictions(model, n_folds=2, max_epochs=1, **kwargs)
        return heldout_predictions(model, n_folds=2, max_epochs=1, n_refits=1, **kwargs)

    sc, st, _ = make_pair(n_st=80, n_sc=80)
    model = stcross.CrossModalModel(sc, st, config=CONFIG).train(max_epochs=1, seed=3, progress_bar=False)
    default, same, other = predict(), predict(training_seed=3), predict(training_seed=4)
    np.testing.assert_array_equal(same["mean"], default["mean"])
    assert not np.array_equal(other["mean"], default["mean"])
    assert other["folds"] == default["folds"]
    np.testing.assert_array_equal(other["truth"], default["truth"])


def test_masked_networks_split_one_trainings_epochs_and_average_their_predictions():
    from stcross.impute.heldout_masked import masked_heldout_predictions

    sc, st, _ = make_pair(n_st=80, n_sc=80)
    model = stcross.CrossModalModel(sc, st, config=CONFIG).train(max_epochs=4, seed=3, progress_bar=False)
    first = masked_heldout_predictions(model, n_folds=2, max_epochs=2)
    second = masked_heldout_predictions(model, n_folds=2, max_epochs=2, training_seed=4)
    both = masked_heldout_predictions(model, n_folds=2, networks=2)  # the model's 4 epochs, 2 for each
    assert first["epochs"] == [2] and both["epochs"] == [2, 2]
    for key in ("mean", "sd", "p_zero"):
        np.testing.assert_allclose(both[key], (first[key] + second[key]) / 2, rtol=1e-6, err_msg=key)
    for bad in (0, 1.5, True):
        with pytest.raises(InputError, match="networks must be a positive integer"):
            masked_heldout_predictions(model, n_folds=2, max_epochs=1, networks=bad)
