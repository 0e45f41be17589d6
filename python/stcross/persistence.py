"""Saving a trained model as a directory: ``config.json`` (settings, genes) + ``model.pt`` (weights).

Weights are a plain state_dict read back with ``weights_only=True``; nothing is pickled.
Loading checks both files before using them, and matches genes to the data by name.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

import torch

from .config import ModelConfig, TrainConfig
from .data import genes as gene_plan
from .data import validation
from .devices import resolve_device
from .errors import InputError, InputFileExistsError, InputFileNotFoundError
from .impute.conformal import Calibration
from .likelihoods import NAMES as LIKELIHOOD_NAMES

logger = logging.getLogger("stcross")

CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.pt"
# 2: the module stores each modality's gene marginals (buffers in model.pt).
FORMAT_VERSION = 2
# The keys save_model writes; a config.json with other keys was edited or comes from elsewhere.
_CONFIG_KEYS = frozenset({
    "format_version", "stcross_version", "torch_version", "model_config", "train_config",
    "likelihood_sc", "likelihood_st", "layer_sc", "layer_st", "spatial_key", "case_insensitive",
    "shared_genes", "imputable_genes", "decoder_genes", "sc_input_genes", "n_cells_sc", "n_cells_st",
    "history", "calibration",
})
# Keys older saves of this format may lack.
_OPTIONAL_KEYS = frozenset({"cells"})
_RESAVE = "Re-save the model from the trained CrossModalModel (model.save(path, overwrite=True)), or train a new one."


def save_model(model, path: Path, *, overwrite: bool = False) -> Path:
    from . import __version__

    if path.exists() and not path.is_dir():
        msg = (
            f"{path} is a file, but a model is saved as a directory ({CONFIG_FILE} + {WEIGHTS_FILE}); "
            "choose another path, or remove the file first."
        )
        raise InputFileExistsError(msg)
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        msg = f"{path} already exists and is not an empty directory; pass overwrite=True to replace it."
        raise InputFileExistsError(msg)
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
        "cells": {"sc": cell_fingerprint(model.sc_cells), "st": cell_fingerprint(model.st_cells)},
        "history": model.history.reset_index().to_dict(orient="list"),
        "calibration": None if model.calibration is None else model.calibration.to_dict(),
    }
    (path / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    state = {k: v.detach().cpu() for k, v in model.module.state_dict().items()}
    torch.save(state, path / WEIGHTS_FILE)
    return path


def cell_fingerprint(names) -> str:
    """A short hash of a set of cell names (order-free): tells whether a model is loaded onto its own cells."""
    return hashlib.sha256("\n".join(sorted(map(str, names))).encode()).hexdigest()[:16]


def _report_other_cells(saved: dict, model) -> None:
    """Loading onto other cells is allowed (a trained model applied to a new section); say what it means."""
    fingerprints = saved.get("cells")
    if not isinstance(fingerprints, dict):
        return  # saved before fingerprints were kept
    changed = [
        f"{role.upper()}: {saved[f'n_cells_{role}']} cells at training, {len(cells)} here"
        for role, cells in (("sc", model.sc_cells), ("st", model.st_cells))
        if fingerprints.get(role) != cell_fingerprint(cells)
    ]
    if changed:
        logger.warning(
            "The model is loaded onto other cells than it was trained on (%s). Its weights are used as trained, "
            "but the cross-modal partners are found again among these cells, so predictions follow them: a cell "
            "that was also in the training data can get different values. This is how a trained model is applied "
            "to new data; to reproduce the trained model's own results, load it with the data it was trained on.",
            "; ".join(changed),
        )


# ---------------------------------------------------------------- reading the files


def _damaged(file: Path, what: str) -> InputError:
    return InputError(f"{file} is damaged or was not written by stcross: {what}. {_RESAVE}")


def _read_config(file: Path) -> dict:
    try:
        saved = json.loads(file.read_text())
    except ValueError as err:  # invalid JSON, or bytes that are not text
        raise _damaged(file, f"it is not valid JSON ({err})") from None
    if not isinstance(saved, dict):
        raise _damaged(file, f"it holds a JSON {type(saved).__name__}, not the object of settings stcross writes")
    if saved.get("format_version") != FORMAT_VERSION:
        msg = (
            f"{file.parent} was saved in format {saved.get('format_version')}; this stcross reads format "
            f"{FORMAT_VERSION}. Train the model again with this version and save it."
        )
        raise InputError(msg)
    missing, extra = sorted(_CONFIG_KEYS - saved.keys()), sorted(saved.keys() - _CONFIG_KEYS - _OPTIONAL_KEYS)
    if missing or extra:
        raise _damaged(file, f"missing keys {missing}, unexpected keys {extra}")
    return saved


def _settings(saved: dict, file: Path) -> tuple[ModelConfig, TrainConfig]:
    """The saved model and training settings, with exactly the fields this version knows."""
    out = []
    for key, kind in (("model_config", ModelConfig), ("train_config", TrainConfig)):
        values = saved[key]
        if not isinstance(values, dict):
            raise _damaged(file, f"{key} is a {type(values).__name__}, not an object")
        fields = {f.name for f in dataclasses.fields(kind)}
        missing, extra = sorted(fields - values.keys()), sorted(values.keys() - fields)
        if missing or extra:
            raise _damaged(file, f"{key} has missing keys {missing}, unexpected keys {extra}")
        try:
            out.append(kind(**values))
        except (TypeError, ValueError) as err:
            raise _damaged(file, f"{key} holds invalid settings ({err})") from None
    return out[0], out[1]


def _check_values(saved: dict, file: Path) -> None:
    """Types of the plain entries (a hand edit would otherwise surface as an error about the data)."""
    bad = [k for k in ("likelihood_sc", "likelihood_st") if saved[k] not in LIKELIHOOD_NAMES]
    bad += [k for k in ("layer_sc", "layer_st") if saved[k] is not None and not isinstance(saved[k], str)]
    bad += [k for k in ("spatial_key",) if not isinstance(saved[k], str)]
    bad += [k for k in ("case_insensitive",) if not isinstance(saved[k], bool)]
    bad += [
        k for k in ("shared_genes", "imputable_genes", "decoder_genes", "sc_input_genes")
        if not isinstance(saved[k], list) or not all(isinstance(g, str) for g in saved[k])
    ]
    if bad:
        raise _damaged(file, f"invalid values for {bad}")


def _read_weights(file: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except OSError:  # unreadable (permissions, I/O): not a question of the file's content
        raise
    except Exception as err:  # truncated archive, foreign pickle, ...: nothing in it was run
        raise _damaged(file, f"it cannot be read as a dictionary of weight tensors ({type(err).__name__})") from None
    tensors = isinstance(state, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())
    if not tensors:
        raise _damaged(file, f"it holds a {type(state).__name__}, not a dictionary of weight tensors")
    return state


def _load_weights(module: torch.nn.Module, state: dict[str, torch.Tensor], file: Path) -> None:
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    problems = [f"{label} e.g. {names[:3]}" for label, names in (("missing", missing), ("unexpected", extra),
                                                                   ("of another shape", wrong)) if names]
    if problems:
        what = (
            f"its weights do not fit the network {CONFIG_FILE} describes ({'; '.join(problems)}); the two "
            "files come from different models, or one was edited"
        )
        raise _damaged(file, what)
    module.load_state_dict(state)


# ---------------------------------------------------------------- matching the data


def _columns(names, needed: list[str], role: str, what: str, case_insensitive: bool) -> list[str]:
    """The data's names of the ``needed`` genes, in the saved order; an error naming any that are absent."""
    by_key = gene_plan.case_map(names, role) if case_insensitive else {g: g for g in names}
    key = str.upper if case_insensitive else str
    missing = [g for g in needed if key(g) not in by_key]
    if missing:
        msg = (
            f"The saved model was trained with different {what} than adata_{role} has: it needs {len(needed)}, "
            f"and adata_{role} lacks {len(missing)} of them, e.g. {missing[:5]}. Load it with the SC and ST data "
            "it was trained on (gene order does not matter), or train a new model on this data."
        )
        raise InputError(msg)
    return [by_key[key(g)] for g in needed]


def _align_genes(saved: dict, adata_sc, adata_st):
    """Views of the data with the saved genes in the saved order, so the model's layout matches the weights.

    Genes are matched by name: a different column order is fine. SC genes the model does not
    use are left aside; ST genes it was not trained on are ignored (and logged).
    """
    validation.check_anndata(adata_sc, "sc")
    validation.check_anndata(adata_st, "st")
    case_insensitive = saved["case_insensitive"]
    sc_columns = _columns(adata_sc.var_names, saved["decoder_genes"], "sc", "SC genes", case_insensitive)
    st_columns = _columns(adata_st.var_names, saved["shared_genes"], "st", "shared (ST panel) genes", case_insensitive)
    positions = adata_sc.var_names.get_indexer(sc_columns)
    if (positions[1:] < positions[:-1]).any():  # the plan keeps SC order: reorder only when needed
        adata_sc = adata_sc[:, sc_columns]
    if list(adata_st.var_names) != st_columns:
        used = set(st_columns)
        ignored = [g for g in adata_st.var_names if g not in used]
        if ignored:
            logger.warning(
                "%d genes of adata_st are not among the %d panel genes the saved model was trained on (e.g. %s); "
                "they are ignored.", len(ignored), len(st_columns), ignored[:3],
            )
        adata_st = adata_st[:, st_columns]
    return adata_sc, adata_st


def load_model(cls, path: Path, adata_sc, adata_st, *, device: str = "auto"):
    import pandas as pd

    config_file, weights_file = path / CONFIG_FILE, path / WEIGHTS_FILE
    if not config_file.is_file() or not weights_file.is_file():
        msg = f"{path} is not a saved stcross model (expected {CONFIG_FILE} and {WEIGHTS_FILE} inside)."
        raise InputFileNotFoundError(msg)
    # Both files are checked before any work on the data.
    saved = _read_config(config_file)
    model_config, settings = _settings(saved, config_file)
    _check_values(saved, config_file)
    state = _read_weights(weights_file)
    target_device = resolve_device(device)
    view_sc, view_st = _align_genes(saved, adata_sc, adata_st)
    model = cls(
        view_sc,
        view_st,
        layer_sc=saved["layer_sc"],
        layer_st=saved["layer_st"],
        spatial_key=saved["spatial_key"],
        likelihood_sc=saved["likelihood_sc"],
        likelihood_st=saved["likelihood_st"],
        genes=saved["imputable_genes"],
        case_insensitive=saved["case_insensitive"],
        config=model_config,
    )
    # With the genes aligned these hold unless the gene lists in config.json disagree with each other.
    if model.plan.shared != saved["shared_genes"] or model.plan.decoder != saved["decoder_genes"]:
        raise _damaged(config_file, "its gene lists (shared, imputable, decoder) do not fit together")
    position = {g: i for i, g in enumerate(model.plan.decoder)}
    if not set(saved["sc_input_genes"]) <= position.keys():
        raise _damaged(config_file, "sc_input_genes names genes outside decoder_genes")
    input_genes = [model.plan.decoder[i] for i in model.sc_input_genes]
    if input_genes != saved["sc_input_genes"]:
        model.use_sc_inputs(sorted(position[g] for g in saved["sc_input_genes"]))
    module = model.new_module(settings.seed)
    _load_weights(module, state, weights_file)
    try:
        history = pd.DataFrame(saved["history"]).set_index("epoch")
    except (KeyError, TypeError, ValueError) as err:
        raise _damaged(config_file, f"its training history is unreadable ({type(err).__name__}: {err})") from None
    calibration = None
    if saved["calibration"] is not None:
        try:
            calibration = Calibration.from_dict(saved["calibration"])
        except (AttributeError, KeyError, TypeError, ValueError) as err:
            what = f"its calibration is unreadable ({type(err).__name__}: {err}); run model.calibrate() again and save"
            raise _damaged(config_file, what) from None
    _report_other_cells(saved, model)
    model.restore(module, train_config=settings, history=history, calibration=calibration, device=target_device)
    return model
