"""The gene plan: which genes align the modalities, which the decoder predicts, which may be imputed."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from ..errors import InputError

logger = logging.getLogger("stcross")

# Partners are found by correlating cells over the shared genes: over one gene every
# centred profile is zero, over two every correlation is +1 or -1.
MIN_SHARED_GENES = 3


def _fail(msg: str) -> None:
    raise InputError(msg)


@dataclass(frozen=True)
class GenePlan:
    """Which genes play which role.

    Attributes
    ----------
    shared
        ST panel genes also measured in SC, in ST order: alignment features and ST targets.
    decoder
        Genes the decoder predicts, in SC order: every imputable gene plus the shared ones.
    imputable
        Genes :meth:`~stcross.CrossModalModel.impute` may return.
    st_names
        Each shared gene's name in the ST object (differs only under case-insensitive matching).
    """

    shared: list[str]
    decoder: list[str]
    imputable: list[str]
    st_names: dict[str, str]


def case_map(names: pd.Index, role: str) -> dict[str, str]:
    upper = pd.Series(names, index=names.str.upper())
    clashes = upper.index[upper.index.duplicated()].unique()
    if len(clashes):
        _fail(
            f"case-insensitive matching is ambiguous: adata_{role} has genes differing only by case "
            f"(e.g. {upper.loc[clashes[0]].tolist()}). Rename them or match names exactly."
        )
    return dict(zip(upper.index, upper.to_numpy()))


def plan_genes(sc_genes: pd.Index, st_genes: pd.Index, genes=None, *, case_insensitive: bool = False) -> GenePlan:
    """Match the ST panel to the SC genes and decide the imputable genes.

    Exact matching by default. ``case_insensitive=True`` matches upper-cased names and
    reports the names in the SC spelling.
    """
    if case_insensitive:
        sc_by_key, st_by_key = case_map(sc_genes, "sc"), case_map(st_genes, "st")
        st_keys = [str(g).upper() for g in st_genes]
        shared = [sc_by_key[k] for k in st_keys if k in sc_by_key]
        st_names = {sc_by_key[k]: st_by_key[k] for k in st_keys if k in sc_by_key}
        renamed = {sc: st for sc, st in st_names.items() if sc != st}
        if renamed:
            logger.info("Matched %d ST genes to SC genes ignoring case, e.g. %s.", len(renamed), list(renamed.items())[:3])
    else:
        sc_set = set(sc_genes)
        shared = [g for g in st_genes if g in sc_set]
        st_names = {g: g for g in shared}
    hint = ""
    if not case_insensitive and len(set(map(str.upper, sc_genes)) & set(map(str.upper, st_genes))) > len(shared):
        hint = " More names match when case is ignored: pass case_insensitive=True to match them."
    if not shared:
        _fail(
            "No shared genes: none of the ST panel genes is among the SC genes "
            f"(ST e.g. {[str(g) for g in st_genes[:3]]}, SC e.g. {[str(g) for g in sc_genes[:3]]}).{hint}"
        )
    if len(shared) < MIN_SHARED_GENES:
        _fail(
            f"Only {len(shared)} shared gene{'s' if len(shared) > 1 else ''} between the ST panel and the SC data "
            f"({[str(g) for g in shared]}); stcross needs at least {MIN_SHARED_GENES}. Cells of the two modalities "
            "are paired by correlating their profiles over the shared genes, and over fewer than 3 genes every "
            "correlation is 0 or +-1, so every cell would get arbitrary partners. Check that both objects name "
            f"genes the same way (symbols vs IDs), or use data with more genes in common.{hint}"
        )
    missing_st = len(st_genes) - len(shared)
    if missing_st:
        logger.warning(
            "%d of %d ST genes are not in the SC data and are left out of training and alignment.",
            missing_st,
            len(st_genes),
        )
    if not case_insensitive:
        lower_hits = set(map(str.upper, sc_genes)) & {str(g).upper() for g in st_genes if g not in set(shared)}
        if lower_hits:
            logger.warning(
                "%d ST genes match SC genes only when case is ignored (e.g. %s); pass case_insensitive=True "
                "to use them.",
                len(lower_hits),
                sorted(lower_hits)[:3],
            )
    if genes is None:
        imputable = list(sc_genes)
    else:
        imputable = lookup_genes(
            genes, sc_genes, case_insensitive=case_insensitive,
            empty="genes= is empty; pass None to impute every SC gene or a list of SC gene names.",
            absent="{n} requested genes are not in the SC data, e.g. {examples}; only SC genes can be imputed.",
        )
    keep = set(imputable) | set(shared)
    decoder = [g for g in sc_genes if g in keep]
    return GenePlan(
        shared=shared, decoder=decoder, imputable=imputable, st_names=st_names
    )


def lookup_genes(genes, names, *, case_insensitive: bool, empty: str, absent: str) -> list[str]:
    """The requested ``genes`` as spelled in ``names`` (ignoring case when asked), each once, in request order.

    ``empty`` is the error for an empty request; ``absent`` the error (a format string with
    ``{n}`` and ``{examples}``) for genes not among ``names``.
    """
    requested = [genes] if isinstance(genes, str) else list(genes)
    if not requested:
        _fail(empty)
    key = (lambda g: str(g).upper()) if case_insensitive else (lambda g: g)
    lookup = {key(g): g for g in names}
    missing = [g for g in requested if key(g) not in lookup]
    if missing:
        _fail(absent.format(n=len(missing), examples=[str(g) for g in missing[:5]]))
    return list(dict.fromkeys(lookup[key(g)] for g in requested))
