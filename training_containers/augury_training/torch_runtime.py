"""How Augury's PyTorch models run: one code path for the CPU and a CUDA GPU.

Both deep model families (the recommenders' sequence model and the
forecasters' DeepAR+) follow the same rules, written once here:

- train on CUDA when torch sees a device, else on the CPU;
- on CUDA, mixed precision: bf16 where the GPU supports it, else fp16 (which
  needs a gradient scaler); on the CPU, float32;
- on the CPU, deterministic kernels while training, so a seed gives the same
  weights, and the caller's setting restored afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def training_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def mixed_precision_dtype(device: torch.device, wanted: bool) -> torch.dtype | None:
    """The autocast dtype for ``device``, or ``None`` for full float32."""
    if device.type != "cuda" or not wanted:
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None) -> torch.autocast:
    """An autocast context that is a no-op when ``dtype`` is ``None``."""
    return torch.autocast(
        device_type=device.type, dtype=dtype or torch.float32, enabled=dtype is not None
    )


@contextmanager
def deterministic_on_cpu(device: torch.device) -> Iterator[None]:
    """Deterministic kernels while training on the CPU; the previous setting restored after."""
    previous = torch.are_deterministic_algorithms_enabled()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)
