"""The runtime: the ports wired together, handed to every operation and step."""

from __future__ import annotations

from dataclasses import dataclass, field

from augury.ports import (
    BlobStore,
    EventStream,
    ExternalStorage,
    MetadataStore,
    MetricsPublisher,
    RolePassing,
    Trainer,
    UserHistoryStore,
    WorkflowEngine,
)
from augury.resources.arns import ArnFactory
from augury.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    metadata: MetadataStore
    blobs: BlobStore
    workflows: WorkflowEngine
    trainer: Trainer
    events: EventStream
    external: ExternalStorage
    history: UserHistoryStore
    metrics: MetricsPublisher = field(default_factory=lambda: _discarded())
    roles: RolePassing = field(default_factory=lambda: _unchecked())

    @property
    def arns(self) -> ArnFactory:
        settings = self.settings
        return ArnFactory(
            region=settings.region, account=settings.account, partition=settings.partition
        )


def _discarded() -> MetricsPublisher:
    from augury.local.metric_files import DiscardedMetrics

    return DiscardedMetrics()


def _unchecked() -> RolePassing:
    from augury.local.role_passing import UncheckedRolePassing

    return UncheckedRolePassing()
