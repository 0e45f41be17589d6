"""The user-facing model: validates the data, trains, imputes, locates, saves."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from . import persistence
from .config import ModelConfig, TrainConfig
from .data import genes as gene_plan
from .data import validation
from .data.features import (
    column_mean_std,
    log_normalize,
    prepare_modality,
    spatial_average,
)
from .data.partners import PartnerGraph, build_partner_graph
from .devices import resolve_device
from .errors import InputError, InputTypeError
from .impute.calibration import calibrate_model, heldout_predictions
from .impute.heldout_masked import masked_heldout_predictions
from .impute import to_disk
from .impute.neighbor_blend import NeighborIndex
from .impute.predictive import SUMMARY_LAYERS, Predictor
from .joint_embedding import joint_embedding
from .likelihoods import get_likelihood
from .locate import locate_cells
from .module.partner_cache import PartnerCache
from .module.vae import SC, ST, CrossModalVAE
from .threads import DEFAULT_THREADS, torch_threads
from .train import distributed
from .train.loop import train_module

logger = logging.getLogger("stcross")


_TRAIN_KEYWORD_DEFAULTS = {"max_epochs": None, "batch_size": 256, "lr": 2e-3, "seed": 0}


def _train_settings(config: TrainConfig | None, **keywords) -> TrainConfig:
    """``config``, or a TrainConfig from the keywords; both at once only if the keywords are left at their defaults."""
    if config is None:
        return TrainConfig(**keywords)
    if not isinstance(config, TrainConfig):
        msg = f"config must be a stcross.TrainConfig, got {type(config).__name__}."
        raise InputTypeError(msg)
    given = sorted(k for k, v in keywords.items() if v != _TRAIN_KEYWORD_DEFAULTS[k])
    if given:
        msg = (
            f"train() got both config= and {', '.join(f'{k}=' for k in given)}; put every setting in the "
            f"TrainConfig (e.g. dataclasses.replace(config, {given[0]}=...)) or leave out config=."
        )
        raise InputError(msg)
    return config


class CrossModalModel:
    """One cross-modal VAE over an SC reference and an ST query.

    Parameters
    ----------
    adata_sc
        Single-cell RNA-seq, cells x genes (raw counts preferred). Not modified.
    adata_st
        Spatial transcriptomics, cells x panel genes, with coordinates in
        ``obsm[spatial_key]`` (2D or 3D). Not modified.
    layer_sc, layer_st
        Layer holding the expression values (``None``: ``.X``).
    spatial_key
        Key of the ST coordinates in ``adata_st.obsm``.
    likelihood_sc, likelihood_st
        ``"zinb"``, ``"nb"``, ``"poisson"`` for counts, ``"gaussian"`` for log-scale
        non-count values (log-normalised expression, in-situ intensities).
    genes
        SC genes that may be imputed (default: every SC gene).
    case_insensitive
        Match gene names ignoring case (the matches are logged).
    config
        Architecture settings (:class:`~stcross.ModelConfig`).
    """

    def __init__(
        self,
        adata_sc: ad.AnnData,
        adata_st: ad.AnnData,
        *,
        layer_sc: str | None = None,
        layer_st: str | None = None,
        spatial_key: str = "spatial",
        likelihood_sc: str = "zinb",
        likelihood_st: str = "nb",
        genes=None,
        case_insensitive: bool = False,
        config: ModelConfig | None = None,
    ):
        validation.check_anndata(adata_sc, "sc")
        validation.check_anndata(adata_st, "st")
        self.config = config or ModelConfig()
        if not isinstance(self.config, ModelConfig):
            msg = f"config must be a stcross.ModelConfig, got {type(self.config).__name__}."
            raise InputTypeError(msg)
        self.likelihoods = (likelihood_sc, likelihood_st)
        for role, name in (("sc", likelihood_sc), ("st", likelihood_st)):
            get_likelihood(name, role)  # an unknown name is refused naming its argument
        self.config.blend_weight(self.likelihoods)  # refuses a blend these likelihoods cannot use, now
        self.layers = (layer_sc, layer_st)
        self.spatial_key = spatial_key
        self.case_insensitive = case_insensitive
        self.coordinates = validation.coordinates(adata_st, spatial_key)
        self.plan = gene_plan.plan_genes(adata_sc.var_names, adata_st.var_names, genes, case_insensitive=case_insensitive)
        sc_matrix = validation.expression_matrix(adata_sc, layer_sc, "sc", likelihood_sc)
        st_matrix = validation.expression_matrix(adata_st, layer_st, "st", likelihood_st)
        sc_columns = adata_sc.var_names.get_indexer(self.plan.decoder)
        st_columns = adata_st.var_names.get_indexer([self.plan.st_names[g] for g in self.plan.shared])
        sc_matrix, st_matrix = sc_matrix[:, sc_columns], st_matrix[:, st_columns]
        validation.warn_empty(sc_matrix, "sc", "decoder genes", likelihood_sc)
        validation.warn_empty(st_matrix, "st", "shared genes", likelihood_st)
        self.sc_cells = adata_sc.obs_names.copy()
        self.st_cells = adata_st.obs_names.copy()
        # References only, never written to: results copy the ST annotations, and
        # calibration rebuilds the model with some panel genes hidden.
        self._st_obs, self._st_obsm = adata_st.obs, adata_st.obsm
        self._sources = (adata_sc, adata_st)
        self._init_kwargs = {
            "layer_sc": layer_sc, "layer_st": layer_st, "spatial_key": spatial_key,
            "likelihood_sc": likelihood_sc, "likelihood_st": likelihood_st,
            "case_insensitive": case_insensitive, "config": self.config,
        }
        self._gene_position = {g: i for i, g in enumerate(self.plan.decoder)}
        shared_in_decoder = np.array([self._gene_position[g] for g in self.plan.shared])
        self.sc_input_genes = self._select_sc_inputs(sc_matrix, shared_in_decoder)
        st_all = np.arange(len(self.plan.shared))
        self.data = (
            prepare_modality(sc_matrix, self.sc_input_genes, shared_in_decoder, get_likelihood(likelihood_sc).is_count),
            prepare_modality(
                st_matrix, st_all, st_all, get_likelihood(likelihood_st).is_count,
                neighbourhood=spatial_average(self.coordinates, self.config.spatial_context)
                if self.config.spatial_context > 0 else None,
            ),
        )
        self._shared_in_decoder = shared_in_decoder
        self.module: CrossModalVAE | None = None
        self.train_config: TrainConfig | None = None
        self.history: pd.DataFrame | None = None
        self.calibration = None
        self.graph: PartnerGraph | None = None
        self.device = torch.device("cpu")
        self.is_trained = False

    # -- set-up ------------------------------------------------------------------------
    def _select_sc_inputs(self, sc_matrix: sp.csr_matrix, shared_in_decoder: np.ndarray) -> np.ndarray:
        """SC encoder genes: every shared gene plus the ``n_input_genes`` most variable others."""
        budget = len(shared_in_decoder) + self.config.n_input_genes
        if sc_matrix.shape[1] <= budget:
            return np.arange(sc_matrix.shape[1])
        values = sc_matrix
        if get_likelihood(self.likelihoods[SC]).is_count:
            values = log_normalize(sc_matrix, np.asarray(sc_matrix.sum(axis=1)).ravel())
        mean = np.asarray(values.mean(axis=0)).ravel()
        variance = np.asarray(values.multiply(values).mean(axis=0)).ravel() - mean**2
        variance[shared_in_decoder] = np.inf
        chosen = np.argsort(-variance, kind="stable")[:budget]
        return np.sort(chosen)

    def use_sc_inputs(self, positions) -> None:
        """Feed the SC encoder these decoder-gene positions (used when loading a saved model)."""
        self.sc_input_genes = np.asarray(positions, dtype=np.int64)
        is_count = get_likelihood(self.likelihoods[SC]).is_count
        sc = prepare_modality(self.data[SC].targets.matrix, self.sc_input_genes, self._shared_in_decoder, is_count)
        self.data = (sc, self.data[ST])

    @property
    def neighbor_blend(self) -> float:
        """The latent-neighbour weight in use: ``config.neighbor_blend`` resolved for these likelihoods."""
        return self.config.blend_weight(self.likelihoods)

    @property
    def shared_genes(self) -> list[str]:
        """ST panel genes also measured in SC (alignment features and ST targets)."""
        return list(self.plan.shared)

    @property
    def imputable_genes(self) -> list[str]:
        """Genes :meth:`impute` can return."""
        return list(self.plan.imputable)

    def _build_graph(self, device: torch.device) -> PartnerGraph:
        return build_partner_graph(
            self.data[SC].partner_features,
            self.data[ST].partner_features,
            self.config.n_partners,
            n_pcs=self.config.n_pcs,
            device=str(device),
        )

    def require_trained(self) -> None:
        """Raise a clear error unless the model is trained (or loaded)."""
        if not self.is_trained:
            msg = "The model is not trained yet; call model.train() first (or CrossModalModel.load(...))."
            raise RuntimeError(msg)

    def with_st_genes_hidden(self, genes) -> CrossModalModel:
        """A new, untrained model over the same data and settings, with the shared ``genes`` removed from ST.

        Every shared gene stays imputable, so the hidden ones can be predicted as if ST had
        never measured them (what calibration and cross-validation score).
        """
        adata_sc, adata_st = self._sources
        hidden = {self.plan.st_names[g] for g in genes}
        kept = ~adata_st.var_names.isin(list(hidden))
        imputable = list(dict.fromkeys([*self.imputable_genes, *self.shared_genes]))
        return CrossModalModel(adata_sc, adata_st[:, kept].copy(), genes=imputable, **self._init_kwargs)

    # -- training ----------------------------------------------------------------------
    def train(
        self,
        *,
        max_epochs: int | None = None,
        batch_size: int = 256,
        lr: float = 2e-3,
        seed: int = 0,
        device: str = "auto",
        progress_bar: bool = True,
        config: TrainConfig | None = None,
        threads: int | None = DEFAULT_THREADS,
        strategy: str = "single",
    ) -> CrossModalModel:
        """Train the model (from its current weights' fresh initialisation by ``seed``).

        Parameters
        ----------
        max_epochs
            Upper bound on epochs (default: chosen from the data size); early stopping
            on a held-out fraction of cells usually ends sooner.
        batch_size
            Cells per modality per step (at least 2).
        lr
            AdamW learning rate.
        seed
            Seeds a local generator for initialisation, minibatches and sampling.
        device
            ``"auto"``, ``"cpu"`` or ``"cuda"``.
        progress_bar
            Show a tqdm progress bar.
        config
            Full training settings, instead of the four keyword arguments above (giving
            both is an error, so that no setting is silently ignored).
        threads
            Torch intra-op threads for this call (the caller's setting is restored after);
            ``None`` keeps the current setting. One thread is the measured default: see
            :mod:`stcross.threads`.
        strategy
            ``"single"``: this process. ``"ddp"``: one of several processes started by
            ``torchrun`` (torch.distributed; gloo on CPU, NCCL on GPUs, one GPU per process):
            every process runs the same script and ends with the same trained model, each
            having taken its share of every epoch's steps (gradients averaged across the
            processes, so each epoch makes fewer, larger steps than in one process). Save
            from rank 0 only (``torch.distributed`` is finished by then: check
            ``int(os.environ["RANK"]) == 0``).

        Returns
        -------
        The model itself, trained; ``model.history`` holds the per-epoch loss terms.
        """
        settings = _train_settings(config, max_epochs=max_epochs, batch_size=batch_size, lr=lr, seed=seed)
        if strategy not in ("single", "ddp"):
            msg = f"strategy must be 'single' or 'ddp', got {strategy!r}."
            raise InputError(msg)
        device = resolve_device(device)
        ranks = distributed.join(device) if strategy == "ddp" else None
        if ranks is not None:
            device = ranks.device(device)
            progress_bar = progress_bar and ranks.is_main
        started = time.perf_counter()
        # Built aside and assigned only once training succeeds: an error (or an interrupt from R)
        # leaves a trained model as it was.
        try:
            with torch_threads(threads):
                graph = self._build_graph(device)
                module = self.new_module(settings.seed).to(device)
                history = train_module(
                    module, self.data, graph, settings, device=device, progress_bar=progress_bar, ranks=ranks
                )
        finally:
            if ranks is not None:
                ranks.close()
        self.device, self.graph, self.module, self.history = device, graph, module, history
        self.train_config = settings
        self.is_trained = True
        self.calibration = None
        logger.info(
            "Trained for %d epochs in %.1f s on %s.", len(self.history), time.perf_counter() - started, self.device
        )
        return self

    def new_module(self, seed: int, *, fold_paths: int = 0) -> CrossModalVAE:
        """A newly initialised network for this data, whose weights depend on ``seed`` only
        (with ``fold_paths`` ST encoder paths: :meth:`CrossModalVAE.add_fold_paths`)."""
        with torch.random.fork_rng(devices=[]):  # initialisers use the global generator: isolate it
            torch.manual_seed(int(seed))
            module = CrossModalVAE(
                (len(self.sc_input_genes), self.data[ST].inputs.shape[1]),
                len(self.plan.decoder),
                torch.from_numpy(self._shared_in_decoder),
                self.likelihoods,
                self.config,
            )
            module.add_fold_paths(fold_paths)
        module.initialize_from_data(*self._gene_marginals(SC), *self._gene_marginals(ST))
        return module

    def restore(self, module: CrossModalVAE, *, train_config: TrainConfig, history: pd.DataFrame, calibration,
                device: torch.device) -> None:
        """Make this model the trained one described by a saved state (used by :meth:`load`).

        ``module`` is a network from :meth:`new_module` with the saved weights loaded.
        """
        self.device = device
        self.module = module.to(device).eval()
        self.graph = self._build_graph(device)
        self.train_config = train_config
        self.history = history
        self.calibration = calibration
        self.is_trained = True

    def _gene_marginals(self, modality: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-gene mean and sd of a modality's targets (of expression fractions for counts)."""
        data = self.data[modality]
        matrix = data.targets.matrix
        if get_likelihood(self.likelihoods[modality]).is_count:
            scale = np.where(data.library > 0, 1.0 / np.maximum(data.library, 1e-12), 0.0)
            matrix = sp.csr_matrix(sp.diags(scale.astype(np.float32)) @ matrix)
        mean, std = column_mean_std(matrix)
        return torch.from_numpy(mean), torch.from_numpy(std)

    # -- results -----------------------------------------------------------------------
    def _partner_cache(self) -> PartnerCache:
        """Every cell's partner state, computed by the trained network in eval mode."""
        self.require_trained()
        self.module.eval()
        cache = PartnerCache(self.module, self.data, self.graph, self.device)
        cache.refresh()
        return cache

    def _encode_all(
        self, modality: int, batch_size: int = 2048, cache: PartnerCache | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        cache = cache or self._partner_cache()
        n = self.data[modality].n_cells
        means, log_vars = [], []
        with torch.no_grad():
            for start in range(0, n, batch_size):
                mean, log_var = cache.encode(modality, np.arange(start, min(n, start + batch_size)))
                means.append(mean)
                log_vars.append(log_var)
        return torch.cat(means), torch.cat(log_vars)

    def latent(self, modality: str = "st", *, threads: int | None = DEFAULT_THREADS) -> np.ndarray:
        """Posterior means of the joint latent space, (n_cells, n_latent), for ``"sc"`` or ``"st"``.

        ``threads`` sets torch's intra-op threads for the call (as in :meth:`train`).
        """
        index = {"sc": SC, "st": ST}.get(modality)
        if index is None:
            msg = f"modality must be 'sc' or 'st', got {modality!r}."
            raise InputError(msg)
        with torch_threads(threads):
            return self._encode_all(index)[0].cpu().numpy()

    def joint_embedding(
        self, modality: str | None = "st", *, n_partners: int | None = None, threads: int | None = DEFAULT_THREADS
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """The joint embedding of ``"sc"`` or ``"st"`` cells, (n_cells, n_latent): the view to draw.

        The latent space (:meth:`latent`) keeps an offset between the modalities; here each
        modality is centred and every cell is placed halfway between its own latent and the
        mean latent of its ``n_partners`` best cross-modal partners (``None``: 5, fewer if the
        partner graph is narrower), so the modalities mix while cell types stay apart (see
        :mod:`stcross.joint_embedding`; measured in benchmarks/REPORT.md). Imputation does
        not use it. ``modality=None`` returns both, ``(sc, st)``, from one encoding.
        """
        if modality not in ("sc", "st", None):
            msg = f"modality must be 'sc', 'st' or None (both), got {modality!r}."
            raise InputError(msg)
        self.require_trained()
        with torch_threads(threads):
            cache = self._partner_cache()  # one refresh of the partner states serves both encodings
            z_sc = self._encode_all(SC, cache=cache)[0].cpu().numpy()
            z_st = self._encode_all(ST, cache=cache)[0].cpu().numpy()
        e_sc, e_st = joint_embedding(z_sc, z_st, self.graph.sc_to_st, self.graph.st_to_sc, n_partners=n_partners)
        if modality is None:
            return e_sc, e_st
        return e_sc if modality == "sc" else e_st

    def _resolve_genes(self, genes) -> list[str]:
        if genes is None:
            return list(self.plan.imputable)
        return gene_plan.lookup_genes(
            genes, self.plan.decoder, case_insensitive=self.case_insensitive,
            empty="genes= is empty; pass None for every imputable gene or a list of gene names.",
            absent="{n} requested genes cannot be imputed, e.g. {examples}: they are not among the "
            "SC genes this model was built with (see model.imputable_genes).",
        )

    def _predictor(self, names: list[str]) -> Predictor:
        """What predicting ``names`` for every ST cell needs: latents, library sizes, latent neighbours."""
        cache = self._partner_cache()  # one refresh of the partner states serves both encodings
        mean_z, log_var_z = self._encode_all(ST, cache=cache)
        neighbors = None
        unmeasured = set(names) - set(self.plan.shared)
        if self.neighbor_blend > 0 and unmeasured:
            neighbors = NeighborIndex.build(
                self.module, mean_z.cpu().numpy(), self._encode_all(SC, cache=cache)[0].cpu().numpy(),
                self.data[SC].targets.matrix,
                weight=self.neighbor_blend, n_neighbors=self.config.n_blend_neighbors, device=str(self.device),
            )
        return Predictor(
            self.module, mean_z, log_var_z, torch.from_numpy(self.data[ST].library).to(self.device),
            self.data[SC].targets.matrix, neighbors,
        )

    def _gene_positions(self, names: list[str]) -> np.ndarray:
        return np.array([self._gene_position[g] for g in names])

    def impute(
        self,
        genes=None,
        *,
        interval: float = 0.9,
        n_samples: int = 0,
        seed: int = 0,
        batch_size: int = 1024,
        out: str | Path | None = None,
        overwrite: bool = False,
        genes_per_chunk: int = 512,
        threads: int | None = DEFAULT_THREADS,
    ) -> ad.AnnData:
        """Predictive distribution of ``genes`` for every ST cell.

        Parameters
        ----------
        genes
            Genes to impute (default: all imputable genes). Panel genes may be asked for
            too; their values are the model's reconstruction.
        interval
            Nominal coverage of the prediction interval.
        n_samples
            0 uses the posterior mean of z; n > 0 averages over n latent draws, adding
            the model's uncertainty about the cell's state to the spread.
        seed
            Seeds the latent draws when ``n_samples > 0``.
        batch_size
            Cells per chunk (memory is batch_size x genes per layer; with ``out``,
            batch_size x genes_per_chunk).
        out
            Path of an ``.h5ad`` file to stream the result into, one block of cells x
            genes at a time, so that memory stays bounded whatever the number of genes
            and cells (for whole-transcriptome output of large sections). The result is
            then returned opened from that file (:func:`stcross.read_imputation`): its
            matrices are read on access. The values equal the in-memory result's.
        overwrite
            Replace an existing ``out`` file.
        genes_per_chunk
            Genes per block when streaming to ``out``.
        threads
            Torch intra-op threads for this call (as in :meth:`train`).

        Returns
        -------
        AnnData of ST cells x genes with ``X`` the predictive mean and layers
        ``"mean"``, ``"sd"``, ``"p_zero"`` (P(X = 0); P(X <= 0) for a Gaussian),
        ``"lower"``, ``"upper"`` (the interval). For genes ST did not measure, the mean
        blends the decoder with the latent-neighbour estimate by ``config.neighbor_blend``
        (stored in ``uns["stcross"]["neighbor_blend"]``); with the gaussian likelihood so does
        the spread, which then varies by cell. ``uns["stcross"]`` also says
        whether the interval is conformally calibrated (see :meth:`calibrate`); ``obs``
        and ``obsm`` are copies of the ST object's.
        """
        if not 0 < interval < 1:
            msg = f"interval must lie strictly between 0 and 1, got {interval}."
            raise InputError(msg)
        n_samples = validation.check_non_negative_int(n_samples, "n_samples", "0 uses the posterior mean of z, n > 0 averages n latent draws")
        seed = validation.check_seed(seed)
        batch_size = validation.check_positive_int(batch_size, "batch_size")
        genes_per_chunk = validation.check_positive_int(genes_per_chunk, "genes_per_chunk")
        path = None if out is None else to_disk.check_out_path(out, overwrite=overwrite)
        self.require_trained()
        names = self._resolve_genes(genes)
        calibrated = self.calibration is not None
        if calibrated:
            self.calibration.check_interval(interval, n_samples)
        else:
            logger.info("Intervals come from the predictive distribution and are not calibrated; run model.calibrate().")
        frame = self._imputation_frame(names, interval=interval, n_samples=n_samples)
        options = {"interval": interval, "n_samples": n_samples, "seed": seed, "batch_size": batch_size}
        with torch_threads(threads):
            predictor = self._predictor(names)
            if path is not None:
                to_disk.write_imputation(
                    path, frame, predictor, self._gene_positions(names), calibration=self.calibration,
                    genes_per_chunk=genes_per_chunk, **options,
                )
                return to_disk.read_imputation(path)
            summary = predictor.summary(self._gene_positions(names), **options)
        if calibrated:
            summary["lower"], summary["upper"] = self.calibration.interval(summary, names, interval)
        frame.X = summary["mean"].copy()
        for key in SUMMARY_LAYERS:
            frame.layers[key] = summary[key]
        return frame

    def _imputation_frame(self, names: list[str], *, interval: float, n_samples: int) -> ad.AnnData:
        """The imputation result without its matrices: ST annotations, genes, provenance."""
        calibrated = self.calibration is not None
        var = pd.DataFrame(index=pd.Index(names, name=None))
        var["measured_in_st"] = [g in set(self.plan.shared) for g in names]
        frame = ad.AnnData(obs=self._st_obs.copy(), var=var)
        for key, value in self._st_obsm.items():
            frame.obsm[key] = value.copy()
        frame.uns["stcross"] = {
            "interval": float(interval),
            "calibrated": calibrated,
            "interval_method": "conformal (held-out panel genes)" if calibrated else "predictive distribution (not calibrated)",
            "likelihood_st": self.likelihoods[ST],
            "n_samples": int(n_samples),
            "neighbor_blend": self.neighbor_blend,
        }
        return frame

    def locate(
        self, *, method: str = "metric", n_neighbors: int = 10, seed: int = 0, threads: int | None = DEFAULT_THREADS
    ) -> pd.DataFrame:
        """Spatial coordinates, with a per-cell uncertainty, for every SC cell.

        Parameters
        ----------
        method
            ``"metric"`` (default; the most accurate on the location benchmark, see
            benchmarks/REPORT.md): a small network, trained on the ST cells, embeds each
            cell's latent and shared genes so that spatial neighbours sit together; a cell's
            position is the mean position of its ``n_neighbors`` nearest ST cells in that
            embedding. Its sd adds the spread of the cell's 50 nearest ST cells there to
            that of its 10 nearest in the latent space (:mod:`stcross.locate.metric`).
            ``"knn"``: the same from the ``n_neighbors`` nearest ST cells in the latent space
            (similarity-weighted). ``"regression"``: a network trained on the ST cells'
            latents to predict their coordinates (with a per-cell variance), applied to the
            SC latents.
        n_neighbors
            Neighbours for ``"metric"`` and ``"knn"``.
        seed
            Seeds the training of the ``"metric"`` embedding and the ``"regression"`` head,
            and the approximate index of a large search (:func:`stcross.neighbors.top_k_similar`).
        threads
            Torch intra-op threads for this call (as in :meth:`train`).

        Returns
        -------
        DataFrame indexed by SC cell with columns ``x``, ``y`` (``z`` for 3D) in the ST
        coordinate units, and ``sd``: the root of the summed per-axis variances;
        ``attrs["method"]`` names the method.
        """
        with torch_threads(threads):
            z_sc, z_st = self.latent("sc", threads=None), self.latent("st", threads=None)
            coords, sd = locate_cells(
                z_st,
                self.coordinates,
                z_sc,
                panel_st=self.data[ST].partner_features,
                panel_query=self.data[SC].partner_features,
                method=method,
                n_neighbors=n_neighbors,
                seed=seed,
                device=self.device,
            )
        columns = ["x", "y", "z"][: coords.shape[1]]
        table = pd.DataFrame(coords, index=self.sc_cells.copy(), columns=columns)
        table["sd"] = sd
        table.attrs["method"] = method
        return table

    def calibrate(
        self,
        n_folds: int = 5,
        *,
        seed: int = 0,
        max_epochs: int | None = None,
        level_bins: int = 3,
        zero_bins: int = 1,
        min_genes: int = 5,
        sd_floor: float | None = None,
        nonnegative: bool | None = None,
        n_samples: int = 0,
        max_cells: int | None = 50_000,
        progress: bool = False,
        method: str = "masked",
        threads: int | None = DEFAULT_THREADS,
    ) -> CrossModalModel:
        """Conformal calibration of the prediction intervals on held-out panel genes.

        Each of ``n_folds`` folds of the shared genes is predicted as if ST had not measured
        it, and the scaled errors of those predictions calibrate the intervals that
        :meth:`impute` reports from then on.

        Parameters
        ----------
        n_folds
            Gene folds (at least 2).
        seed
            Seed of the gene folds.
        max_epochs
            Cap on the calibration training's epochs (default: as the model was trained).
        level_bins, zero_bins, min_genes, sd_floor, nonnegative
            How genes are grouped and scores computed: see :func:`stcross.impute.conformal.fit_calibration`.
        n_samples
            Latent draws behind the spreads; impute with the same value.
        max_cells
            Score at most this many ST cells per gene.
        progress
            Show the trainings' progress bars.
        method
            ``"masked"`` (default): one training that hides a random fold from ST at every step,
            with an ST encoder of its own per fold, then each fold scored hidden (about the
            cost of one training; see :mod:`stcross.impute.heldout_masked`). ``"refits"``: the
            model is trained again without each fold (``n_folds`` trainings). Over repeated
            draws, the masked method's 90% intervals covered 0.896-0.923 on osmFISH (refits
            0.894-0.911) at 2.3-3.5x the gene sd (refits 2.3-2.9x), and 0.873-0.889 on BDTNP
            (refits 0.884) at 2.9-3.1x (refits 3.1x) (benchmarks/REPORT.md, "One-pass calibration").
        threads
            Torch intra-op threads for this call (as in :meth:`train`).

        Returns
        -------
        The model itself; ``model.calibration`` holds the fitted calibration.
        """
        self.require_trained()
        heldout = {"refits": heldout_predictions, "masked": masked_heldout_predictions}.get(method)
        if heldout is None:
            msg = f"method must be 'refits' or 'masked', got {method!r}."
            raise InputError(msg)
        with torch_threads(threads):
            self.calibration = calibrate_model(
                self, heldout=heldout, n_folds=n_folds, seed=seed, max_epochs=max_epochs, level_bins=level_bins, zero_bins=zero_bins,
                min_genes=min_genes, sd_floor=sd_floor, nonnegative=nonnegative, n_samples=n_samples,
                max_cells=max_cells, progress=progress,
            )
        return self

    # -- persistence -------------------------------------------------------------------
    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the trained model to a directory (``config.json`` + ``model.pt``)."""
        self.require_trained()
        return persistence.save_model(self, Path(path), overwrite=overwrite)

    @classmethod
    def load(cls, path: str | Path, adata_sc: ad.AnnData, adata_st: ad.AnnData, *, device: str = "auto") -> CrossModalModel:
        """Rebuild a saved model over data with the genes it was trained on.

        Genes are matched by name. The cells may differ from the training data's (a trained
        model applied to a new section or sample): the weights are used as trained, and the
        cross-modal partner graph is built again from the cells given, so every prediction
        follows the partners found among them; this is logged when it happens. Loaded with
        the data it was trained on, the model reproduces its own results exactly.
        """
        return persistence.load_model(cls, Path(path), adata_sc, adata_st, device=device)

    def __repr__(self) -> str:
        state = f"trained ({len(self.history)} epochs)" if self.is_trained else "not trained"
        return (
            f"CrossModalModel: {len(self.sc_cells)} SC cells x {len(self.plan.decoder)} genes, "
            f"{len(self.st_cells)} ST cells x {len(self.plan.shared)} shared genes, "
            f"likelihoods {self.likelihoods[SC]}/{self.likelihoods[ST]}; {state}"
            + ("" if not self.is_trained else "; intervals calibrated" if self.calibration is not None
               else "; intervals not calibrated")
        )
