"""Personalize's batch workflows: batch inference jobs.

``batch-inference`` reads every object under the job's input path (a JSON
Lines file, or a folder of them) through the ExternalStorage port as the
job's role, answers each line (``augury.personalize.batch_lines``) and writes
``<input file name>.out`` under the output path, one output line per input
line, as Amazon does. Bad lines are reported in their own ``error``; the job
fails (CREATE FAILED, naming the file) only when input cannot be read at all:
no files, a file that cannot be downloaded, or one that is not UTF-8 text.
Output is written one file at a time from a local temporary file, so memory
stays bounded by one line's answer.

Batch segment jobs are refused at creation (no item-affinity recipes), so
there is no workflow for them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from augury.personalize.batch_jobs import BATCH_INFERENCE_WORKFLOW
from augury.personalize.batch_lines import BatchSettings, answer_line
from augury.personalize.recipes import recipe_for_arn
from augury.ports import ExternalDataError
from augury.resources import crud
from augury.resources.status import Status
from augury.scratch import scratch_directory
from augury.workflows.definition import ResourceFailed, State, Step, Workflow

if TYPE_CHECKING:
    from augury.runtime import Runtime

OUTPUT_SUFFIX = ".out"


def output_uri(destination: str, input_uri: str) -> str:
    """``<destination>/<input file name>.out``."""
    name = input_uri.rstrip("/").rsplit("/", 1)[-1]
    return destination.rstrip("/") + "/" + name + OUTPUT_SUFFIX


def _infer(runtime: Runtime, state: State) -> None:
    arn = state["arn"]
    record = runtime.metadata.get(arn)
    if record is None:
        raise ResourceFailed(f"{arn} was deleted while it was running")
    if Status(record.status) == Status.ACTIVE:
        return
    crud.set_status(runtime, arn, Status.CREATE_IN_PROGRESS)
    attributes = record.attributes
    version = runtime.metadata.get(attributes["solutionVersionArn"])
    if version is None or Status(version.status) != Status.ACTIVE:
        raise ResourceFailed(
            f"Solution version {attributes['solutionVersionArn']} is no longer ACTIVE"
        )
    config = attributes.get("batchInferenceJobConfig") or {}
    settings = BatchSettings(
        solution_version_arn=version.arn,
        recipe_type=recipe_for_arn(version.attributes["recipeArn"]).recipe_type,
        num_results=int(attributes.get("numResults") or 25),
        filter_arn=attributes.get("filterArn"),
        exploration=config.get("itemExplorationConfig"),
    )
    source = attributes["jobInput"]["s3DataSource"]["path"]
    destination = attributes["jobOutput"]["s3DataDestination"]
    role = attributes.get("roleArn")
    try:
        inputs = runtime.external.list_objects(source, role_arn=role)
    except ExternalDataError as error:
        raise ResourceFailed(f"Could not read the input at {source}: {error}") from None
    inputs = [uri for uri in inputs if not uri.endswith("/")]
    if not inputs:
        raise ResourceFailed(f"There is no input file at {source}")
    for uri in inputs:
        _process_file(runtime, settings, uri, destination, role)
    crud.set_status(runtime, arn, Status.ACTIVE)


def _process_file(
    runtime: Runtime,
    settings: BatchSettings,
    uri: str,
    destination: dict[str, Any],
    role: str | None,
) -> None:
    with scratch_directory(runtime, "augury-batch-") as scratch:
        local_in = Path(scratch) / "input.jsonl"
        local_out = Path(scratch) / "output.jsonl"
        try:
            runtime.external.download(uri, local_in, role_arn=role)
        except ExternalDataError as error:
            raise ResourceFailed(f"Could not read input file {uri}: {error}") from None
        try:
            # utf-8-sig: files saved by Windows tools start with a byte order mark
            with open(local_in, encoding="utf-8-sig") as lines, open(local_out, "w") as out:
                for text in lines:
                    if not text.strip():
                        continue
                    answer = answer_line(runtime, settings, text.strip())
                    out.write(json.dumps(answer, separators=(",", ":")) + "\n")
        except UnicodeDecodeError as error:
            raise ResourceFailed(
                f"Input file {uri} is not UTF-8 text (byte {error.start}); batch input must be "
                "JSON Lines"
            ) from None
        target = output_uri(destination["path"], uri)
        try:
            runtime.external.upload(
                local_out, target, role_arn=role, kms_key_arn=destination.get("kmsKeyArn")
            )
        except ExternalDataError as error:
            raise ResourceFailed(f"Could not write the output file {target}: {error}") from None


def _failed(runtime: Runtime, state: State, reason: str) -> None:
    if runtime.metadata.get(state["arn"]) is not None:
        crud.set_status(runtime, state["arn"], Status.CREATE_FAILED, reason)


BATCH_INFERENCE = Workflow(
    name=BATCH_INFERENCE_WORKFLOW,
    steps=(Step("infer", _infer),),
    on_failure=_failed,
)

WORKFLOWS: tuple[Workflow, ...] = (BATCH_INFERENCE,)
"""This module's workflows; ``augury.workflows.catalog`` registers them."""
