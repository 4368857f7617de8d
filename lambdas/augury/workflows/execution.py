"""Running one step or one failure handler: the part both engines share.

The local runner loops over steps calling ``run_step``; under Step Functions
each Task state invokes the workflow-step Lambda, which calls ``run_step`` or
``run_failure`` for the one step the state names.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from augury.workflows.catalog import workflow
from augury.workflows.definition import State, invocation_deadline, merge_state

if TYPE_CHECKING:
    from augury.runtime import Runtime

logger = logging.getLogger(__name__)


def run_step(
    runtime: Runtime,
    workflow_name: str,
    step_name: str,
    state: State,
    *,
    deadline: float | None = None,
) -> State:
    """Run one step and return the state the next step receives.

    ``deadline`` (``time.monotonic()``) is when the step's invocation ends: a Lambda's
    timeout. A step with more work than one invocation holds (an import of many files)
    reads it through ``definition.seconds_left``, saves its progress and raises
    ``ResourcePending`` to be called again; the local runner gives none.
    """
    step = workflow(workflow_name).step(step_name)
    with invocation_deadline(deadline):
        return merge_state(state, step.run(runtime, state))


def run_failure(runtime: Runtime, workflow_name: str, state: State, reason: str) -> None:
    """Put the workflow's resource in its failed state, with ``reason`` for the user."""
    logger.warning("workflow %s failed: %s", workflow_name, reason)
    workflow(workflow_name).on_failure(runtime, state, reason)


def reason_from_step_functions_error(error: Any) -> str:
    """The user-facing reason from a Catch's ``{"Error": ..., "Cause": ...}``.

    A Lambda error's Cause is a JSON document with ``errorMessage`` and
    ``errorType``; a ``ResourceFailed`` message is shown as it is, anything else
    is reported as an internal error with its type.
    """
    if not isinstance(error, dict):
        return "The workflow failed"
    name = str(error.get("Error", "Error"))
    cause = error.get("Cause") or ""
    message = cause
    try:
        parsed = json.loads(cause)
        message = parsed.get("errorMessage", cause)
    except (TypeError, ValueError):
        pass
    if name == "ResourceFailed":
        return str(message)
    if name == "ResourcePending":
        return f"Timed out waiting: {message}"
    return f"Internal error ({name}): {message}" if message else f"Internal error ({name})"
