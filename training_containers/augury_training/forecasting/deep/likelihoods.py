"""Output distributions for the deep forecasters: raw network outputs → a distribution.

The network emits a few unconstrained numbers per step; a likelihood turns
them (and the window's scale) into a distribution over the target **in data
units**, so the loss and the samples need no further rescaling:

* ``student-t`` (the default, as Amazon's): heavy tails absorb spikes and
  outliers without dragging the centre; degrees of freedom are learnt (> 2, so
  the variance stays finite and the sample mean is meaningful);
* ``negative-binomial``: counts (units sold, visits), non-negative integers
  whose variance grows with the mean; intermittent series live here;
* ``gaussian``: smooth, well-behaved continuous data.

Losses are negative log-likelihoods; for the continuous families they are
measured on the scaled target (``log scale`` taken off), so every series
contributes on the same footing, whatever its magnitude.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import distributions as D

STUDENT_T = "student-t"
NEGATIVE_BINOMIAL = "negative-binomial"
GAUSSIAN = "gaussian"
LIKELIHOODS = (STUDENT_T, NEGATIVE_BINOMIAL, GAUSSIAN)

_PARAMETERS = {STUDENT_T: 3, NEGATIVE_BINOMIAL: 2, GAUSSIAN: 2}
_FLOOR = 1e-4


def parameter_count(likelihood: str) -> int:
    """How many raw outputs per step the network needs for ``likelihood``."""
    return _PARAMETERS[likelihood]


def distribution(likelihood: str, raw: torch.Tensor, scale: torch.Tensor) -> D.Distribution:
    """The distribution of the target for raw outputs ``raw`` (``(..., P)``) and the
    matching ``scale`` (broadcastable to ``raw[..., 0]``)."""
    raw = raw.float()
    if likelihood == STUDENT_T:
        spread = (F.softplus(raw[..., 1]) + _FLOOR) * scale
        freedom = 2.0 + F.softplus(raw[..., 2])
        return D.StudentT(freedom, raw[..., 0] * scale, spread, validate_args=False)
    if likelihood == GAUSSIAN:
        spread = (F.softplus(raw[..., 1]) + _FLOOR) * scale
        return D.Normal(raw[..., 0] * scale, spread, validate_args=False)
    if likelihood == NEGATIVE_BINOMIAL:
        mean = (F.softplus(raw[..., 0]) + _FLOOR) * scale
        dispersion = F.softplus(raw[..., 1]) + _FLOOR  # variance = mean + dispersion * mean²
        shape = 1.0 / dispersion
        # torch's parameterisation: mean = total_count * exp(logits).
        logits = torch.log(mean) - torch.log(shape)
        return D.NegativeBinomial(total_count=shape, logits=logits, validate_args=False)
    raise ValueError(f"unknown likelihood {likelihood!r}")


def negative_log_likelihood(
    likelihood: str, raw: torch.Tensor, scale: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """Per-point loss (same shape as ``target``); the caller masks unobserved points.

    ``target`` must be finite everywhere (put any value where it is masked).
    """
    loss = -distribution(likelihood, raw, scale).log_prob(target)
    if likelihood != NEGATIVE_BINOMIAL:
        loss = loss - torch.log(scale)
    return loss
