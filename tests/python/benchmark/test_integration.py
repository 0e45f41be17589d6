"""Mixing and label purity on embeddings whose answer is known."""
from __future__ import annotations

import numpy as np
import pytest
from stcross.benchmark.integration import label_purity, mixing_per_cell, modality_mixing


def _clusters(rng, n, centres, spread=0.05):
    labels = rng.integers(0, len(centres), n)
    return centres[labels] + spread * rng.normal(size=(n, centres.shape[1])), labels


def test_mixed_modalities_score_near_one_and_separated_ones_zero():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 8))
    a, _ = _clusters(rng, 300, centres)
    b, _ = _clusters(rng, 100, centres)
    sc, st = modality_mixing(a, b, k=20)
    assert 0.8 < sc < 1.2 and 0.8 < st < 1.2
    apart_sc, apart_st = modality_mixing(a, b + 100.0 * np.eye(8)[0], k=20)
    assert apart_sc == 0.0 and apart_st == 0.0


def test_the_expected_share_follows_the_other_modalitys_size():
    # One SC cell among many ST cells, all identical in direction but distinct: every neighbour is
    # from the other modality for the SC cell (share 1, expected 40/41), so its score is 41/40.
    rng = np.random.default_rng(1)
    st = np.ones((40, 3)) + 1e-3 * rng.normal(size=(40, 3))
    sc_score, _ = modality_mixing(np.ones((1, 3)), st, k=5)
    assert sc_score == pytest.approx(41 / 40)


def test_label_purity_is_one_for_separated_types_and_chance_for_random_labels():
    rng = np.random.default_rng(2)
    centres = 10 * np.eye(5)
    x, labels = _clusters(rng, 500, centres)
    assert label_purity(x, labels, k=10) == 1.0
    shuffled = rng.permutation(labels)
    assert abs(label_purity(x, shuffled, k=10) - 0.2) < 0.05
    with pytest.raises(ValueError, match="labels has 3 entries"):
        label_purity(x, labels[:3])
    with pytest.raises(ValueError, match="k must lie between"):
        label_purity(x[:5], labels[:5], k=5)


def test_per_cell_mixing_averages_to_the_modality_scores():
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(3, 6))
    a, _ = _clusters(rng, 120, centres)
    b, _ = _clusters(rng, 80, centres)
    b[:20] += 50.0  # 20 ST cells far from everything: their own island
    per_sc, per_st = mixing_per_cell(a, b, k=10)
    assert per_sc.shape == (120,) and per_st.shape == (80,)
    assert (per_sc.mean(), per_st.mean()) == pytest.approx(modality_mixing(a, b, k=10))
    assert np.all(per_st[:20] == 0.0) and per_st[20:].mean() > 0.7
