"""Seurat .rds files through rpy2: read what R saved, write results R reads back, the CLI on .rds.

Needs rpy2 and an R with SeuratObject; skipped without them unless STCROSS_REQUIRE_R=true
(CI), which turns the skip into a failure.
"""
from __future__ import annotations

import hashlib
import os

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import scipy.sparse as sp
from stcross import CrossModalModel, cli, datasets
from stcross.errors import InputError, InputFileExistsError, InputFileNotFoundError

HIDDEN = ["Gad2", "Plp1"]


@pytest.fixture(scope="module")
def r():
    try:
        from stcross.io.r_session import r_session

        return r_session()
    except (ImportError, RuntimeError) as err:
        if os.environ.get("STCROSS_REQUIRE_R", "").lower() == "true":
            pytest.fail(f"STCROSS_REQUIRE_R=true but R is out of reach: {err}")
        pytest.skip(f"no rpy2 / R with SeuratObject: {err}")


def save_as_seurat(r, adata, path, *, assay="RNA", fov=True, coords=True):
    """Save an AnnData (cells x genes counts) as a Seurat object the way an R user would."""
    csc = sp.csc_matrix(adata.X.T, dtype=np.float64)
    make = r.r(
        """function(i, p, x, genes, cells, assay, xy, type, fov, path) {
          counts <- methods::new("dgCMatrix", i = i, p = p, x = x,
                                 Dim = c(length(genes), length(cells)), Dimnames = list(genes, cells))
          o <- SeuratObject::CreateSeuratObject(counts = counts, assay = assay)
          o$type <- factor(type)
          if (!is.null(xy)) {
            xy <- matrix(xy, ncol = 2)
            o$x <- xy[, 1]
            o$y <- xy[, 2]
            if (fov) {
              centroids <- SeuratObject::CreateCentroids(data.frame(x = o$x, y = o$y, cell = cells))
              o[["fov"]] <- SeuratObject::CreateFOV(centroids, type = "centroids", assay = assay, key = "fov_")
            }
          }
          saveRDS(o, path)
        }"""
    )
    xy = r.doubles(np.asarray(adata.obsm["spatial"]).T) if coords and "spatial" in adata.obsm else r.ro.NULL
    make(r.ints(csc.indices), r.ints(csc.indptr), r.doubles(csc.data), r.strings(adata.var_names),
         r.strings(adata.obs_names), assay, xy, r.strings(_types(adata)), fov, str(path))
    return path


def _types(adata):
    for key in ("ClusterName", "cell_type", "class"):
        if key in adata.obs:
            return adata.obs[key].astype(str)
    return ["cell"] * adata.n_obs


@pytest.fixture(scope="module")
def pair():
    sc, st = datasets.osmfish()
    sc, st = sc[::10].copy(), st[::10].copy()
    st = st[:, [g for g in st.var_names if g not in HIDDEN]].copy()
    return sc, st


@pytest.fixture(scope="module")
def files(r, pair, tmp_path_factory):
    root = tmp_path_factory.mktemp("seurat_files")
    sc, st = pair
    return (save_as_seurat(r, sc, root / "sc.rds", coords=False),
            save_as_seurat(r, st, root / "st.rds", assay="Spatial"))


def test_read_seurat_gives_back_what_r_saved(r, pair, files):
    from stcross.io import read_seurat

    sc, st = pair
    adata = read_seurat(files[1])
    assert sp.isspmatrix_csr(adata.X) or sp.issparse(adata.X)
    assert adata.X.dtype == np.float64
    assert list(adata.obs_names) == list(st.obs_names)
    assert list(adata.var_names) == list(st.var_names)
    np.testing.assert_array_equal(adata.X.toarray(), np.asarray(st.X.todense() if sp.issparse(st.X) else st.X))
    np.testing.assert_allclose(adata.obsm["spatial"], np.asarray(st.obsm["spatial"]))
    assert adata.obs["type"].dtype == "category"
    assert list(adata.obs["type"].astype(str)) == list(_types(st))
    np.testing.assert_array_equal(adata.obs["nCount_Spatial"], np.asarray(adata.X.sum(axis=1)).ravel())
    assert adata.uns["seurat"]["assay"] == "Spatial" and adata.uns["seurat"]["layer"] == "counts"

    sc_read = read_seurat(files[0])  # no FOV, no coordinates asked for: none read
    assert "spatial" not in sc_read.obsm
    assert sc_read.shape == sc.shape


def test_read_seurat_coordinates_from_metadata_columns(r, pair, tmp_path):
    from stcross.io import read_seurat

    _, st = pair
    path = save_as_seurat(r, st, tmp_path / "st_no_fov.rds", fov=False)
    assert "spatial" not in read_seurat(path).obsm
    with pytest.raises(InputError, match="has no FOV or image \"fov\"|has no coordinates"):
        read_seurat(path, fov="fov")
    adata = read_seurat(path, coords=["x", "y"])
    np.testing.assert_allclose(adata.obsm["spatial"], np.asarray(st.obsm["spatial"]))


def test_read_seurat_errors_say_what_is_wrong(r, files, tmp_path):
    from stcross.io import read_seurat

    with pytest.raises(InputError, match='The Seurat object has no assay "SCT"; its assays are: "Spatial"'):
        read_seurat(files[1], assay="SCT")
    with pytest.raises(InputError, match='has no layer "spliced"'):
        read_seurat(files[1], layer="spliced")
    with pytest.raises(InputError, match='no metadata column "height"'):
        read_seurat(files[1], coords=["x", "height"])
    with pytest.raises(InputFileNotFoundError, match="No .rds file"):
        read_seurat(tmp_path / "absent.rds")
    not_seurat = tmp_path / "numbers.rds"
    r.r["saveRDS"](r.ro.IntVector([1, 2, 3]), str(not_seurat))
    with pytest.raises(InputError, match="holds an R integer, not a Seurat object"):
        read_seurat(not_seurat)
    garbage = tmp_path / "garbage.rds"
    garbage.write_text("not an rds file")
    with pytest.raises(InputError, match="Could not read .* with readRDS"):
        read_seurat(garbage)


@pytest.fixture(scope="module")
def trained(files):
    from stcross.io import read_seurat

    sc, st = read_seurat(files[0]), read_seurat(files[1])
    model = CrossModalModel(sc, st)
    model.train(max_epochs=1, seed=0, progress_bar=False)
    return model


def _md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_write_seurat_adds_what_the_r_verbs_add(r, files, trained, tmp_path):
    from stcross.io import write_seurat

    sc_file, st_file = files
    before = _md5(st_file)
    imputed = trained.impute(HIDDEN)
    out = write_seurat(tmp_path / "st_out.rds", st_file, imputed=imputed, model=trained)
    assert _md5(st_file) == before  # the source is left as it is
    obj = r.r["readRDS"](str(out))
    v5 = bool(r.fn(".is_seurat_v5")()[0])
    assays = list(r.r("SeuratObject::Assays")(obj))
    expected = ["imputed"] if v5 else ["imputed", "imputed.sd", "imputed.lower", "imputed.upper", "imputed.pzero"]
    assert assays == ["Spatial", *expected]
    for statistic, layer in (("mean", "mean"), ("sd", "sd"), ("lower", "lower"), ("upper", "upper"),
                             ("p.zero", "p_zero")):
        values = r.call("GetStcrossImputation", obj, statistic)
        got = r.to_numpy(values, np.float64).reshape(len(HIDDEN), -1, order="F")
        assert list(r.r("rownames")(values)) == HIDDEN
        np.testing.assert_allclose(got, np.asarray(imputed.layers[layer]).T, rtol=1e-6, err_msg=statistic)
    embedding = r.r("function(o) SeuratObject::Embeddings(o, 'stcross')")(obj)
    z = r.to_numpy(embedding, np.float64).reshape(trained.st_cells.size, -1, order="F")
    np.testing.assert_allclose(z, trained.joint_embedding("st"), rtol=1e-6)
    modality = r.r("function(o) SeuratObject::Misc(o[['stcross']], slot = 'stcross')$modality")(obj)[0]
    assert modality == "st"
    is_joint = r.r("function(o) SeuratObject::Misc(o[['stcross']], slot = 'stcross')$joint")
    assert bool(is_joint(obj)[0])
    raw = r.r["readRDS"](str(write_seurat(tmp_path / "st_latent.rds", st_file, model=trained, joint=False)))
    z_raw = r.to_numpy(r.r("function(o) SeuratObject::Embeddings(o, 'stcross')")(raw), np.float64)
    np.testing.assert_allclose(z_raw.reshape(trained.st_cells.size, -1, order="F"), trained.latent("st"), rtol=1e-6)
    assert not bool(is_joint(raw)[0])

    located = trained.locate()
    sc_out = write_seurat(tmp_path / "sc_out.rds", sc_file, locations=located)
    obj = r.r["readRDS"](str(sc_out))
    x = r.to_numpy(r.r("function(o) o$stcross_x")(obj), np.float64)
    sd = r.to_numpy(r.r("function(o) o$stcross_location_sd")(obj), np.float64)
    np.testing.assert_allclose(x, located["x"].to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(sd, located["sd"].to_numpy(), rtol=1e-6)
    method = r.r("function(o) SeuratObject::Misc(o[['stcross.location']], slot = 'stcross')$method")(obj)[0]
    assert method == "metric"


def test_write_seurat_refuses_what_it_cannot_write(r, files, trained, tmp_path):
    from stcross.io import write_seurat

    sc_file, st_file = files
    imputed = trained.impute(HIDDEN[:1])
    with pytest.raises(InputError, match="Nothing to write"):
        write_seurat(tmp_path / "a.rds", st_file)
    with pytest.raises(InputError, match="does not end in .rds"):
        write_seurat(tmp_path / "a.h5ad", st_file, imputed=imputed)
    with pytest.raises(InputError, match="imputed lacks .* of the object's"):
        write_seurat(tmp_path / "a.rds", sc_file, imputed=imputed)
    with pytest.raises(InputError, match="neither the SC nor the ST cells"):
        write_seurat(tmp_path / "a.rds", st_file, model=_other(trained))
    existing = tmp_path / "exists.rds"
    existing.write_text("")
    with pytest.raises(InputFileExistsError, match="overwrite=True"):
        write_seurat(existing, st_file, imputed=imputed)
    if not bool(r.fn(".is_seurat_v5")()[0]):
        with pytest.raises(InputError, match="one_assay=True needs SeuratObject 5"):
            write_seurat(tmp_path / "b.rds", st_file, imputed=imputed, one_assay=True)


class _other:
    """A stand-in model whose cells match no object."""

    def __init__(self, model):
        self.sc_cells = model.sc_cells[:3]
        self.st_cells = model.st_cells[:3]


def test_cli_fit_impute_on_rds_files_writes_rds_back(r, files, tmp_path, capsys):
    sc_file, st_file = files
    out = tmp_path / "results"
    code = cli.main([
        "fit-impute", "--sc", str(sc_file), "--st", str(st_file), "--out", str(out), "--genes", ",".join(HIDDEN),
        "--max-epochs", "1", "--device", "cpu", "--n-plot-genes", "1", "--out-rds", "-q",
    ])
    assert code == 0, capsys.readouterr().err
    assert (out / "imputed.h5ad").is_file() and (out / "sc_locations.csv").is_file()
    st = r.r["readRDS"](str(out / "st.rds"))
    assert "imputed" in list(r.r("SeuratObject::Assays")(st))
    sc = r.r["readRDS"](str(out / "sc.rds"))
    assert "stcross_x" in list(r.r("function(o) colnames(o[[]])")(sc))
    report = (out / "report.txt").read_text()
    assert "counts of assay DefaultAssay" in report and "st.rds" in report

    h5ad = tmp_path / "st.h5ad"
    datasets.osmfish()[1][:50].copy().write_h5ad(h5ad)
    code = cli.main(["fit-impute", "--sc", str(sc_file), "--st", str(h5ad), "--out", str(tmp_path / "r2"),
                     "--out-rds"])
    assert code == 2
    assert "--out-rds adds the results to the input Seurat objects" in capsys.readouterr().err
    code = cli.main(["fit-impute", "--sc", str(sc_file), "--st", str(st_file), "--out", str(tmp_path / "r3"),
                     "--assay-st", "Nope"])
    assert code == 2
    assert 'has no assay "Nope"' in capsys.readouterr().err


def test_without_rpy2_the_error_says_what_to_install(monkeypatch):
    import sys

    from stcross.io import r_session as module

    monkeypatch.setitem(sys.modules, "rpy2", None)  # import rpy2 now fails as if not installed
    with pytest.raises(ImportError, match=r"needs rpy2, which is not installed: pip install 'stcross\[r\]'"):
        module.RSession()
