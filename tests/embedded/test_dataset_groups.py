"""Dataset groups in both services, through stock boto3 clients."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from augury.resources.record import Resource

GROUP_ARN = "arn:aws:forecast:us-east-1:000000000000:dataset-group/{}"


def test_forecast_dataset_group_lifecycle(client, wait_for_workflows):
    forecast = client("forecast")
    arn = forecast.create_dataset_group(
        DatasetGroupName="retail", Domain="RETAIL", Tags=[{"Key": "team", "Value": "a"}]
    )["DatasetGroupArn"]
    assert arn == GROUP_ARN.format("retail")

    described = forecast.describe_dataset_group(DatasetGroupArn=arn)
    assert described["DatasetGroupName"] == "retail"
    assert described["Domain"] == "RETAIL"
    assert described["Status"] == "ACTIVE"
    assert described["DatasetArns"] == []
    assert described["CreationTime"].tzinfo is not None
    assert forecast.list_tags_for_resource(ResourceArn=arn)["Tags"] == [
        {"Key": "team", "Value": "a"}
    ]

    forecast.delete_dataset_group(DatasetGroupArn=arn)
    wait_for_workflows()
    with pytest.raises(forecast.exceptions.ResourceNotFoundException) as error:
        forecast.describe_dataset_group(DatasetGroupArn=arn)
    assert arn in str(error.value)


def test_forecast_list_paginates_in_creation_order(client):
    forecast = client("forecast")
    names = [f"group_{i:02d}" for i in range(7)]
    for name in names:
        forecast.create_dataset_group(DatasetGroupName=name, Domain="CUSTOM")

    seen, token, pages = [], None, 0
    while True:
        kwargs = {"MaxResults": 3, **({"NextToken": token} if token else {})}
        page = forecast.list_dataset_groups(**kwargs)
        pages += 1
        assert len(page["DatasetGroups"]) <= 3
        seen += [group["DatasetGroupName"] for group in page["DatasetGroups"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == names
    assert pages == 3
    summary = page["DatasetGroups"][0]
    assert set(summary) == {
        "DatasetGroupArn",
        "DatasetGroupName",
        "CreationTime",
        "LastModificationTime",
    }

    paginated = forecast.get_paginator("list_dataset_groups").paginate(
        PaginationConfig={"PageSize": 2}
    )
    assert [g["DatasetGroupName"] for p in paginated for g in p["DatasetGroups"]] == names


def test_forecast_errors_in_amazons_shape(client):
    forecast = client("forecast")
    forecast.create_dataset_group(DatasetGroupName="dup", Domain="CUSTOM")
    with pytest.raises(forecast.exceptions.ResourceAlreadyExistsException):
        forecast.create_dataset_group(DatasetGroupName="dup", Domain="CUSTOM")

    with pytest.raises(ClientError) as error:
        forecast.create_dataset_group(DatasetGroupName="has-hyphen", Domain="CUSTOM")
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert "datasetGroupName" in error.value.response["Error"]["Message"]

    with pytest.raises(ClientError) as error:
        forecast.create_dataset_group(DatasetGroupName="x" * 64, Domain="CUSTOM")
    assert "less than or equal to 63" in error.value.response["Error"]["Message"]

    with pytest.raises(forecast.exceptions.InvalidNextTokenException):
        forecast.list_dataset_groups(NextToken="not-a-token")

    with pytest.raises(forecast.exceptions.InvalidInputException):
        forecast.create_dataset_group(
            DatasetGroupName="tagged", Domain="CUSTOM", Tags=[{"Key": "aws:x", "Value": "y"}]
        )


def test_forecast_tags(client):
    forecast = client("forecast")
    arn = forecast.create_dataset_group(DatasetGroupName="tags", Domain="CUSTOM")["DatasetGroupArn"]
    forecast.tag_resource(
        ResourceArn=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    )
    forecast.untag_resource(ResourceArn=arn, TagKeys=["a"])
    assert forecast.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(forecast.exceptions.ResourceNotFoundException):
        forecast.tag_resource(ResourceArn=arn + "x", Tags=[{"Key": "a", "Value": "1"}])


def test_personalize_dataset_group_goes_active_through_its_workflow(client, wait_for_workflows):
    personalize = client("personalize")
    arn = personalize.create_dataset_group(name="shop", tags=[{"tagKey": "k", "tagValue": "v"}])[
        "datasetGroupArn"
    ]
    assert arn == "arn:aws:personalize:us-east-1:000000000000:dataset-group/shop"
    wait_for_workflows()
    group = personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]
    assert group["status"] == "ACTIVE"
    assert group["name"] == "shop"
    assert "failureReason" not in group
    listed = personalize.list_dataset_groups()["datasetGroups"]
    assert [g["datasetGroupArn"] for g in listed] == [arn]
    assert listed[0]["status"] == "ACTIVE"
    assert personalize.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"tagKey": "k", "tagValue": "v"}
    ]

    personalize.delete_dataset_group(datasetGroupArn=arn)
    try:  # the deletion is asynchronous, and may already be done
        status = personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]["status"]
        assert status in {"DELETE PENDING", "DELETE IN_PROGRESS"}
    except personalize.exceptions.ResourceNotFoundException:
        pass
    wait_for_workflows()
    assert personalize.list_dataset_groups()["datasetGroups"] == []


def test_personalize_dataset_group_that_fails_activation_says_why(client, wait_for_workflows):
    personalize = client("personalize")
    arn = personalize.create_dataset_group(
        name="encrypted", kmsKeyArn="arn:aws:kms:us-east-1:000000000000:key/abc"
    )["datasetGroupArn"]
    wait_for_workflows()
    group = personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]
    assert group["status"] == "CREATE FAILED"
    assert "roleArn" in group["failureReason"]


def test_personalize_errors(client):
    personalize = client("personalize")
    personalize.create_dataset_group(name="dup")
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        personalize.create_dataset_group(name="dup")
    missing = "arn:aws:personalize:us-east-1:000000000000:dataset-group/missing"
    with pytest.raises(personalize.exceptions.ResourceNotFoundException) as error:
        personalize.describe_dataset_group(datasetGroupArn=missing)
    assert missing in str(error.value)
    with pytest.raises(ClientError) as error:
        personalize.create_dataset_group(name="bad name!")
    assert error.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(personalize.exceptions.TooManyTagsException):
        personalize.create_dataset_group(
            name="many", tags=[{"tagKey": f"k{i}", "tagValue": "v"} for i in range(51)]
        )


def test_delete_of_a_resource_still_being_created_is_refused(server, client):
    """A resource a workflow owns cannot be deleted under it."""
    arn = "arn:aws:personalize:us-east-1:000000000000:dataset-group/pending"
    server.runtime.metadata.create(
        Resource(arn=arn, kind="personalize:dataset-group", name="pending", status="CREATE_PENDING")
    )
    personalize = client("personalize")
    with pytest.raises(personalize.exceptions.ResourceInUseException) as error:
        personalize.delete_dataset_group(datasetGroupArn=arn)
    assert "CREATE PENDING" in str(error.value)


def test_tag_limit_is_fifty_per_resource(client):
    forecast = client("forecast")
    arn = forecast.create_dataset_group(
        DatasetGroupName="tag_limit",
        Domain="CUSTOM",
        Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)],
    )["DatasetGroupArn"]
    with pytest.raises(forecast.exceptions.LimitExceededException):
        forecast.tag_resource(ResourceArn=arn, Tags=[{"Key": "one_more", "Value": "v"}])
    assert len(forecast.list_tags_for_resource(ResourceArn=arn)["Tags"]) == 50
