"""The one place adapters are chosen and wired (cosmic-python's ``bootstrap``).

Nothing here runs at import time: callers (the embedded server, a Lambda
handler, a test) call ``bootstrap`` with settings and get a ``Runtime``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from augury.ports import (
    BlobStore,
    EventStream,
    ExternalStorage,
    MetadataStore,
    MetricsPublisher,
    RolePassing,
    StreamRecord,
    Trainer,
    UserHistoryStore,
)
from augury.runtime import Runtime
from augury.settings import Settings

EventConsumer = Callable[[list[StreamRecord]], None]

DEFAULT_CONTAINERS: Mapping[str, Sequence[str]] = {
    "forecasting": (sys.executable, "-m", "augury_training.forecasting"),
    "personalization": (sys.executable, "-m", "augury_training.personalization"),
}
"""How embedded mode runs each training container: its entry point as a process."""
EVENT_JOURNAL_FILE = "events.db"
"""Under the data directory: events accepted and not yet applied (``local://`` streams)."""


def bootstrap(
    settings: Settings,
    *,
    containers: Mapping[str, Sequence[str]] | None = None,
    event_consumer: EventConsumer | None = None,
) -> Runtime:
    """Build the runtime the settings describe.

    With no ``event_consumer``, events are applied by Personalize's consumer
    (``augury.personalize.event_consumer``), in-process for ``local://``
    streams; a Kinesis stream is drained by its own Lambda instead.
    """
    metadata = _metadata_store(settings.metadata_uri)
    blobs = _blob_store(settings.blobs_uri)
    runtime = Runtime(
        settings=settings,
        metadata=metadata,
        blobs=blobs,
        workflows=None,  # type: ignore[arg-type]  # wired below: the engine needs the runtime
        trainer=_trainer(settings, blobs, containers or DEFAULT_CONTAINERS),
        events=_event_stream(settings, event_consumer),
        external=_external_storage(settings),
        history=_history_store(settings.history_uri),
        metrics=_metrics_publisher(settings.metrics_uri),
        roles=_role_passing(settings),
    )
    runtime.workflows = _workflow_engine(settings, runtime)
    if event_consumer is None and hasattr(runtime.events, "set_consumer"):
        runtime.events.set_consumer(_personalize_consumer(runtime))
    return runtime


def _personalize_consumer(runtime: Runtime) -> EventConsumer:
    """PutEvents / PutUsers / PutItems records applied to ``runtime``, and the files they
    leave merged now and then (``event_compaction``) beside the consumer.

    The consumer's modules are imported and Parquet's writer loaded now, once
    per process (a second or so): done by the first batch instead, it would
    hold the first events back from serving for that long.
    """
    from augury.personalize.event_compaction import CompactionScheduler
    from augury.personalize.event_files import warm_up

    warm_up()
    compaction = CompactionScheduler(runtime)

    def consume(records: list[StreamRecord]) -> None:
        from augury.personalize.event_consumer import apply_records

        apply_records(runtime, records)
        compaction.notice(
            {
                str(r.data["group"])
                for r in records
                if isinstance(r.data, Mapping) and r.data.get("group")
            }
        )

    return consume


def _history_store(uri: str) -> UserHistoryStore:
    """``sqlite:///path`` or ``dynamodb://table``, with ``?max_events=&ttl_days=``."""
    parsed = urlparse(uri)
    query = {key: values[0] for key, values in parse_qs(parsed.query).items()}
    options: dict[str, float] = {}
    if "max_events" in query:
        options["max_events"] = int(query["max_events"])
    if "ttl_days" in query:
        options["ttl_seconds"] = float(query["ttl_days"]) * 86_400
    if parsed.scheme == "sqlite":
        from augury.local.sqlite_history import SqliteUserHistoryStore

        path = ":memory:" if parsed.path in ("/:memory:", ":memory:", "") else parsed.path
        return SqliteUserHistoryStore(path, **options)  # type: ignore[arg-type]
    if parsed.scheme == "dynamodb":
        from augury.aws.dynamodb_history import DynamoDBUserHistoryStore

        return DynamoDBUserHistoryStore(parsed.netloc, **options)  # type: ignore[arg-type]
    raise ValueError(f"AUGURY_HISTORY: unsupported store {uri!r} (sqlite:/// or dynamodb://)")


def _metrics_publisher(uri: str) -> MetricsPublisher:
    """``file:///directory``, ``cloudwatch://namespace`` or ``none://``."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        from augury.local.metric_files import MetricFiles

        return MetricFiles(Path(parsed.path))
    if parsed.scheme == "cloudwatch":
        from augury.aws.cloudwatch_metrics import CloudWatchMetrics

        return CloudWatchMetrics(parsed.netloc + parsed.path)
    if parsed.scheme == "none":
        from augury.local.metric_files import DiscardedMetrics

        return DiscardedMetrics()
    raise ValueError(
        f"AUGURY_METRICS: unsupported publisher {uri!r} (file://, cloudwatch:// or none://)"
    )


def _scheme(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.scheme, (parsed.netloc + parsed.path)


def _metadata_store(uri: str) -> MetadataStore:
    scheme, rest = _scheme(uri)
    if scheme == "sqlite":
        from augury.local.sqlite_store import SqliteMetadataStore

        return SqliteMetadataStore(Path(urlparse(uri).path))
    if scheme == "dynamodb":
        from augury.aws.dynamodb_store import DynamoDBMetadataStore

        return DynamoDBMetadataStore(rest)
    raise ValueError(f"AUGURY_METADATA: unsupported store {uri!r} (sqlite:/// or dynamodb://)")


def _blob_store(uri: str) -> BlobStore:
    parsed = urlparse(uri)
    if parsed.scheme in ("file", ""):
        from augury.local.file_blobs import FileBlobStore

        return FileBlobStore(Path(parsed.path if parsed.scheme else uri))
    if parsed.scheme == "s3":
        from augury.aws.s3_blobs import S3BlobStore

        return S3BlobStore(parsed.netloc, parsed.path.strip("/"))
    raise ValueError(f"AUGURY_BLOBS: unsupported store {uri!r} (a directory or s3://)")


def _workflow_engine(settings: Settings, runtime: Runtime):
    parsed = urlparse(settings.workflows_uri)
    if parsed.scheme == "local":
        from augury.local.workflow_runner import LocalWorkflowRunner

        workers = int(parse_qs(parsed.query).get("workers", ["4"])[0])
        return LocalWorkflowRunner(runtime, workers=workers)
    if parsed.scheme == "stepfunctions":
        from augury.aws.stepfunctions_engine import StepFunctionsEngine

        return StepFunctionsEngine(
            settings.region, settings.account, parsed.netloc, partition=settings.partition
        )
    raise ValueError(f"AUGURY_WORKFLOWS: unsupported engine {settings.workflows_uri!r}")


def _trainer(settings: Settings, blobs: BlobStore, containers) -> Trainer:
    parsed = urlparse(settings.trainer_uri)
    if parsed.scheme == "local":
        from augury.local.process_trainer import ProcessTrainer

        work_dir = Path(settings.work_dir or "./augury-data/work")
        return ProcessTrainer(blobs, work_dir, containers)
    if parsed.scheme == "sagemaker":
        from augury.aws.sagemaker_trainer import SageMakerTrainer

        query = {key: values[0] for key, values in parse_qs(parsed.query).items()}

        def per_container(kind: str) -> dict[str, str]:
            return {
                key.removeprefix(kind): value
                for key, value in query.items()
                if key.startswith(kind)
            }

        blob_uri = urlparse(settings.blobs_uri)
        return SageMakerTrainer(
            role_arn=query["role_arn"],
            images=per_container("image."),  # startswith: gpu_image.* keys are not images
            bucket=blob_uri.netloc,
            prefix=blob_uri.path.strip("/"),
            instance_types=per_container("instance."),
            gpu_instance_types=per_container("gpu_instance."),
            spot={c: v.lower() == "true" for c, v in per_container("spot.").items()},
            gpu_images=per_container("gpu_image."),
            **({"volume_size_gb": int(query["volume_gb"])} if "volume_gb" in query else {}),
        )
    raise ValueError(f"AUGURY_TRAINER: unsupported trainer {settings.trainer_uri!r}")


def _event_stream(settings: Settings, consumer: EventConsumer | None) -> EventStream:
    uri = settings.events_uri
    scheme, rest = _scheme(uri)
    if scheme == "local":
        from augury.local.event_journal import EventJournal
        from augury.local.event_queue import InProcessEventStream

        journal = EventJournal(Path(settings.data_dir) / EVENT_JOURNAL_FILE)
        return InProcessEventStream(consumer, journal=journal)
    if scheme == "kinesis":
        from augury.aws.kinesis_stream import KinesisEventStream

        return KinesisEventStream(rest)
    raise ValueError(f"AUGURY_EVENTS: unsupported stream {uri!r} (local:// or kinesis://)")


def _role_passing(settings: Settings) -> RolePassing:
    """Who may name which role: IAM decides where users' data is in S3 (a deployment);
    embedded mode, whose data is its own directory, has no IAM to ask."""
    if urlparse(settings.external_uri).scheme == "s3":
        from augury.aws.iam_role_passing import IamRolePassing

        return IamRolePassing(region=settings.region, account=settings.account)
    from augury.local.role_passing import UncheckedRolePassing

    return UncheckedRolePassing()


def _external_storage(settings: Settings) -> ExternalStorage:
    """Users' own data: ``local://`` (the data directory) or ``s3://`` (Amazon S3)."""
    parsed = urlparse(settings.external_uri)
    if parsed.scheme == "local":
        from augury.local.external_files import LocalExternalFiles

        root = Path(parsed.path or settings.data_dir or "./augury-data")
        private = [Path(settings.work_dir)] if settings.work_dir else []
        for uri in (settings.blobs_uri, settings.metadata_uri, settings.history_uri):
            store = urlparse(uri)
            if store.scheme in ("file", "sqlite", ""):
                private.append(Path(store.path if store.scheme else uri))
        return LocalExternalFiles(root, private=private)
    if parsed.scheme == "s3":
        from augury.aws.external_s3 import S3ExternalStorage

        stores = [urlparse(uri) for uri in (settings.blobs_uri, settings.external_uri)]
        own = tuple(store.netloc for store in stores if store.scheme == "s3" and store.netloc)
        return S3ExternalStorage(region=settings.region, private_buckets=own)
    raise ValueError(
        f"AUGURY_EXTERNAL: unsupported storage {settings.external_uri!r} (local:// or s3://)"
    )
