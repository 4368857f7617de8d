"""Storage: the S3 data bucket (blobs) and the DynamoDB resources table (metadata)."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from augury.aws.dynamodb_store import table_definition

_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}


class Storage(Construct):
    """The bucket and table every Lambda function reads and writes.

    The table's keys and indexes come from ``augury.aws.dynamodb_store.table_definition``,
    the schema the adapter (and its moto tests) use, so the two cannot drift.
    """

    def __init__(self, scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy):
        super().__init__(scope, construct_id)
        # The data bucket's server access logs. cdk-nag's S1 accepts a bucket that is
        # itself a log target (logging it would log each delivery again, without end).
        # Log delivery is granted by bucket policy (the app sets CDK's
        # serverAccessLogsUseBucketPolicy flag), so ACLs stay disabled here too.
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
            removal_policy=removal_policy,
        )
        self.bucket = s3.Bucket(
            self,
            "Data",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="data/",
            lifecycle_rules=[
                # Deleted resources' blobs stay recoverable for 30 days, then go.
                s3.LifecycleRule(
                    noncurrent_version_expiration=Duration.days(30),
                    expired_object_delete_marker=True,
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            removal_policy=removal_policy,
        )
        self.table = _resources_table(self, removal_policy)
        self.index_names = [
            index["IndexName"] for index in table_definition().get("GlobalSecondaryIndexes", [])
        ]


def _resources_table(scope: Construct, removal_policy: RemovalPolicy) -> dynamodb.Table:
    definition = table_definition()
    types = {a["AttributeName"]: a["AttributeType"] for a in definition["AttributeDefinitions"]}

    def attribute(name: str) -> dynamodb.Attribute:
        return dynamodb.Attribute(name=name, type=_ATTRIBUTE_TYPES[types[name]])

    keys = _keys(definition["KeySchema"])
    table = dynamodb.Table(
        scope,
        "Resources",
        partition_key=attribute(keys["HASH"]),
        sort_key=attribute(keys["RANGE"]) if "RANGE" in keys else None,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        deletion_protection=removal_policy == RemovalPolicy.RETAIN,
        removal_policy=removal_policy,
    )
    for index in definition.get("GlobalSecondaryIndexes", []):
        index_keys = _keys(index["KeySchema"])
        table.add_global_secondary_index(
            index_name=index["IndexName"],
            partition_key=attribute(index_keys["HASH"]),
            sort_key=attribute(index_keys["RANGE"]) if "RANGE" in index_keys else None,
            projection_type=dynamodb.ProjectionType(index["Projection"]["ProjectionType"]),
        )
    return table


def _keys(schema: list[dict[str, Any]]) -> dict[str, str]:
    return {key["KeyType"]: key["AttributeName"] for key in schema}
