"""The embedded workflow engine: workflow steps in a thread pool.

Executions are written to the metadata store while they run, so that after a
crash ``recover`` can fail them with a reason instead of leaving resources
stuck IN_PROGRESS.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from augury.resources import crud
from augury.resources.record import Resource
from augury.resources.status import Status
from augury.resources.types import all_types
from augury.workflows.catalog import workflow as find_workflow
from augury.workflows.definition import ResourceFailed, ResourcePending
from augury.workflows.execution import run_failure, run_step

if TYPE_CHECKING:
    from augury.runtime import Runtime

logger = logging.getLogger(__name__)

EXECUTION_KIND = "augury:workflow-execution"
RESTART_REASON = "Augury restarted while this work was in progress; nothing was lost, run it again"


MAX_POLL_SECONDS = 5.0
"""The longest a waiting step sleeps here between checks. Step Functions' schedules space
checks up to a minute apart to fit a long job's wait in one execution's history; locally a
check is a file read, and a model that is ready serves within seconds instead."""


class LocalWorkflowRunner:
    def __init__(
        self, runtime: Runtime, *, workers: int = 4, max_poll_seconds: float = MAX_POLL_SECONDS
    ) -> None:
        self._runtime = runtime
        self._max_poll_seconds = max_poll_seconds
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="augury-workflow")
        self._running: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def start(self, workflow: str, payload: Mapping[str, Any]) -> str:
        find_workflow(workflow)  # unknown names fail in the caller, not in a thread
        execution_id = str(uuid.uuid4())
        arn = f"arn:augury:local:{self._runtime.settings.account}:execution/{execution_id}"
        self._runtime.metadata.create(
            Resource(
                arn=arn,
                kind=EXECUTION_KIND,
                name=workflow,
                status=Status.CREATE_IN_PROGRESS.value,
                attributes={"input": dict(payload)},
            )
        )
        try:
            future = self._pool.submit(self._execute, arn, workflow, dict(payload))
        except RuntimeError:  # the pool is shut down: this execution never runs
            self._runtime.metadata.delete(arn)
            raise
        with self._lock:
            self._running.add(future)
        future.add_done_callback(self._forget)
        return arn

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._running.discard(future)

    def _execute(self, execution_arn: str, workflow_name: str, state: dict[str, Any]) -> None:
        definition = find_workflow(workflow_name)
        try:
            for step in definition.steps:
                attempt, waited = 0, 0.0
                patience = step.retry.total_seconds()  # the schedule's wait, however spaced
                while True:
                    try:
                        state = run_step(self._runtime, workflow_name, step.name, state)
                        break
                    except ResourcePending as pending:
                        attempt += 1
                        if waited >= patience:
                            raise ResourceFailed(f"Timed out waiting: {pending}") from None
                        delay = min(step.retry.delay(attempt), self._max_poll_seconds)
                        waited += delay
                        if self._stopping.wait(delay):
                            return  # shutting down: recover() fails it on the next start
        except ResourceFailed as failed:
            run_failure(self._runtime, workflow_name, state, str(failed))
        except Exception as error:
            logger.exception("workflow %s crashed", workflow_name)
            reason = f"Internal error ({type(error).__name__}): {error}"
            run_failure(self._runtime, workflow_name, state, reason)
        self._runtime.metadata.delete(execution_arn)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no execution is running (for tests and the demo)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._running:
                    return True
            time.sleep(0.01)
        return False

    def shutdown(self) -> None:
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def recover(self) -> int:
        """Fail what a previous process left in progress, and mark stopped what it was
        stopping; return how many resources."""
        failed = 0
        cursor = None
        while True:
            page = self._runtime.metadata.list(kind=EXECUTION_KIND, limit=100, cursor=cursor)
            for execution in page.items:
                state = execution.attributes.get("input", {})
                stopping = self._stopping_resource(state)
                try:
                    run_failure(self._runtime, execution.name, state, RESTART_REASON)
                    if stopping is not None:  # asked to stop, and stopped it is
                        crud.set_status(self._runtime, stopping, Status.CREATE_STOPPED)
                    failed += 1
                except Exception:
                    logger.exception("could not fail interrupted execution %s", execution.arn)
                self._runtime.metadata.delete(execution.arn)
            cursor = page.cursor
            if cursor is None:
                break
        return failed + self._fail_stuck_resources()

    def _stopping_resource(self, state: Any) -> str | None:
        """The ARN of the execution's resource if the user had asked it to stop."""
        arn = state.get("arn") if isinstance(state, dict) else None
        record = self._runtime.metadata.get(arn) if isinstance(arn, str) else None
        return arn if record is not None and record.status == Status.CREATE_STOPPING.value else None

    def _fail_stuck_resources(self) -> int:
        """Anything still working after the executions were failed had none: fail it too."""
        failed = 0
        for resource_type in all_types():
            cursor = None
            while True:
                page = self._runtime.metadata.list(kind=resource_type.kind, cursor=cursor)
                for record in page.items:
                    status = Status(record.status)
                    if status == Status.CREATE_STOPPING:
                        crud.set_status(self._runtime, record.arn, Status.CREATE_STOPPED)
                        failed += 1
                    elif status.working:
                        ended = status.failure()  # a stop or start goes back where it was
                        reason = RESTART_REASON if ended.failed else None
                        crud.set_status(self._runtime, record.arn, ended, reason)
                        failed += 1
                cursor = page.cursor
                if cursor is None:
                    break
        return failed
