"""Imputation: predictive summaries, genes on ST's scale, the latent-neighbour blend, conformal calibration."""
