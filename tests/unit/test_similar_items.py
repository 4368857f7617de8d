"""aws-similar-items: the metadata blend it chooses on held-out items, and what it keeps."""

from __future__ import annotations

import numpy as np
import pandas as pd

from augury_training.personalization.catalog import build_training_set
from augury_training.personalization.data import normalise_interactions
from augury_training.personalization.recipes import RecipeContext
from augury_training.personalization.similar_items import (
    BLEND_GRID,
    Blend,
    fit_similar_items,
)


def _context(lines: list[str]) -> RecipeContext:
    return RecipeContext(seed=3, log=lines.append)


def _pair_sessions(n_users: int = 80, n_pairs: int = 100, seed: int = 0):
    """Each user takes five random pairs of items, each pair's "a" then its "b"; genres
    are random, so an item's genre says nothing of what follows it."""
    rng = np.random.default_rng(seed)
    rows, t = [], 0
    for user in range(n_users):
        for pair in rng.choice(n_pairs, size=5, replace=False):
            rows += [(f"u{user}", f"p{pair}a", t), (f"u{user}", f"p{pair}b", t + 1)]
            t += 2
    interactions = normalise_interactions(
        pd.DataFrame(rows, columns=["USER_ID", "ITEM_ID", "TIMESTAMP"])
    )
    names = [f"p{p}{s}" for p in range(n_pairs) for s in "ab"]
    genres = rng.integers(0, 8, len(names))
    items = pd.DataFrame({"ITEM_ID": names, "GENRE": [f"g{g}" for g in genres]})
    return interactions, items


def test_misleading_metadata_is_given_the_least_say() -> None:
    """Items used by few users lean on metadata under shrinkage; when genres are noise,
    that buries each item's partner, so the held-out items choose no shrinkage."""
    interactions, items = _pair_sessions()
    data = build_training_set(interactions, None, items)
    lines: list[str] = []
    artifacts = fit_similar_items(data, {}, _context(lines))
    assert artifacts.manifest["item_metadata_shrinkage"] == 0.0
    assert any("validation NDCG@10" in line for line in lines)
    neighbours = artifacts.arrays["neighbour_items"]
    firsts = [data.item_ids[neighbours[data.item_ids.index(f"p{p}a"), 0]] for p in range(100)]
    assert np.mean([first == f"p{p}b" for p, first in enumerate(firsts)]) > 0.9


def test_a_blend_set_by_the_solution_is_used_as_given() -> None:
    interactions, items = _pair_sessions()
    data = build_training_set(interactions, None, items)
    lines: list[str] = []
    given = {"item_metadata_weight": "0.3", "item_metadata_shrinkage": "2"}
    manifest = fit_similar_items(data, given, _context(lines)).manifest
    assert (manifest["item_metadata_weight"], manifest["item_metadata_shrinkage"]) == (0.3, 2.0)
    assert manifest["min_cointeraction_count"] == 1
    assert not any("validation" in line for line in lines)


def test_without_metadata_only_the_co_interaction_threshold_is_tried() -> None:
    interactions, _ = _pair_sessions()
    data = build_training_set(interactions, None, None)
    lines: list[str] = []
    fit_similar_items(data, {}, _context(lines))
    (report,) = [line for line in lines if "validation NDCG@10" in line]
    assert report.count("min=") == len({blend.min_count for blend in BLEND_GRID})


def test_every_blend_gives_cold_items_neighbours_by_metadata() -> None:
    interactions, items = _pair_sessions()
    items = pd.concat([items, pd.DataFrame({"ITEM_ID": ["cold"], "GENRE": ["g1"]})])
    data = build_training_set(interactions, None, items)
    genre = dict(zip(items["ITEM_ID"], items["GENRE"], strict=True))
    cold = data.item_ids.index("cold")
    for blend in BLEND_GRID:
        params = {
            "item_metadata_weight": str(blend.weight),
            "item_metadata_shrinkage": str(blend.shrinkage),
            "min_cointeraction_count": str(blend.min_count),
        }
        arrays = fit_similar_items(data, params, _context([])).arrays
        assert np.isfinite(arrays["neighbour_scores"]).all(), blend
        found = [data.item_ids[i] for i in arrays["neighbour_items"][cold] if i >= 0]
        assert found and all(genre[item] == "g1" for item in found), blend
    assert BLEND_GRID[0] == Blend(0.02, 5.0, 1)  # the old defaults stay first: kept on ties
