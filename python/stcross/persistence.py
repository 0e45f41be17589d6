"""Saving a trained model as a directory: ``config.json`` (settings, genes) + ``model.pt`` (weights).

Weights are a plain state_dict read back with ``weights_only=True``; nothing is pickled.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .config import ModelConfig, TrainConfig

CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.pt"
# 2: the module stores each modality's gene marginals (buffers in model.pt).
FORMAT_VERSION = 2


def save_model(model, path: Path, *, overwrite: bool = False) -> Path:
    from . import __version__

    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        if not overwrite:
            msg = f"{path} already exists and is not an empty directory; pass overwrite=True to replace it."
            raise FileExistsError(msg)
    path.mkdir(parents=True, exist_ok=True)
    config = {
        "format_version": FORMAT_VERSION,
        "stcross_version": __version__,
        "torch_version": torch.__version__,
        "model_config": model.config.to_dict(),
        "train_config": model.train_config.to_dict(),
        "likelihood_sc": model.likelihoods[0],
        "likelihood_st": model.likelihoods[1],
        "layer_sc": model.layers[0],
        "layer_st": model.layers[1],
        "spatial_key": model.spatial_key,
        "case_insensitive": model.case_insensitive,
        "shared_genes": model.plan.shared,
        "imputable_genes": model.plan.imputable,
        "decoder_genes": model.plan.decoder,
        "sc_input_genes": [model.plan.decoder[i] for i in model.sc_input_genes],
        "n_cells_sc": len(model.sc_cells),
        "n_cells_st": len(model.st_cells),
        "history": model.history.reset_index().to_dict(orient="list"),
        "calibration": None if model.calibration is None else model.calibration.to_dict(),
    }
    (path / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    state = {k: v.detach().cpu() for k, v in model.module.state_dict().items()}
    torch.save(state, path / WEIGHTS_FILE)
    return path


def _mismatch(what: str, saved: list[str], now: list[str]) -> str:
    missing = [g for g in saved if g not in set(now)][:5]
    extra = [g for g in now if g not in set(saved)][:5]
    return (
        f"The saved model was trained with different {what} than the data given to load() "
        f"({len(saved)} saved vs {len(now)} now; missing e.g. {missing}, unexpected e.g. {extra}). "
        "Load it with the SC and ST data it was trained on (same genes), or train a new model."
    )


def load_model(cls, path: Path, adata_sc, adata_st, *, device: str = "auto"):
    import pandas as pd

    from .model import resolve_device

    config_file, weights_file = path / CONFIG_FILE, path / WEIGHTS_FILE
    if not config_file.is_file() or not weights_file.is_file():
        msg = f"{path} is not a saved stcross model (expected {CONFIG_FILE} and {WEIGHTS_FILE} inside)."
        raise FileNotFoundError(msg)
    saved = json.loads(config_file.read_text())
    if saved.get("format_version") != FORMAT_VERSION:
        msg = (
            f"{path} was saved in format {saved.get('format_version')}; this stcross reads format {FORMAT_VERSION}. "
            "Train the model again with this version and save it."
        )
        raise ValueError(msg)
    model = cls(
        adata_sc,
        adata_st,
        layer_sc=saved["layer_sc"],
        layer_st=saved["layer_st"],
        spatial_key=saved["spatial_key"],
        likelihood_sc=saved["likelihood_sc"],
        likelihood_st=saved["likelihood_st"],
        genes=saved["imputable_genes"],
        case_insensitive=saved["case_insensitive"],
        config=ModelConfig.from_dict(saved["model_config"]),
    )
    if model.plan.shared != saved["shared_genes"]:
        raise ValueError(_mismatch("shared (ST panel) genes", saved["shared_genes"], model.plan.shared))
    if model.plan.decoder != saved["decoder_genes"]:
        raise ValueError(_mismatch("SC genes", saved["decoder_genes"], model.plan.decoder))
    input_genes = [model.plan.decoder[i] for i in model.sc_input_genes]
    if input_genes != saved["sc_input_genes"]:
        position = {g: i for i, g in enumerate(model.plan.decoder)}
        model.use_sc_inputs(sorted(position[g] for g in saved["sc_input_genes"]))
    settings = TrainConfig(**saved["train_config"])
    model.device = resolve_device(device)
    model.module = model._fresh_module(settings.seed)
    model.module.load_state_dict(torch.load(path / WEIGHTS_FILE, map_location="cpu", weights_only=True))
    model.module.to(model.device).eval()
    model.graph = model._build_graph(model.device)
    model.train_config = settings
    model.history = pd.DataFrame(saved["history"]).set_index("epoch")
    model.is_trained = True
    if saved.get("calibration") is not None:
        from .calibration import Calibration

        model.calibration = Calibration.from_dict(saved["calibration"])
    return model
