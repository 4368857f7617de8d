"""CNN-QR's network: a causal dilated-convolution encoder and a multi-horizon quantile
decoder. Why it is shaped this way is told in :mod:`.cnnqr`, which trains it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from augury_training.forecasting.deep.common import embedding_width

if TYPE_CHECKING:
    from augury_training.forecasting.deep.cnnqr import CNNQRHyperparameters

__all__ = ["SPREAD_OFFSET", "CNNQRNet", "CausalBlock", "NetShapes"]

SPREAD_OFFSET = 3.0
"""softplus(raw - 3) is about 0.05: quantiles start close together, in scaled units."""


class CausalBlock(nn.Module):
    """Dilated convolution that sees only the past (left padding), with a residual path."""

    def __init__(self, channels: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.padding = (kernel - 1) * dilation
        self.conv = nn.Conv1d(channels, channels, kernel, dilation=dilation)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.dropout(F.relu(self.conv(F.pad(x, (self.padding, 0)))))


@dataclass(frozen=True)
class NetShapes:
    """What the network's layers depend on, fixed at fit."""

    horizon: int
    context: int
    n_known: int
    n_past: int
    cardinalities: tuple[int, ...]
    n_quantiles: int


class CNNQRNet(nn.Module):
    """Causal CNN encoder + global/local MLP quantile decoder (see :mod:`.cnnqr`'s docstring).
    Each embedding table has one extra last row: "unknown"."""

    def __init__(self, shapes: NetShapes, params: CNNQRHyperparameters) -> None:
        super().__init__()
        self.shapes = shapes
        widths = [embedding_width(c) for c in shapes.cardinalities]
        self.embeddings = nn.ModuleList(
            nn.Embedding(c + 1, w) for c, w in zip(shapes.cardinalities, widths, strict=True)
        )
        n_static = sum(widths) + 1
        channels, width = params.num_filters, params.decoder_width
        self.project = nn.Conv1d(2 + shapes.n_known + shapes.n_past + n_static, channels, 1)
        self.blocks = nn.Sequential(
            *(
                CausalBlock(channels, params.kernel_size, 2**layer, params.dropout_rate)
                for layer in range(params.num_layers)
            )
        )
        horizon = shapes.horizon
        self.local_width = width // 2
        self.global_mlp = nn.Sequential(
            nn.Linear(
                channels
                + (2 + shapes.n_past) * shapes.context
                + horizon * shapes.n_known
                + n_static,
                4 * width,
            ),
            nn.ReLU(),
            nn.Dropout(params.dropout_rate),
            nn.Linear(4 * width, horizon * self.local_width + width),
        )
        self.local_mlp = nn.Sequential(
            nn.Linear(self.local_width + width + shapes.n_known, width),
            nn.ReLU(),
            nn.Linear(width, shapes.n_quantiles),
        )
        self.median = shapes.n_quantiles // 2

    def static(self, codes: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
        """Per-window static input ``(B, S)``: metadata embeddings, standardised log scale."""
        parts = [table(codes[:, j]) for j, table in enumerate(self.embeddings)]
        return torch.cat([*parts, log_scale[:, None]], dim=1)

    def forward(
        self,
        context: torch.Tensor,
        observed: torch.Tensor,
        known: torch.Tensor,
        past: torch.Tensor | None,
        static: torch.Tensor,
    ) -> torch.Tensor:
        """Quantiles ``(B, horizon, Q)`` in scaled units, non-decreasing along Q.

        ``context``/``observed`` are ``(B, C)``; ``known`` ``(B, C + horizon, K)``;
        ``past`` ``(B, C, P)`` or ``None``; ``static`` ``(B, S)``.
        """
        steps = context.shape[1]
        parts = [context[:, :, None], observed[:, :, None], known[:, :steps]]
        if past is not None:
            parts.append(past)
        parts.append(static[:, None, :].expand(-1, steps, -1))
        encoded = self.blocks(self.project(torch.cat(parts, 2).transpose(1, 2)))
        future = known[:, steps:]
        batch, horizon = future.shape[0], future.shape[1]
        summary = [encoded[:, :, -1], context, observed, future.flatten(1), static]
        if past is not None:
            summary.append(past.flatten(1))
        contexts = self.global_mlp(torch.cat(summary, 1))
        per_step = contexts[:, : horizon * self.local_width].reshape(batch, horizon, -1)
        shared = contexts[:, horizon * self.local_width :, None].transpose(1, 2)
        local = torch.cat([per_step, shared.expand(-1, horizon, -1), future], 2)
        return self._monotone(self.local_mlp(local))

    def _monotone(self, raw: torch.Tensor) -> torch.Tensor:
        """Median free; the other levels at cumulative positive distances from it."""
        raw = raw.float()
        m = self.median
        steps = F.softplus(raw - SPREAD_OFFSET)
        centre = raw[..., m : m + 1]
        above = centre + torch.cumsum(steps[..., m + 1 :], dim=-1)
        below = centre - torch.cumsum(steps[..., :m].flip(-1), dim=-1).flip(-1)
        return torch.cat([below, centre, above], dim=-1)
