"""train(strategy="ddp"): two CPU processes with gloo against one process on the same pair."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import stcross
from conftest import make_pair
from stcross.errors import InputError

EPOCHS = 6
SCRIPT = Path(__file__).with_name("ddp_script.py")


def _held_out_pcc(model, truth: pd.DataFrame, genes: list[str]) -> float:
    imputed = model.impute(genes=genes)
    mean = np.asarray(imputed.layers["mean"], np.float64)
    y = truth[genes].to_numpy(np.float64)
    return float(np.mean([np.corrcoef(mean[:, j], y[:, j])[0, 1] for j in range(len(genes))]))


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # Two processes split each epoch's steps: twice the epochs make as many optimizer steps as one process.
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               str(SCRIPT), str(out), str(2 * EPOCHS)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


def test_two_gloo_processes_train_a_model_as_good_as_one(ddp_run):
    sc, st, truth = make_pair(n_sc=400, n_st=400)
    kept = list(st.var_names[:12])
    hidden = list(st.var_names[12:])
    single = stcross.CrossModalModel(sc, st[:, kept].copy(), genes=list(sc.var_names))
    single.train(max_epochs=EPOCHS, progress_bar=False, threads=1)
    # The saved model has the usual format: it loads like any other.
    ddp = stcross.CrossModalModel.load(ddp_run / "model", sc, st[:, kept].copy())
    np.testing.assert_allclose(ddp.latent("st"), np.load(ddp_run / "latent_st.npy"), rtol=1e-5, atol=1e-6)
    history = pd.read_csv(ddp_run / "history.csv", index_col="epoch")
    assert len(history) == 2 * EPOCHS and len(single.history) == EPOCHS  # no early stop at these lengths
    # As many optimizer steps, each averaging two processes' batches: another optimisation path,
    # so the tolerance is on what the model is for, the held-out genes' accuracy.
    pcc_single, pcc_ddp = _held_out_pcc(single, truth, hidden), _held_out_pcc(ddp, truth, hidden)
    assert abs(pcc_ddp - pcc_single) < 0.05, (pcc_ddp, pcc_single)
    final = history["validation_total"].iloc[-1]
    assert abs(final - single.history["validation_total"].iloc[-1]) < 0.1 * abs(final)


def test_ddp_outside_torchrun_says_how_to_start_it(pair, monkeypatch):
    for variable in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(variable, raising=False)
    model = stcross.CrossModalModel(*pair)
    with pytest.raises(InputError, match="torchrun"):
        model.train(max_epochs=1, progress_bar=False, strategy="ddp")
    with pytest.raises(InputError, match="'single' or 'ddp'"):
        model.train(max_epochs=1, progress_bar=False, strategy="dp")
    assert not model.is_trained


def test_fit_impute_nproc_trains_in_two_processes(tmp_path, capsys):
    from stcross import cli

    sc, st, _ = make_pair(n_sc=120, n_st=100)
    sc.write_h5ad(tmp_path / "sc.h5ad")
    st.write_h5ad(tmp_path / "st.h5ad")
    out = tmp_path / "out"
    code = cli.main(["fit-impute", "--sc", str(tmp_path / "sc.h5ad"), "--st", str(tmp_path / "st.h5ad"),
                     "--out", str(out), "--max-epochs", "2", "--nproc", "2", "--n-plot-genes", "0", "-q"])
    assert code == 0
    assert (out / "imputed.h5ad").exists() and (out / "model").is_dir()
    report = (out / "report.txt").read_text()
    assert "epochs run: 2" in report and "2 processes" in report
