"""The Augury stack: every box of the architecture, wired, with each function's grants.

==================  ====================================  =====================================
function            serves                                may
==================  ====================================  =====================================
Api                 /forecast, /personalize               read/write resources, read blobs,
                                                          start the state machines, stop
                                                          training jobs, ask IAM whether a
                                                          caller may pass the role it names
Events              /personalize-events                   read resources, put on the stream
PersonalizeRuntime  /personalize-runtime                  read resources, blobs, user history
ForecastQuery       /forecastquery                        read resources, blobs
WorkflowStep        every state machine's tasks           read/write resources and blobs, read
                                                          history (and delete from it: data
                                                          deletion jobs), run training jobs,
                                                          assume users' data-access roles
EventsConsumer      the Kinesis stream                    write history, put event files, read
                                                          resources
EventsCompactor     a schedule (every 15 minutes)         read resources, read/write/delete
                                                          event files
RecommenderRetrainer  a schedule (every hour)             read/write resources, list event
                                                          files, start the train-recommender
                                                          state machine
==================  ====================================  =====================================

The serving functions run the same handler as the API function but on their
own instances, with more memory: a recommender or forecast shard loaded once
stays in memory for that instance's life (``augury.serving``), and control-plane
traffic never evicts it. Settings come from context (``augury_cdk.settings``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from aws_cdk import App, CfnOutput, Duration, Environment, Stack, Tags
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from augury.personalize.recommender_records import TRAIN_WORKFLOW as RECOMMENDER_TRAINING
from augury_cdk.alarms import Alarms
from augury_cdk.api import SERVICES, AuguryApi
from augury_cdk.checks import add_checks
from augury_cdk.functions import PythonFunctions, lambda_code
from augury_cdk.grants import (
    dataset_data_keys,
    event_file_keys,
    grant_blobs,
    grant_data_access_roles,
    grant_metadata,
    grant_publish,
    grant_put_metrics,
    grant_role_passing_checks,
    grant_state_machine_start,
    grant_table,
)
from augury_cdk.ingestion import Ingestion
from augury_cdk.settings import StackSettings
from augury_cdk.storage import Storage
from augury_cdk.trainers import Trainers
from augury_cdk.workflows import WorkflowStateMachines

__all__ = ["STACK_NAME", "AuguryStack", "StackSettings", "build_app"]

STACK_NAME = StackSettings.stack_name
FEATURE_FLAGS: dict[str, Any] = {
    # Grant S3 server access log delivery by bucket policy rather than the
    # LogDeliveryWrite ACL, so every bucket can keep ACLs disabled.
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    # CDK checks the template against CloudFormation's own rules (property values,
    # DeletionPolicy per resource type) on every synth; by default it only warns, and
    # a template CloudFormation rejects would synthesize cleanly and fail at deploy.
    "@aws-cdk/core:validateAgainstDefaultRules": True,
}
API_TIMEOUT = Duration.seconds(29)  # API Gateway's integration limit
SERVING_EPHEMERAL_MB = 2048  # models and forecast shards are downloaded to /tmp
WORKFLOW_EPHEMERAL_MB = 10240  # users' import files and exports pass through /tmp
COMPACTION_RATE = Duration.minutes(15)
"""How often recorded events' settled files are merged (``augury.personalize.event_compaction``:
a bucket is merged 5 minutes after it ends, the smallest every 1,000 seconds)."""
RETRAINING_CHECK_RATE = Duration.hours(1)
"""How often recommenders are checked for their weekly retraining
(``augury.personalize.recommender_retraining``)."""


class AuguryStack(Stack):
    """Everything Augury needs in one account and region."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: StackSettings, **kwargs: Any
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description="Augury: open-source Amazon Forecast and Amazon Personalize",
            **kwargs,
        )
        self.settings = s = settings
        # Metric attributions' CloudWatch namespace: one per stack, as Amazon's own
        # AWS/Personalize cannot be written.
        self.metrics_namespace = f"{s.stack_name}/Personalize"
        self.storage = Storage(self, "Storage", removal_policy=s.removal_policy)
        self.trainers = Trainers(self, "Trainers", storage=self.storage, settings=s)
        self.ingestion = Ingestion(
            self,
            "Ingestion",
            stream_name=f"{s.prefix}events",
            retention_hours=s.stream_retention_hours,
        )
        functions = PythonFunctions(
            self,
            "Functions",
            code=lambda_code(s.bundle),
            environment=self.environment(),
            removal_policy=s.removal_policy,
        )
        self._workflow_step(functions)
        self.workflows = WorkflowStateMachines(
            self,
            "Workflows",
            step_function=self.workflow_step,
            prefix=s.prefix,
            removal_policy=s.removal_policy,
        )
        self._control_plane(functions)
        self._event_intake(functions)
        self._serving(functions)
        self._consumer(functions)
        self._compactor(functions)
        self._retrainer(functions)
        self.api = AuguryApi(
            self,
            "Api",
            name=f"{s.prefix}api",
            handlers={
                "forecast": self.api_function,
                "personalize": self.api_function,
                "personalize-events": self.events_function,
                "personalize-runtime": self.serving["personalize-runtime"],
                "forecastquery": self.serving["forecastquery"],
            },
            throttle_rate_limit=s.throttle_rate_limit,
            throttle_burst_limit=s.throttle_burst_limit,
            removal_policy=s.removal_policy,
            request_body_limit_kb=s.request_body_limit_kb if s.waf else None,
        )
        self._alarms()
        self._outputs()

    def environment(self) -> dict[str, str]:
        """The adapters' URIs (``augury.settings``): every function bootstraps the same runtime.

        What each function may actually do is decided by its role, not its variables.
        """
        s, storage = self.settings, self.storage
        return {
            "AUGURY_METADATA": f"dynamodb://{storage.table.table_name}",
            "AUGURY_BLOBS": f"s3://{storage.bucket.bucket_name}",
            "AUGURY_HISTORY": (
                f"dynamodb://{storage.history_table.table_name}"
                f"?ttl_days={s.history_ttl_days}&max_events={s.history_max_events}"
            ),
            "AUGURY_WORKFLOWS": f"stepfunctions://{s.prefix}",
            "AUGURY_EVENTS": f"kinesis://{self.ingestion.stream.stream_name}",
            "AUGURY_TRAINER": self.trainers.uri(),
            "AUGURY_JOB_PREFIX": self.trainers.job_prefix,
            "AUGURY_EXTERNAL": "s3://",
            "AUGURY_METRICS": f"cloudwatch://{self.metrics_namespace}",
            "AUGURY_REGION": self.region,
            "AUGURY_ACCOUNT": self.account,
            "AUGURY_PARTITION": self.partition,
        }

    def _workflow_step(self, functions: PythonFunctions) -> None:
        self.workflow_step = functions.function(
            "WorkflowStep",
            handler="augury.handlers.workflow_step",
            description="Runs one step of an Augury workflow for Step Functions",
            timeout=Duration.minutes(15),  # Lambda's maximum: an import step streams a file
            memory_size=self.settings.workflow_memory_size,
            ephemeral_storage_mb=WORKFLOW_EPHEMERAL_MB,
            reserved_concurrency=self.settings.workflow_reserved_concurrency,
        )
        grant_metadata(self.workflow_step, self.storage, write=True)
        grant_blobs(self.workflow_step, self.storage, access="read-write")
        grant_table(self.workflow_step, self.storage.history_table, write=False)  # batch jobs
        # Data deletion jobs forget users' recent events (``discard``/``discard_row``); the
        # consumer alone writes the table.
        self.workflow_step.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:DeleteItem"], resources=[self.storage.history_table.table_arn]
            )
        )
        self.trainers.grant_run(self.workflow_step)
        grant_put_metrics(self.workflow_step, self.metrics_namespace)  # incremental imports
        grant_data_access_roles(
            self.workflow_step, self.settings.data_access_role_arns, self.settings.prefix
        )

    def _api_handler(
        self, functions: PythonFunctions, name: str, description: str
    ) -> lambda_.Function:
        """A function behind the REST API (the same handler; its role decides what it may do)."""
        return functions.function(
            name,
            handler="augury.handlers.api",
            description=description,
            timeout=API_TIMEOUT,
            memory_size=self.settings.api_memory_size,
        )

    def _control_plane(self, functions: PythonFunctions) -> None:
        self.api_function = self._api_handler(
            functions, "Api", "Serves the Forecast and Personalize control planes"
        )
        grant_metadata(self.api_function, self.storage, write=True)
        grant_blobs(self.api_function, self.storage, access="read")
        grant_state_machine_start(self.api_function, self.workflows.arns)
        self.trainers.grant_stop(self.api_function)
        grant_role_passing_checks(self.api_function)

    def _event_intake(self, functions: PythonFunctions) -> None:
        """PutEvents, PutUsers and PutItems: the path applications call most, on its own
        role. It reads trackers, datasets and schemas and puts records on the stream,
        nothing else: it cannot write the resources table, start a workflow or stop a
        job, as the control plane's role can."""
        self.events_function = self._api_handler(
            functions, "Events", "Serves PutEvents, PutUsers and PutItems onto the event stream"
        )
        grant_metadata(self.events_function, self.storage, write=False)
        grant_publish(self.events_function, self.ingestion.stream)

    def _serving(self, functions: PythonFunctions) -> None:
        self.serving: dict[str, lambda_.IFunction] = {}
        self.serving_functions: dict[str, lambda_.Function] = {}
        for service, construct_id, description in [
            ("personalize-runtime", "PersonalizeRuntime", "GetRecommendations and ranking"),
            ("forecastquery", "ForecastQuery", "QueryForecast"),
        ]:
            function = functions.function(
                construct_id,
                handler="augury.handlers.api",
                description=f"Serves {description}; models stay loaded per instance",
                timeout=API_TIMEOUT,
                memory_size=self.settings.serving_memory_size,
                ephemeral_storage_mb=SERVING_EPHEMERAL_MB,
            )
            grant_metadata(function, self.storage, write=False)
            grant_blobs(function, self.storage, access="read")
            if service == "personalize-runtime":
                grant_table(function, self.storage.history_table, write=False)
            self.serving_functions[service] = function
            self.serving[service] = self._warm(function)

    def _warm(self, function: lambda_.Function) -> lambda_.IFunction:
        """With provisioned concurrency from context, the API calls a warm alias instead."""
        count = self.settings.serving_provisioned_concurrency
        if count == 0:
            return function
        return function.add_alias("live", provisioned_concurrent_executions=count)

    def _consumer(self, functions: PythonFunctions) -> None:
        self.consumer = functions.function(
            "EventsConsumer",
            handler="augury.handlers.events",
            description="Applies PutEvents/PutUsers/PutItems from Kinesis to history and S3",
            timeout=Duration.minutes(2),
            memory_size=1024,
            reserved_concurrency=self.settings.consumer_reserved_concurrency,
        )
        grant_table(self.consumer, self.storage.history_table, write=True)
        grant_metadata(self.consumer, self.storage, write=False)
        # Event files only: the consumer cannot overwrite datasets, models or forecasts.
        grant_blobs(self.consumer, self.storage, access="put", keys=event_file_keys())
        # Metric attributions: SUM(Items.X) reads the items, the metrics go to CloudWatch.
        grant_blobs(self.consumer, self.storage, access="read", keys=dataset_data_keys("ITEMS"))
        grant_put_metrics(self.consumer, self.metrics_namespace)
        self.ingestion.attach_consumer(
            self.consumer,
            batch_size=self.settings.consumer_batch_size,
            parallelization=self.settings.consumer_parallelization,
        )

    def _compactor(self, functions: PythonFunctions) -> None:
        """Merges the consumer's small event files on a schedule; one run at a time."""
        self.compactor = functions.function(
            "EventsCompactor",
            handler="augury.handlers.compact_events",
            description="Merges recorded events' small Parquet files into a few large ones",
            timeout=Duration.minutes(14),  # ends before the next scheduled run
            memory_size=2048,
            ephemeral_storage_mb=SERVING_EPHEMERAL_MB,  # a bucket's files pass through /tmp
            reserved_concurrency=1,
        )
        grant_metadata(self.compactor, self.storage, write=False)
        # Event files only: it can delete what the consumer wrote, nothing else.
        grant_blobs(self.compactor, self.storage, access="rewrite", keys=event_file_keys())
        self._every(
            COMPACTION_RATE,
            self.compactor,
            "EventsCompaction",
            "Merge recorded events' small files (Augury EventsCompactor)",
        )

    def _retrainer(self, functions: PythonFunctions) -> None:
        """Starts recommenders' weekly retraining and two-hourly updates on a schedule; one
        run at a time."""
        self.retrainer = functions.function(
            "RecommenderRetrainer",
            handler="augury.handlers.retrain_recommenders",
            description="Starts the retraining and updates of Personalize recommenders",
            timeout=Duration.minutes(5),
            memory_size=512,
            reserved_concurrency=1,
        )
        # It claims a recommender (one attribute) and starts its training, nothing more; it
        # lists event files only to see whether new events arrived (the two-hourly update).
        grant_metadata(self.retrainer, self.storage, write=True, delete=False)
        grant_blobs(self.retrainer, self.storage, access="list", keys=event_file_keys())
        train = self.workflows.state_machines[RECOMMENDER_TRAINING]
        grant_state_machine_start(self.retrainer, [train.state_machine_arn])
        self._every(
            RETRAINING_CHECK_RATE,
            self.retrainer,
            "RecommenderRetraining",
            "Retrain recommenders whose model is 7 days old, or update them (Augury)",
        )

    def _every(
        self, rate: Duration, function: lambda_.Function, rule_id: str, description: str
    ) -> None:
        """Invoke ``function`` on an EventBridge schedule. No retries: the next run comes
        soon and does the same work (both scheduled functions are idempotent)."""
        events.Rule(
            self,
            rule_id,
            description=description,
            schedule=events.Schedule.rate(rate),
            targets=[targets.LambdaFunction(function, retry_attempts=0)],
        )

    def _alarms(self) -> None:
        s = self.settings
        self.alarms = Alarms(self, "Alarms", prefix=s.prefix, email=s.alarm_email or None)
        self.alarms.workflows(self.workflows.state_machines, step_function=self.workflow_step)
        functions = [self.api_function, self.events_function, *self.serving_functions.values()]
        for function in [*functions, self.consumer, self.compactor, self.retrainer]:
            self.alarms.function(function)
        # Its Errors count every ResourcePending poll; failed workflows alarm instead.
        self.alarms.function(self.workflow_step, errors=False)
        self.alarms.consumer(self.consumer, failures=self.ingestion.failures)
        self.alarms.api(self.api.rest_api.deployment_stage, access_logs=self.api.access_logs)

    def _outputs(self) -> None:
        CfnOutput(self, "ApiUrl", value=self.api.rest_api.url, description="The REST API")
        for service in SERVICES:
            CfnOutput(
                self,
                "".join(part.capitalize() for part in service.split("-")) + "Endpoint",
                value=self.api.endpoint(service),
                description=f"endpoint_url for boto3.client('{service}')",
            )
        storage, ingestion = self.storage, self.ingestion
        CfnOutput(self, "TableName", value=storage.table.table_name)
        CfnOutput(self, "HistoryTableName", value=storage.history_table.table_name)
        CfnOutput(self, "BucketName", value=storage.bucket.bucket_name)
        CfnOutput(self, "EventStreamName", value=ingestion.stream.stream_name)
        CfnOutput(
            self,
            "ConsumerFailureQueueUrl",
            value=ingestion.failures.queue_url,
            description="Kinesis batches the consumer gave up on, for replay",
        )
        CfnOutput(self, "TrainingRoleArn", value=self.trainers.role.role_arn)
        CfnOutput(
            self,
            "AlarmTopicArn",
            value=self.alarms.topic.topic_arn,
            description="Every alarm notifies this topic: subscribe the team to it",
        )


def build_app(
    context: Mapping[str, Any] | None = None, *, outdir: str | None = None
) -> tuple[App, AuguryStack]:
    """The app ``cdk/app.py`` synthesizes (tests call it with their own context)."""
    app = App(context={**FEATURE_FLAGS, **(context or {})}, outdir=outdir)
    settings = StackSettings.from_context(app.node)
    account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
    stack = AuguryStack(
        app,
        settings.stack_name,
        settings=settings,
        env=Environment(account=account, region=region) if account and region else None,
    )
    Tags.of(app).add("project", "augury")
    add_checks(app)
    return app, stack
