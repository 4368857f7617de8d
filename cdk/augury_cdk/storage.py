"""Storage: the S3 data bucket (blobs) and two DynamoDB tables, resources and user history.

Both tables take their keys from the adapters' own definitions
(``augury.aws.dynamodb_store.table_definition`` and
``augury.aws.dynamodb_history.history_table_definition``), the schemas the
adapters' moto tests create, so the deployed tables and the code cannot drift.
There is no forecast-lookup table: QueryForecast reads one Parquet shard of the
forecast from the bucket (``augury.serving.forecast_shards``) and caches it.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from augury.aws.dynamodb_history import TTL_ATTRIBUTE, history_table_definition
from augury.aws.dynamodb_store import table_definition

_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}


class Storage(Construct):
    """The data bucket, its access-log bucket, the resources table and the history table."""

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
        self.table = _table(self, "Resources", table_definition(), removal_policy)
        self.index_names = [
            index["IndexName"] for index in table_definition().get("GlobalSecondaryIndexes", [])
        ]
        # Each user's recent events and the newest PutUsers / PutItems rows, for
        # serving. Items carry their expiry; DynamoDB's TTL deletes them for free
        # (the adapter also ignores expired items, as TTL deletion lags by days).
        self.history_table = _table(
            self,
            "History",
            history_table_definition(),
            removal_policy,
            time_to_live_attribute=TTL_ATTRIBUTE,
        )


def _table(
    scope: Construct,
    construct_id: str,
    definition: dict[str, Any],
    removal_policy: RemovalPolicy,
    *,
    time_to_live_attribute: str | None = None,
) -> dynamodb.Table:
    """An on-demand, encrypted, recoverable table laid out as ``definition`` says."""
    types = {a["AttributeName"]: a["AttributeType"] for a in definition["AttributeDefinitions"]}

    def attribute(name: str) -> dynamodb.Attribute:
        return dynamodb.Attribute(name=name, type=_ATTRIBUTE_TYPES[types[name]])

    keys = _keys(definition["KeySchema"])
    table = dynamodb.Table(
        scope,
        construct_id,
        partition_key=attribute(keys["HASH"]),
        sort_key=attribute(keys["RANGE"]) if "RANGE" in keys else None,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        deletion_protection=removal_policy == RemovalPolicy.RETAIN,
        time_to_live_attribute=time_to_live_attribute,
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
