"""Command line: fit-impute writes every promised file, refuses to overwrite, reports user errors as exit 2."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import stcross
from stcross import cli, datasets


def _tiny_pair():
    sc, st = datasets.osmfish()
    # Small but with every cell type represented, so one epoch finishes in seconds.
    return sc[::12].copy(), st[::20].copy()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_inputs")
    sc, st = _tiny_pair()
    sc.write_h5ad(root / "sc.h5ad")
    st.write_h5ad(root / "st.h5ad")
    return root, sc, st


@pytest.fixture(scope="module")
def fitted(inputs, tmp_path_factory):
    root, sc, st = inputs
    out = tmp_path_factory.mktemp("cli_run") / "results"
    code = cli.main([
        "fit-impute", "--sc", str(root / "sc.h5ad"), "--st", str(root / "st.h5ad"), "--out", str(out),
        "--max-epochs", "1", "--device", "cpu", "--n-plot-genes", "2", "-q",
    ])
    return code, out, sc, st


def test_fit_impute_writes_every_promised_file(fitted):
    code, out, sc, st = fitted
    assert code == 0
    imputed = ad.read_h5ad(out / "imputed.h5ad")
    assert imputed.n_obs == st.n_obs
    assert list(imputed.obs_names) == list(st.obs_names)
    assert {"mean", "sd", "p_zero", "lower", "upper"} <= set(imputed.layers.keys())
    assert "spatial" in imputed.obsm

    loc = pd.read_csv(out / "sc_locations.csv", index_col="cell")
    assert list(loc.index) == list(sc.obs_names)
    assert {"x", "y", "sd"} <= set(loc.columns)

    assert (out / "model").is_dir() and any((out / "model").iterdir())
    plots = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert "sc_locations.png" in plots
    assert sum(p.startswith("imputed_") for p in plots) == 2

    report = (out / "report.txt").read_text()
    for fact in ("shared (panel) genes", "imputed genes", "epochs run", "imputed.h5ad", "sc_locations.csv", "by method 'metric'"):
        assert fact in report


def test_fit_impute_latent_draws_reach_the_imputation(inputs, tmp_path):
    root, _, _ = inputs
    base = ["fit-impute", "--sc", str(root / "sc.h5ad"), "--st", str(root / "st.h5ad"), "--max-epochs", "1",
            "--device", "cpu", "--n-plot-genes", "1", "-q", "--genes", "Gad2,Tbr1"]
    assert cli.main([*base, "--out", str(tmp_path / "plain")]) == 0
    assert cli.main([*base, "--out", str(tmp_path / "draws"), "--n-samples", "5"]) == 0
    plain = ad.read_h5ad(tmp_path / "plain" / "imputed.h5ad")
    draws = ad.read_h5ad(tmp_path / "draws" / "imputed.h5ad")
    assert plain.uns["stcross"]["n_samples"] == 0 and draws.uns["stcross"]["n_samples"] == 5
    # Same seed, same model: only the latent draws can change the spread.
    assert not np.allclose(draws.layers["sd"], plain.layers["sd"])


def test_fit_impute_streams_large_outputs_to_the_same_file(inputs, tmp_path, monkeypatch):
    root, _, st = inputs
    base = ["fit-impute", "--sc", str(root / "sc.h5ad"), "--st", str(root / "st.h5ad"), "--max-epochs", "1",
            "--device", "cpu", "--n-plot-genes", "1", "-q"]
    assert cli.main([*base, "--out", str(tmp_path / "memory"), "--stream", "no"]) == 0
    monkeypatch.setattr(cli, "STREAM_ABOVE", st.n_obs)  # any output of more than one gene counts as large
    assert cli.main([*base, "--out", str(tmp_path / "auto")]) == 0
    memory = ad.read_h5ad(tmp_path / "memory" / "imputed.h5ad")
    with h5py.File(tmp_path / "auto" / "imputed.h5ad", "r") as file:
        assert isinstance(file.get("X", getlink=True), h5py.SoftLink)  # written block by block
    streamed = ad.read_h5ad(tmp_path / "auto" / "imputed.h5ad")
    assert list(streamed.var_names) == list(memory.var_names)
    for key in ("mean", "sd", "p_zero"):
        np.testing.assert_allclose(streamed.layers[key], memory.layers[key], rtol=1e-5, atol=1e-6)
    assert (tmp_path / "auto" / "plots" / "sc_locations.png").exists()


def test_fit_impute_locate_method_reaches_the_model(inputs, tmp_path):
    root, sc, st = inputs
    out = tmp_path / "knn"
    assert cli.main(["fit-impute", "--sc", str(root / "sc.h5ad"), "--st", str(root / "st.h5ad"), "--max-epochs", "1",
                     "--device", "cpu", "--n-plot-genes", "0", "-q", "--genes", "Gad2", "--out", str(out),
                     "--locate-method", "knn"]) == 0
    assert "by method 'knn'" in (out / "report.txt").read_text()
    written = pd.read_csv(out / "sc_locations.csv", index_col="cell")
    expected = stcross.CrossModalModel.load(out / "model", sc, st).locate(method="knn")
    np.testing.assert_allclose(written[["x", "y", "sd"]].to_numpy(), expected[["x", "y", "sd"]].to_numpy(), rtol=1e-5)


def test_fit_impute_neighbor_blend_reaches_the_model(inputs, tmp_path, capsys):
    root, _, _ = inputs
    base = ["fit-impute", "--sc", str(root / "sc.h5ad"), "--st", str(root / "st.h5ad"), "--max-epochs", "1",
            "--device", "cpu", "--n-plot-genes", "0", "-q", "--genes", "Gad2"]
    assert cli.main([*base, "--out", str(tmp_path / "blend"), "--neighbor-blend", "0.5"]) == 0
    assert ad.read_h5ad(tmp_path / "blend" / "imputed.h5ad").uns["stcross"]["neighbor_blend"] == 0.5
    assert cli.main([*base, "--out", str(tmp_path / "bad"), "--neighbor-blend", "3"]) == 2
    assert "neighbor_blend must lie in [0, 1]" in capsys.readouterr().err


def test_fit_impute_threads_apply_to_the_command_and_are_restored(inputs, tmp_path, monkeypatch, capsys):
    import stcross
    import torch

    root, _, _ = inputs
    seen = []
    train = stcross.CrossModalModel.train

    def spy(self, **kwargs):
        seen.append(torch.get_num_threads())
        return train(self, **kwargs)

    monkeypatch.setattr(stcross.CrossModalModel, "train", spy)
    before = torch.get_num_threads()
    base = ["fit-impute", "--sc", str(root / "sc.h5ad"), "--st", str(root / "st.h5ad"), "--max-epochs", "1",
            "--device", "cpu", "--n-plot-genes", "0", "-q", "--genes", "Gad2"]
    assert cli.main([*base, "--out", str(tmp_path / "t3"), "--threads", "3"]) == 0
    assert seen == [3]
    assert torch.get_num_threads() == before
    assert cli.main([*base, "--out", str(tmp_path / "t0"), "--threads", "0"]) == 2
    assert "--threads" in capsys.readouterr().err


def test_fit_impute_refuses_to_overwrite(fitted, inputs, capsys):
    _, out, _, _ = fitted
    root, _, _ = inputs
    before = (out / "report.txt").read_text()
    code = cli.main(["fit-impute", "--sc", str(root / "sc.h5ad"), "--st", str(root / "st.h5ad"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert "not empty" in err and "--overwrite" in err
    assert (out / "report.txt").read_text() == before


def test_missing_file_is_a_clear_usage_error(inputs, tmp_path, capsys):
    root, _, _ = inputs
    missing = tmp_path / "absent.h5ad"
    code = cli.main(["fit-impute", "--sc", str(missing), "--st", str(root / "st.h5ad"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert "not found" in err and "absent.h5ad" in err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_bad_options_exit_2_without_traceback(inputs, tmp_path, capsys):
    root, _, _ = inputs
    base = ["fit-impute", "--sc", str(root / "sc.h5ad"), "--st", str(root / "st.h5ad"), "--out", str(tmp_path / "o")]
    # Errors raised by stcross itself (bad likelihood, unknown gene) become messages too.
    assert cli.main([*base, "--likelihood-st", "lognormal"]) == 2
    assert "likelihood" in capsys.readouterr().err
    assert cli.main([*base, "--genes", "NotAGene"]) == 2
    assert "NotAGene" in capsys.readouterr().err
    genes_file = tmp_path / "genes.txt"
    genes_file.write_text("# comment only\n")
    assert cli.main([*base, "--genes-file", str(genes_file)]) == 2
    assert "empty" in capsys.readouterr().err
    # argparse usage errors keep argparse's exit code 2.
    assert cli.main(["fit-impute", "--sc", "x.h5ad"]) == 2
    assert cli.main([]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_demo_runs_end_to_end_on_a_small_subset(monkeypatch, tmp_path, capsys):
    pair = _tiny_pair()
    monkeypatch.setattr(datasets, "load", lambda name: (pair[0].copy(), pair[1].copy()))
    out = tmp_path / "demo"
    code = cli.main(["demo", "--dataset", "osmfish", "--out", str(out), "--max-epochs", "1", "--device", "cpu"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "mean PCC of hidden genes" in printed
    assert "kNN baseline" in printed
    assert "intervals (calibrated) cover" in printed
    assert "modality mixing (1 mixed, 0 apart), SC / ST: joint embedding" in printed
    assert ad.read_h5ad(out / "imputed.h5ad").uns["stcross"]["calibrated"]
    for name in ("imputed.h5ad", "sc_locations.csv", "report.txt", "heldout_genes.csv", "plots/sc_locations.png",
                 "plots/joint_embedding.png"):
        assert (out / name).exists(), name
    held = pd.read_csv(out / "heldout_genes.csv")
    assert len(held) == round(0.2 * 33)
    assert held["pcc_stcross"].between(-1, 1).all()
