"""The gene plan and every bad input of DESIGN.md: a clear error or a logged decision."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import stcross
from stcross.data.genes import plan_genes
from stcross.errors import InputError


def build(sc, st, **kwargs):
    return stcross.CrossModalModel(sc, st, **kwargs)


def test_gene_plan_shared_in_st_order_and_imputable_all_sc(pair):
    sc, st = pair
    model = build(sc, st)
    assert model.shared_genes == list(st.var_names)
    assert model.imputable_genes == list(sc.var_names)


def test_gene_plan_subset_keeps_shared_in_decoder():
    plan = plan_genes(pd.Index(["A", "B", "C", "D", "E"]), pd.Index(["C", "A", "E"]), genes=["D"])
    assert plan.shared == ["C", "A", "E"]
    assert plan.imputable == ["D"]
    assert plan.decoder == ["A", "C", "D", "E"]


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


def test_all_zero_cells_under_a_gaussian_likelihood_are_not_called_counts(pair, caplog):
    sc, st = pair
    st = st.copy()
    st.X = np.log1p(st.X)
    st.X[0, :] = 0
    with caplog.at_level(logging.WARNING, logger="stcross"):
        build(sc, st, likelihood_st="gaussian")
    assert "1 ST cells have only zeros on the shared genes" in caplog.text
    assert "count" not in caplog.text


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


# -- issue 9: bad inputs that used to fail obscurely or pass silently ------------------------


@pytest.mark.parametrize("n_shared", [1, 2])
def test_too_few_shared_genes_is_refused_with_the_reason(pair, n_shared):
    sc, st = pair
    with pytest.raises(InputError, match=f"Only {n_shared} shared gene.*at least 3.*correlat"):
        build(sc, st[:, :n_shared].copy())
    assert plan_genes(sc.var_names, st.var_names[:3]).shared == list(st.var_names[:3])


def test_too_few_shared_genes_points_to_case_insensitive_matching(pair):
    sc, st = pair
    st = st[:, :4].copy()
    st.var_names = [*st.var_names[:2], *(g.upper() for g in st.var_names[2:])]
    with pytest.raises(ValueError, match="Only 2 shared genes.*case_insensitive=True"):
        build(sc, st)
    assert len(build(sc, st, case_insensitive=True).shared_genes) == 4


@pytest.mark.parametrize("role", ["sc", "st"])
def test_a_single_cell_is_a_clear_error(pair, role):
    sc, st = pair
    sc, st = (sc[:1].copy(), st) if role == "sc" else (sc, st[:1].copy())
    with pytest.raises(InputError, match=f"adata_{role} has 1 cell; stcross needs at least 2 cells"):
        build(sc, st)


def test_two_st_cells_are_enough_and_a_lone_cell_has_no_spatial_context(pair):
    from stcross.data.features import spatial_average

    sc, st = pair
    build(sc, st[:2].copy())
    assert spatial_average(np.zeros((1, 2)), 8).nnz == 0
    np.testing.assert_array_equal(spatial_average(np.array([[0.0, 0.0], [1.0, 0.0]]), 8).toarray(), [[0, 1], [1, 0]])


def test_non_string_gene_names_are_refused(pair):
    sc, st = pair
    sc = sc.copy()
    sc.var.index = pd.RangeIndex(sc.n_vars)  # adata.var_names = range(n) would be made strings by anndata
    before = sc.var_names.copy()
    with pytest.raises(TypeError, match=r"adata_sc.var_names must be gene names \(strings\).*0 \(int\).*astype\(str\)"):
        build(sc, st)
    pd.testing.assert_index_equal(sc.var_names, before)  # not converted in place


@pytest.mark.parametrize(("seed", "kind"), [(None, TypeError), (1.5, TypeError), (-1, ValueError), (True, TypeError)])
def test_seed_must_be_a_non_negative_integer(pair, seed, kind):
    sc, st = pair
    with pytest.raises(kind, match="seed must be a non-negative integer"):
        build(sc, st).train(seed=seed, max_epochs=1, progress_bar=False)
    assert type(stcross.TrainConfig(seed=np.int64(3)).seed) is int  # kept JSON-friendly


@pytest.mark.parametrize("device", ["bogus", "gpu", "meta"])
def test_unknown_device_lists_the_choices(pair, device):
    sc, st = pair
    with pytest.raises(ValueError, match=r"device='\w+' is not a device stcross can use; choose 'auto', 'cpu' or 'cuda'"):
        build(sc, st).train(device=device, max_epochs=1, progress_bar=False)


def test_near_integer_counts_are_rounded_and_logged(pair, caplog):
    sc, st = pair
    st = st.copy()
    noisy = np.asarray(st.X, dtype=np.float64)
    noisy[:3, 0] = [1.0004, 2.9996, 5.0]
    st.X = noisy
    with caplog.at_level(logging.INFO, logger="stcross"):
        model = build(sc, st)
    assert "adata_st.X: rounded 2 values within 1e-3 of an integer" in caplog.text
    np.testing.assert_array_equal(model.data[1].targets.matrix.toarray()[:3, 0], [1, 3, 5])
    assert st.X[0, 0] == 1.0004  # the user's matrix keeps its values
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="stcross"):
        build(*pair)
    assert "rounded" not in caplog.text


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_backed_sparse_anndata_is_read_into_memory(pair, tmp_path, fmt, monkeypatch):
    import anndata as ad
    import stcross.data.validation

    monkeypatch.setattr(stcross.data.validation, "_BACKED_CHUNK", 7)  # several chunks, a ragged last one
    sc, st = pair
    on_disk = sc.copy()
    on_disk.X = sp.csr_matrix(sc.X) if fmt == "csr" else sp.csc_matrix(sc.X)
    on_disk.write_h5ad(tmp_path / "sc.h5ad")
    backed = ad.read_h5ad(tmp_path / "sc.h5ad", backed="r")
    try:
        model = build(backed, st)
        assert backed.isbacked
        np.testing.assert_array_equal(model.data[0].targets.matrix.toarray(), np.asarray(sc.X))
    finally:
        backed.file.close()


def test_backed_dense_anndata_is_read_in_row_blocks(pair, tmp_path, monkeypatch):
    import anndata as ad
    import h5py

    import stcross.data.validation

    monkeypatch.setattr(stcross.data.validation, "_BACKED_DENSE_VALUES", 7 * pair[1].n_vars)  # 7 rows a block
    sc, st = pair
    st.write_h5ad(tmp_path / "st.h5ad")
    backed = ad.read_h5ad(tmp_path / "st.h5ad", backed="r")
    read = []
    original = h5py.Dataset.__getitem__

    def spy(self, key):
        read.append(key)
        return original(self, key)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    try:
        assert isinstance(backed.X, h5py.Dataset)
        model = build(sc, backed)
        np.testing.assert_array_equal(model.data[1].targets.matrix.toarray(), np.asarray(st.X))
        np.testing.assert_array_equal(model.coordinates, st.obsm["spatial"])
    finally:
        monkeypatch.undo()
        backed.file.close()
    blocks = [k for k in read if isinstance(k, slice)]
    assert len(blocks) == -(-st.n_obs // 7) and all(k.stop - k.start <= 7 for k in blocks)


def test_check_non_negative_int_names_the_argument():
    from stcross.data.validation import check_non_negative_int

    assert check_non_negative_int(np.int32(4), "n", "hint") == 4
    with pytest.raises(ValueError, match="n_samples must be a non-negative integer, got -3; use 0"):
        check_non_negative_int(-3, "n_samples", "use 0")


def test_input_errors_keep_the_builtin_types_callers_catch(pair):
    from stcross.errors import InputKeyError

    sc, st = pair
    with pytest.raises(KeyError) as err:
        build(sc, st, layer_sc="counts")
    assert isinstance(err.value, InputError) and isinstance(err.value, InputKeyError)
    assert str(err.value).startswith("adata_sc has no layer")  # no KeyError quotes around the message
    with pytest.raises(TypeError) as err:
        build(sc.X, st)
    assert isinstance(err.value, InputError)
