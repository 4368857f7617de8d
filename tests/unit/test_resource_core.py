"""ARNs and status lifecycles."""

from __future__ import annotations

from augury.resources.arns import ArnFactory, parse_arn
from augury.resources.status import Status


def test_arns_round_trip_in_amazons_formats():
    arns = ArnFactory(region="eu-west-1", account="123456789012")
    arn = arns.build("personalize", "dataset", "shop", "INTERACTIONS")
    assert arn == "arn:aws:personalize:eu-west-1:123456789012:dataset/shop/INTERACTIONS"
    parsed = parse_arn(arn)
    assert parsed is not None
    assert (parsed.service, parsed.kind, parsed.name) == ("personalize", "dataset", "INTERACTIONS")
    assert str(parsed) == arn
    assert parse_arn("arn:aws:personalize:::recipe/aws-sims").name == "aws-sims"
    assert parse_arn("not an arn") is None


def test_statuses_render_per_service():
    assert Status.CREATE_IN_PROGRESS.render("forecast") == "CREATE_IN_PROGRESS"
    assert Status.CREATE_IN_PROGRESS.render("personalize") == "CREATE IN_PROGRESS"
    assert Status.DELETE_PENDING.render("personalize") == "DELETE PENDING"
    assert Status.ACTIVE.render("personalize") == "ACTIVE"
    assert Status.parse("CREATE IN_PROGRESS") is Status.CREATE_IN_PROGRESS


def test_lifecycle_properties():
    assert Status.ACTIVE.finalized and not Status.ACTIVE.working
    assert Status.CREATE_PENDING.working
    assert Status.CREATE_PENDING.failure() is Status.CREATE_FAILED
    assert Status.DELETE_IN_PROGRESS.failure() is Status.DELETE_FAILED
    assert Status.UPDATE_FAILED.failed and Status.UPDATE_FAILED.finalized
