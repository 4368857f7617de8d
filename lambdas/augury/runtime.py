"""The runtime: the ports wired together, handed to every operation and step."""

from __future__ import annotations

from dataclasses import dataclass

from augury.ports import (
    BlobStore,
    EventStream,
    ExternalStorage,
    MetadataStore,
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

    @property
    def arns(self) -> ArnFactory:
        settings = self.settings
        return ArnFactory(
            region=settings.region, account=settings.account, partition=settings.partition
        )
