"""How a workflow is written: a short list of steps, defined once.

The local runner (``augury.local.workflow_runner``) executes these steps in a
worker pool; ``augury.workflows.asl`` compiles the same definition into a Step
Functions state machine whose Task states invoke the workflow-step Lambda
(``augury.handlers.workflow_step``). There is no second copy of the logic.

A step is a function ``(runtime, state) -> dict | None``. ``state`` is a JSON
document (it travels through Step Functions, so it must stay small and
JSON-safe); what the step returns is merged into it. Steps must be idempotent:
both engines may run a step again after a retry.

- raise ``ResourcePending`` when the step must wait for something (a training
  job, another resource): the engine calls the step again later, with backoff;
- raise ``ResourceFailed`` to end the workflow in its failure state, with a
  reason the user will read (``FailureReason``/``Message``);
- any other exception also ends the workflow in failure, reported as an
  internal error.

A step with more work than one Lambda invocation holds asks :func:`seconds_left`,
keeps its progress outside the state (the state is the input again on a retry)
and raises ``ResourcePending`` to be called again (``augury.workflows.file_slices``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from augury.runtime import Runtime

State = dict[str, Any]
StepFunction = Callable[["Runtime", State], Mapping[str, Any] | None]
FailureHandler = Callable[["Runtime", State, str], None]

FAILURE_STEP = "__failure__"
"""The step name under which the failure handler is invoked by either engine."""


_DEADLINE: ContextVar[float | None] = ContextVar("augury_step_deadline", default=None)


@contextmanager
def invocation_deadline(deadline: float | None) -> Iterator[None]:
    """The step run inside ends its invocation at ``deadline`` (``time.monotonic()``)."""
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def seconds_left() -> float:
    """Seconds until the running step's invocation ends; infinite where nothing ends it
    (the local runner)."""
    deadline = _DEADLINE.get()
    return math.inf if deadline is None else deadline - time.monotonic()


class ResourcePending(Exception):
    """The step must wait; the engine retries it (Step Functions: Retry on this name)."""


class ResourceFailed(Exception):
    """The workflow fails with this message as the resource's failure reason."""


@dataclass(frozen=True)
class Retry:
    """How long to keep retrying a step that raises ``ResourcePending``."""

    interval_seconds: float = 1.0
    backoff_rate: float = 1.5
    max_interval_seconds: float = 60.0
    max_attempts: int = 100

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        try:
            grown = self.interval_seconds * self.backoff_rate ** (attempt - 1)
        except OverflowError:  # thousands of attempts: long past the cap
            grown = math.inf
        return min(grown, self.max_interval_seconds)

    @classmethod
    def lasting(
        cls,
        seconds: float,
        *,
        interval_seconds: float,
        backoff_rate: float,
        max_interval_seconds: float,
    ) -> Retry:
        """The retry with just enough attempts that their delays add up to ``seconds``.

        Polling something with a deadline of its own (a training job's longest
        life) must not give up first: a workflow that stops waiting fails a job
        that would still have finished.
        """
        schedule = cls(interval_seconds, backoff_rate, max_interval_seconds, max_attempts=1)
        waited, attempts = 0.0, 0
        while waited < seconds:
            attempts += 1
            waited += schedule.delay(attempts)
        return cls(interval_seconds, backoff_rate, max_interval_seconds, max(attempts, 1))

    def total_seconds(self) -> float:
        """How long all the attempts wait together (the local engine's schedule; Step
        Functions rounds short intervals up to a second, so it waits at least this long)."""
        return sum(self.delay(attempt) for attempt in range(1, self.max_attempts + 1))


@dataclass(frozen=True)
class Step:
    name: str
    run: StepFunction
    retry: Retry = field(default_factory=Retry)


@dataclass(frozen=True)
class Workflow:
    """A named sequence of steps and what to do when any of them fails."""

    name: str
    steps: tuple[Step, ...]
    on_failure: FailureHandler

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"workflow {self.name!r} has no step {name!r}")


def merge_state(state: State, result: Mapping[str, Any] | None) -> State:
    """The state after a step: its input plus what it returned."""
    return {**state, **(result or {})}
