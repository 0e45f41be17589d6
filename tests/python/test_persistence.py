"""Save and load: identical results after a round trip, genes matched by name, damaged files named."""
from __future__ import annotations

import json
import logging
import pickle
import shutil

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import stcross
import torch
from conftest import make_pair
from stcross.errors import InputError

LAYERS = ("mean", "sd", "p_zero", "lower", "upper")
GENES = ["Gene30", "Gene3", "Gene17"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    sc, st, _ = make_pair(n_sc=80, n_st=70, seed=2)
    model = stcross.CrossModalModel(sc, st).train(max_epochs=2, seed=1, progress_bar=False)
    path = model.save(tmp_path_factory.mktemp("persistence") / "model")
    return model, path, sc, st


def _assert_same_imputation(a, b, **kwargs):
    first, second = a.impute(genes=GENES, **kwargs), b.impute(genes=GENES, **kwargs)
    for layer in LAYERS:
        np.testing.assert_array_equal(first.layers[layer], second.layers[layer], err_msg=layer)


def test_round_trip_gives_identical_results(saved):
    model, path, sc, st = saved
    loaded = stcross.CrossModalModel.load(path, sc, st, device="cpu")
    assert loaded.is_trained
    _assert_same_imputation(model, loaded)
    _assert_same_imputation(model, loaded, n_samples=4, seed=3, interval=0.5)
    np.testing.assert_array_equal(model.latent("st"), loaded.latent("st"))
    pd.testing.assert_frame_equal(model.locate(), loaded.locate())
    pd.testing.assert_frame_equal(model.history, loaded.history)
    assert loaded.train_config == model.train_config and loaded.config == model.config


def test_round_trip_of_a_loaded_model(saved, tmp_path):
    model, path, sc, st = saved
    again = stcross.CrossModalModel.load(path, sc, st).save(tmp_path / "again")
    _assert_same_imputation(model, stcross.CrossModalModel.load(again, sc, st))
    assert json.loads((again / "config.json").read_text()) == json.loads((path / "config.json").read_text())


def test_genes_are_matched_by_name_not_column_order(saved):
    model, path, sc, st = saved
    sc_shuffled = sc[:, np.random.default_rng(0).permutation(sc.n_vars)].copy()
    st_reversed = st[:, st.var_names[::-1]].copy()
    order_sc, order_st = list(sc_shuffled.var_names), list(st_reversed.var_names)
    loaded = stcross.CrossModalModel.load(path, sc_shuffled, st_reversed)
    _assert_same_imputation(model, loaded)
    assert list(sc_shuffled.var_names) == order_sc and list(st_reversed.var_names) == order_st  # inputs untouched


@pytest.mark.parametrize("role", ["sc", "st"])
def test_a_gene_the_saved_model_needs_is_named(saved, role):
    model, path, sc, st = saved
    data = {"sc": sc, "st": st}
    absent = data[role].var_names[-1]
    data[role] = data[role][:, data[role].var_names[:-1]].copy()
    what = "SC genes" if role == "sc" else r"shared \(ST panel\) genes"
    pattern = rf"different {what} than adata_{role} has.*lacks 1 of them, e\.g\. \['{absent}'\]"
    with pytest.raises(InputError, match=pattern) as err:
        stcross.CrossModalModel.load(path, data["sc"], data["st"])
    assert "requested genes" not in str(err.value)


def test_st_genes_the_model_was_not_trained_on_are_ignored_and_logged(saved, caplog):
    model, path, sc, st = saved
    extra = np.asarray(sc[: st.n_obs, ["Gene20"]].X)
    st_more = ad.AnnData(
        np.hstack([np.asarray(st.X), extra]), obs=st.obs.copy(), var=pd.DataFrame(index=[*st.var_names, "Gene20"]),
        obsm={"spatial": st.obsm["spatial"].copy()},
    )
    with caplog.at_level(logging.WARNING, logger="stcross"):
        loaded = stcross.CrossModalModel.load(path, sc, st_more)
    assert "1 genes of adata_st are not among the 16 panel genes" in caplog.text
    _assert_same_imputation(model, loaded)


def test_save_onto_a_file_is_a_clear_error(saved, tmp_path):
    model, *_ = saved
    file = tmp_path / "model"
    file.write_text("not a model")
    for overwrite in (False, True):
        with pytest.raises(FileExistsError, match="is a file, but a model is saved as a directory"):
            model.save(file, overwrite=overwrite)
    assert file.read_text() == "not a model"


# -- damaged model directories ----------------------------------------------------------------


def _truncate(path):
    data = (path / "model.pt").read_bytes()
    (path / "model.pt").write_bytes(data[: len(data) // 2])


def _foreign_pickle(path):
    (path / "model.pt").write_bytes(pickle.dumps({"weights": object}, protocol=2))


def _pickled_module(path):
    torch.save(torch.nn.Linear(2, 2), path / "model.pt")


def _weights(edit):
    def apply(path):
        state = torch.load(path / "model.pt", weights_only=True)
        torch.save(edit(state), path / "model.pt")

    return apply


def _config(edit):
    def apply(path):
        config = json.loads((path / "config.json").read_text())
        edit(config)
        (path / "config.json").write_text(json.dumps(config))

    return apply


DAMAGE = {
    "truncated weights": ("model.pt", _truncate),
    "foreign pickle": ("model.pt", _foreign_pickle),
    "pickled module": ("model.pt", _pickled_module),
    "not a dict": ("model.pt", _weights(lambda s: list(s.values()))),
    "extra weight": ("model.pt", _weights(lambda s: {**s, "extra.weight": torch.zeros(1)})),
    "missing weight": ("model.pt", _weights(lambda s: dict(list(s.items())[1:]))),
    "invalid json": ("config.json", lambda p: (p / "config.json").write_text('{"format_version": 2, "model')),
    "binary config": ("config.json", lambda p: (p / "config.json").write_bytes(b"\x80\x81\xfe")),
    "json list": ("config.json", lambda p: (p / "config.json").write_text("[1, 2]")),
    "missing key": ("config.json", _config(lambda c: c.pop("decoder_genes"))),
    "extra key": ("config.json", _config(lambda c: c.update(note="edited"))),
    "model_config extra key": ("config.json", _config(lambda c: c["model_config"].update(width=3))),
    "train_config missing key": ("config.json", _config(lambda c: c["train_config"].pop("seed"))),
    "invalid setting": ("config.json", _config(lambda c: c["model_config"].update(n_hidden="wide"))),
    "invalid likelihood": ("config.json", _config(lambda c: c.update(likelihood_st="lognormal"))),
    "invalid history": ("config.json", _config(lambda c: c.update(history=[1, 2]))),
    "edited architecture": ("model.pt", _config(lambda c: c["model_config"].update(n_hidden=64))),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_model_directory_names_the_file_and_the_fix(saved, tmp_path, damage):
    _, path, sc, st = saved
    blamed, edit = DAMAGE[damage]
    copy = shutil.copytree(path, tmp_path / "model")
    edit(copy)
    with pytest.raises(InputError) as err:
        stcross.CrossModalModel.load(copy, sc, st)
    text = str(err.value)
    assert str(copy / blamed) in text
    assert "damaged or was not written by stcross" in text and "train a new one" in text
    assert "weights_only" not in text
    assert err.value.__suppress_context__ or err.value.__context__ is None  # torch's advice is not chained


def test_an_older_format_is_refused_before_anything_else(saved, tmp_path):
    _, path, sc, st = saved
    copy = shutil.copytree(path, tmp_path / "model")
    _config(lambda c: c.update(format_version=1, history=None))(copy)
    with pytest.raises(ValueError, match="saved in format 1.*Train the model again"):
        stcross.CrossModalModel.load(copy, sc, st)


def test_loading_onto_other_cells_says_what_it_means(saved, caplog):
    model, path, sc, st = saved
    with caplog.at_level(logging.WARNING, logger="stcross"):
        stcross.CrossModalModel.load(path, sc, st, device="cpu")
    assert "other cells" not in caplog.text  # its own cells: nothing to say
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="stcross"):
        other = stcross.CrossModalModel.load(path, sc, st[: st.n_obs // 2].copy(), device="cpu")
    assert "loaded onto other cells" in caplog.text
    assert f"ST: {st.n_obs} cells at training, {st.n_obs // 2} here" in caplog.text
    assert "SC:" not in caplog.text
    assert other.impute(genes=GENES).n_obs == st.n_obs // 2


def test_saves_without_cell_fingerprints_still_load(saved, tmp_path):
    model, path, sc, st = saved
    copy = tmp_path / "older"
    shutil.copytree(path, copy)
    config = json.loads((copy / "config.json").read_text())
    del config["cells"]
    (copy / "config.json").write_text(json.dumps(config))
    _assert_same_imputation(model, stcross.CrossModalModel.load(copy, sc, st, device="cpu"))
