"""Building blocks of the cross-modal network: encoders, partner cross-attention, decoder."""
from __future__ import annotations

import torch
from torch import nn


class Encoder(nn.Module):
    """Two-layer MLP from one modality's standardised expression to a hidden state."""

    def __init__(self, n_input: int, n_hidden: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_input, n_hidden),
            nn.LayerNorm(n_hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(n_hidden, n_hidden),
            nn.LayerNorm(n_hidden),
            nn.GELU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PartnerAttention(nn.Module):
    """A cell's hidden state queries the hidden states of its partners in the other modality.

    Keys are the cell's fixed partner list rather than a random minibatch (as in the
    paper), so a cell's output never depends on which other cells share its batch.
    The partners' similarity enters as an additive attention bias.
    """

    def __init__(self, n_hidden: int, n_heads: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = n_hidden // n_heads
        self.query = nn.Linear(n_hidden, n_hidden)
        self.key_value = nn.Linear(n_hidden, 2 * n_hidden)
        self.out = nn.Linear(n_hidden, n_hidden)
        self.similarity_scale = nn.Parameter(torch.tensor(5.0))
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(n_hidden)
        self.feed_forward = nn.Sequential(nn.Linear(n_hidden, n_hidden), nn.GELU(), nn.Linear(n_hidden, n_hidden))
        self.norm_out = nn.LayerNorm(n_hidden)

    def forward(
        self, h: torch.Tensor, partner_states: torch.Tensor, partners: torch.Tensor, similarity: torch.Tensor
    ) -> torch.Tensor:
        """``h`` (B, d); ``partner_states`` (P, d) indexed by ``partners`` (B, k); ``similarity`` (B, k)."""
        b, k = partners.shape
        d = h.shape[1]
        # Partner states are cached without gradients; gather them raw and move the key and value
        # projections to the query side: q . (W_k s + b_k) = (W_k^T q) . s + q . b_k, and
        # sum_j a_j (W_v s_j + b_v) = W_v (sum_j a_j s_j) + b_v sum_j a_j. The same attention as
        # projecting every partner, at B x d x d instead of (distinct partners) x d x 2d per step.
        states = torch.index_select(partner_states, 0, partners.reshape(-1)).reshape(b, k, d)
        w_key, w_value = self.key_value.weight.view(2, self.n_heads, self.head_dim, d).unbind(0)
        b_key, b_value = self.key_value.bias.view(2, self.n_heads, self.head_dim).unbind(0)
        query = self.query(h).view(b, self.n_heads, self.head_dim)
        query_in_states = torch.einsum("bhe,hed->bhd", query, w_key)
        scores = torch.einsum("bhd,bkd->bhk", query_in_states, states) + (query * b_key).sum(-1, keepdim=True)
        scores = scores / self.head_dim**0.5 + (self.similarity_scale * similarity).unsqueeze(1)
        weights = self.dropout(torch.softmax(scores, dim=-1))  # (B, heads, k)
        mixed = torch.einsum("bhk,bkd->bhd", weights, states)
        attended = torch.einsum("bhd,hed->bhe", mixed, w_value) + b_value * weights.sum(-1, keepdim=True)
        h = self.norm(h + self.out(attended.reshape(b, -1)))
        return self.norm_out(h + self.feed_forward(h))


class GaussianLatent(nn.Module):
    """Shared layers from the hidden state to the mean and log-variance of q(z | x)."""

    def __init__(self, n_hidden: int, n_latent: int):
        super().__init__()
        self.shared = nn.Sequential(nn.Linear(n_hidden, n_hidden), nn.GELU())
        self.mean = nn.Linear(n_hidden, n_latent)
        self.log_var = nn.Linear(n_hidden, n_latent)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.shared(h)
        return self.mean(h), self.log_var(h).clamp(-12.0, 8.0)


class EncoderPath(nn.Module):
    """A way of its own from one modality's data to q(z | x): encoder, partner attention and latent layers."""

    def __init__(self, n_input: int, n_hidden: int, n_heads: int, n_latent: int, dropout: float):
        super().__init__()
        self.encoder = Encoder(n_input, n_hidden, dropout)
        self.attention = PartnerAttention(n_hidden, n_heads, dropout)
        self.latent = GaussianLatent(n_hidden, n_latent)

    def forward(
        self, x: torch.Tensor, partner_states: torch.Tensor, partners: torch.Tensor, similarity: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.latent(self.attention(self.encoder(x), partner_states, partners, similarity))


class Decoder(nn.Module):
    """From z to one logit per decoder gene (and, optionally, zero-inflation logits).

    ``gene_index`` restricts the last layer to a subset of genes, which keeps the
    cost of an ST cell's reconstruction proportional to its panel, not to all genes.
    """

    def __init__(self, n_latent: int, n_hidden: int, n_genes: int, zero_inflation: bool):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_latent, n_hidden), nn.LayerNorm(n_hidden), nn.GELU())
        self.logits = nn.Linear(n_hidden, n_genes)
        self.zi_logits = nn.Linear(n_hidden, n_genes) if zero_inflation else None

    def hidden(self, z: torch.Tensor, *, frozen: bool = False) -> torch.Tensor:
        """The shared layer's output; ``frozen``: no gradient reaches its weights (only z)."""
        if not frozen:
            return self.body(z)
        detached = {name: p.detach() for name, p in self.body.named_parameters()}
        return torch.func.functional_call(self.body, detached, (z,))

    def gene_logits(self, h: torch.Tensor, gene_index: torch.Tensor | None = None, *, frozen: bool = False) -> torch.Tensor:
        """Logits of genes ``gene_index``; ``frozen``: no gradient reaches those genes' own weights."""
        return _linear_subset(self.logits, h, gene_index, frozen)

    def zero_inflation_logits(
        self, h: torch.Tensor, gene_index: torch.Tensor | None = None, *, frozen: bool = False
    ) -> torch.Tensor | None:
        return None if self.zi_logits is None else _linear_subset(self.zi_logits, h, gene_index, frozen)


def _linear_subset(layer: nn.Linear, h: torch.Tensor, index: torch.Tensor | None, frozen: bool = False) -> torch.Tensor:
    if index is None and not frozen:
        return layer(h)
    weight, bias = (layer.weight, layer.bias) if index is None else (layer.weight[index], layer.bias[index])
    if frozen:
        weight, bias = weight.detach(), bias.detach()
    return nn.functional.linear(h, weight, bias)
