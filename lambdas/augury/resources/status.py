"""Status lifecycles.

Both services share one lifecycle; Forecast writes ``CREATE_IN_PROGRESS`` and
Personalize writes ``CREATE IN_PROGRESS``. Records keep the canonical
(underscored) form and each service renders its own.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    ACTIVE = "ACTIVE"
    CREATE_PENDING = "CREATE_PENDING"
    CREATE_IN_PROGRESS = "CREATE_IN_PROGRESS"
    CREATE_FAILED = "CREATE_FAILED"
    CREATE_STOPPING = "CREATE_STOPPING"
    CREATE_STOPPED = "CREATE_STOPPED"
    UPDATE_PENDING = "UPDATE_PENDING"
    UPDATE_IN_PROGRESS = "UPDATE_IN_PROGRESS"
    UPDATE_FAILED = "UPDATE_FAILED"
    DELETE_PENDING = "DELETE_PENDING"
    DELETE_IN_PROGRESS = "DELETE_IN_PROGRESS"
    DELETE_FAILED = "DELETE_FAILED"
    STOP_PENDING = "STOP_PENDING"
    STOP_IN_PROGRESS = "STOP_IN_PROGRESS"
    INACTIVE = "INACTIVE"
    START_PENDING = "START_PENDING"
    START_IN_PROGRESS = "START_IN_PROGRESS"
    # STOP_* / INACTIVE / START_*: Personalize recommenders (StopRecommender, StartRecommender)

    @property
    def finalized(self) -> bool:
        """Nothing is running on the resource: it can be used, updated or deleted."""
        return self in _FINAL

    @property
    def working(self) -> bool:
        """A workflow owns the resource right now."""
        return not self.finalized

    @property
    def failed(self) -> bool:
        return self in (Status.CREATE_FAILED, Status.UPDATE_FAILED, Status.DELETE_FAILED)

    @property
    def deleting(self) -> bool:
        return self in (Status.DELETE_PENDING, Status.DELETE_IN_PROGRESS)

    def failure(self) -> Status:
        """The status a failure in this status's phase ends in: its FAILED status, or for a
        stop or start that failed, where the resource was before (ACTIVE / INACTIVE)."""
        phase = self.value.split("_", 1)[0]
        if phase == "STOP":
            return Status.ACTIVE
        if phase == "START":
            return Status.INACTIVE
        return Status(f"{phase}_FAILED")

    def render(self, service: str) -> str:
        """The status as ``service`` writes it on the wire."""
        if service == "personalize":
            return self.value.replace("_", " ", 1) if "_" in self.value else self.value
        return self.value

    @classmethod
    def parse(cls, text: str) -> Status:
        """Accept either service's spelling (used by List filters)."""
        return cls(text.strip().replace(" ", "_"))


_FINAL = frozenset(
    {
        Status.ACTIVE,
        Status.CREATE_FAILED,
        Status.CREATE_STOPPED,
        Status.UPDATE_FAILED,
        Status.DELETE_FAILED,
        Status.INACTIVE,
    }
)
