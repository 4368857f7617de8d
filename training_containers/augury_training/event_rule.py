"""Which interactions a solution counts, and how much (NumPy only).

A solution's ``eventType`` keeps one event type, ``eventValueThreshold`` drops
events whose value is below it, and ``eventsConfig`` keeps only the event types
it lists (each with its own value threshold) and gives each its weight.
Training applies the rule to the Interactions data
(``augury_training.personalization.data.select_events``). The model's manifest
stores it (:meth:`EventRule.to_manifest`), so serving applies the very same rule
to the events recorded since training: Trending-Now counts them without being
retrained, as Amazon's does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["EventParameter", "EventRule"]


@dataclass(frozen=True)
class EventParameter:
    """One ``eventsConfig.eventParametersList`` entry, its numbers already checked."""

    event_type: str
    value_threshold: float | None = None
    weight: float | None = None


@dataclass(frozen=True)
class EventRule:
    event_type: str | None = None
    value_threshold: float | None = None
    parameters: tuple[EventParameter, ...] = ()

    @property
    def filters(self) -> bool:
        """True when the rule may drop interactions (Amazon's minimum data then says so)."""
        return bool(self.event_type or self.value_threshold is not None or self.parameters)

    @property
    def reads_types(self) -> bool:
        return bool(self.event_type or self.parameters)

    @property
    def reads_values(self) -> bool:
        return self.value_threshold is not None or any(
            p.value_threshold is not None for p in self.parameters
        )

    def select(
        self,
        size: int,
        event_types: Sequence[str] | None = None,
        event_values: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(kept, weight)`` for ``size`` interactions: a boolean mask and float32 weights.

        ``event_types`` holds ``""`` where an interaction has none; ``event_values``
        holds NaN where it has none (never above a threshold). Either may be None
        when the rule does not read it; the caller checks ``reads_types`` /
        ``reads_values`` first and reports a missing field its own way.
        """
        kept = np.ones(size, dtype=bool)
        types = np.asarray(event_types if event_types is not None else [""] * size, dtype=object)
        values = np.nan_to_num(
            np.asarray(event_values if event_values is not None else np.full(size, np.nan)),
            nan=-np.inf,
        ).astype(np.float64)
        if self.event_type:
            kept &= types == self.event_type
        if self.value_threshold is not None:
            kept &= values >= self.value_threshold
        weights = np.ones(size, dtype=np.float32)
        if self.parameters:
            listed = np.zeros(size, dtype=bool)
            for parameter in self.parameters:
                match = types == parameter.event_type
                if parameter.value_threshold is not None:
                    match &= values >= parameter.value_threshold
                if parameter.weight is not None:
                    weights[match] = parameter.weight
                listed |= match
            kept &= listed
        return kept, weights

    def to_manifest(self) -> dict[str, Any]:
        return {
            "event_type": self.event_type,
            "value_threshold": self.value_threshold,
            "parameters": [
                {
                    "event_type": p.event_type,
                    "value_threshold": p.value_threshold,
                    "weight": p.weight,
                }
                for p in self.parameters
            ],
        }

    @classmethod
    def from_manifest(cls, document: Mapping[str, Any] | None) -> EventRule:
        """The rule a manifest stored; a model saved before rules were stored keeps all."""
        if not document:
            return cls()
        return cls(
            event_type=document.get("event_type") or None,
            value_threshold=_optional_float(document.get("value_threshold")),
            parameters=tuple(
                EventParameter(
                    str(entry["event_type"]),
                    _optional_float(entry.get("value_threshold")),
                    _optional_float(entry.get("weight")),
                )
                for entry in document.get("parameters") or ()
            ),
        )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
