"""Promotions: a share of a recommendation list drawn from items a second filter selects.

Amazon's rules (GetRecommendations ``promotions``, at most one):

- ``percentPromotedItems`` of the ``numResults`` places go to promoted items:
  Augury takes ``ceil(numResults * percent / 100)``, so any promotion of a
  non-empty list promotes at least one item.
- The promotion's filter (with its own ``filterValues``) selects the promoted
  items and applies to them only; the request's filter applies only to the
  other items. An item is never listed twice.
- Promoted items are in relevance order among themselves and placed at random
  places among the other items, which keep their own order. If too few items
  meet the promotion's criteria, the list holds as many as there are.
- Each promoted item carries ``promotionName``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from augury.resources.errors import InvalidInput

T = TypeVar("T")


@dataclass(frozen=True)
class Promotion:
    name: str
    percent: int
    filter_arn: str
    filter_values: Mapping[str, str] | None = None

    def count(self, num_results: int) -> int:
        """How many of ``num_results`` places go to promoted items."""
        return min(num_results, math.ceil(num_results * self.percent / 100))


def parse_promotions(promotions: Sequence[Mapping[str, Any]] | None) -> Promotion | None:
    """The request's ``promotions`` list (at most one entry), checked."""
    if not promotions:
        return None
    if len(promotions) > 1:
        raise InvalidInput("A request can apply at most one promotion")
    entry = promotions[0]
    missing = [m for m in ("name", "percentPromotedItems", "filterArn") if not entry.get(m)]
    if missing:
        raise InvalidInput(f"The promotion needs {', '.join(missing)}")
    percent = int(entry["percentPromotedItems"])
    if not 1 <= percent <= 100:
        raise InvalidInput(f"percentPromotedItems must be from 1 to 100; got {percent}")
    return Promotion(
        name=str(entry["name"]),
        percent=percent,
        filter_arn=str(entry["filterArn"]),
        filter_values=entry.get("filterValues"),
    )


def place_promoted(rest: Sequence[T], promoted: Sequence[T], rng: random.Random) -> list[T]:
    """``promoted`` (in order) at random places among ``rest`` (in order)."""
    total = len(rest) + len(promoted)
    places = set(rng.sample(range(total), len(promoted)))
    promoted_iter, rest_iter = iter(promoted), iter(rest)
    return [next(promoted_iter) if p in places else next(rest_iter) for p in range(total)]
