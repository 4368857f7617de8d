"""Dataset data as versions: what both services' imports share.

An import writes a whole new version of a dataset's data under
``<dataset prefix>data/<job name>/`` and the dataset's ``_data_prefix`` moves to
it only once every row has passed, so a failed import leaves the data exactly
as it was. The version before the current one is kept (``_previous_data_prefix``)
for work that may still be reading it, such as a training job that started
before the import finished; older versions are deleted.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from augury.resources.record import Resource
from augury.workflows.lifecycle import blob_prefix

if TYPE_CHECKING:
    from augury.runtime import Runtime

DATA_PREFIX = "_data_prefix"
"""Dataset attribute: the blob prefix of its current data version."""
PREVIOUS_DATA_PREFIX = "_previous_data_prefix"
"""Dataset attribute: the version before, kept until the next import."""


def version_prefix(dataset: Resource, job_name: str) -> str:
    """Where the job writes: ``data/<job name>/``, unless that still holds kept data.

    A job deleted and created again under the same name must not overwrite the
    data its first run imported, which its dataset may still be using.
    """
    base = f"{blob_prefix(dataset.arn)}data/"
    prefix = f"{base}{job_name}/"
    kept = {dataset.attributes.get(DATA_PREFIX), dataset.attributes.get(PREVIOUS_DATA_PREFIX)}
    if prefix in kept:
        prefix = f"{base}{job_name}-{int(time.time() * 1000)}/"
    return prefix


def staging_prefix(version: str) -> str:
    """Where the import writing ``version`` keeps its work in progress: ``staging/<job>/``
    beside the dataset's versions, never under one, so nothing reading a version sees it;
    the dataset's deletion removes it with the rest."""
    dataset_prefix, _, name = version.rstrip("/").rpartition("/data/")
    return f"{dataset_prefix}/staging/{name}/"


def discard_import(runtime: Runtime, dataset_arn: str, version: str | None) -> None:
    """What a failed or stopped import wrote: its staging prefix, and its version unless
    the dataset uses it (switched before the failure). Done before the job says it failed,
    so a caller who sees the failure sees nothing of the import left."""
    if not version:
        return
    runtime.blobs.delete_prefix(staging_prefix(version))
    dataset = runtime.metadata.get(dataset_arn)
    in_use = (
        {dataset.attributes.get(DATA_PREFIX), dataset.attributes.get(PREVIOUS_DATA_PREFIX)}
        if dataset is not None
        else set()
    )
    if version not in in_use:
        runtime.blobs.delete_prefix(version)


def delete_old_versions(runtime: Runtime, dataset_arn: str, keep: set[str | None]) -> None:
    """Delete every data version of the dataset but those in ``keep``."""
    base = f"{blob_prefix(dataset_arn)}data/"
    versions = {
        f"{base}{key[len(base) :].split('/', 1)[0]}/" for key in runtime.blobs.list_keys(base)
    }
    for prefix in sorted(versions - keep):
        runtime.blobs.delete_prefix(prefix)
