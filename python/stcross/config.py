"""Model and training settings as small frozen dataclasses that round-trip to JSON."""
from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any

from .errors import InputError, InputTypeError
from .likelihoods import get_likelihood


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and loss settings of :class:`stcross.CrossModalModel`.

    Parameters
    ----------
    n_hidden
        Width of the encoder and decoder hidden layers.
    n_latent
        Dimension of the shared Gaussian latent space.
    n_heads
        Attention heads in the cross-attention block.
    n_partners
        Cross-modal partners each cell attends to (the partner graph's k).
    n_input_genes
        Most variable SC genes fed to the SC encoder besides the shared ones (0: the
        shared genes only, so both encoders see the same genes; this imputed better
        on both benchmark datasets). The decoder always covers every imputable gene.
    n_pcs
        Principal components (fitted on both modalities) used to find partners;
        0 uses the z-scored shared genes directly.
    dropout
        Dropout rate in the encoders.
    contrastive_weight
        Weight of the InfoNCE alignment term (the paper uses 5).
    contrastive_temperature
        Temperature of the cosine-similarity logits in the alignment term.
    kl_weight
        Final weight of the KL term after warm-up.
    mixing_weight
        Weight of a maximum mean discrepancy (MMD) penalty between the SC and the ST
        latent means of each minibatch, which pulls the two modalities' latent
        distributions onto each other; 0 (the default) turns it off.
    same_modality_negatives
        Count the anchor's own modality's cells in the batch as negatives of the alignment
        term too. Against the other modality's cells alone, InfoNCE only ranks partners and
        leaves any offset between the modalities free; with both, a cell's partner must be
        nearer than the cells of its own modality. Both options mix the modalities in the
        latent space (for a joint UMAP) at a cost in imputation accuracy, so both are off
        by default: on osmFISH, ``same_modality_negatives=True`` raised the mixing score
        from 0.14 (SC) / 0.01 (ST) to 0.64 / 0.53 and lowered the held-out PCC from 0.395
        to 0.368 (benchmarks/REPORT.md, "Integration"). For a mixed view without that
        cost, draw :meth:`stcross.CrossModalModel.joint_embedding` instead (0.85 / 1.05).
    balance_modalities
        Weight the SC ELBO by (panel genes / SC genes), so that a transcriptome-wide SC
        likelihood does not drown the ST panel and the alignment term.
    spatial_context
        If > 0, each ST cell's encoder also reads the mean panel profile of its
        ``spatial_context`` nearest spatial neighbours (0 turns this off).
    neighbor_blend
        Weight ``w`` of the latent-neighbour estimate in the imputed mean of a gene ST
        did not measure: mean = (1 - w) * decoder + w * the similarity-weighted SC values
        of the ST cell's ``n_blend_neighbors`` nearest SC cells in the joint latent space
        (on ST's scale). For the gaussian likelihood the spread becomes the mixture's of
        the two estimates, so it varies by cell. ``None``: 0.5 when both likelihoods are gaussian, where it
        imputed better, and 0 for counts, where raw neighbours' counts imputed worse
        (benchmarks/REPORT.md). Only 0 is allowed with a count and a gaussian likelihood.
    n_blend_neighbors
        SC neighbours behind the latent-neighbour estimate.
    """

    n_hidden: int = 128
    n_latent: int = 20
    n_heads: int = 4
    n_partners: int = 15
    n_input_genes: int = 0
    n_pcs: int = 50
    dropout: float = 0.1
    contrastive_weight: float = 5.0
    contrastive_temperature: float = 0.1
    kl_weight: float = 1.0
    mixing_weight: float = 0.0
    same_modality_negatives: bool = False
    balance_modalities: bool = True
    spatial_context: int = 8
    neighbor_blend: float | None = None
    n_blend_neighbors: int = 30

    def __post_init__(self) -> None:
        for name in ("n_hidden", "n_latent", "n_heads", "n_partners", "n_blend_neighbors"):
            if int(getattr(self, name)) < 1:
                msg = f"ModelConfig.{name} must be a positive integer, got {getattr(self, name)!r}."
                raise InputError(msg)
        if self.n_hidden % self.n_heads:
            msg = f"ModelConfig.n_hidden ({self.n_hidden}) must be divisible by n_heads ({self.n_heads})."
            raise InputError(msg)
        for name in ("n_input_genes", "spatial_context", "n_pcs"):
            if int(getattr(self, name)) < 0:
                msg = f"ModelConfig.{name} must be >= 0, got {getattr(self, name)!r}."
                raise InputError(msg)
        if self.mixing_weight < 0:
            msg = f"ModelConfig.mixing_weight must be >= 0 (0 turns the MMD term off), got {self.mixing_weight}."
            raise InputError(msg)
        if not 0 <= self.dropout < 1:
            msg = f"ModelConfig.dropout must lie in [0, 1), got {self.dropout}."
            raise InputError(msg)
        if self.neighbor_blend is not None and not 0 <= self.neighbor_blend <= 1:
            msg = f"ModelConfig.neighbor_blend must lie in [0, 1] (or be None for the default), got {self.neighbor_blend}."
            raise InputError(msg)

    def blend_weight(self, likelihoods: tuple[str, str]) -> float:
        """The latent-neighbour weight for these (SC, ST) likelihoods (resolves ``None``)."""
        sc, st = (get_likelihood(name) for name in likelihoods)
        if self.neighbor_blend is None:
            return 0.5 if not (sc.is_count or st.is_count) else 0.0
        same_family = sc.is_count == st.is_count
        if self.neighbor_blend > 0 and not same_family:
            msg = (
                f"neighbor_blend={self.neighbor_blend} needs both likelihoods counts or both gaussian, got "
                f"{likelihoods[0]!r} (SC) and {likelihoods[1]!r} (ST): SC values cannot be put on ST's scale. "
                "Use neighbor_blend=0 (or None)."
            )
            raise InputError(msg)
        return float(self.neighbor_blend)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """The inverse of :meth:`to_dict`; a key that is not a field is an error, never dropped."""
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            msg = f"Unknown ModelConfig fields {unknown}; the fields are {[f.name for f in dataclasses.fields(cls)]}."
            raise InputError(msg)
        return cls(**values)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings used by :meth:`stcross.CrossModalModel.train`.

    ``max_epochs=None`` picks a budget from the data size (about 250 gradient steps,
    between 8 and 200 epochs); early stopping on held-out cells can end it sooner.
    """

    max_epochs: int | None = None
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-5
    kl_warmup_fraction: float = 0.3
    validation_fraction: float = 0.1
    patience: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        if self.batch_size < 2:
            msg = (
                f"batch_size must be at least 2 (got {self.batch_size}): the alignment loss "
                "contrasts each cell with the others in its batch."
            )
            raise InputError(msg)
        if self.max_epochs is not None and self.max_epochs < 1:
            msg = f"max_epochs must be a positive integer or None, got {self.max_epochs}."
            raise InputError(msg)
        if not 0 <= self.validation_fraction < 0.5:
            msg = f"validation_fraction must lie in [0, 0.5), got {self.validation_fraction}."
            raise InputError(msg)
        if self.lr <= 0:
            msg = f"lr must be positive, got {self.lr}."
            raise InputError(msg)
        integer = isinstance(self.seed, numbers.Integral) and not isinstance(self.seed, bool)
        if not integer or self.seed < 0:
            msg = (
                f"seed must be a non-negative integer, got {self.seed!r}; pass an integer such as 0 "
                "(the same seed gives the same model; there is no unseeded mode)."
            )
            raise InputError(msg) if integer else InputTypeError(msg)
        object.__setattr__(self, "seed", int(self.seed))  # a NumPy integer would not survive JSON

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
