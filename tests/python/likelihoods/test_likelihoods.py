"""The observation models (stcross.likelihoods) and count quantiles against scipy.stats.

NB(mu, theta) is scipy's nbinom with n = theta, p = theta / (theta + mu); the ZINB mixes it
with a point mass at zero of weight pi = sigmoid(zi_logits).
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as stats
import torch
from scipy.special import expit
from stcross.likelihoods import (
    NegativeBinomial,
    ZeroInflatedNegativeBinomial,
    get_likelihood,
)
from stcross.likelihoods.quantiles import count_quantile, nb_quantile, poisson_quantile

# Means from nearly zero to large, dispersions from very overdispersed to nearly Poisson.
MU = np.array([1e-3, 0.05, 0.4, 1.0, 3.7, 12.0, 80.0, 650.0])
THETA = np.array([0.05, 0.3, 1.0, 2.5, 10.0, 1e3])
VALUES = np.array([0, 1, 2, 3, 7, 20, 150, 900])


def _grid():
    mu, theta = np.meshgrid(MU, THETA, indexing="ij")
    return mu.ravel(), theta.ravel()


def _nbinom(mu, theta):
    return stats.nbinom(n=theta, p=theta / (theta + mu))


def _t(x):
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def _dist(name, mean, theta=None, zi_logits=None, scale=None):
    return get_likelihood(name).distribution(mean, {"theta": theta, "sigma": scale}, zi_logits)


def test_nb_log_prob_mean_variance_and_zero_probability_match_scipy():
    mu, theta = _grid()
    dist = NegativeBinomial(_t(mu)[:, None], _t(theta)[:, None])
    reference = _nbinom(mu[:, None], theta[:, None])
    # rtol 1e-5: the log terms carry a 1e-8 floor (log(mu + 1e-8)), felt at mu = 1e-3 and large counts.
    np.testing.assert_allclose(dist.log_prob(_t(VALUES)[None, :]).numpy(), reference.logpmf(VALUES[None, :]),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dist.mean.numpy()[:, 0], reference.mean()[:, 0], rtol=1e-9)
    np.testing.assert_allclose(dist.variance.numpy()[:, 0], reference.var()[:, 0], rtol=1e-10)
    np.testing.assert_allclose(dist.zero_probability().numpy()[:, 0], reference.pmf(0)[:, 0], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(get_likelihood("nb").zero_probability(dist).numpy(), dist.zero_probability().numpy())


def test_nb_log_prob_at_non_zeros_only_matches_the_full_formula_and_its_gradients():
    gen = torch.Generator().manual_seed(0)
    value = torch.poisson(torch.rand(40, 30, generator=gen) * 3, generator=gen) * (torch.rand(40, 30, generator=gen) > 0.7)
    log_mu = torch.randn(40, 30, generator=gen, dtype=torch.float64, requires_grad=True)
    log_theta = torch.randn(30, generator=gen, requires_grad=True)  # float32 against float64 mu
    mu, theta = log_mu.exp(), log_theta.exp()
    full = (
        theta * (torch.log(theta + 1e-8) - torch.log(theta + mu + 1e-8)) + value * (torch.log(mu + 1e-8) - torch.log(theta + mu + 1e-8))
        + torch.lgamma(value + theta) - torch.lgamma(theta) - torch.lgamma(value + 1)
    )
    fast = NegativeBinomial(mu, theta).log_prob(value)
    torch.testing.assert_close(fast, full)
    grads_fast = torch.autograd.grad(fast.sum(), (log_mu, log_theta), retain_graph=True)
    grads_full = torch.autograd.grad(full.sum(), (log_mu, log_theta))
    for a, b in zip(grads_fast, grads_full):
        # theta's float32 gradient sums over cells in another order: rounding of ~1e-5 relative.
        torch.testing.assert_close(a, b, rtol=2e-5, atol=1e-5)
    scalar = NegativeBinomial(torch.tensor(2.0), torch.tensor(3.0)).log_prob(torch.tensor(1.0))
    assert scalar.shape == () and abs(float(scalar) - stats.nbinom.logpmf(1, 3.0, 3.0 / 5.0)) < 1e-5


def test_nb_probabilities_sum_to_one():
    dist = NegativeBinomial(_t([0.5, 4.0, 30.0])[:, None], _t([0.2, 2.0, 50.0])[:, None])
    support = _t(np.arange(20000))[None, :]
    total = dist.log_prob(support).exp().sum(1).numpy()
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


@pytest.mark.parametrize("logit", [-6.0, -1.0, 0.0, 2.0])
def test_zinb_is_the_mixture_of_a_zero_mass_and_the_nb(logit):
    mu, theta = _grid()
    pi = expit(logit)
    dist = ZeroInflatedNegativeBinomial(_t(mu)[:, None], _t(theta)[:, None], _t(np.full((mu.size, 1), logit)))
    nb = _nbinom(mu[:, None], theta[:, None])
    pmf = (1 - pi) * nb.pmf(VALUES[None, :]) + pi * (VALUES[None, :] == 0)
    with np.errstate(divide="ignore"):
        expected = np.log(pmf)
    finite = np.isfinite(expected)
    got = dist.log_prob(_t(VALUES)[None, :]).numpy()
    np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dist.zi_probs.numpy(), pi, rtol=1e-12)
    # Moments of the mixture: E = (1 - pi) mu, Var = E[X^2] - E^2 with E[X^2] = (1 - pi) (var_nb + mu^2).
    mean = (1 - pi) * mu
    second = (1 - pi) * (nb.var()[:, 0] + mu**2)
    np.testing.assert_allclose(dist.mean.numpy()[:, 0], mean, rtol=1e-10)
    np.testing.assert_allclose(dist.variance.numpy()[:, 0], second - mean**2, rtol=1e-8)
    np.testing.assert_allclose(dist.zero_probability().numpy()[:, 0], pmf[:, 0], rtol=1e-6, atol=1e-9)


def test_poisson_and_gaussian_likelihoods_match_scipy():
    rate = MU[:, None]
    poisson = _dist("poisson", _t(rate))
    np.testing.assert_allclose(poisson.log_prob(_t(VALUES)[None, :]).numpy(), stats.poisson.logpmf(VALUES, rate),
                               rtol=1e-5, atol=1e-5)  # the rate carries a 1e-8 floor
    np.testing.assert_allclose(get_likelihood("poisson").zero_probability(poisson).numpy(), stats.poisson.pmf(0, rate),
                               rtol=1e-5)
    np.testing.assert_allclose(poisson.variance.numpy(), rate, rtol=1e-5)

    loc, scale = np.array([[-1.0], [0.0], [0.3], [4.0]]), np.array([[0.5], [1.0], [2.0], [0.1]])
    x = np.array([-2.0, 0.0, 0.7, 4.1])
    normal = _dist("gaussian", _t(loc), scale=_t(scale))
    np.testing.assert_allclose(normal.log_prob(_t(x)[None, :]).numpy(), stats.norm.logpdf(x, loc, scale), rtol=1e-12)
    # For log-scale data "zero" is P(X <= 0).
    np.testing.assert_allclose(get_likelihood("gaussian").zero_probability(normal).numpy(), stats.norm.cdf(0, loc, scale),
                               rtol=1e-12)


def test_the_registry_builds_each_family_and_refuses_others():
    mu, theta, logits = _t([[2.0]]), _t([[3.0]]), _t([[0.0]])
    assert type(_dist("nb", mu, theta=theta)) is NegativeBinomial
    assert type(_dist("zinb", mu, theta=theta, zi_logits=logits)) is ZeroInflatedNegativeBinomial
    assert [name for name in ("zinb", "nb", "poisson", "gaussian") if get_likelihood(name).is_count] == ["zinb", "nb", "poisson"]
    with pytest.raises(ValueError, match=r"likelihood_st='tweedie' is not supported; choose one of \['zinb'"):
        get_likelihood("tweedie", "st")


def test_with_mean_moves_the_mean_and_keeps_the_shape_parameters():
    target = _t([[0.5, 3.0, 40.0]])
    mu, theta, logits = _t([[2.0, 2.0, 2.0]]), _t([[0.7, 5.0, 30.0]]), _t([[-1.0, 0.5, 2.0]])
    for name, dist in (("nb", NegativeBinomial(mu, theta)), ("zinb", ZeroInflatedNegativeBinomial(mu, theta, logits)),
                       ("poisson", _dist("poisson", mu)), ("gaussian", _dist("gaussian", mu, scale=theta))):
        moved = get_likelihood(name).with_mean(dist, target)
        assert type(moved) is type(dist)
        np.testing.assert_allclose(moved.mean.numpy(), target.numpy(), rtol=1e-6)
    zinb = get_likelihood("zinb").with_mean(ZeroInflatedNegativeBinomial(mu, theta, logits), target)
    np.testing.assert_allclose(zinb.theta.numpy(), theta.numpy())
    np.testing.assert_allclose(zinb.zi_probs.numpy(), expit(logits.numpy()))


def test_gaussian_blend_has_the_moments_of_the_mixture():
    loc, scale = _t([[0.0, 1.0]]), _t([[1.0, 0.5]])
    other_mean, other_var, w = _t([[2.0, 1.0]]), _t([[4.0, 0.25]]), _t([[0.3, 0.5]])
    blended = get_likelihood("gaussian").blend(_dist("gaussian", loc, scale=scale), w, other_mean, other_var)
    # Mixture (1 - w) N(loc, scale^2) + w N(other_mean, other_var), computed from raw moments.
    first = (1 - w) * loc + w * other_mean
    second = (1 - w) * (scale**2 + loc**2) + w * (other_var + other_mean**2)
    np.testing.assert_allclose(blended.mean.numpy(), first.numpy(), rtol=1e-12)
    np.testing.assert_allclose(blended.variance.numpy(), (second - first**2).numpy(), rtol=1e-10)


# -- quantiles ------------------------------------------------------------------------------------

QUANTILE_LEVELS = np.array([0.01, 0.05, 0.25, 0.5, 0.8, 0.95, 0.995])


def test_nb_quantile_matches_scipy_below_and_above_the_recurrence_limit():
    mu, theta = _grid()
    for q in QUANTILE_LEVELS:
        np.testing.assert_array_equal(nb_quantile(q, mu, theta), _nbinom(mu, theta).ppf(q), err_msg=f"q={q}")
    levels = np.resize(QUANTILE_LEVELS, mu.shape)  # one level per value
    got = nb_quantile(levels, mu, theta)
    np.testing.assert_array_equal(got, _nbinom(mu, theta).ppf(levels))
    assert got.min() == 0 and got.max() > 64  # both code paths ran: the pmf recurrence and the cdflib inverse


def test_poisson_quantile_matches_scipy():
    rate = np.array([1e-3, 0.3, 2.0, 9.5, 45.0, 300.0])
    for q in QUANTILE_LEVELS:
        np.testing.assert_array_equal(poisson_quantile(q, rate), stats.poisson.ppf(q, rate), err_msg=f"q={q}")


@pytest.mark.parametrize("pi", [0.0, 0.1, 0.6])
def test_zero_inflated_quantile_is_the_mixture_quantile(pi):
    mu, theta = _grid()
    nb = _nbinom(mu[:, None], theta[:, None])
    support = np.arange(40_000)[None, :]  # beyond every 0.995 quantile of the grid
    # Smallest k with pi + (1 - pi) F_nb(k) >= q, by brute force over the support.
    mixture_cdf = pi + (1 - pi) * nb.cdf(support)
    assert mixture_cdf[:, -1].min() > QUANTILE_LEVELS.max()
    for q in QUANTILE_LEVELS:
        expected = np.argmax(mixture_cdf >= q - 1e-12, axis=1).astype(float)
        got = count_quantile(q, mu, theta, np.full(mu.shape, pi))
        np.testing.assert_array_equal(got, expected, err_msg=f"q={q}")
    poisson_got = count_quantile(0.9, mu, None, np.full(mu.shape, pi))
    poisson_cdf = pi + (1 - pi) * stats.poisson.cdf(support, mu[:, None])
    np.testing.assert_array_equal(poisson_got, np.argmax(poisson_cdf >= 0.9 - 1e-12, axis=1))


def test_a_quantile_level_on_the_zero_mass_boundary_is_zero():
    # P(0) = 0.6 + 0.4 * 0.5 = 0.8: the 0.8 quantile is 0. Rescaling q into the NB part gives
    # 0.5000000000000001 against an NB P(0) of 0.5; k = 0 used to skip the float tolerance that
    # k >= 1 had, and returned 1.
    assert count_quantile(0.8, np.array([1.0]), np.array([1.0]), np.array([0.6]))[0] == 0
    assert count_quantile(0.8 + 1e-9, np.array([1.0]), np.array([1.0]), np.array([0.6]))[0] == 1


def test_each_likelihoods_interval_is_its_distributions_quantiles():
    mu, theta = _grid()
    lo, hi = 0.05, 0.95
    nb = get_likelihood("nb")
    params = {"theta": _t(theta)[:, None]}
    lower, upper = nb.interval(nb.distribution(_t(mu)[:, None], params, None), params, lo, hi)
    np.testing.assert_array_equal(lower[:, 0], _nbinom(mu, theta).ppf(lo))
    np.testing.assert_array_equal(upper[:, 0], _nbinom(mu, theta).ppf(hi))
    gaussian = get_likelihood("gaussian")
    loc, scale = _t([[0.0, 2.0]]), _t([[1.0, 0.5]])
    lower, upper = gaussian.interval(gaussian.distribution(loc, {"sigma": scale}, None), {"sigma": scale}, lo, hi)
    np.testing.assert_allclose(lower, stats.norm.ppf(lo, loc.numpy(), scale.numpy()), rtol=1e-12)
    np.testing.assert_allclose(upper, stats.norm.ppf(hi, loc.numpy(), scale.numpy()), rtol=1e-12)


def test_count_likelihoods_check_their_values():
    nb = get_likelihood("nb")
    np.testing.assert_array_equal(nb.check_values(np.array([1.0, 2.0004, 7.0]), "x", "st"), [1.0, 2.0, 7.0])
    with pytest.raises(ValueError, match="negative values"):
        nb.check_values(np.array([1.0, -1.0]), "x", "st")
    with pytest.raises(ValueError, match="likelihood_st='nb' needs counts"):
        nb.check_values(np.array([1.5]), "x", "st")
    values = np.array([0.3, -1.2])
    assert get_likelihood("gaussian").check_values(values, "x", "st") is values
