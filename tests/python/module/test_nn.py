"""Building blocks of the network."""
from __future__ import annotations

import torch
from stcross.module.nn import PartnerAttention


def _reference_attention(block: PartnerAttention, h, partner_states, partners, similarity):
    """Textbook multi-head attention: project every partner to a key and a value, then attend."""
    b, k = partners.shape
    heads, head_dim = block.n_heads, block.head_dim
    key, value = block.key_value(partner_states[partners]).chunk(2, dim=-1)  # (B, k, d) each
    query = block.query(h).view(b, heads, 1, head_dim)
    key = key.view(b, k, heads, head_dim).transpose(1, 2)
    value = value.view(b, k, heads, head_dim).transpose(1, 2)
    scores = (query @ key.transpose(-1, -2)).squeeze(2) / head_dim**0.5
    weights = torch.softmax(scores + (block.similarity_scale * similarity).unsqueeze(1), dim=-1)
    attended = (weights.unsqueeze(2) @ value).squeeze(2).reshape(b, -1)
    out = block.norm(h + block.out(attended))
    return block.norm_out(out + block.feed_forward(out))


def test_partner_attention_is_multi_head_attention_over_projected_partners():
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    block = PartnerAttention(32, 4, dropout=0.0).eval()
    with torch.no_grad():
        block.key_value.bias.normal_(generator=generator)  # non-zero biases: their terms must match too
    h = torch.randn(6, 32, generator=generator)
    partner_states = torch.randn(10, 32, generator=generator)
    partners = torch.randint(10, (6, 5), generator=generator)
    similarity = torch.rand(6, 5, generator=generator)
    expected = _reference_attention(block, h, partner_states, partners, similarity)
    torch.testing.assert_close(block(h, partner_states, partners, similarity), expected, rtol=1e-5, atol=1e-5)


def test_partner_attention_gradients_match_the_reference():
    generator = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    block = PartnerAttention(16, 2, dropout=0.0).eval()
    h = torch.randn(4, 16, generator=generator)
    states = torch.randn(7, 16, generator=generator)
    partners = torch.randint(7, (4, 3), generator=generator)
    similarity = torch.rand(4, 3, generator=generator)
    grads = []
    for forward in (block, lambda *a: _reference_attention(block, *a)):
        block.zero_grad()
        forward(h, states, partners, similarity).square().sum().backward()
        grads.append([p.grad.clone() for p in block.parameters()])
    for ours, reference in zip(*grads):
        torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-5)
