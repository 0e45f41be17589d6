"""Bundled example data: shapes, keys, fresh copies, provenance and reproducibility."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from stcross import datasets

REPO = Path(__file__).resolve().parents[3]
SHARED_DATA = REPO.parent / "shared" / "data"


def _dense(x):
    return x.toarray() if sp.issparse(x) else np.asarray(x)


@pytest.fixture(scope="module")
def osmfish():
    return datasets.osmfish()


@pytest.fixture(scope="module")
def bdtnp():
    return datasets.bdtnp()


def test_osmfish_shapes_and_keys(osmfish):
    sc, st = osmfish
    assert sc.shape == (1000, 33)
    assert st.shape == (2000, 33)
    assert list(sc.var_names) == list(st.var_names)
    assert st.obsm["spatial"].shape == (2000, 2)
    assert {"ClusterName", "Region"} <= set(st.obs.columns)
    # Only QC-passed cells were kept, and every cell type survived the stratified sample.
    assert "Excluded" not in set(st.obs["ClusterName"])
    assert st.obs["ClusterName"].nunique() == 31
    for adata in (sc, st):
        x = _dense(adata.X)
        assert np.all(x >= 0)
        assert np.array_equal(x, np.round(x)), "raw counts expected"
        assert adata.obs_names.is_unique and adata.var_names.is_unique


def test_bdtnp_shapes_and_keys(bdtnp):
    sc, st = bdtnp
    assert sc.shape == (1297, 1000)
    assert st.shape == (3039, 84)
    assert st.obsm["spatial"].shape == (3039, 3)
    assert set(st.var_names) <= set(sc.var_names)
    assert int(sc.var["in_st_panel"].sum()) == 84
    assert set(sc.var_names[sc.var["in_st_panel"].to_numpy()]) == set(st.var_names)
    assert int(sc.var["highly_variable_novosparc"].sum()) == 476
    # Non-count data: log-normalised SC and continuous in-situ intensities.
    assert not np.array_equal(_dense(st.X), np.round(_dense(st.X)))
    assert float(_dense(st.X).max()) < 3


def test_loaders_return_fresh_copies():
    sc1, st1 = datasets.osmfish()
    st1.obs["ClusterName"] = "changed"
    st1.obsm["spatial"][:] = 0
    sc1.X = sc1.X * 0
    sc2, st2 = datasets.osmfish()
    assert sc2 is not sc1 and st2 is not st1
    assert "changed" not in set(st2.obs["ClusterName"])
    assert np.abs(st2.obsm["spatial"]).sum() > 0
    assert _dense(sc2.X).sum() > 0


def test_path_and_provenance():
    for name in datasets.DATASETS:
        for modality in ("sc", "st"):
            assert datasets.path(name, modality).is_file()
    with pytest.raises(ValueError, match="Unknown dataset"):
        datasets.path("merfish", "st")
    with pytest.raises(ValueError, match="modality"):
        datasets.path("osmfish", "rna")
    source = (Path(datasets.__file__).parent / "SOURCE.md").read_text()
    for fact in ("inst/scripts/make_example_data.py", "Codeluppi", "Karaiskos", "Fowlkes", "novosparc 0.4.4"):
        assert fact in source
    _, st = datasets.bdtnp()
    assert st.uns["stcross_example"]["derived_by"] == "inst/scripts/make_example_data.py"


def test_bundled_files_stay_small():
    total = sum(datasets.path(n, m).stat().st_size for n in datasets.DATASETS for m in ("sc", "st"))
    assert total < 3 * 1024**2


@pytest.mark.skipif(not (SHARED_DATA / "osmfish_ssctx" / "st.h5ad").is_file(), reason="shared source data absent")
def test_script_reproduces_bundled_osmfish(tmp_path, osmfish):
    script_path = REPO / "inst" / "scripts" / "make_example_data.py"
    spec = importlib.util.spec_from_file_location("make_example_data", script_path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.make_osmfish(SHARED_DATA, tmp_path)
    import anndata as ad

    rebuilt = ad.read_h5ad(tmp_path / "osmfish_st.h5ad")
    _, st = osmfish
    assert list(rebuilt.obs_names) == list(st.obs_names)
    assert np.array_equal(_dense(rebuilt.X), _dense(st.X))
    assert np.array_equal(rebuilt.obsm["spatial"], st.obsm["spatial"])
