"""One line of a batch inference input file in, one line of Amazon's output out.

Input lines are JSON objects, by recipe type: ``{"userId": ...}``
(USER_PERSONALIZATION), ``{"itemId": ...}`` (RELATED_ITEMS), ``{"userId": ...,
"itemList": [...]}`` (PERSONALIZED_RANKING); any of them may carry
``filterValues`` (and ``context``). Each output line is
``{"input": <the line>, "output": {"recommendedItems": [...], "scores": [...]},
"error": null}``. A line that is not valid JSON or lacks what its recipe needs
gets ``"output": null`` and the reason in ``error``, and the job goes on, as
Amazon's does. Scores are written when the recipe gives them.

Answers come from ``augury.personalize.serving_core`` (the code behind
GetRecommendations and GetPersonalizedRanking), so filters, exploration and
recent events apply in batch exactly as in real time.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from augury.resources.errors import ServiceError
from augury_training.personalize_contract import PERSONALIZED_RANKING, RELATED_ITEMS

if TYPE_CHECKING:
    from augury.runtime import Runtime

SERVING_CORE = "augury.personalize.serving_core"
MAX_ITEM_LIST = 500


@dataclass(frozen=True)
class BatchSettings:
    """What every line of one job shares."""

    solution_version_arn: str
    recipe_type: str
    num_results: int
    filter_arn: str | None = None
    exploration: Mapping[str, str] | None = None


class LineError(Exception):
    """The line cannot be answered; the message goes into its ``error``."""


def answer_line(runtime: Runtime, settings: BatchSettings, text: str) -> dict[str, Any]:
    """The output object for one (non-blank) input line."""
    try:
        document = json.loads(text)
    except ValueError as error:
        return {"input": text, "output": None, "error": f"The line is not valid JSON: {error}"}
    if not isinstance(document, dict):
        return {"input": document, "output": None, "error": "The line must be a JSON object"}
    try:
        answer = _answer(runtime, settings, document)
    except LineError as error:
        return {"input": document, "output": None, "error": str(error)}
    except ServiceError as error:
        return {"input": document, "output": None, "error": error.message}
    output: dict[str, Any] = {"recommendedItems": [item for item, _ in answer]}
    scores = [score for _, score in answer]
    if answer and all(score is not None for score in scores):
        output["scores"] = [round(float(s), 7) for s in scores]  # type: ignore[arg-type]
    return {"input": document, "output": output, "error": None}


def _string(document: Mapping[str, Any], key: str, recipe_type: str) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value:
        raise LineError(f"A {recipe_type} batch input line needs a non-empty string {key!r}")
    return value


def _string_map(document: Mapping[str, Any], key: str) -> dict[str, str] | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise LineError(f"{key!r} must be an object of string values")
    return value


def _answer(
    runtime: Runtime, settings: BatchSettings, document: Mapping[str, Any]
) -> Sequence[tuple[str, float | None]]:
    core = importlib.import_module(SERVING_CORE)
    filter_values = _string_map(document, "filterValues")
    context = _string_map(document, "context")
    kind = settings.recipe_type
    if kind == PERSONALIZED_RANKING:
        user = _string(document, "userId", kind)
        items = document.get("itemList")
        if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
            raise LineError(f"A {kind} batch input line needs 'itemList', a list of item IDs")
        if len(items) > MAX_ITEM_LIST:
            raise LineError(f"'itemList' can hold at most {MAX_ITEM_LIST} items; got {len(items)}")
        return core.rank(
            runtime,
            settings.solution_version_arn,
            user_id=user,
            input_list=items,
            filter_arn=settings.filter_arn,
            filter_values=filter_values,
            context=context,
        )
    arguments: dict[str, Any] = {}
    if kind == RELATED_ITEMS:
        arguments["item_id"] = _string(document, "itemId", kind)
        if isinstance(document.get("userId"), str):
            arguments["user_id"] = document["userId"]
    else:
        arguments["user_id"] = _string(document, "userId", kind)
    return core.recommend(
        runtime,
        settings.solution_version_arn,
        num_results=settings.num_results,
        filter_arn=settings.filter_arn,
        filter_values=filter_values,
        exploration=settings.exploration,
        context=context,
        **arguments,
    )
