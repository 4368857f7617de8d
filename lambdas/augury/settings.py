"""Configuration: which adapters to use, read once from the environment.

Every port is chosen by a URI, so one variable moves a store between SQLite and
DynamoDB or between a directory and S3:

==================  ====================================  ===========================
variable            embedded (default)                    AWS
==================  ====================================  ===========================
AUGURY_METADATA     ``sqlite:///<data>/augury.db``         ``dynamodb://<table>``
AUGURY_BLOBS        ``file:///<data>/blobs``               ``s3://<bucket>[/<prefix>]``
AUGURY_WORKFLOWS    ``local://?workers=4``                 ``stepfunctions://<name-prefix>``
AUGURY_TRAINER      ``local://``                           ``sagemaker://?role_arn=...``
AUGURY_EVENTS       ``local://``                           ``kinesis://<stream>``
AUGURY_EXTERNAL     ``local://`` (``<data>/s3/<bucket>/``)  ``s3://``
AUGURY_HISTORY      ``sqlite:///<data>/history.db``        ``dynamodb://<table>``
AUGURY_METRICS      ``file:///<data>/metrics``             ``cloudwatch://<namespace>``
==================  ====================================  ===========================

``AUGURY_EXTERNAL`` is where users' own data is read and written (import
sources, export targets): ``local://`` maps ``s3://<bucket>/<key>`` to
``<data>/s3/<bucket>/<key>`` and refuses anything outside the data directory;
``s3://`` is Amazon S3, accessed as the role each request names.

``AUGURY_HISTORY`` holds what real-time events leave for serving (each user's
recent events, the newest PutUsers / PutItems rows). Either form takes
``?max_events=500&ttl_days=90`` to change how much is kept, and for how long.

``AUGURY_METRICS`` is where metric attributions report events and incremental
imports: CloudWatch custom metrics on AWS, one CSV file per metric attribution
in embedded mode (``augury.local.metric_files``); ``none://`` reports nowhere.

``AUGURY_REGION``, ``AUGURY_ACCOUNT`` and ``AUGURY_PARTITION`` set the ARNs' region,
account and partition (``aws``; ``aws-cn`` or ``aws-us-gov`` where the stack is
deployed there: a state machine's ARN in another partition is not one Step
Functions knows).
``AUGURY_JOB_PREFIX`` (default ``augury-``) begins every training job's name: a
deployment sets its own name prefix, so its roles reach its own jobs and no
other stack's in the same account.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "000000000000"
DEFAULT_PARTITION = "aws"
DEFAULT_JOB_PREFIX = "augury-"
MAX_JOB_NAME = 63
"""SageMaker's limit on a training job's name (CreateTrainingJob's TrainingJobName)."""
MIN_JOB_ID = 8
"""The fewest characters of a job's random id a name may keep (32 bits)."""


@dataclass(frozen=True)
class Settings:
    metadata_uri: str
    blobs_uri: str
    workflows_uri: str = "local://"
    trainer_uri: str = "local://"
    events_uri: str = "local://"
    external_uri: str = "local://"
    history_uri: str = "sqlite:///:memory:"
    metrics_uri: str = "none://"
    region: str = DEFAULT_REGION
    account: str = DEFAULT_ACCOUNT
    partition: str = DEFAULT_PARTITION
    work_dir: str | None = None
    """Scratch space for local training jobs (embedded mode only)."""
    data_dir: str | None = None
    """The embedded data directory, the only place ``local://`` external storage reaches."""
    job_prefix: str = DEFAULT_JOB_PREFIX

    def training_job_name(self, kind: str, job_id: str) -> str:
        """``<job prefix><kind>-<job id>``, the name a workflow gives its training job.

        The deployment's IAM grants match ``<job prefix>*``, so the prefix is what keeps
        one stack's jobs out of another's reach. A long prefix shortens the id's tail
        rather than exceeding SageMaker's 63 characters; the id is random hex, so what
        is left of it stays unique.
        """
        head = f"{self.job_prefix}{kind}-"
        if len(head) > MAX_JOB_NAME - MIN_JOB_ID:
            raise ValueError(f"training job prefix {head!r} leaves no room for the job's id")
        return head + job_id[: MAX_JOB_NAME - len(head)]

    @classmethod
    def embedded(cls, data_dir: str | Path, **overrides: str) -> Settings:
        """Everything under one data directory: the embedded-mode default."""
        root = Path(data_dir).expanduser().resolve()
        values = {
            "metadata_uri": f"sqlite:///{root / 'augury.db'}",
            "blobs_uri": f"file://{root / 'blobs'}",
            "history_uri": f"sqlite:///{root / 'history.db'}",
            "metrics_uri": f"file://{root / 'metrics'}",
            "work_dir": str(root / "work"),
            "data_dir": str(root),
            **overrides,
        }
        return cls(**values)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings for a Lambda function or a server configured by variables."""
        env = os.environ if env is None else env
        data_dir = env.get("AUGURY_DATA_DIR", "./augury-data")
        base = cls.embedded(data_dir)
        return cls(
            metadata_uri=env.get("AUGURY_METADATA", base.metadata_uri),
            blobs_uri=env.get("AUGURY_BLOBS", base.blobs_uri),
            workflows_uri=env.get("AUGURY_WORKFLOWS", base.workflows_uri),
            trainer_uri=env.get("AUGURY_TRAINER", base.trainer_uri),
            events_uri=env.get("AUGURY_EVENTS", base.events_uri),
            external_uri=env.get("AUGURY_EXTERNAL", base.external_uri),
            history_uri=env.get("AUGURY_HISTORY", base.history_uri),
            metrics_uri=env.get("AUGURY_METRICS", base.metrics_uri),
            region=env.get("AUGURY_REGION", env.get("AWS_REGION", DEFAULT_REGION)),
            account=env.get("AUGURY_ACCOUNT", DEFAULT_ACCOUNT),
            partition=env.get("AUGURY_PARTITION", DEFAULT_PARTITION),
            work_dir=env.get("AUGURY_WORK_DIR", base.work_dir),
            data_dir=base.data_dir,
            job_prefix=env.get("AUGURY_JOB_PREFIX", DEFAULT_JOB_PREFIX),
        )
