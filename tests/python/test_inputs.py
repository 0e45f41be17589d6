"""The gene plan and every bad input of DESIGN.md: a clear error or a logged decision."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import stcross
from stcross.inputs import plan_genes


def build(sc, st, **kwargs):
    return stcross.CrossModalModel(sc, st, **kwargs)


def test_gene_plan_shared_in_st_order_and_imputable_all_sc(pair):
    sc, st = pair
    model = build(sc, st)
    assert model.shared_genes == list(st.var_names)
    assert model.imputable_genes == list(sc.var_names)


def test_gene_plan_subset_keeps_shared_in_decoder():
    plan = plan_genes(pd.Index(["A", "B", "C", "D"]), pd.Index(["C", "A"]), genes=["D"])
    assert plan.shared == ["C", "A"]
    assert plan.imputable == ["D"]
    assert plan.decoder == ["A", "C", "D"]


def test_no_shared_genes(pair):
    sc, st = pair
    st = st.copy()
    st.var_names = [f"Other{i}" for i in range(st.n_vars)]
    with pytest.raises(ValueError, match="No shared genes"):
        build(sc, st)


def test_case_mismatch_is_reported_and_optional(pair, caplog):
    sc, st = pair
    st = st.copy()
    st.var_names = [g.upper() for g in st.var_names]
    with pytest.raises(ValueError, match="case_insensitive=True"):
        build(sc, st)
    with caplog.at_level(logging.INFO, logger="stcross"):
        model = build(sc, st, case_insensitive=True)
    assert model.shared_genes == [g for g in sc.var_names if g.upper() in set(st.var_names)]
    assert "ignoring case" in caplog.text


def test_st_genes_absent_from_sc_are_dropped_with_a_warning(pair, caplog):
    sc, st = pair
    st = st.copy()
    names = list(st.var_names)
    names[0] = "NotInSC"
    st.var_names = names
    with caplog.at_level(logging.WARNING, logger="stcross"):
        model = build(sc, st)
    assert "NotInSC" not in model.shared_genes
    assert "not in the SC data" in caplog.text


@pytest.mark.parametrize("axis", ["obs", "var"])
def test_duplicated_names(pair, axis):
    sc, st = pair
    sc = sc.copy()
    names = list(getattr(sc, f"{axis}_names"))
    names[1] = names[0]
    setattr(sc, f"{axis}_names", names)
    with pytest.raises(ValueError, match="duplicated"):
        build(sc, st)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf(pair, bad):
    sc, st = pair
    st = st.copy()
    st.X[0, 0] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        build(sc, st)


def test_negative_values_with_count_likelihood(pair):
    sc, st = pair
    sc = sc.copy()
    sc.X[0, 0] = -1
    with pytest.raises(ValueError, match="negative"):
        build(sc, st)


def test_non_integer_data_with_count_likelihood(pair):
    sc, st = pair
    st = st.copy()
    st.X = np.log1p(st.X)
    with pytest.raises(ValueError, match="non-integer.*gaussian"):
        build(sc, st)
    build(sc, st, likelihood_st="gaussian")  # the explicit choice is accepted


def test_all_zero_cells_and_genes_are_logged_and_kept(pair, caplog):
    sc, st = pair
    st = st.copy()
    st.X[0, :] = 0
    st.X[:, 1] = 0
    with caplog.at_level(logging.WARNING, logger="stcross"):
        model = build(sc, st)
    assert "1 ST cells have no counts" in caplog.text
    assert "zero in every cell" in caplog.text
    assert model.data[1].n_cells == st.n_obs


def test_empty_objects(pair):
    sc, st = pair
    with pytest.raises(ValueError, match="empty"):
        build(sc[:0].copy(), st)
    with pytest.raises(ValueError, match="empty"):
        build(sc, st[:, :0].copy())


def test_not_anndata(pair):
    sc, st = pair
    with pytest.raises(TypeError, match="AnnData"):
        build(sc.X, st)


def test_missing_coordinates(pair):
    sc, st = pair
    st = st.copy()
    del st.obsm["spatial"]
    with pytest.raises(ValueError, match="no 'spatial' coordinates"):
        build(sc, st)


def test_non_numeric_coordinates(pair):
    sc, st = pair
    st = st.copy()
    st.obsm["spatial"] = np.array([["a", "b"]] * st.n_obs, dtype=object)
    with pytest.raises(TypeError, match="numeric"):
        build(sc, st)


@pytest.mark.parametrize("shape_fix", ["one_column", "four_columns"])
def test_coordinates_of_wrong_shape(pair, shape_fix):
    sc, st = pair
    st = st.copy()
    width = 1 if shape_fix == "one_column" else 4
    st.obsm["spatial"] = np.zeros((st.n_obs, width))
    with pytest.raises(ValueError, match="expected"):
        build(sc, st)


def test_coordinates_with_nan(pair):
    sc, st = pair
    st = st.copy()
    coords = np.array(st.obsm["spatial"])
    coords[3, 0] = np.nan
    st.obsm["spatial"] = coords
    with pytest.raises(ValueError, match="NaN"):
        build(sc, st)


def test_three_dimensional_coordinates_accepted(pair):
    sc, st = pair
    st = st.copy()
    st.obsm["spatial"] = np.column_stack([st.obsm["spatial"], np.arange(st.n_obs)])
    assert build(sc, st).coordinates.shape == (st.n_obs, 3)


def test_missing_layer(pair):
    sc, st = pair
    with pytest.raises(KeyError, match="no layer 'counts'"):
        build(sc, st, layer_sc="counts")


def test_requested_gene_not_in_sc(pair):
    sc, st = pair
    with pytest.raises(ValueError, match="not in the SC data"):
        build(sc, st, genes=["Gene1", "Nope"])


def test_missing_genes_from_a_numpy_array_are_named_plainly(pair):
    # NumPy 2 prints array elements as np.str_('Nope'); a user should read Nope.
    sc, st = pair
    with pytest.raises(ValueError, match=r"e\.g\. \['Nope'\]"):
        build(sc, st, genes=np.array(["Gene1", "Nope"]))


def test_unknown_likelihood(pair):
    sc, st = pair
    with pytest.raises(ValueError, match="not supported"):
        build(sc, st, likelihood_sc="tweedie")


def test_batch_of_size_one(pair):
    sc, st = pair
    with pytest.raises(ValueError, match="batch_size must be at least 2"):
        build(sc, st).train(batch_size=1, progress_bar=False)


def test_gpu_requested_but_absent(pair, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    sc, st = pair
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        build(sc, st).train(device="cuda", max_epochs=1, progress_bar=False)


def test_untrained_model_refuses_results(pair):
    sc, st = pair
    with pytest.raises(RuntimeError, match="not trained"):
        build(sc, st).impute()


@pytest.mark.parametrize("kind", ["csr", "csc", "int", "float64"])
def test_matrix_types_accepted(pair, kind):
    sc, st = pair
    sc = sc.copy()
    convert = {
        "csr": sp.csr_matrix,
        "csc": sp.csc_matrix,
        "int": lambda x: np.asarray(x).astype(np.int64),
        "float64": lambda x: np.asarray(x).astype(np.float64),
    }[kind]
    sc.X = convert(sc.X)
    model = build(sc, st)
    np.testing.assert_array_equal(model.data[0].targets.matrix.toarray(), np.asarray(pair[0].X))


def test_inputs_are_not_modified(pair):
    sc, st = pair
    sc_before, st_before = sc.copy(), st.copy()
    model = build(sc, st)
    model.train(max_epochs=2, progress_bar=False)
    model.impute(genes=["Gene30"])
    model.locate(method="knn")
    for now, before in ((sc, sc_before), (st, st_before)):
        np.testing.assert_array_equal(np.asarray(now.X), np.asarray(before.X))
        pd.testing.assert_frame_equal(now.obs, before.obs)
        pd.testing.assert_frame_equal(now.var, before.var)
        assert list(now.obsm.keys()) == list(before.obsm.keys())
        assert list(now.layers.keys()) == list(before.layers.keys())
        assert set(now.uns.keys()) == set(before.uns.keys())
    np.testing.assert_array_equal(st.obsm["spatial"], st_before.obsm["spatial"])
