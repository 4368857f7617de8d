"""Ingestion: PutEvents / PutUsers / PutItems go on a Kinesis stream; a Lambda applies them.

The API function publishes (``AUGURY_EVENTS=kinesis://<stream>``,
``augury.aws.kinesis_stream``); the consumer (``augury.handlers.events``) lands
each batch in the user-history table, for serving, and as Parquet in the data
bucket, for the next training. Records are partitioned by user, and a shard's
batches are applied in order, so one user's events stay ordered.

A failing record is reported alone (``ReportBatchItemFailures``): Lambda
retries from it, halves the batch on repeated errors to isolate it, and after
the last retry sends the batch's description to an encrypted SQS queue instead
of blocking the shard. Applying a batch twice changes nothing (see
``augury.personalize.event_consumer``), which is what makes retries safe.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from augury_cdk.checks import acknowledge

RETRY_ATTEMPTS = 5
POLLING_ACTIONS = (
    "DescribeStream",
    "DescribeStreamSummary",
    "GetRecords",
    "GetShardIterator",
    "ListShards",
)
"""What Lambda's event source mapping calls on a stream it polls (no enhanced fan-out)."""
MAX_RECORD_AGE = Duration.hours(6)
"""Older records go to the failure queue: serving wants fresh events, training has the file."""
MAX_BATCHING_WINDOW = Duration.seconds(0)
"""Invoke as soon as records arrive: PutEvents should show in the next recommendation."""


class Ingestion(Construct):
    """The on-demand stream, the failure queue, and the consumer's event source."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stream_name: str,
        retention_hours: int,
    ) -> None:
        super().__init__(scope, construct_id)
        # On demand: no shards to size; Kinesis scales with the write rate (up to
        # 200 MB/s by default) and costs nothing per shard-hour.
        self.stream = kinesis.Stream(
            self,
            "Events",
            stream_name=stream_name,
            stream_mode=kinesis.StreamMode.ON_DEMAND,
            encryption=kinesis.StreamEncryption.MANAGED,
            retention_period=Duration.hours(retention_hours),
            # transient (hours of events): it goes with the stack whatever the data's
            # policy, or its fixed name would block the next deploy
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.failures = sqs.Queue(
            self,
            "ConsumerFailures",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),  # SQS's maximum: time to investigate
            removal_policy=RemovalPolicy.DESTROY,  # transient, as the stream it reports on
        )
        acknowledge(
            self.failures,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter destination of the Kinesis consumer: it "
            "holds descriptions of batches that failed every retry, for an operator to replay.",
        )

    def attach_consumer(
        self, consumer: lambda_.Function, *, batch_size: int, parallelization: int
    ) -> None:
        """Feed the stream to ``consumer``, granting exactly what a polling event source
        mapping calls (CDK's ``KinesisEventSource`` also grants enhanced fan-out's
        SubscribeToShard, DescribeStreamConsumer and ListStreams, which it never uses),
        and sending batches that fail every retry to the failure queue."""
        lambda_.EventSourceMapping(
            self,
            "Consumer",
            target=consumer,
            event_source_arn=self.stream.stream_arn,
            # Events published before the consumer existed are applied too.
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=batch_size,
            max_batching_window=MAX_BATCHING_WINDOW,
            parallelization_factor=parallelization,
            report_batch_item_failures=True,
            bisect_batch_on_error=True,
            retry_attempts=RETRY_ATTEMPTS,
            max_record_age=MAX_RECORD_AGE,
            on_failure=sources.SqsDlq(self.failures),
        )
        consumer.add_to_role_policy(
            iam.PolicyStatement(
                actions=[f"kinesis:{action}" for action in POLLING_ACTIONS],
                resources=[self.stream.stream_arn],
            )
        )
