"""The deep recipes' network in PyTorch: item and user embeddings, then a GRU or a small
causal transformer over the history. Why it is shaped this way is told in
:mod:`.sequence_model`, which trains it; :mod:`augury_training.sequence_encoder` computes
the same forward pass in NumPy for serving."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from augury_training.sequence_encoder import GRU

if TYPE_CHECKING:
    from augury_training.personalization.sequence_hyperparameters import SequenceHyperparameters

__all__ = ["SequenceNet", "TransformerBlock"]


class TransformerBlock(nn.Module):
    """One pre-norm transformer block: causal self-attention, then a GELU feed-forward."""

    def __init__(self, dimension: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.norm1 = nn.LayerNorm(dimension)
        self.qkv = nn.Linear(dimension, 3 * dimension)
        self.out = nn.Linear(dimension, dimension)
        self.norm2 = nn.LayerNorm(dimension)
        self.ff1 = nn.Linear(dimension, 4 * dimension)
        self.ff2 = nn.Linear(4 * dimension, dimension)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dimension = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(dimension, dim=-1)
        shape = (batch, length, self.heads, dimension // self.heads)
        q, k, v = (t.reshape(shape).transpose(1, 2) for t in (q, k, v))
        mixed = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
        )
        x = x + self.drop(self.out(mixed.transpose(1, 2).reshape(batch, length, dimension)))
        hidden = F.gelu(self.ff1(self.norm2(x)), approximate="tanh")
        return x + self.drop(self.ff2(hidden))


class SequenceNet(nn.Module):
    """The torch side of ``SequenceEncoder``'s forward pass (same names, same arithmetic).

    Tokens: ``0..n_items-1`` items, ``n_items`` the start token, ``n_items + 1``
    padding (right-padded; causal encoders never look at it).
    """

    def __init__(
        self,
        n_items: int,
        params: SequenceHyperparameters,
        item_feature_width: int,
        user_feature_width: int,
        context_sizes: tuple[int, ...] = (),
    ) -> None:
        super().__init__()
        d = params.hidden_dimension
        self.n_items = n_items
        self.encoder = params.encoder
        self.bptt = params.bptt
        self.item_id = nn.Embedding(n_items + 1, d)  # the last row: the unknown ID
        nn.init.normal_(self.item_id.weight, std=0.05)
        self.item_bias = nn.Parameter(torch.zeros(n_items + 1))
        self.item_feature = nn.Linear(item_feature_width, d) if item_feature_width else None
        self.user_feature = nn.Linear(user_feature_width, d) if user_feature_width else None
        # one table per context field; row 0 is "not given or never seen"
        self.context = nn.ModuleList(nn.Embedding(size + 1, d) for size in context_sizes)
        for table in self.context:
            nn.init.normal_(table.weight, std=0.05)
        self.bos = nn.Parameter(torch.randn(d) * 0.05)
        self.input_drop = nn.Dropout(params.dropout)
        if params.encoder == GRU:
            self.gru = nn.GRU(
                d,
                d,
                num_layers=params.num_layers,
                batch_first=True,
                dropout=params.dropout if params.num_layers > 1 else 0.0,
            )
            self.output = nn.Linear(d, d)
        else:
            self.positions = nn.Embedding(params.bptt, d)
            nn.init.normal_(self.positions.weight, std=0.05)
            self.blocks = nn.ModuleList(
                TransformerBlock(d, params.num_heads, params.dropout)
                for _ in range(params.num_layers)
            )
            self.final_norm = nn.LayerNorm(d)

    def item_table(
        self, features: torch.Tensor | None, id_dropout: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``V`` and ``b``; ``id_dropout`` (bool per item) swaps in the unknown ID embedding."""
        ids = self.item_id.weight[: self.n_items]
        bias = self.item_bias[: self.n_items]
        if id_dropout is not None:
            ids = torch.where(id_dropout[:, None], self.item_id.weight[self.n_items], ids)
            bias = torch.where(id_dropout, self.item_bias[self.n_items], bias)
        if self.item_feature is not None and features is not None:
            ids = ids + self.item_feature(features)
        return ids, bias

    def user_vectors(self, user_features: torch.Tensor | None, rows: torch.Tensor) -> torch.Tensor:
        """One vector per batch row: the projected user metadata (zeros in: the default)."""
        if self.user_feature is None or user_features is None:
            return torch.zeros(rows.shape[0], self.bos.shape[0], device=rows.device)
        known = rows >= 0
        picked = user_features[rows.clamp(min=0)] * known[:, None]
        return self.user_feature(picked)

    def context_vectors(self, codes: torch.Tensor | None) -> torch.Tensor | float:
        """The summed context vectors for ``codes`` (``... x fields``); 0 with no fields."""
        if codes is None or not len(self.context):
            return 0.0
        return sum(table(codes[..., field]) for field, table in enumerate(self.context))

    def states(
        self, tokens: torch.Tensor, table: torch.Tensor, users: torch.Tensor
    ) -> torch.Tensor:
        """The user state at every position (batch x length x dimension)."""
        pad = torch.zeros_like(self.bos)
        vocabulary = torch.cat([table, self.bos[None, :], pad[None, :]])
        x = F.embedding(tokens, vocabulary)
        if self.encoder == GRU:
            hidden, _ = self.gru(self.input_drop(x))
            out = self.output(hidden)
        else:
            x = self.input_drop(x + self.positions.weight[None, : tokens.shape[1], :])
            for block in self.blocks:
                x = block(x)
            out = self.final_norm(x)
        return out + users[:, None, :]
