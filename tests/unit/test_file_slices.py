"""Work spread over step invocations: when to stop, and what is remembered between them."""

from __future__ import annotations

import time
from types import SimpleNamespace

from augury.local.file_blobs import FileBlobStore
from augury.workflows.definition import invocation_deadline, seconds_left
from augury.workflows.file_slices import Budget, FileProgress


def test_nothing_ends_a_step_run_by_the_local_runner() -> None:
    assert seconds_left() == float("inf")
    with invocation_deadline(time.monotonic() + 30):
        assert 29 < seconds_left() <= 30
    assert seconds_left() == float("inf")


def test_the_first_file_is_always_read_then_only_what_fits_with_room_to_spare() -> None:
    budget = Budget(spare_seconds=90, growth=1.5)
    with invocation_deadline(time.monotonic() + 5):  # less than the spare time already
        assert budget.fits_another()
        with budget.reading():
            pass
        assert not budget.fits_another()
    budget = Budget(spare_seconds=90, growth=1.5)
    budget.read, budget.longest = 3, 100.0
    with invocation_deadline(time.monotonic() + 200):  # 90 + 1.5 * 100 = 240 needed
        assert not budget.fits_another()
    with invocation_deadline(time.monotonic() + 300):
        assert budget.fits_another()
    assert budget.fits_another()  # no deadline: every file in one call


def test_progress_keeps_the_first_listing_and_each_files_summary(tmp_path) -> None:
    runtime = SimpleNamespace(blobs=FileBlobStore(tmp_path))
    progress = FileProgress(runtime, "staging/job/progress/")
    listings = iter([["s3://b/a.csv", "s3://b/b.csv"], ["s3://b/a.csv", "s3://b/new.csv"]])
    assert progress.files(lambda: next(listings)) == ["s3://b/a.csv", "s3://b/b.csv"]
    # A file added to the folder while the import runs is not read by it.
    again = FileProgress(runtime, "staging/job/progress/")
    assert again.files(lambda: next(listings)) == ["s3://b/a.csv", "s3://b/b.csv"]
    assert again.done() == {}
    again.record(1, {"rows": 7, "bytes": 100})
    assert FileProgress(runtime, "staging/job/progress/").done() == {1: {"rows": 7, "bytes": 100}}
    again.discard()
    assert list(runtime.blobs.list_keys("staging/")) == []
