"""Run under torchrun by test_distributed.py: train on the test pair with strategy="ddp", save from rank 0."""
import os
import sys
from pathlib import Path

import numpy as np
import stcross
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import make_pair  # noqa: E402

out = Path(sys.argv[1])
sc, st, truth = make_pair(n_sc=400, n_st=400)
kept = st.var_names[:12]
model = stcross.CrossModalModel(sc, st[:, kept].copy(), genes=list(sc.var_names))
model.train(max_epochs=int(sys.argv[2]), progress_bar=False, strategy="ddp", threads=1)
assert not torch.distributed.is_initialized()  # train() closed the group it opened
if int(os.environ["RANK"]) == 0:
    model.save(out / "model")
    np.save(out / "latent_st.npy", model.latent("st"))
    model.history.to_csv(out / "history.csv")
