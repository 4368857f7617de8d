"""Recommenders retrain every 7 days (``recommender_retraining``), keeping their last models."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from augury.embedded.server import EmbeddedServer
from augury.personalize import recommender_retraining
from augury.personalize.recommender_records import job_id
from augury.personalize.recommender_retraining import (
    RETRAIN_AFTER_SECONDS,
    STALE_CLAIM_SECONDS,
    UPDATE_AFTER_SECONDS,
    RetrainingScheduler,
    retrain_due,
)
from augury.personalize.resource_types import RECOMMENDER_MODEL
from augury.ports import TRAINING_STOPPED, NotFound
from augury.resources import crud
from augury.resources.status import Status
from augury.workflows.forecast_jobs import JOB_ATTRIBUTE
from tests.embedded.personalize_helpers import (
    client_for,
    create_recommender,
    make_group,
    model_file,
    put_data,
    start_server,
    wait_for,
    wait_idle,
    watches,
)
from tests.fixtures.fake_personalization_container import (
    FAIL_ITEM,
    FAIL_REASON,
    SLEEP_ITEM,
    SLEEP_SECONDS,
)

WEEK = RETRAIN_AFTER_SECONDS + 1


@pytest.fixture
def server(tmp_path) -> Iterator[EmbeddedServer]:
    running = start_server(tmp_path)
    yield running
    running.stop()


@pytest.fixture
def personalize(server: EmbeddedServer) -> Any:
    return client_for(server)


@pytest.fixture
def films(personalize: Any, server: EmbeddedServer) -> dict[str, str]:
    arns = make_group(personalize, server, "films", watches(), domain="VIDEO_ON_DEMAND")
    body = create_recommender(personalize, arns["group"], "picks", "aws-vod-top-picks")
    assert body["status"] == "ACTIVE", body.get("failureReason")
    return {**arns, "recommender": body["recommenderArn"]}


def served_model(server: EmbeddedServer, arn: str) -> str:
    return server.runtime.metadata.get(arn).attributes["_model"]


def models(server: EmbeddedServer) -> list[str]:
    listed = server.runtime.metadata.list(kind=RECOMMENDER_MODEL.kind, limit=100).items
    return [record.arn for record in listed]


def test_a_recommender_retrains_after_a_week_and_keeps_two_models(server, films):
    arn = films["recommender"]
    runtime = server.runtime
    assert retrain_due(runtime) == []
    first = served_model(server, arn)
    now = time.time()
    assert retrain_due(runtime, now + WEEK) == [arn]
    assert retrain_due(runtime, now + WEEK) == [], "claimed: started once"
    wait_idle(server)
    second = served_model(server, arn)
    assert second != first and sorted(models(server)) == sorted([first, second])
    assert runtime.metadata.get(arn).attributes["_trained_at"] >= now
    assert retrain_due(runtime, now + 2 * WEEK - 2) == [], "a week after the last one"

    assert retrain_due(runtime, now + 2 * WEEK) == [arn]
    wait_idle(server)
    third = served_model(server, arn)
    assert sorted(models(server)) == sorted([second, third]), "the oldest model is deleted"
    assert not list(runtime.blobs.list_keys(f"resources/personalize/{first.split(':', 5)[5]}/"))


def test_a_stopped_recommender_does_not_retrain(personalize, server, films):
    arn = films["recommender"]
    personalize.stop_recommender(recommenderArn=arn)
    wait_for(lambda: personalize.describe_recommender(recommenderArn=arn), statuses=["INACTIVE"])
    assert retrain_due(server.runtime, time.time() + WEEK) == []
    personalize.start_recommender(recommenderArn=arn)
    wait_for(lambda: personalize.describe_recommender(recommenderArn=arn), statuses=["ACTIVE"])
    assert retrain_due(server.runtime, time.time() + WEEK) == [arn]
    wait_idle(server)


def test_a_failed_retraining_leaves_the_recommender_serving_its_model(
    personalize, server, films, caplog
):
    arn = films["recommender"]
    before = served_model(server, arn)
    put_data(server, films["INTERACTIONS"], [*watches(), {**watches()[0], "ITEM_ID": FAIL_ITEM}])
    assert retrain_due(server.runtime, time.time() + WEEK) == [arn]
    wait_idle(server)
    body = personalize.describe_recommender(recommenderArn=arn)["recommender"]
    assert body["status"] == "ACTIVE" and "failureReason" not in body
    assert served_model(server, arn) == before and models(server) == [before]
    assert "_training" not in server.runtime.metadata.get(arn).attributes
    runtime_client = client_for(server, "personalize-runtime")
    assert runtime_client.get_recommendations(recommenderArn=arn, userId="u01")["itemList"]
    # Amazon shows no reason for an automatic training; the operator's log has it
    assert any(FAIL_REASON in record.getMessage() for record in caplog.records)


def test_the_embedded_server_looks_for_due_recommenders_on_its_own(server, films):
    arn = films["recommender"]
    first = served_model(server, arn)
    crud.update(
        server.runtime,
        arn,
        lambda record: record.with_attributes(_trained_at=time.time() - WEEK),
    )
    scheduler = RetrainingScheduler(server.runtime, interval=0.05).start()
    try:
        deadline = time.monotonic() + 30
        while served_model(server, arn) == first:
            assert time.monotonic() < deadline, "not retrained"
            time.sleep(0.05)
    finally:
        scheduler.stop()
    wait_idle(server)
    assert server.retraining is not None and server.retraining.running, "the server runs one"


def test_a_failed_retraining_waits_a_week_before_the_next_try(server, films):
    arn = films["recommender"]
    runtime = server.runtime
    put_data(server, films["INTERACTIONS"], [*watches(), {**watches()[0], "ITEM_ID": FAIL_ITEM}])
    now = time.time()
    assert retrain_due(runtime, now + WEEK) == [arn]
    wait_idle(server)
    assert runtime.metadata.get(arn).attributes["_last_retraining"] == now + WEEK
    # the new data is due a two-hourly update, which fails the same way, once
    assert retrain_due(runtime, now + WEEK + 60) == [arn]
    wait_idle(server)
    assert runtime.metadata.get(arn).attributes["_last_update"] == now + WEEK + 60
    assert retrain_due(runtime, now + WEEK + 120) == [], "no retry storm"
    assert retrain_due(runtime, now + 2 * WEEK) == [arn]
    wait_idle(server)
    assert runtime.metadata.get(arn).attributes["_last_retraining"] == now + 2 * WEEK


@pytest.mark.parametrize("action", ["stop", "delete", "update"])
def test_a_users_call_stops_an_automatic_retraining(personalize, server, films, action):
    """Amazon's retraining is invisible: Stop, Delete and a retraining Update go ahead, and
    the automatic training under way stops and leaves nothing behind."""
    arn = films["recommender"]
    runtime = server.runtime
    served = served_model(server, arn)
    put_data(server, films["INTERACTIONS"], [*watches(), {**watches()[0], "ITEM_ID": SLEEP_ITEM}])
    assert retrain_due(runtime, time.time() + WEEK) == [arn]
    model = runtime.metadata.get(arn).attributes["_training"]
    deadline = time.monotonic() + 20
    while (runtime.metadata.get(model) is None) or not runtime.metadata.get(model).attributes.get(
        JOB_ATTRIBUTE
    ):
        assert time.monotonic() < deadline, "the retraining's job never started"
        time.sleep(0.05)
    job = runtime.metadata.get(model).attributes[JOB_ATTRIBUTE]
    started = time.monotonic()
    if action == "stop":
        personalize.stop_recommender(recommenderArn=arn)
    elif action == "delete":
        personalize.delete_recommender(recommenderArn=arn)
    else:
        personalize.update_recommender(
            recommenderArn=arn, recommenderConfig={"minRecommendationRequestsPerSecond": 3}
        )  # no new columns: applies at once, the retraining goes on
        assert runtime.metadata.get(arn).attributes.get("_training") == model
        put_data(server, films["INTERACTIONS"], watches())
        excluded = {"excludedDatasetColumns": {"INTERACTIONS": ["DEVICE"]}}
        personalize.update_recommender(
            recommenderArn=arn, recommenderConfig={"trainingDataConfig": excluded}
        )
    wait_idle(server, timeout=60)
    while runtime.trainer.describe(job).status != TRAINING_STOPPED:  # a stop takes a moment
        assert time.monotonic() - started < SLEEP_SECONDS, "the job was not stopped"
        time.sleep(0.05)
    assert runtime.metadata.get(model) is None
    assert not list(runtime.blobs.list_keys(f"resources/personalize/{model.split(':', 5)[5]}/"))
    if action == "stop":
        body = personalize.describe_recommender(recommenderArn=arn)["recommender"]
        assert body["status"] == "INACTIVE" and served_model(server, arn) == served
    elif action == "delete":
        assert models(server) == []
    else:
        body = personalize.describe_recommender(recommenderArn=arn)["recommender"]
        assert body["latestRecommenderUpdate"]["status"] == "ACTIVE"
        assert served_model(server, arn) not in (served, model)


def test_claims_no_training_took_up_are_released(server, films, tmp_path):
    arn = films["recommender"]
    runtime = server.runtime
    orphan = arn.replace(":recommender/", ":recommender-model/") + "/gone"
    claim = {"_training": orphan, "_training_since": time.time()}
    crud.update(runtime, arn, lambda record: record.with_attributes(**claim))
    assert retrain_due(runtime, time.time() + WEEK, release_stale=False) == [], "claimed"
    later = time.time() + STALE_CLAIM_SECONDS + 1
    assert retrain_due(runtime, later, release_stale=False) == []
    assert runtime.metadata.get(arn).attributes["_training"] == orphan, "embedded: kept"
    assert retrain_due(runtime, later) == []  # as the hourly AWS function calls it
    assert "_training" not in runtime.metadata.get(arn).attributes, "stale: released"

    crud.update(runtime, arn, lambda record: record.with_attributes(**claim))
    crud.update(runtime, arn, lambda record: record.evolve(status="STOP_PENDING"))
    server.stop()  # a crash between the claim, or the stop, and its workflow
    restarted = start_server(tmp_path)
    try:
        record = restarted.runtime.metadata.get(arn)
        assert record.status == "ACTIVE", "a stop that never ran leaves it ACTIVE"
        assert "_training" not in record.attributes and "failureReason" not in record.attributes
    finally:
        restarted.stop()


def test_top_picks_updates_with_new_data_every_two_hours(personalize, server, films):
    """Amazon's automatic updates: an UPDATE training on the served model, only when the
    group has data the model has not read, and only for the personalized use cases."""
    arn = films["recommender"]
    runtime = server.runtime
    popular = create_recommender(personalize, films["group"], "popular", "aws-vod-most-popular")
    first = served_model(server, arn)
    trained_at = runtime.metadata.get(arn).attributes["_trained_at"]
    later = time.time() + UPDATE_AFTER_SECONDS + 1
    assert retrain_due(runtime, later) == [], "nothing new to learn"

    put_data(server, films["INTERACTIONS"], watches())  # an import: new data
    assert retrain_due(runtime, later) == [arn], "Most popular gets no two-hourly update"
    wait_idle(server)
    updated = served_model(server, arn)
    assert updated != first
    job = model_file(server, updated, "job.json")
    assert job["config"]["training_mode"] == "UPDATE" and "previous_model" in job["channels"]
    record = runtime.metadata.get(arn)
    assert record.attributes["_trained_at"] == trained_at, "an update is not a full training"
    put_data(server, films["INTERACTIONS"], watches())
    assert retrain_due(runtime, later + 60) == [], "two hours after the last update"

    popular_at = runtime.metadata.get(popular["recommenderArn"]).attributes["_trained_at"]
    assert sorted(retrain_due(runtime, max(trained_at, popular_at) + WEEK)) == sorted(
        [arn, popular["recommenderArn"]]
    ), "the weekly full training still comes"
    wait_idle(server)
    full = model_file(server, served_model(server, arn), "job.json")
    assert full["config"]["training_mode"] == "FULL"


def test_a_retraining_preempted_while_its_model_is_created_never_trains(
    personalize, server, films, monkeypatch
):
    """The claim alone decides: a run that loses it just before it creates its model (the
    user stopped the recommender then: nothing to stop yet) stops before its job starts,
    and leaves nothing."""
    arn = films["recommender"]
    served = served_model(server, arn)
    create, made = crud.create, []

    def stop_then_create(runtime, resource_type, *args, **kwargs):
        if resource_type is RECOMMENDER_MODEL:  # after the run checked its claim
            personalize.stop_recommender(recommenderArn=arn)
            made.append(args[0] if args else kwargs["arn"])
        return create(runtime, resource_type, *args, **kwargs)

    monkeypatch.setattr(crud, "create", stop_then_create)
    assert retrain_due(server.runtime, time.time() + WEEK) == [arn]
    wait_idle(server)  # the run may end, releasing its claim, before the test could read it
    (model,) = made
    job = server.runtime.settings.training_job_name("recommender", job_id(model))
    with pytest.raises(NotFound):
        server.runtime.trainer.describe(job)
    assert personalize.describe_recommender(recommenderArn=arn)["recommender"]["status"] == (
        "INACTIVE"
    )
    assert models(server) == [served] and served_model(server, arn) == served


def test_a_claim_whose_model_ended_without_its_run_is_released(server, films):
    """On AWS an execution aborted by hand runs no failure handler: its finished model's
    claim goes an hour after the model last changed."""
    arn = films["recommender"]
    runtime = server.runtime
    ended = arn.replace(":recommender/", ":recommender-model/") + "/aborted"
    crud.create(runtime, RECOMMENDER_MODEL, ended, "aborted", parent_arn=arn)
    crud.set_status(runtime, ended, Status.CREATE_FAILED, "aborted")
    claim = {"_training": ended, "_training_since": time.time()}
    crud.update(runtime, arn, lambda record: record.with_attributes(**claim))
    soon = time.time() + STALE_CLAIM_SECONDS - 60
    assert retrain_due(runtime, soon) == []
    assert runtime.metadata.get(arn).attributes["_training"] == ended, "not yet an hour"
    assert retrain_due(runtime, time.time() + STALE_CLAIM_SECONDS + 1) == []
    assert "_training" not in runtime.metadata.get(arn).attributes


def test_one_recommenders_trouble_does_not_hold_the_others_back(
    personalize, server, films, monkeypatch
):
    arn = films["recommender"]
    other = create_recommender(personalize, films["group"], "other", "aws-vod-top-picks")
    checked = recommender_retraining.is_due

    def broken_for_picks(record, now):
        if record.arn == arn:
            raise OSError("the store hiccuped")
        return checked(record, now)

    monkeypatch.setattr(recommender_retraining, "is_due", broken_for_picks)
    assert retrain_due(server.runtime, time.time() + WEEK) == [other["recommenderArn"]]
    wait_idle(server)
