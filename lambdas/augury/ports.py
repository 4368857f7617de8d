"""The ports: the few primitives the services need from the outside world.

Each port has a ``local`` adapter (embedded mode) and an ``aws`` adapter. The
services and workflows see only these protocols, so the same operation code runs
on SQLite and files or on DynamoDB and S3. Keep each port small: every method
added here must be written twice and covered by the shared contract tests in
``tests/contract``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from augury.resources.record import Resource


class StoreError(Exception):
    """Base of the errors a store raises; the services turn them into API errors."""


class AlreadyExists(StoreError):
    """A record with this key exists already (a conditional create failed)."""


class NotFound(StoreError):
    """No record with this key."""


class ConcurrentUpdate(StoreError):
    """The record changed since it was read (a conditional update failed)."""


@dataclass(frozen=True)
class Page:
    """One page of a listing; ``cursor`` is opaque and ``None`` on the last page."""

    items: list[Resource]
    cursor: str | None


class MetadataStore(Protocol):
    """Resource records keyed by ARN, listed by kind or by parent, newest last."""

    def create(self, resource: Resource) -> None:
        """Insert; raise ``AlreadyExists`` if the ARN is taken."""

    def get(self, arn: str) -> Resource | None:
        """The record, or ``None``."""

    def update(self, resource: Resource) -> Resource:
        """Replace the record if its stored version equals ``resource.version``.

        Returns the stored record (version incremented). Raises ``NotFound`` or
        ``ConcurrentUpdate``.
        """

    def delete(self, arn: str) -> None:
        """Remove the record; removing a missing record is not an error."""

    def list(
        self,
        *,
        kind: str | None = None,
        parent_arn: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page:
        """Records of one kind and/or one parent in creation order.

        At least one of ``kind`` and ``parent_arn`` must be given.
        """


class BlobNotFound(StoreError):
    """No blob under this key."""


class BlobStore(Protocol):
    """Opaque bytes under slash-separated keys (datasets, models, forecasts)."""

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write atomically: readers see the old blob or the new one, never a part."""

    def get_bytes(self, key: str) -> bytes:
        """Read; raise ``BlobNotFound``."""

    def upload_file(self, path: Path, key: str) -> None:
        """Copy a local file in, atomically, without holding it in memory."""

    def download_file(self, key: str, path: Path) -> None:
        """Copy a blob out to a local file; raise ``BlobNotFound``."""

    def copy(self, source: str, target: str) -> None:
        """Copy a blob to another key, atomically, inside the store (S3: server side, so
        gigabytes of a dataset's previous version never pass through the function)."""

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Every key under ``prefix``, sorted."""

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under ``prefix``; return how many were deleted."""

    def delete_keys(self, keys: Sequence[str]) -> int:
        """Delete exactly ``keys``, in as few calls as the store allows; an absent key is no
        error. Returns how many were deleted (S3 does not say which existed: there, how many
        were asked for)."""

    def uri(self, key: str) -> str:
        """Where the blob lives, for humans and for SageMaker (``s3://`` or a path)."""


class WorkflowEngine(Protocol):
    """Starts a named workflow (see ``augury.workflows``) on an input document."""

    def start(self, workflow: str, payload: Mapping[str, Any]) -> str:
        """Start an execution and return its id; never waits for it."""


@dataclass(frozen=True)
class TrainingJobSpec:
    """What a training job needs, in SageMaker's vocabulary.

    ``channels`` map a channel name to a blob prefix whose keys become files in
    ``input/data/<channel>/``; the model directory comes back as a
    ``model.tar.gz`` under ``output_prefix``, at ``TrainingJobState.model_key``
    (SageMaker nests it as ``<output_prefix>/<name>/output/model.tar.gz``).
    """

    name: str
    container: str
    hyperparameters: Mapping[str, str]
    channels: Mapping[str, str]
    output_prefix: str
    instance_type: str = "ml.m5.xlarge"
    max_runtime_seconds: int = 86_400
    accelerator: bool = False
    """The job wants a GPU (deep models); a trainer with a GPU instance type configured
    for the container uses it, and never runs such a job on spot capacity."""


SPOT_WAIT_FACTOR = 2
"""A job on spot capacity may wait, run included, this many times its MaxRuntimeInSeconds
(its MaxWaitTimeInSeconds): a job that waits for capacity and is reclaimed still ends."""


def longest_job_life(max_runtime_seconds: int) -> int:
    """Seconds a training job may take before SageMaker (or the local trainer) ends it,
    spot capacity waits included: how long a workflow must be ready to poll it."""
    return SPOT_WAIT_FACTOR * max_runtime_seconds


TRAINING_IN_PROGRESS = "InProgress"
TRAINING_COMPLETED = "Completed"
TRAINING_FAILED = "Failed"
TRAINING_STOPPED = "Stopped"


@dataclass(frozen=True)
class TrainingJobState:
    name: str
    status: str
    failure_reason: str | None = None
    model_key: str | None = None


class Trainer(Protocol):
    """Runs training containers under the SageMaker training contract."""

    def start(self, spec: TrainingJobSpec) -> None:
        """Start the job; raise ``AlreadyExists`` if the name is taken."""

    def describe(self, name: str) -> TrainingJobState:
        """Current state; raise ``NotFound``."""

    def stop(self, name: str) -> None:
        """Ask the job to stop; a finished job is left as it is."""


@dataclass(frozen=True)
class StreamRecord:
    """One event on the stream, partitioned so one user's events stay in order."""

    partition_key: str
    data: Mapping[str, Any] = field(default_factory=dict)


class EventStream(Protocol):
    """Where PutEvents / PutUsers / PutItems land before a consumer applies them."""

    def publish(self, records: Sequence[StreamRecord]) -> None:
        """Append records in order; raise on failure so nothing is silently lost."""


@dataclass(frozen=True)
class AttributionPoint:
    """One metric attribution's value for one source in one 15-minute window.

    What Amazon Personalize sends CloudWatch for streamed and incremental data:
    ``value`` is the window's sum (``SUM``) or count (``SAMPLECOUNT``) of the
    events of ``event_type`` that ``source`` (a campaign or recommender ARN, a
    third party, or ``SOURCE_NAME_UNDEFINED``) brought about. Points for the same
    window may be published more than once (each batch of events adds its own);
    a reader sums them.
    """

    attribution_arn: str
    metric_name: str
    event_type: str
    function: str
    """``SUM`` or ``SAMPLECOUNT``."""
    source: str
    window_start: int
    """Epoch seconds, a multiple of 900."""
    value: float

    def report_row(self) -> list[str]:
        """The point as a row of Amazon's report CSV (``REPORT_COLUMNS``)."""
        return [
            self.metric_name,
            self.event_type,
            repr(float(self.value)),
            self.function.lower(),
            self.source,
            str(self.window_start),
        ]


REPORT_COLUMNS = (
    "METRIC_NAME",
    "EVENT_TYPE",
    "VALUE",
    "MATH_FUNCTION",
    "EVENT_ATTRIBUTION_SOURCE",
    "TIMESTAMP",
)
"""The columns of Amazon Personalize's metric attribution reports, in its order."""


class MetricsPublisher(Protocol):
    """Where metric attributions report streamed data: CloudWatch on AWS, files embedded."""

    def publish(self, points: Sequence[AttributionPoint]) -> None:
        """Record the points; raise on failure, so the caller can log what was lost."""


class ExternalDataError(Exception):
    """The user's own data cannot be read or written where the request says; the message says why.

    Imports and exports report it as the job's failure reason, or refuse the
    request with an ``InvalidInputException`` when it is known at once.
    """


class ExternalStorage(Protocol):
    """The user's own storage, named by ``s3://bucket/key`` URIs: import sources, export targets.

    On AWS these are Amazon S3 objects, accessed as the IAM role the request
    names (``role_arn``), as Amazon Forecast and Personalize do. In embedded mode
    they are files under the data directory, so nothing outside it is reachable.
    """

    def check_uri(self, uri: str) -> None:
        """Raise ``ExternalDataError`` for a URI this storage can never serve (no I/O)."""

    def list_objects(self, uri: str, *, role_arn: str | None = None) -> list[str]:
        """The object ``uri`` names, or else every object under it taken as a folder.

        A bucket (``s3://bucket``) or a prefix lists recursively, sorted; ``[]``
        when nothing is there.
        """

    def list_sizes(self, uri: str, *, role_arn: str | None = None) -> dict[str, int]:
        """:meth:`list_objects` with each object's size in bytes (what a listing gives
        for free), in the same order: work over many files plans with it."""

    def download(self, uri: str, path: Path, *, role_arn: str | None = None) -> None:
        """Copy one object to a local file, without holding it in memory."""

    def upload(
        self,
        path: Path,
        uri: str,
        *,
        role_arn: str | None = None,
        kms_key_arn: str | None = None,
    ) -> None:
        """Copy a local file to ``uri``, encrypted with ``kms_key_arn`` where given."""


@dataclass(frozen=True)
class Caller:
    """Who sent a request, as API Gateway's AWS_IAM authorization found it: the signing
    principal's ARN and the address the request came from."""

    arn: str
    source_ip: str | None = None


class RolePassing(Protocol):
    """Whether the caller of a request may hand Augury the IAM role it names.

    Amazon's services take a role only from a caller allowed ``iam:PassRole`` on it,
    so an API user cannot borrow a role that reaches data they could not reach
    themselves. On AWS the IAM policy simulator answers for the caller API Gateway
    authenticated; embedded mode has no IAM (its data directory is the boundary).
    """

    def check(self, caller: Caller | None, role_arn: str, service: str) -> None:
        """Raise ``AccessDenied`` unless ``caller`` may pass ``role_arn`` to ``service``
        (``forecast`` or ``personalize``); ``Throttling`` when that cannot be told now."""


class UserHistoryStore(Protocol):
    """What real-time events leave behind for serving: recent histories and newest rows.

    Two small tables, both partitioned by a ``scope`` (one dataset's live data;
    ``augury.personalize.event_data`` builds it so a re-created dataset starts
    empty):

    - per ``(scope, subject)`` a bounded history of events (dicts holding at
      least ``EVENT_ID`` and a numeric ``TIMESTAMP``), oldest first; a subject
      is a user or an anonymous session. Appends are idempotent by
      ``EVENT_ID``, since the event stream delivers at least once.
    - per ``(scope, row_id)`` the newest row written (PutUsers, PutItems, and
      the session-to-user links), where "newest" is the writer's ``stamp``, so
      a late redelivery never replaces a newer row.

    Entries expire some time after their last write (a TTL); expired entries are
    never returned, whether or not they were physically removed yet.
    """

    def append(self, scope: str, subject: str, events: Sequence[Mapping[str, Any]]) -> list[str]:
        """Add the events whose ``EVENT_ID`` the history lacks; return the IDs added.

        The history is kept sorted by ``TIMESTAMP`` (arrival order among equal
        ones) and bounded: the oldest events fall off first.
        """

    def history(self, scope: str, subject: str) -> list[dict[str, Any]]:
        """The subject's events, oldest first; ``[]`` when it has none."""

    def discard(self, scope: str, subject: str) -> None:
        """Forget the subject's history (missing is not an error)."""

    def put_row(self, scope: str, row_id: str, row: Mapping[str, Any], *, stamp: float) -> bool:
        """Store ``row`` unless a row with a later ``stamp`` is there; ``True`` if written."""

    def get_row(self, scope: str, row_id: str) -> dict[str, Any] | None:
        """The stored row, or ``None``."""

    def discard_row(self, scope: str, row_id: str) -> None:
        """Forget the row, whatever its stamp (missing is not an error): a later ``put_row``
        stores its row again."""

    def rows(self, scope: str) -> dict[str, dict[str, Any]]:
        """Every stored row of the scope, by row ID."""
