"""CreateDataDeletionJob through boto3: some users' data out of every place it is kept.

The group holds imported interactions and users, events recorded through PutEvents and
PutUsers (some already merged by ``event_compaction``), and serving's recent history;
a deletion job for two users must leave none of theirs anywhere and everyone else's as
it was.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from augury.personalize import event_data
from augury.personalize.event_compaction import compact_group
from augury.personalize.event_manifests import merged_sources
from augury.personalize.group_data import read_files, read_table
from augury.resources import crud
from tests.conftest import dummy_aws_credentials
from tests.embedded.personalize_helpers import (
    ROLE,
    client_for,
    error_of,
    held_workflows,
    interactions,
    make_group,
    put_data,
    start_server,
    wait_for,
    wait_idle,
)

USERS_SCHEMA = {
    "type": "record",
    "name": "Users",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "TIER", "type": ["null", "string"], "categorical": True},
    ],
    "version": "1.0",
}
DONE = ("COMPLETED", "FAILED")


def users_dataset(personalize: Any, group: str, name: str) -> str:
    """A Users dataset (USERS_SCHEMA) in ``group``: its ARN."""
    schema = personalize.create_schema(name=f"{name}-users", schema=json.dumps(USERS_SCHEMA))
    return personalize.create_dataset(
        name=f"{name}-users",
        schemaArn=schema["schemaArn"],
        datasetGroupArn=group,
        datasetType="Users",
    )["datasetArn"]


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[dict[str, Any]]:
    with dummy_aws_credentials():
        server = start_server(tmp_path)
        personalize = client_for(server)
        events = client_for(server, "personalize-events")
        arns = make_group(personalize, server, "shop", interactions(users=30, per_user=40))
        arns["USERS"] = users_dataset(personalize, arns["group"], "shop")
        wait_idle(server)
        put_data(
            server, arns["USERS"], [{"USER_ID": f"u{n:02d}", "TIER": "gold"} for n in range(30)]
        )
        tracking = personalize.create_event_tracker(name="site", datasetGroupArn=arns["group"])
        wait_idle(server)
        now = datetime.now(UTC)
        for user in ("u01", "u02", "u05"):
            for item in ("i001", "i002"):
                events.put_events(
                    trackingId=tracking["trackingId"],
                    userId=user,
                    sessionId=f"visit-{user}",
                    eventList=[{"eventType": "click", "itemId": item, "sentAt": now}],
                )
        events.put_users(
            datasetArn=arns["USERS"], users=[{"userId": "u01", "properties": '{"tier": "new"}'}]
        )
        server.runtime.events.flush()
        yield {"server": server, "personalize": personalize, "events": events, **arns, **tracking}
        server.stop()


def deletion_file(shop: dict[str, Any], name: str, text: str) -> str:
    path = Path(shop["server"].runtime.settings.data_dir) / "s3" / "bucket" / "deletions" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return f"s3://bucket/deletions/{name}"


def delete_users(shop: dict[str, Any], name: str, text: str) -> dict[str, Any]:
    personalize = shop["personalize"]
    arn = personalize.create_data_deletion_job(
        jobName=name,
        datasetGroupArn=shop["group"],
        dataSource={"dataLocation": deletion_file(shop, f"{name}.csv", text)},
        roleArn=ROLE,
    )["dataDeletionJobArn"]
    return wait_for(lambda: personalize.describe_data_deletion_job(dataDeletionJobArn=arn), DONE)


def refused(call: Callable[[], Any]) -> tuple[str, str]:
    """The error code and message ``call`` is refused with."""
    with pytest.raises(ClientError) as raised:
        call()
    return error_of(raised)


def dataset_rows(shop: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    runtime = shop["server"].runtime
    return read_table(
        runtime, runtime.metadata.get(shop[kind]).attributes["_data_prefix"]
    ).to_pylist()


def recorded(shop: dict[str, Any], folder: str) -> list[dict[str, Any]]:
    """What the next training reads of the recorded events (merged files counted once)."""
    runtime = shop["server"].runtime
    prefix = event_data.events_prefix(shop["group"]) + folder
    listed = list(runtime.blobs.list_keys(prefix))
    held = {key for sources in merged_sources(runtime, listed).values() for key in sources}
    keys = [key for key in listed if key.endswith(".parquet") and key not in held]
    return read_files(runtime, keys).to_pylist()


def test_a_deletion_job_removes_the_users_everywhere_and_counts_what_it_removed(shop):
    server, personalize = shop["server"], shop["personalize"]
    # Part of the recorded events is already merged, its sources in their grace period.
    assert compact_group(server.runtime, shop["group"], now=time.time() + 1_000_000)

    job = delete_users(shop, "forget", "USER_ID\r\nu01\n\nu02\n")

    assert job["status"] == "COMPLETED", job.get("failureReason")
    # 40 imported interactions and one Users row each, 2 events each, u01's PutUsers row
    assert job["numDeleted"] == 2 * 40 + 2 * 1 + 2 * 2 + 1
    assert {"jobName", "datasetGroupArn", "dataSource", "roleArn"} <= set(job)
    gone = {"u01", "u02"}
    interactions_left = dataset_rows(shop, "INTERACTIONS")
    assert len(interactions_left) == 30 * 40 - 80
    assert not gone & {row["USER_ID"] for row in interactions_left}
    assert {row["USER_ID"] for row in dataset_rows(shop, "USERS")} == {
        f"u{n:02d}" for n in range(30)
    } - gone
    events_left = recorded(shop, "interactions/")
    assert sorted(row["USER_ID"] for row in events_left) == ["u05", "u05"]
    assert recorded(shop, "users/") == []
    runtime = server.runtime
    for folder in ("interactions/", "users/"):  # the files in their grace period too
        prefix = event_data.events_prefix(shop["group"]) + folder
        keys = [k for k in runtime.blobs.list_keys(prefix) if k.endswith(".parquet")]
        assert not gone & {row["USER_ID"] for row in read_files(runtime, keys).to_pylist()}
    assert event_data.recent_events(runtime, shop["group"], "u01") == []
    assert len(event_data.recent_events(runtime, shop["group"], "u05")) == 2
    assert "u01" not in {row["USER_ID"] for row in event_data.recent_users(runtime, shop["group"])}
    # the old data versions, which held the users, are gone; the datasets are free again
    for kind in ("INTERACTIONS", "USERS"):
        record = runtime.metadata.get(shop[kind])
        versions = {
            key.split("/data/", 1)[1].split("/", 1)[0]
            for key in runtime.blobs.list_keys(
                record.attributes["_data_prefix"].rsplit("/data/", 1)[0] + "/data/"
            )
        }
        assert len(versions) == 1 and "_importing" not in record.attributes
    listed = personalize.list_data_deletion_jobs(datasetGroupArn=shop["group"])["dataDeletionJobs"]
    assert [(j["jobName"], j["status"]) for j in listed] == [("forget", "COMPLETED")]

    # Their sessions are no longer tied to them: an anonymous event there stays anonymous.
    shop["events"].put_events(
        trackingId=shop["trackingId"],
        sessionId="visit-u01",
        eventList=[{"eventType": "click", "itemId": "i009", "sentAt": datetime.now(UTC)}],
    )
    server.runtime.events.flush()
    assert event_data.recent_events(runtime, shop["group"], "u01") == []
    assert "u01" not in {row["USER_ID"] for row in recorded(shop, "interactions/")}

    # A deleted user who comes back is a new user: their new events are kept.
    shop["events"].put_events(
        trackingId=shop["trackingId"],
        userId="u01",
        sessionId="visit-again",
        eventList=[{"eventType": "click", "itemId": "i003", "sentAt": datetime.now(UTC)}],
    )
    server.runtime.events.flush()
    assert [e["ITEM_ID"] for e in event_data.recent_events(runtime, shop["group"], "u01")] == [
        "i003"
    ]
    assert "u01" in {row["USER_ID"] for row in recorded(shop, "interactions/")}


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("USER_ID,ITEM_ID\nu01,i001\n", "line 1 (header)"),
        ("USER_ID\nu01,u02\n", "line 2: field USER_ID"),
        ("", "line 1 (header)"),
        ("USER_ID\n\n", "holds no user IDs"),
    ],
)
def test_a_bad_file_fails_the_job_and_deletes_nothing(shop, text, where):
    before = dataset_rows(shop, "INTERACTIONS")
    job = delete_users(shop, "bad", text)
    assert job["status"] == "FAILED"
    assert where in job["failureReason"]
    assert dataset_rows(shop, "INTERACTIONS") == before
    assert len(recorded(shop, "interactions/")) == 6
    # the datasets are free again: a new job runs
    assert delete_users(shop, "after-bad", "USER_ID\nu29\n")["status"] == "COMPLETED"


def test_what_is_refused_at_once(shop):
    personalize = shop["personalize"]
    missing_group = shop["group"].replace("dataset-group/shop", "dataset-group/nope")
    code, _ = refused(
        lambda: personalize.create_data_deletion_job(
            jobName="x",
            datasetGroupArn=missing_group,
            dataSource={"dataLocation": "s3://bucket/deletions/x.csv"},
            roleArn=ROLE,
        )
    )
    assert code == "ResourceNotFoundException"
    assert delete_users(shop, "once", "USER_ID\nu28\n")["status"] == "COMPLETED"
    code, _ = refused(lambda: delete_users(shop, "once", "USER_ID\nu28\n"))
    assert code == "ResourceAlreadyExistsException"
    code, message = refused(
        lambda: personalize.create_data_deletion_job(
            jobName="outside",
            datasetGroupArn=shop["group"],
            dataSource={"dataLocation": "s3://bucket/../../metadata.db"},
            roleArn=ROLE,
        )
    )
    assert code == "InvalidInputException", message
    with held_workflows(shop["server"]):  # an import holds the Interactions dataset
        personalize.create_dataset_import_job(
            jobName="held-import",
            datasetArn=shop["INTERACTIONS"],
            dataSource={"dataLocation": deletion_file(shop, "rows.csv", "USER_ID\nu1\n")},
            roleArn=ROLE,
        )
        code, message = refused(lambda: delete_users(shop, "blocked", "USER_ID\nu27\n"))
        assert code == "ResourceInUseException" and "held-import" in message
    wait_idle(shop["server"])  # the import, let go, fails on its file and frees the dataset
    with held_workflows(shop["server"]):  # and the other way round
        holding = personalize.create_data_deletion_job(
            jobName="held-deletion",
            datasetGroupArn=shop["group"],
            dataSource={"dataLocation": deletion_file(shop, "held.csv", "USER_ID\nu26\n")},
            roleArn=ROLE,
        )
        code, message = refused(
            lambda: personalize.create_dataset_import_job(
                jobName="blocked-import",
                datasetArn=shop["USERS"],
                dataSource={"dataLocation": deletion_file(shop, "users.csv", "USER_ID\nu1\n")},
                roleArn=ROLE,
            )
        )
        assert code == "ResourceInUseException" and "held-deletion" in message
        held = personalize.describe_data_deletion_job(
            dataDeletionJobArn=holding["dataDeletionJobArn"]
        )["dataDeletionJob"]
        assert held["status"] == "PENDING"
    wait_idle(shop["server"])
    missing = personalize.create_data_deletion_job(
        jobName="no-file",
        datasetGroupArn=shop["group"],
        dataSource={"dataLocation": "s3://bucket/deletions/absent.csv"},
        roleArn=ROLE,
    )["dataDeletionJobArn"]
    job = wait_for(lambda: personalize.describe_data_deletion_job(dataDeletionJobArn=missing), DONE)
    assert job["status"] == "FAILED" and "absent.csv" in job["failureReason"]


def test_no_copy_of_the_users_is_left_in_an_older_version(shop):
    """A dataset's previous version (kept by an import for work still reading it) holds the
    users too: it goes, even when the current version holds none of their rows."""
    runtime = shop["server"].runtime
    older = [{"USER_ID": "u29", "TIER": "gone"}, {"USER_ID": "u28", "TIER": "kept"}]
    previous = put_data(shop["server"], shop["USERS"], older).replace("/test/", "/older/")
    for key in list(runtime.blobs.list_keys(previous.replace("/older/", "/test/"))):
        runtime.blobs.put_bytes(key.replace("/test/", "/older/"), runtime.blobs.get_bytes(key))
    put_data(shop["server"], shop["USERS"], [{"USER_ID": "u28", "TIER": "kept"}])
    crud.update(runtime, shop["USERS"], lambda r: r.with_attributes(_previous_data_prefix=previous))
    assert delete_users(shop, "older", "USER_ID\nu29\n")["status"] == "COMPLETED"
    record = runtime.metadata.get(shop["USERS"])
    assert record.attributes.get("_previous_data_prefix") is None
    assert list(runtime.blobs.list_keys(previous)) == []
    assert dataset_rows(shop, "USERS") == [{"USER_ID": "u28", "TIER": "kept"}]


def test_a_dataset_made_after_the_job_was_asked_for_is_left_alone(tmp_path):
    with dummy_aws_credentials():
        server = start_server(tmp_path)
        try:
            personalize = client_for(server)
            arns = make_group(personalize, server, "late", interactions(users=30, per_user=40))
            shop = {"server": server, "personalize": personalize, **arns}
            with held_workflows(server):
                arn = personalize.create_data_deletion_job(
                    jobName="early",
                    datasetGroupArn=arns["group"],
                    dataSource={"dataLocation": deletion_file(shop, "early.csv", "USER_ID\nu01\n")},
                    roleArn=ROLE,
                )["dataDeletionJobArn"]
                shop["USERS"] = users_dataset(personalize, arns["group"], "late")
                # data in a Users dataset the job could not claim when it was asked for
                put_data(server, shop["USERS"], [{"USER_ID": "u01", "TIER": "gold"}])
            wait_idle(server)
            job = wait_for(
                lambda: personalize.describe_data_deletion_job(dataDeletionJobArn=arn), DONE
            )
            assert job["status"] == "COMPLETED" and job["numDeleted"] == 40
            assert dataset_rows(shop, "USERS") == [{"USER_ID": "u01", "TIER": "gold"}]
        finally:
            server.stop()


def test_the_group_can_still_be_deleted_after_a_deletion_job(shop):
    personalize = shop["personalize"]
    assert delete_users(shop, "before-goodbye", "USER_ID\nu03\n")["status"] == "COMPLETED"
    personalize.delete_event_tracker(eventTrackerArn=shop["eventTrackerArn"])
    for kind in ("INTERACTIONS", "USERS"):
        personalize.delete_dataset(datasetArn=shop[kind])
    wait_idle(shop["server"])
    with held_workflows(shop["server"]):  # one still running holds the group
        personalize.create_data_deletion_job(
            jobName="running",
            datasetGroupArn=shop["group"],
            dataSource={"dataLocation": deletion_file(shop, "running.csv", "USER_ID\nu04\n")},
            roleArn=ROLE,
        )
        code, message = refused(
            lambda: personalize.delete_dataset_group(datasetGroupArn=shop["group"])
        )
        assert code == "ResourceInUseException" and "wait for it to finish" in message
    wait_idle(shop["server"])
    personalize.delete_dataset_group(datasetGroupArn=shop["group"])
    wait_idle(shop["server"])
    code, _ = refused(lambda: personalize.describe_dataset_group(datasetGroupArn=shop["group"]))
    assert code == "ResourceNotFoundException"
