"""The joint embedding: centring, partner midpoints, mixing on an offset pair, and bad input."""
from __future__ import annotations

import numpy as np
import pytest
from stcross.benchmark.integration import label_purity, modality_mixing
from stcross.joint_embedding import joint_embedding


def _offset_pair(seed: int = 0, n_types: int = 4, n_sc: int = 150, n_st: int = 300, dims: int = 8):
    """Two modalities with the same types, the ST copy shifted far away; partners of the same type."""
    rng = np.random.default_rng(seed)
    centres = 3.0 * rng.normal(size=(n_types, dims))
    t_sc, t_st = rng.integers(0, n_types, n_sc), rng.integers(0, n_types, n_st)
    z_sc = centres[t_sc] + 0.3 * rng.normal(size=(n_sc, dims))
    z_st = centres[t_st] + 0.3 * rng.normal(size=(n_st, dims)) + 20.0
    sc_to_st = np.stack([rng.choice(np.flatnonzero(t_st == t), 6) for t in t_sc])
    st_to_sc = np.stack([rng.choice(np.flatnonzero(t_sc == t), 6) for t in t_st])
    return z_sc, z_st, sc_to_st, st_to_sc, t_sc, t_st


def test_is_the_midpoint_of_the_centred_latent_and_its_partners_mean():
    z_sc, z_st, sc_to_st, st_to_sc, *_ = _offset_pair()
    e_sc, e_st = joint_embedding(z_sc, z_st, sc_to_st, st_to_sc, n_partners=3)
    c_sc, c_st = z_sc - z_sc.mean(0), z_st - z_st.mean(0)
    np.testing.assert_allclose(e_sc[7], 0.5 * (c_sc[7] + c_st[sc_to_st[7, :3]].mean(0)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(e_st[11], 0.5 * (c_st[11] + c_sc[st_to_sc[11, :3]].mean(0)), rtol=1e-5, atol=1e-5)


def test_mixes_an_offset_pair_and_keeps_types_apart():
    z_sc, z_st, sc_to_st, st_to_sc, t_sc, t_st = _offset_pair()
    before = modality_mixing(z_sc, z_st, k=20)
    assert max(before) < 0.05
    e_sc, e_st = joint_embedding(z_sc, z_st, sc_to_st, st_to_sc)
    mixed_sc, mixed_st = modality_mixing(e_sc, e_st, k=20)
    assert mixed_sc > 0.8 and mixed_st > 0.8
    assert label_purity(e_st, t_st, k=20) > 0.95
    assert label_purity(np.vstack([e_sc, e_st]), np.r_[t_sc, t_st], k=20) > 0.95


def test_inputs_are_not_modified_and_bad_input_is_refused():
    z_sc, z_st, sc_to_st, st_to_sc, *_ = _offset_pair()
    copies = [a.copy() for a in (z_sc, z_st, sc_to_st, st_to_sc)]
    joint_embedding(z_sc, z_st, sc_to_st, st_to_sc)
    for original, copy in zip((z_sc, z_st, sc_to_st, st_to_sc), copies):
        np.testing.assert_array_equal(original, copy)
    with pytest.raises(ValueError, match="holds 6 partners per cell"):
        joint_embedding(z_sc, z_st, sc_to_st, st_to_sc, n_partners=7)
    with pytest.raises(ValueError, match="positive integer"):
        joint_embedding(z_sc, z_st, sc_to_st, st_to_sc, n_partners=0)
    # The default takes 5 partners, or all of a narrower graph's.
    narrow = joint_embedding(z_sc, z_st, sc_to_st[:, :2], st_to_sc[:, :2])
    np.testing.assert_array_equal(narrow[0], joint_embedding(z_sc, z_st, sc_to_st, st_to_sc, n_partners=2)[0])
    with pytest.raises(ValueError, match="do not match the partner graph"):
        joint_embedding(z_sc[:-1], z_st, sc_to_st, st_to_sc)
