"""Per-gene imputation metrics and the accuracy score (stcross.benchmark.metrics)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy import stats
from scipy.spatial.distance import jensenshannon
from stcross.benchmark import (
    accuracy_score,
    gene_metrics,
    jensen_shannon,
    pearson,
    rmse_z,
    spearman,
    ssim,
)


@pytest.fixture
def pair():
    rng = np.random.default_rng(1)
    truth = rng.poisson(3.0, size=(60, 4)).astype(float)
    pred = truth + rng.normal(0, 2.0, size=truth.shape) + 0.5
    return truth, np.clip(pred, 0, None)


def test_perfect_prediction_scores_best(pair):
    truth, _ = pair
    table = gene_metrics(truth, truth.copy())
    np.testing.assert_allclose(table["pcc"], 1.0)
    np.testing.assert_allclose(table["spearman"], 1.0)
    np.testing.assert_allclose(table["ssim"], 1.0)
    np.testing.assert_allclose(table["rmse_z"], 0.0, atol=1e-12)
    np.testing.assert_allclose(table["js"], 0.0, atol=1e-12)


def test_pearson_and_spearman_match_scipy(pair):
    truth, pred = pair
    expected_r = [stats.pearsonr(truth[:, j], pred[:, j])[0] for j in range(truth.shape[1])]
    expected_rho = [stats.spearmanr(truth[:, j], pred[:, j])[0] for j in range(truth.shape[1])]
    np.testing.assert_allclose(pearson(truth, pred), expected_r, rtol=1e-10)
    # Poisson truth has many ties: average ranks as in scipy.
    np.testing.assert_allclose(spearman(truth, pred), expected_rho, rtol=1e-10)


def test_rmse_z_matches_scipy_zscore(pair):
    truth, pred = pair
    expected = np.sqrt(((stats.zscore(truth) - stats.zscore(pred)) ** 2).mean(axis=0))
    np.testing.assert_allclose(rmse_z(truth, pred), expected, rtol=1e-10)
    # An anti-correlated prediction of a symmetric vector is the worst case, 2.
    x = np.array([0.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(rmse_z(x, -x), [2.0])


def test_js_matches_scipy_jensenshannon(pair):
    truth, pred = pair
    # scipy returns the distance (square root of the divergence), natural log by default.
    expected = [jensenshannon(truth[:, j], pred[:, j]) ** 2 for j in range(truth.shape[1])]
    np.testing.assert_allclose(jensen_shannon(truth, pred), expected, rtol=1e-8)
    # Disjoint supports: the maximum, ln 2.
    np.testing.assert_allclose(jensen_shannon([1.0, 0.0], [0.0, 5.0]), [np.log(2)])


def test_ssim_hand_computed():
    truth = np.array([0.0, 1.0, 2.0, 4.0])
    pred = np.array([1.0, 1.0, 2.0, 2.0])
    a, b = truth / 4.0, pred / 2.0
    mu1, mu2 = a.mean(), b.mean()
    s1, s2 = a.std(), b.std()
    s12 = ((a - mu1) * (b - mu2)).mean()
    c1, c2 = 0.01**2, 0.03**2
    expected = (
        (2 * mu1 * mu2 + c1) / (mu1**2 + mu2**2 + c1)
        * (2 * s1 * s2 + c2) / (s1**2 + s2**2 + c2)
        * (s12 + c2 / 2) / (s1 * s2 + c2 / 2)
    )
    np.testing.assert_allclose(ssim(truth, pred), [expected], rtol=1e-12)
    # Scale invariance: SSIM divides each vector by its maximum.
    np.testing.assert_allclose(ssim(truth, 10 * pred), [expected], rtol=1e-12)


def test_constant_and_empty_columns_give_nan_not_errors():
    truth = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    pred = np.array([[5.0, 1.0], [5.0, 2.0], [5.0, 3.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning leaks out either
        table = gene_metrics(truth, pred, genes=["const_pred", "zero_truth"])
    assert np.isnan(table.loc["const_pred", "pcc"])
    assert np.isnan(table.loc["const_pred", "spearman"])
    assert np.isnan(table.loc["const_pred", "rmse_z"])
    assert np.isfinite(table.loc["const_pred", "ssim"])
    assert np.isnan(table.loc["zero_truth", "ssim"])
    assert np.isnan(table.loc["zero_truth", "js"])


def test_inputs_sparse_and_1d_and_shape_errors(pair):
    truth, pred = pair
    dense = gene_metrics(truth, pred)
    sparse = gene_metrics(sp.csr_matrix(truth), pred)
    pd.testing.assert_frame_equal(dense, sparse)
    np.testing.assert_allclose(pearson(truth[:, 0], pred[:, 0]), dense["pcc"].iloc[:1])
    with pytest.raises(ValueError, match="same shape"):
        pearson(truth, pred[:, :2])
    with pytest.raises(ValueError, match="genes has"):
        gene_metrics(truth, pred, genes=["a"])


def test_accuracy_score_ranks_like_li_et_al():
    table = pd.DataFrame(
        {"pcc": [0.5, 0.3, 0.4], "ssim": [0.4, 0.5, 0.1], "rmse_z": [0.9, 1.1, 1.0], "js": [0.2, 0.3, np.nan]},
        index=["a", "b", "c"],
    )
    scores = accuracy_score(table)
    # Best gets N/N, worst 1/N; RMSE and JS lower-is-better; NaN ranks last.
    expected = {
        "a": np.mean([3, 2, 3, 3]) / 3,
        "b": np.mean([1, 3, 1, 2]) / 3,
        "c": np.mean([2, 1, 2, 1]) / 3,
    }
    for method, value in expected.items():
        assert scores.loc[method, "AS"] == pytest.approx(value)
    assert scores.loc["c", "js"] == pytest.approx(1 / 3)
    assert list(scores.index) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="missing"):
        accuracy_score(table[["pcc"]], metrics=["pcc", "ssim"])


def test_accuracy_score_ties_share_average_rank():
    table = pd.DataFrame({"pcc": [0.5, 0.5], "ssim": [0.2, 0.1], "rmse_z": [1.0, 1.0], "js": [0.1, 0.1]}, index=["x", "y"])
    scores = accuracy_score(table)
    assert scores.loc["x", "pcc"] == pytest.approx(0.75)
    assert scores.loc["x", "AS"] > scores.loc["y", "AS"]
