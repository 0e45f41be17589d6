"""CrossModalVAE: inference and forward (one batch's loss) as a plain nn.Module."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import stcross
import torch
from stcross.module import SC, ST, LossTerms, PartnerCache


@pytest.fixture(scope="module")
def cache():
    from conftest import make_pair

    sc, st, _ = make_pair(n_sc=60, n_st=50)
    model = stcross.CrossModalModel(sc, st).train(max_epochs=1, progress_bar=False)
    cache = PartnerCache(model.module, model.data, model.graph, model.device)
    cache.refresh()
    return cache


def test_forward_gives_the_loss_terms_and_gradients(cache):
    module = cache.module
    module.train()
    batch = cache.batch(np.arange(8), np.arange(6), torch.Generator().manual_seed(0))
    terms = module(batch, cache.states, kl_weight=0.5, generator=torch.Generator().manual_seed(1))
    assert isinstance(terms, LossTerms)
    assert torch.isfinite(terms.total)
    module.zero_grad()
    terms.total.backward()
    assert all(p.grad is not None for p in module.encoders.parameters())
    module.eval()


def test_evaluation_forward_is_deterministic_and_sums_its_terms(cache):
    module = cache.module.eval()
    batch = cache.batch(np.arange(10), np.arange(10), None)
    with torch.no_grad():
        first, second = module(batch, cache.states), module(batch, cache.states)
    assert first.as_floats() == second.as_floats()
    w_sc, w_st = module.elbo_weight
    kl_sc = module.kl_divergence(*cache.encode(SC, np.arange(10))).mean()
    kl_st = module.kl_divergence(*cache.encode(ST, np.arange(10))).mean()
    expected = (
        w_sc * (first.reconstruction_sc + kl_sc) + w_st * (first.reconstruction_st + kl_st)
        + module.config.contrastive_weight * first.alignment
    )
    torch.testing.assert_close(first.total, expected)


def test_epoch_means_summed_on_the_device_equal_the_host_sums_to_the_bit(cache):
    """Training sums each step's terms as tensors (no host sync per step); the epoch's means must
    be the float64 sums of the host floats that the history held before, bit for bit."""
    module = cache.module.eval()
    steps = [module(cache.batch(np.arange(i, i + 7), np.arange(i, i + 5), None), cache.states) for i in range(3)]
    on_device: dict[str, torch.Tensor] = {}
    host: dict[str, float] = {}
    for terms in steps:
        terms.add_share_to(on_device, len(steps))
        for key, value in terms.as_floats().items():
            host[key] = host.get(key, 0.0) + value / len(steps)
    assert all(v.dtype == torch.float64 and not v.requires_grad for v in on_device.values())
    assert {k: float(v) for k, v in on_device.items()} == host


def test_inference_matches_the_cached_encoding(cache):
    module = cache.module.eval()
    cells = np.arange(5)
    batch = cache.batch(cells, cells, None)
    with torch.no_grad():
        direct = module.inference(ST, batch.inputs[ST][:5], batch.partners[ST][:5], batch.similarity[ST][:5], cache.states[SC])
        cached = cache.encode(ST, cells)
    torch.testing.assert_close(direct, cached)


def test_mmd_is_zero_for_one_sample_and_grows_with_the_offset():
    from stcross.module.vae import mmd

    a = torch.randn(40, 5, generator=torch.Generator().manual_seed(0))
    assert float(mmd(a, a)) == pytest.approx(0.0, abs=1e-6)
    near, far = float(mmd(a, a + 0.3)), float(mmd(a, a + 3.0))
    assert 0 < near < far
    assert float(mmd(a, a[:0])) == 0.0


def _alignment(same_modality_negatives: bool, anchors, positives):
    config = stcross.ModelConfig(same_modality_negatives=same_modality_negatives)
    module = stcross.module.CrossModalVAE((4, 4), 6, torch.arange(4), ("nb", "nb"), config)
    return float(module.alignment(anchors, positives))


def test_same_modality_negatives_penalise_an_offset_between_the_modalities():
    gen = torch.Generator().manual_seed(0)
    anchors = torch.randn(32, 8, generator=gen)
    # Partners that match their anchors but sit apart as a modality: a shared offset.
    apart = anchors + 6.0 * torch.ones(8) + 0.1 * torch.randn(32, 8, generator=gen)
    mixed = anchors + 0.1 * torch.randn(32, 8, generator=gen)
    cross_only = _alignment(False, anchors, apart) - _alignment(False, anchors, mixed)
    with_own = _alignment(True, anchors, apart) - _alignment(True, anchors, mixed)
    assert with_own > cross_only + 1.0  # the offset costs far more once own-modality cells compete


def test_mixing_options_train_and_are_recorded(cache):
    from conftest import make_pair

    sc, st, _ = make_pair(n_sc=60, n_st=50)
    config = stcross.ModelConfig(mixing_weight=10.0, same_modality_negatives=True)
    model = stcross.CrossModalModel(sc, st, config=config).train(max_epochs=2, progress_bar=False)
    assert (model.history["mixing"] > 0).all()
    with pytest.raises(stcross.errors.InputError, match="mixing_weight must be >= 0"):
        stcross.ModelConfig(mixing_weight=-1)


def test_a_panel_mask_hides_genes_from_st_input_and_likelihood(cache):
    from stcross.module.vae import PanelMask

    module, states = cache.module, cache.states
    batch = cache.batch(np.arange(10), np.arange(10), None)
    n_panel = len(module.st_gene_index)
    hidden = torch.tensor([0, 2])
    width = batch.inputs[ST].shape[1]
    columns = torch.cat([hidden, hidden + n_panel]) if width == 2 * n_panel else hidden
    mask = PanelMask(input_columns=columns, kept=torch.tensor([i for i in range(n_panel) if i not in (0, 2)]))
    module.eval()
    loss = module(batch, states, mask=mask)
    # Other values of the hidden genes, in input and targets, change nothing.
    changed_inputs = batch.inputs[ST].clone()
    changed_inputs[:, columns] += 5.0
    changed_targets = batch.targets[ST].clone()
    changed_targets[:, hidden] += 7.0
    changed = dataclasses.replace(batch, inputs=(batch.inputs[0], changed_inputs), targets=(batch.targets[0], changed_targets))
    again = module(changed, states, mask=mask)
    assert torch.equal(loss.reconstruction_st, again.reconstruction_st)
    assert torch.equal(loss.total, again.total)
    # ... but they do without the mask.
    assert not torch.equal(module(batch, states).reconstruction_st, module(changed, states).reconstruction_st)
    # The hidden genes' ST parameters get no gradient from the masked loss.
    module.zero_grad()
    loss = module(batch, states, mask=mask)
    loss.reconstruction_st.backward()
    grad = module.log_theta.grad[ST, module.st_gene_index]
    assert torch.all(grad[hidden] == 0) and torch.any(grad[mask.kept] != 0)
    # Under a mask no gene's own decoder weights learn from ST (as for genes ST never measured);
    # the shared layer does.
    assert module.decoder.logits.weight.grad is None or torch.all(module.decoder.logits.weight.grad == 0)
    assert torch.any(module.decoder.body[0].weight.grad != 0)


def test_a_fold_path_learns_from_its_fold_alone_and_leaves_the_decoder_to_sc():
    from conftest import make_pair
    from stcross.impute.heldout_masked import panel_masks

    sc, st, _ = make_pair(n_sc=60, n_st=50)
    model = stcross.CrossModalModel(sc, st).train(max_epochs=1, progress_bar=False)
    hidden = [np.array([0, 2]), np.array([1, 3])]
    rng_before = torch.random.get_rng_state()
    module = model.new_module(0, fold_paths=len(hidden))
    # The paths' weights come from the seed, not from (and not at the cost of) torch's global generator.
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    again = dict(model.new_module(0, fold_paths=len(hidden)).named_parameters())
    assert all(torch.equal(p, again[name]) for name, p in module.named_parameters())
    n_panel, width = len(module.st_gene_index), model.data[ST].inputs.shape[1]
    masks = panel_masks(hidden, n_panel, width, "cpu", paths=True)
    module.eval()
    cache = PartnerCache(module, model.data, model.graph, "cpu", masks=masks)
    cache.refresh()
    batch = cache.batch(np.arange(10), np.arange(10), None)
    mask = masks[0]
    loss = module(batch, cache.states_for(mask), mask=mask)
    # The fold's genes, in input and targets, change nothing under its path.
    changed_inputs = batch.inputs[ST].clone()
    changed_inputs[:, mask.input_columns] += 5.0
    changed_targets = batch.targets[ST].clone()
    changed_targets[:, hidden[0]] += 7.0
    changed = dataclasses.replace(batch, inputs=(batch.inputs[0], changed_inputs), targets=(batch.targets[0], changed_targets))
    assert torch.equal(loss.total, module(changed, cache.states_for(mask), mask=mask).total)
    # ST's likelihood trains fold path 0 only: not the other path, the shared ST encoder or the decoder.
    module.zero_grad()
    loss.reconstruction_st.backward()
    def touched(part):
        return any(p.grad is not None and torch.any(p.grad != 0) for p in part.parameters())
    assert touched(module.fold_paths[0])
    assert not touched(module.fold_paths[1]) and not touched(module.encoders[ST]) and not touched(module.attention[ST])
    assert not touched(module.decoder) and not touched(module.latent)
    # The states SC cells attend to under the mask are the path's, read with the fold hidden.
    states = cache.states_for(mask)[ST]
    expected = module.fold_paths[0].encoder(batch.inputs[ST][:10].index_fill(1, mask.input_columns, 0.0))
    assert torch.allclose(states[:10], expected, atol=1e-6)
    assert not torch.allclose(cache.states_for(masks[1])[ST], states)
    # The trained model's own format is unchanged: paths add nothing to a model without them.
    assert not any(k.startswith("fold_paths") for k in model.module.state_dict())
