"""Contextual metadata end to end: an Interactions schema with a DEVICE field, the real
personalization container, and GetRecommendations' ``context`` through stock boto3.

Users open phone items (``m*``) on a phone and desktop items (``d*``) on a
desktop, at random, so only the request's context can tell which half a user
wants next: User-Personalization must learn DEVICE and serving must read it.
"""

from __future__ import annotations

import random

from augury.bootstrap import DEFAULT_CONTAINERS
from tests.conftest import dummy_aws_credentials
from tests.embedded.personalize_helpers import (
    client_for,
    make_group,
    start_server,
    train,
    wait_for,
)

SMALL_NETWORK = {
    "hidden_dimension": "32",
    "bptt": "8",
    "learning_rate": "0.01",
    "epochs": "8",
    "early_stopping_patience": "8",
    "num_averaged_models": "1",
}


def _rows(users: int = 60, per_user: int = 20) -> list[dict]:
    rng = random.Random(0)
    rows = []
    for user in range(users):
        for step in range(per_user):
            device = rng.choice(["phone", "desktop"])
            rows.append(
                {
                    "USER_ID": f"u{user:02d}",
                    "ITEM_ID": f"{'m' if device == 'phone' else 'd'}{rng.randrange(10)}",
                    "TIMESTAMP": 1_700_000_000 + user * 100 + step,
                    "EVENT_TYPE": "click",
                    "EVENT_VALUE": None,
                    "DEVICE": device,
                }
            )
    return rows


def test_the_request_context_picks_what_user_personalization_recommends(tmp_path):
    with dummy_aws_credentials():
        server = start_server(tmp_path, containers=dict(DEFAULT_CONTAINERS))
        try:
            personalize = client_for(server)
            group = make_group(personalize, server, "devices", _rows())["group"]
            _, version = train(
                personalize,
                group,
                name="up",
                recipe="aws-user-personalization",
                timeout=300,  # a real network trains twice (metrics, then the version)
                solutionConfig={"algorithmHyperParameters": SMALL_NETWORK},
            )
            campaign = personalize.create_campaign(
                name="up",
                solutionVersionArn=version,
                campaignConfig={"itemExplorationConfig": {"explorationWeight": "0"}},
            )["campaignArn"]
            wait_for(lambda: personalize.describe_campaign(campaignArn=campaign))
            runtime = client_for(server, "personalize-runtime")

            def top(**extra) -> list[str]:
                answer = runtime.get_recommendations(
                    campaignArn=campaign, userId="u07", numResults=5, **extra
                )
                return [entry["itemId"] for entry in answer["itemList"]]

            assert all(item.startswith("m") for item in top(context={"DEVICE": "phone"}))
            assert all(item.startswith("d") for item in top(context={"DEVICE": "Desktop"}))
            assert len(top()) == 5  # no context: an answer all the same
        finally:
            server.stop()
