"""The personalization container's ``main``: one solution version, from channels to ``model/``.

``python -m augury_training.personalization`` runs :func:`main` under the
SageMaker contract. The job:

1. reads the ``config`` hyperparameter (``SolutionJobConfig``) and the channels,
   keeps the interactions the solution's event type, value threshold and
   eventsConfig select (weighted), and checks Amazon's minimum data;
2. with performHPO, searches the hyperparameter ranges on a validation split
   of the training users (``hpo``);
3. evaluates the recipe on Amazon's split (``evaluation.amazon_split``): it
   trains on the training users, writes the model as serving will read it,
   scores each test user from their input items as recent events (excluding
   them) and computes ``SOLUTION_METRICS`` on their targets;
4. trains on all the data and writes ``model/``: the recommender files,
   ``metrics.json`` and, after HPO, ``tuned_hpo_params.json``.

``trainingMode=UPDATE`` on a deep recipe skips 2-4's training: it grows the
previous version's model by the new items and refreshes its histories
(``deep.update_sequence``), keeping the previous metrics. Other recipes are
cheap to train, so UPDATE simply retrains them.

Problems with the data or the configuration end the job with a reason meant
for the user (Amazon's wording for too little data) in ``output/failure``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from augury_training.contract import TrainPaths
from augury_training.personalization import minimum_data
from augury_training.personalization.catalog import TrainingSet, build_training_set
from augury_training.personalization.data import (
    EVENT_TYPE,
    USER_ID,
    DataError,
    JobData,
    event_rule,
    load_job_data,
)
from augury_training.personalization.deep import AVERAGED_MODELS
from augury_training.personalization.recipes import (
    DEEP_RECIPES,
    ConfigError,
    RecipeContext,
    fit,
    write_model,
)
from augury_training.personalize_contract import (
    CONFIG_HYPERPARAMETER,
    METRICS_FILE,
    PERSONALIZED_ACTIONS,
    PREVIOUS_MODEL_CHANNEL,
    RECIPE_TYPES,
    SOLUTION_METRICS,
    SolutionJobConfig,
    recipe_name,
)
from augury_training.recommender_artifacts import load_recommender

TUNED_HPO_FILE = "tuned_hpo_params.json"
"""``{"algorithmHyperParameters": {...}}``: the best values found by performHPO."""

TRAINING_MODES = ("FULL", "UPDATE")


def progress(message: str) -> None:
    """A progress line for the job log (stdout is the log)."""
    print(f"[personalization] {message}", flush=True)


def load_config(hyperparameters: Mapping[str, str]) -> SolutionJobConfig:
    """The job configuration from its one hyperparameter, checked."""
    text = hyperparameters.get(CONFIG_HYPERPARAMETER)
    if not text:
        raise ConfigError(
            f"the training job has no {CONFIG_HYPERPARAMETER!r} hyperparameter: the "
            "personalization container needs the solution configuration as JSON"
        )
    try:
        config = SolutionJobConfig.from_json(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"the {CONFIG_HYPERPARAMETER!r} hyperparameter is not JSON: {exc}"
        ) from exc
    except TypeError as exc:
        raise ConfigError(f"the job configuration is not valid: {exc}") from exc
    config.recipe = recipe_name(config.recipe)
    if config.recipe not in RECIPE_TYPES:
        raise ConfigError(
            f"recipe {config.recipe!r} is not one of {', '.join(sorted(RECIPE_TYPES))}"
        )
    config.training_mode = (config.training_mode or "FULL").upper()
    if config.training_mode not in TRAINING_MODES:
        raise ConfigError(f"trainingMode must be FULL or UPDATE, not {config.training_mode!r}")
    return config


def main(paths: TrainPaths, hyperparameters: dict[str, str]) -> None:
    """The container's entry point (see ``__main__``)."""
    try:
        config = load_config(hyperparameters)
        train(paths, config)
    except (ConfigError, DataError, minimum_data.InsufficientDataError) as exc:
        progress(f"failed: {exc}")
        paths.write_failure(str(exc))
        sys.exit(1)


def train(paths: TrainPaths, config: SolutionJobConfig) -> None:
    """Train one solution version and write ``model/``."""
    started = time.monotonic()
    progress(
        f"{config.recipe} ({config.recipe_type}), trainingMode {config.training_mode}"
        f"{', performHPO' if config.perform_hpo else ''}"
    )
    data = load_job_data(paths, config)
    frame = data.interactions
    progress(
        f"{len(frame)} interactions from {frame[USER_ID].nunique()} users kept for training; "
        f"users data: {0 if data.users is None else len(data.users)} rows, "
        f"items data: {0 if data.items is None else len(data.items)} rows"
    )
    minimum_data.check(
        len(frame), minimum_data.active_users(frame[USER_ID].to_numpy()), data.filtered
    )
    if config.recipe_type == PERSONALIZED_ACTIONS:
        from augury_training.personalization.next_best_action import train_actions

        metrics = train_actions(paths, config, frame, progress)
        _write_json(paths.model_dir / METRICS_FILE, metrics)
        progress(f"trained {config.recipe} in {time.monotonic() - started:.1f} s")
        return
    context = RecipeContext(
        recipe=config.recipe,
        seed=config.seed,
        feature_transformation=dict(config.feature_transformation_parameters or {}),
        log=progress,
    )
    if config.training_mode == "UPDATE" and config.recipe in DEEP_RECIPES:
        from augury_training.personalization.deep import previous_model_dir

        previous = previous_model_dir(paths.channel(PREVIOUS_MODEL_CHANNEL))
        if previous is not None and _kind(previous) == "sequence":
            update(paths, config, data, previous, context, started)
            return
        progress("no previous sequence model to update: training from scratch")

    params = {k: str(v) for k, v in (config.algorithm_hyperparameters or {}).items()}
    tuned: dict[str, str] | None = None
    split = None
    if config.evaluate or config.perform_hpo:
        from augury_training.personalization.evaluation import amazon_split

        split = amazon_split(frame, seed=config.seed)
    if config.perform_hpo and split is not None:
        tuned = tune(config, data, split, params, context)
        params.update(tuned)
    metrics: dict[str, float] = {}
    if config.evaluate and split is not None:
        metrics = evaluate(config.recipe, split, data, params, context, config.event_type)
        progress("metrics: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))

    full = build_training_set(
        frame,
        data.users,
        data.items,
        field_kinds=data.field_kinds,
        unchosen_impressions=data.unchosen_impressions,
    )
    artifacts = fit(config.recipe, full, params, context)
    seconds = round(time.monotonic() - started, 3)
    extra: dict[str, Any] = {"training_seconds": seconds, "training_mode": config.training_mode}
    if tuned is not None:
        extra["tuned_hyperparameters"] = tuned
    write_model(
        paths.model_dir,
        config.recipe,
        full,
        artifacts,
        hyperparameters=params,
        event_type=config.event_type,
        rule=event_rule(config),
        extra=extra,
    )
    _write_json(paths.model_dir / METRICS_FILE, metrics)
    if tuned is not None:
        _write_json(paths.model_dir / TUNED_HPO_FILE, {"algorithmHyperParameters": tuned})
    progress(
        f"trained {config.recipe} on {len(frame)} interactions, {full.n_items} items, "
        f"{full.n_users} users in {time.monotonic() - started:.1f} s"
    )


def update(
    paths: TrainPaths,
    config: SolutionJobConfig,
    data: JobData,
    previous: Path,
    context: RecipeContext,
    started: float,
) -> None:
    """trainingMode=UPDATE: the previous encoder, a grown catalog, fresh histories."""
    from augury_training.personalization.deep import update_sequence

    full, artifacts, manifest = update_sequence(
        previous, data.interactions, data.users, data.items, context, data.unchosen_impressions
    )
    params = manifest.get("hyperparameters") or {}
    extra = {
        "training_seconds": round(time.monotonic() - started, 3),
        "training_mode": "UPDATE",
    }
    write_model(
        paths.model_dir,
        config.recipe,
        full,
        artifacts,
        hyperparameters=params,
        event_type=config.event_type,
        rule=event_rule(config),
        extra=extra,
    )
    metrics_file = previous / METRICS_FILE
    metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else {}
    _write_json(paths.model_dir / METRICS_FILE, metrics)
    progress(f"updated {config.recipe}: {full.n_items} items, {full.n_users} users")


def tune(
    config: SolutionJobConfig,
    data: JobData,
    split: Any,
    params: dict[str, str],
    context: RecipeContext,
) -> dict[str, str]:
    """performHPO on a validation split of the training users; the best searched values."""
    from augury_training.personalization import hpo
    from augury_training.personalization.evaluation import amazon_split

    validation = amazon_split(split.train, seed=config.seed + 1)
    inner = JobData(split.train, data.users, data.items, data.filtered, data.field_kinds)
    searched = {dimension.name for dimension in hpo.search_space(config.hpo_config)}
    one_network = config.recipe in DEEP_RECIPES and AVERAGED_MODELS not in searched

    def trial(values: dict[str, str], budget: float | None) -> dict[str, float]:
        if one_network:
            # trials compare settings on one network each; the final fit averages several
            values = {**values, AVERAGED_MODELS: "1"}
        trial_context = replace(context, time_budget_seconds=budget, log=_quiet)
        return evaluate(config.recipe, validation, inner, values, trial_context, config.event_type)

    best, _ = hpo.search(
        trial,
        params,
        config.hpo_config,
        seed=config.seed,
        deep=config.recipe in DEEP_RECIPES,
        log=progress,
    )
    progress(f"hpo: best values {best}")
    return best


def evaluate(
    recipe: str,
    split: Any,
    data: JobData,
    params: Mapping[str, str],
    context: RecipeContext,
    event_type: str | None = None,
) -> dict[str, float]:
    """``SOLUTION_METRICS`` of ``recipe`` trained on ``split.train``, scored as serving scores."""
    from augury_training.personalization.evaluation import catalog_size, evaluate_scores

    if not split.test_inputs:
        return dict.fromkeys(SOLUTION_METRICS, 0.0)
    train_set = build_training_set(
        split.train, data.users, data.items, field_kinds=data.field_kinds
    )
    artifacts = fit(recipe, train_set, params, context)
    event_types = _input_event_types(split.test_input_rows)
    contexts = _request_contexts(split.test_target_rows, train_set)
    with tempfile.TemporaryDirectory(prefix="augury-eval-") as scratch:
        model_dir = Path(scratch)
        write_model(
            model_dir, recipe, train_set, artifacts, hyperparameters=params, event_type=event_type
        )
        recommender = load_recommender(model_dir)

        def score(user: str, inputs: list[str]) -> np.ndarray:
            return recommender.score_user(
                user, inputs, event_types.get(user), context=contexts.get(user)
            )

        return evaluate_scores(
            split,
            recommender.item_ids,
            score,
            catalog_size=catalog_size(data.interactions, data.items),
        )


def _input_event_types(rows: pd.DataFrame) -> dict[str, list[str]]:
    if EVENT_TYPE not in rows or rows.empty:
        return {}
    types = rows[EVENT_TYPE].fillna("").astype(str)
    return {str(user): list(group) for user, group in types.groupby(rows[USER_ID], sort=False)}


def _request_contexts(rows: pd.DataFrame | None, data: TrainingSet) -> dict[str, dict[str, str]]:
    """Each test user's context at request time: that of their first target interaction.

    A request carries the context the user is in when asking (the device in
    hand), which is the context of what they do next; the items are still
    unknown to the model. The newest input's context would be stale whenever a
    new session began between input and target, and a model trained to trust
    its context (as the sequence model is: it learns each interaction's own)
    would be scored on a request no client sends. With sessions on one device,
    measured by ``scripts/check_personalize_context.py``: stale contexts scored
    below no context at all, current ones above it.
    """
    space = data.context_space
    if space is None or rows is None or rows.empty:
        return {}
    first = rows.groupby(USER_ID, sort=False).head(1)
    present = [name for name in space.fields if name in first]
    return {
        str(user): {
            name: str(value)
            for name, value in zip(present, values, strict=True)
            if not pd.isna(value)
        }
        for user, *values in first[[USER_ID, *present]].itertuples(index=False)
    }


def _kind(model_dir: Path) -> str | None:
    from augury_training.recommender_artifacts import MANIFEST_FILE

    try:
        return json.loads((model_dir / MANIFEST_FILE).read_text(encoding="utf-8")).get("kind")
    except (OSError, ValueError):
        return None


def _quiet(message: str) -> None:
    """HPO trials' inner progress stays out of the job log (one line per trial is enough)."""


def _write_json(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=True), encoding="utf-8")
