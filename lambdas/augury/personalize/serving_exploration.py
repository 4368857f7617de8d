"""Item exploration for User-Personalization: new, rarely seen items blended into the list.

Amazon's User-Personalization recipes (``aws-user-personalization`` and
``-v2``) explore: part of each recommendation list goes to items with little
interaction data, so new items get a chance to be seen and learned. A campaign
(``campaignConfig.itemExplorationConfig``) or a batch job sets how much:

``explorationWeight`` (0 to 1, default 0.3)
    0 is pure relevance; the closer to 1, the more of the list is exploration.
``explorationItemAgeCutOff`` (days, default 30)
    Only items at most this old are explored. Age is counted back from the
    latest interaction in the training data to the item's creation time (its
    CREATION_TIMESTAMP, or else its first interaction), as Amazon does.

Augury's rule, deterministic so the same request gives the same answer:

1. Candidates are items that are *young* (age within the cut-off) and *rarely
   seen* (no more training interactions than the catalog's median item), plus
   items the model has never seen an interaction for and whose age is unknown
   (items added by PutItems and taken in by an UPDATE training).
2. Of the ``k`` places in the list, ``round(explorationWeight * k)`` go to
   exploration. Relevance fills the others; candidates that relevance places
   there anyway stay and count as relevance.
3. The explored items are the candidates the model scores best (the most
   relevant new items, not random ones), after the request's filter, each
   score first lowered by ``log(1 + n)`` where ``n`` is how often training saw
   the item shown (the Interactions' IMPRESSION lists) while another item was
   chosen: the model's probability divided by ``1 + n``. An item users keep
   passing over gives way to one they have not been shown yet, as Amazon's
   exploration favours items with less interaction and impression data.
4. They are spread evenly through the list: item ``j`` of ``n`` goes to place
   ``floor((j + 1) * k / n) - 1``, so the first place stays the most relevant
   item unless the weight is 1. Too few candidates leave the rest to relevance.

Other recipes do not explore; their lists are pure relevance or popularity.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from augury.resources.errors import InvalidInput
from augury_training.recommender_artifacts import top_k

if TYPE_CHECKING:
    from augury_training.recommender_artifacts import Recommender

EXPLORATION_RECIPES = frozenset({"aws-user-personalization", "aws-user-personalization-v2"})
DEFAULT_WEIGHT = 0.3
DEFAULT_AGE_CUTOFF_DAYS = 30.0
WEIGHT_KEY = "explorationWeight"
AGE_CUTOFF_KEY = "explorationItemAgeCutOff"
LATEST_INTERACTION_KEYS = ("latest_interaction_seconds", "latest_timestamp", "max_timestamp")
"""Manifest keys that may hold the training data's latest interaction time (epoch seconds)."""
DAY_SECONDS = 86_400.0


@dataclass(frozen=True)
class Exploration:
    weight: float = DEFAULT_WEIGHT
    age_cutoff_days: float = DEFAULT_AGE_CUTOFF_DAYS


NONE = Exploration(weight=0.0)


def parse_exploration(config: Mapping[str, Any] | None) -> Exploration:
    """An ``itemExplorationConfig`` map (strings, as Amazon takes them), with defaults."""
    config = config or {}
    weight = _number(config.get(WEIGHT_KEY), WEIGHT_KEY, DEFAULT_WEIGHT)
    if not 0.0 <= weight <= 1.0:
        raise InvalidInput(f"{WEIGHT_KEY} must be between 0 and 1; got {config[WEIGHT_KEY]}")
    cutoff = _number(config.get(AGE_CUTOFF_KEY), AGE_CUTOFF_KEY, DEFAULT_AGE_CUTOFF_DAYS)
    if cutoff <= 0:
        raise InvalidInput(
            f"{AGE_CUTOFF_KEY} must be a positive number of days; got {config[AGE_CUTOFF_KEY]}"
        )
    return Exploration(weight=weight, age_cutoff_days=cutoff)


def _number(value: Any, name: str, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a number; got {value!r}") from None
    if not math.isfinite(number):
        raise InvalidInput(f"{name} must be a finite number; got {value!r}")
    return number


def explores(recipe: str) -> bool:
    return recipe in EXPLORATION_RECIPES


_CANDIDATES: weakref.WeakKeyDictionary[Any, dict[float, np.ndarray]] = weakref.WeakKeyDictionary()
_CANDIDATES_LOCK = threading.Lock()


def candidates(recommender: Recommender, age_cutoff_days: float) -> np.ndarray:
    """True for each catalog item exploration may pick (rule 1), computed once per model."""
    with _CANDIDATES_LOCK:
        cached = _CANDIDATES.setdefault(recommender, {}).get(age_cutoff_days)
    if cached is not None:
        return cached
    popularity = np.asarray(recommender.popularity(), dtype=np.float64)
    rarely_seen = popularity <= (np.median(popularity) if popularity.size else 0.0)
    creation = recommender.item_creation_seconds
    if creation is None:
        creation = np.full(popularity.shape, np.nan)
    creation = np.asarray(creation, dtype=np.float64)
    known = np.isfinite(creation)
    reference = _reference_time(recommender, creation, known)
    young = np.zeros(popularity.shape, dtype=bool)
    young[known] = reference - creation[known] <= age_cutoff_days * DAY_SECONDS
    mask = rarely_seen & (young | (~known & (popularity <= 0)))
    with _CANDIDATES_LOCK:
        _CANDIDATES.setdefault(recommender, {})[age_cutoff_days] = mask
    return mask


def _reference_time(recommender: Recommender, creation: np.ndarray, known: np.ndarray) -> float:
    """The training data's latest interaction: what item ages are counted back from."""
    for key in LATEST_INTERACTION_KEYS:
        value = recommender.manifest.get(key)
        if isinstance(value, int | float) and math.isfinite(value):
            return float(value)
    if known.any():
        return float(creation[known].max())
    return time.time()


def exploration_scores(recommender: Recommender, scores: np.ndarray) -> np.ndarray:
    """``scores`` as rule 3 ranks candidates: lowered by log(1 + unchosen impressions)
    (``scores`` itself when no item was passed over, as in most models)."""
    penalty = recommender.impression_penalty
    if penalty is None:
        return scores
    lowered = scores.copy()
    size = min(penalty.size, scores.size)  # items new since training were never shown
    lowered[:size] -= penalty[:size]
    return lowered


def blend(
    scores: np.ndarray,
    keep: np.ndarray,
    k: int,
    exploration: Exploration,
    explore_mask: np.ndarray | None,
    explore_scores: np.ndarray | None = None,
) -> list[tuple[int, bool]]:
    """The list of ``k`` catalog indices, each marked True where it is exploration.

    ``scores`` are the model's raw scores, ``keep`` the items the request may
    return; without ``explore_mask`` (or at weight 0) this is plain top-k.
    ``explore_scores`` rank the candidates (``exploration_scores``; default
    ``scores``).
    """
    slots = math.floor(exploration.weight * k + 0.5) if explore_mask is not None else 0
    if slots <= 0:
        return [(int(i), False) for i in top_k(scores, k, keep)]
    base = top_k(scores, k - slots, keep)
    pool = keep & explore_mask
    pool[base] = False
    explored = top_k(scores if explore_scores is None else explore_scores, slots, pool)
    taken = np.zeros(keep.shape, dtype=bool)
    taken[base] = True
    taken[explored] = True
    filler = top_k(scores, k - base.size - explored.size, keep & ~taken)
    relevant = [int(i) for i in np.concatenate([base, filler])]
    relevant.sort(key=lambda i: (-scores[i], i))
    total = len(relevant) + explored.size
    places = {((j + 1) * total) // explored.size - 1 for j in range(explored.size)}
    out: list[tuple[int, bool]] = []
    explored_iter = iter(int(i) for i in explored)
    relevant_iter = iter(relevant)
    for place in range(total):
        if place in places:
            out.append((next(explored_iter), True))
        else:
            out.append((next(relevant_iter), False))
    return out
