"""The cross-modal VAE as a plain ``torch.nn.Module``: its layers, generation and loss terms.

Modality 0 is SC, modality 1 is ST. Each modality has its own encoder and partner
attention; the latent layers and the decoder are shared. :meth:`CrossModalVAE.inference`
encodes cells attending to their partners' cached states (:mod:`stcross.module.partner_cache`), and
:meth:`CrossModalVAE.forward` returns one batch's loss terms. The decoder predicts one logit
per decoder gene; for a count likelihood those become expression fractions renormalised
over the genes the cell's modality measures, times the cell's library size.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import ModelConfig
from ..likelihoods import get_likelihood
from .nn import Decoder, Encoder, EncoderPath, GaussianLatent, PartnerAttention

SC, ST = 0, 1


@dataclass(frozen=True)
class PanelMask:
    """ST panel genes hidden in a training step, as if ST had not measured them.

    Under a mask, ST's likelihood trains no gene's own decoder weights (only the shared layers
    and z): each gene's are then learnt from SC alone, as those of a gene ST never measured.

    Attributes
    ----------
    input_columns
        ST encoder input columns of the hidden genes (their own and their neighbourhood's);
        they are set to 0, the standardised inputs' mean.
    kept
        Positions, within the panel, of the genes still observed: the ST likelihood (and, for
        counts, the library size and the renormalisation of the expression fractions) covers
        these only.
    path
        The fold's own ST encoder path (:meth:`CrossModalVAE.add_fold_paths`), or None for the
        shared ST encoder. Under a path, ST's likelihood trains that path alone: the decoder
        learns from SC only, so no fold's genes reach another fold's predictions through it.
    """

    input_columns: torch.Tensor
    kept: torch.Tensor
    path: int | None = None

    def hide(self, x: torch.Tensor) -> torch.Tensor:
        """ST encoder inputs ``x`` with the hidden genes' columns at 0 (the standardised mean), as if not measured."""
        return x.index_fill(1, self.input_columns.to(x.device), 0.0)


@dataclass
class LossTerms:
    """One minibatch's loss and its parts (per-cell averages)."""

    total: torch.Tensor
    reconstruction_sc: torch.Tensor
    reconstruction_st: torch.Tensor
    kl: torch.Tensor
    alignment: torch.Tensor
    mixing: torch.Tensor

    def as_floats(self) -> dict[str, float]:
        return {k: float(v.detach()) for k, v in self.__dict__.items()}

    def add_share_to(self, sums: dict[str, torch.Tensor], n_steps: int) -> None:
        """Add each term / ``n_steps`` to ``sums``, in float64 on the terms' device: nothing is
        read back to the host, so a GPU step waits on no sync. (The float64 arithmetic of summing
        :meth:`as_floats` / ``n_steps``, so CPU histories are unchanged to the bit.)"""
        for key, value in self.__dict__.items():
            share = value.detach().to(torch.float64) / n_steps
            sums[key] = share if key not in sums else sums[key] + share


class CrossModalVAE(nn.Module):
    """Attention-based cross-modal VAE over an SC gene space and an ST panel.

    Parameters
    ----------
    n_inputs
        Encoder input widths (SC, ST).
    n_genes
        Number of decoder genes (SC genes kept for imputation, shared genes included).
    st_gene_index
        Positions of the ST panel genes among the decoder genes.
    likelihoods
        Likelihood names (SC, ST).
    config
        Architecture settings.
    """

    def __init__(
        self,
        n_inputs: tuple[int, int],
        n_genes: int,
        st_gene_index: torch.Tensor,
        likelihoods: tuple[str, str],
        config: ModelConfig,
    ):
        super().__init__()
        self.config = config
        self.likelihoods = likelihoods
        self.observation = tuple(get_likelihood(name) for name in likelihoods)
        self.register_buffer("st_gene_index", st_gene_index.long())
        # Each modality's ELBO counts as if it measured the panel's number of genes:
        # otherwise thousands of SC genes drown the ST panel and the alignment term.
        # Weighting the whole ELBO (not only its likelihood) keeps SC's KL balance intact.
        n_panel = len(st_gene_index)
        self.elbo_weight = (min(1.0, n_panel / n_genes), 1.0) if config.balance_modalities else (1.0, 1.0)
        d = config.n_hidden
        self.encoders = nn.ModuleList([Encoder(n, d, config.dropout) for n in n_inputs])
        self.attention = nn.ModuleList([PartnerAttention(d, config.n_heads, config.dropout) for _ in range(2)])
        self.latent = GaussianLatent(d, config.n_latent)
        self.decoder = Decoder(
            config.n_latent, d, n_genes, zero_inflation=any(lik.zero_inflated for lik in self.observation)
        )
        # Per-modality, per-gene parameters; ST's are only trained on its panel genes.
        self.log_theta = nn.Parameter(torch.full((2, n_genes), 2.0))
        self.log_sigma = nn.Parameter(torch.full((2, n_genes), -1.0))
        self.gauss_scale = nn.Parameter(torch.ones(2, n_genes))
        self.gauss_shift = nn.Parameter(torch.zeros(2, n_genes))
        # Observed per-gene mean and sd of each modality (ST: panel genes only, NaN elsewhere);
        # they place genes ST never measured on ST's scale (see st_scale.st_gene_parameters).
        self.register_buffer("marginal_mean", torch.full((2, n_genes), float("nan")))
        self.register_buffer("marginal_sd", torch.full((2, n_genes), float("nan")))
        # ST encoder paths of one gene fold each, for calibration without refits (none otherwise).
        self.fold_paths = nn.ModuleList()

    def add_fold_paths(self, n_paths: int) -> None:
        """Give ST ``n_paths`` encoder paths of its own, one per gene fold's :class:`PanelMask`.

        A path is only used, and only trained, with its fold hidden, so it never learns from
        the fold's genes; with the decoder left to SC under a path, the fold's predictions are
        as leak-free as a refit's, while SC's side and the decoder are trained once for all folds.
        """
        config = self.config
        n_input = self.encoders[ST].net[0].in_features
        for _ in range(n_paths):
            self.fold_paths.append(EncoderPath(n_input, config.n_hidden, config.n_heads, config.n_latent, config.dropout))

    def state_encoder(self, modality: int, path: int | None = None) -> nn.Module:
        """The encoder whose states a modality's cells present to their partners (ST: of fold path ``path``)."""
        return self.encoders[modality] if path is None or modality == SC else self.fold_paths[path].encoder

    def initialize_from_data(self, sc_mean: torch.Tensor, sc_std: torch.Tensor, st_mean: torch.Tensor, st_std: torch.Tensor) -> None:
        """Start each gene at its observed level and spread, so training begins from the marginals.

        ``sc_*`` cover the decoder genes, ``st_*`` the panel genes; for counts the means are
        expression fractions, for a Gaussian likelihood the raw values' mean and sd.
        """
        with torch.no_grad():
            for modality, mean, std, genes in ((SC, sc_mean, sc_std, slice(None)), (ST, st_mean, st_std, self.st_gene_index)):
                self.marginal_mean[modality, genes] = mean
                self.marginal_sd[modality, genes] = std
                if not self.observation[modality].is_count:
                    self.gauss_shift[modality, genes] = mean
                    self.gauss_scale[modality, genes] = std.clamp_min(1e-3)
                    self.log_sigma[modality, genes] = torch.log(std.clamp_min(1e-3))
            if self.observation[SC].is_count:
                self.decoder.logits.bias.copy_(torch.log(sc_mean.clamp_min(1e-8)))

    # -- inference ---------------------------------------------------------------------
    def inference(
        self,
        modality: int,
        x: torch.Tensor,
        partners: torch.Tensor,
        similarity: torch.Tensor,
        partner_states: torch.Tensor,
        path: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance of cells ``x`` of ``modality``, each attending to the
        states (rows of ``partner_states``, the other modality's) of its ``partners``; ST through
        fold path ``path`` when given."""
        if path is not None and modality == ST:
            return self.fold_paths[path](x, partner_states, partners, similarity)
        h = self.encoders[modality](x)
        h = self.attention[modality](h, partner_states, partners, similarity)
        return self.latent(h)

    # -- generation --------------------------------------------------------------------
    def gene_parameters(self, modality: int, gene_index: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Per-gene likelihood parameters of a modality, restricted to ``gene_index``."""
        def pick(p: torch.Tensor) -> torch.Tensor:
            row = p[modality]
            return row if gene_index is None else row[gene_index]

        return {
            "theta": torch.exp(pick(self.log_theta)).clamp(1e-3, 1e5),
            "sigma": torch.exp(pick(self.log_sigma)).clamp(1e-3, 1e3),
            "scale": pick(self.gauss_scale),
            "shift": pick(self.gauss_shift),
        }

    def predictive(
        self,
        modality: int,
        z: torch.Tensor,
        library: torch.Tensor,
        *,
        gene_index: torch.Tensor | None = None,
        normalize_index: torch.Tensor | None = None,
        gene_params: dict[str, torch.Tensor] | None = None,
        frozen_genes: bool = False,
        frozen_decoder: bool = False,
    ):
        """The observation distribution of ``modality`` for genes ``gene_index`` given z.

        For a count likelihood, expression fractions are renormalised over
        ``normalize_index`` (the genes the modality measures; None: the genes returned)
        and scaled by ``library``. ``frozen_genes``: the genes' own decoder weights get no
        gradient from this distribution (only the shared layers and z do); ``frozen_decoder``:
        the shared layers get none either (only z does).
        """
        likelihood = self.observation[modality]
        params = gene_params if gene_params is not None else self.gene_parameters(modality, gene_index)
        h = self.decoder.hidden(z, frozen=frozen_decoder)
        frozen_genes = frozen_genes or frozen_decoder
        logits = self.decoder.gene_logits(h, gene_index, frozen=frozen_genes)
        if not likelihood.is_count:
            mean = params["scale"] * logits + params["shift"]
            return likelihood.distribution(mean, params, None)
        same_genes = normalize_index is None or normalize_index is gene_index
        norm_logits = logits if same_genes else self.decoder.gene_logits(h, normalize_index, frozen=frozen_genes)
        mean = torch.exp(logits - torch.logsumexp(norm_logits, dim=1, keepdim=True)) * library.unsqueeze(1)
        zi = self.decoder.zero_inflation_logits(h, gene_index, frozen=frozen_genes)
        return likelihood.distribution(mean, params, zi)

    # -- loss --------------------------------------------------------------------------
    def forward(
        self,
        batch,
        partner_states: tuple[torch.Tensor, torch.Tensor],
        *,
        kl_weight: float = 1.0,
        generator: torch.Generator | None = None,
        mask: PanelMask | None = None,
    ) -> LossTerms:
        """The loss terms of one :class:`~stcross.module.partner_cache.Batch`.

        ``partner_states`` are every cell's cached encoder states (SC, ST); ``kl_weight`` is the
        warm-up factor on the KL term. ``generator=None`` evaluates at z's mean (validation);
        otherwise z is sampled from it. ``mask`` hides some panel genes from ST in this step
        (and, with a fold path, encodes ST by that path).
        """
        n_sc, n_st = batch.n_cells
        st_inputs = batch.inputs[ST] if mask is None else mask.hide(batch.inputs[ST])
        mean_sc, log_var_sc = self.inference(SC, batch.inputs[SC], batch.partners[SC], batch.similarity[SC], partner_states[ST])
        mean_st, log_var_st = self.inference(
            ST, st_inputs, batch.partners[ST], batch.similarity[ST], partner_states[SC], None if mask is None else mask.path
        )

        def latent(mean, log_var):
            return mean if generator is None else self.sample(mean, log_var, generator)

        rec_sc = self.reconstruction(SC, latent(mean_sc[:n_sc], log_var_sc[:n_sc]), batch.targets[SC], batch.library[SC]).mean()
        rec_st = self.reconstruction(
            ST, latent(mean_st[:n_st], log_var_st[:n_st]), batch.targets[ST], batch.library[ST],
            kept=None if mask is None else mask.kept, own_path=mask is not None and mask.path is not None,
        ).mean()
        kl_sc = self.kl_divergence(mean_sc[:n_sc], log_var_sc[:n_sc]).mean()
        kl_st = self.kl_divergence(mean_st[:n_st], log_var_st[:n_st]).mean()
        # Each cell against the positive partner encoded after the other modality's own cells.
        align = 0.5 * (self.alignment(mean_sc[:n_sc], mean_st[n_st:]) + self.alignment(mean_st[:n_st], mean_sc[n_sc:]))
        beta = kl_weight * self.config.kl_weight
        w_sc, w_st = self.elbo_weight
        total = w_sc * (rec_sc + beta * kl_sc) + w_st * (rec_st + beta * kl_st) + self.config.contrastive_weight * align
        mixing = mmd(mean_sc[:n_sc], mean_st[:n_st]) if self.config.mixing_weight > 0 else torch.zeros_like(total)
        total = total + self.config.mixing_weight * mixing
        return LossTerms(total, rec_sc, rec_st, 0.5 * (kl_sc + kl_st), align, mixing)

    def reconstruction(
        self, modality: int, z: torch.Tensor, targets: torch.Tensor, library: torch.Tensor, *,
        kept: torch.Tensor | None = None, own_path: bool = False,
    ) -> torch.Tensor:
        """Negative log-likelihood per cell on the genes the modality measures (ST: those of them at ``kept``,
        with the genes' own decoder weights left to SC; ``own_path``: the whole decoder left to SC)."""
        index = self.st_gene_index if modality == ST else None
        if kept is not None:
            index, targets = index[kept], targets[:, kept]
            if self.observation[ST].is_count:
                library = targets.sum(dim=1)
        # Under a mask, ST trains no gene's own decoder weights: every gene's are learnt from SC
        # alone, as those of a gene ST never measured are.
        dist = self.predictive(modality, z, library, gene_index=index, frozen_genes=kept is not None, frozen_decoder=own_path)
        return -dist.log_prob(targets).sum(dim=1)

    @staticmethod
    def kl_divergence(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        return 0.5 * (mean**2 + log_var.exp() - 1.0 - log_var).sum(dim=1)

    def alignment(self, anchors: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
        """InfoNCE: each anchor's partner against the other cells of the batch (both directions)."""
        a = nn.functional.normalize(anchors, dim=1)
        p = nn.functional.normalize(positives, dim=1)
        t = self.config.contrastive_temperature
        logits = a @ p.T / t
        target = torch.arange(len(a), device=a.device)
        if not self.config.same_modality_negatives:
            return 0.5 * (nn.functional.cross_entropy(logits, target) + nn.functional.cross_entropy(logits.T, target))
        self_mask = torch.eye(len(a), dtype=torch.bool, device=a.device)
        within_a = (a @ a.T / t).masked_fill(self_mask, float("-inf"))
        within_p = (p @ p.T / t).masked_fill(self_mask, float("-inf"))
        return 0.5 * (
            nn.functional.cross_entropy(torch.cat([logits, within_a], dim=1), target)
            + nn.functional.cross_entropy(torch.cat([logits.T, within_p], dim=1), target)
        )

    @staticmethod
    def sample(mean: torch.Tensor, log_var: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        noise = torch.randn(mean.shape, generator=generator, device=mean.device if generator is None else generator.device)
        return mean + noise.to(mean.device) * torch.exp(0.5 * log_var)


def mmd(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared maximum mean discrepancy between samples ``a`` and ``b`` (rows), with Gaussian
    kernels at five bandwidths around the median squared distance of the pooled rows."""
    if len(a) == 0 or len(b) == 0:
        return a.new_zeros(())
    pooled = torch.cat([a, b])
    d2 = torch.cdist(pooled, pooled).pow(2)
    scale = d2.detach().median().clamp_min(1e-6)
    kernel = sum(torch.exp(-d2 / (scale * f)) for f in (0.25, 0.5, 1.0, 2.0, 4.0))
    n = len(a)
    return kernel[:n, :n].mean() + kernel[n:, n:].mean() - 2 * kernel[:n, n:].mean()

