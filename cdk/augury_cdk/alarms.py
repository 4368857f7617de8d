"""Alarms: what an operator must hear about, on one encrypted SNS topic.

=====================================  ==================================  =====================
alarm (``<prefix>`` + ...)             watches                             fires at
=====================================  ==================================  =====================
``workflow-<name>-failed``             a state machine's ExecutionsFailed  1 in 5 minutes
``workflow-<name>-timed-out``          its ExecutionsTimedOut              1 in 5 minutes
``<function>-errors``                  a function's Errors (not            1 in 5 minutes
                                       WorkflowStep's: see ``function``)
``<function>-throttles``               a function's Throttles              1 in 5 minutes
``events-consumer-iterator-age``       the consumer's IteratorAge          15 minutes behind
``events-consumer-failures``           messages in its failure queue       1 waiting
``api-5xx``                            the API stage's 5XXError            5 in 5 minutes
=====================================  ==================================  =====================

Every alarm notifies the topic when it goes to ALARM and again when it returns
to OK, and treats missing data as not breaching: a metric that is absent
(no traffic, no executions) is good news. Each description says what to look
at first. The topic is encrypted with its own KMS key (CloudWatch cannot
publish to a topic under the AWS managed ``aws/sns`` key, whose policy cannot
name it), refuses requests without TLS, and lets CloudWatch publish only for
this account's alarms named with the stack's prefix. Context ``alarmEmail``
subscribes an address; the ``AlarmTopicArn`` output is there for any other
subscriber.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from augury.workflows.asl import state_machine_name
from augury_cdk.grants import account_arn, service_principal
from augury_cdk.ingestion import MAX_RECORD_AGE

PERIOD = Duration.minutes(5)
"""Every alarm judges one 5-minute window: SQS publishes queue metrics every 5 minutes
(the others every minute), and one window is short enough to act on while an
incident is still small."""
FAILED_EXECUTIONS = 1
"""A workflow runs once per control-plane call (an import, a training, a forecast), so
failures are rare and each one is a user's resource ending FAILED after Augury has
already retried Lambda's transient errors: the first one is worth a look."""
TIMED_OUT_EXECUTIONS = 1
"""The state machines set no timeout, so an execution times out only at Step Functions'
one-year limit (a wait that never ended), without running its failure handler: its
resource is left in a working status. It should never happen."""
FUNCTION_ERRORS = 1
"""The handlers turn their own exceptions into answers (an API error response, a batch
item failure for Kinesis to retry), so a Lambda error means the runtime itself failed:
a timeout, running out of memory, an import error after a deployment. Never normal."""
FUNCTION_THROTTLES = 1
"""No function reserves concurrency, so a throttle means the account's regional
concurrency (shared with every other function; 1,000 by default) ran out, or warm
serving instances (servingProvisionedConcurrency) were all busy with none spare."""
ITERATOR_AGE = Duration.minutes(15)
"""The consumer is invoked as soon as records arrive (no batching window) and applies a
batch in seconds; events 15 minutes old mean it is failing or cannot keep up, hours
before ``ingestion.MAX_RECORD_AGE`` gives records up to the failure queue and long
before the stream's retention (24 hours at least) deletes them."""
WAITING_FAILURES = 1
"""Each message describes a batch the consumer gave up on: those events are in neither
the history table nor the event files until someone replays them. The alarm stays on
while one waits."""
API_SERVER_ERRORS = 5
"""5XX answers are faults on Augury's side (a bug answered as InternalFailure, a function
that timed out at 29 seconds or was throttled); a single one can be a slow cold start,
five in five minutes is a pattern worth waking up for."""

TOPIC_SUFFIX = "alarms"
"""The topic is ``<prefix>alarms``: found by name in the console next to the other resources."""


class Alarms(Construct):
    """The alarm topic (and its key and optional email subscription), and the alarms on it."""

    def __init__(
        self, scope: Construct, construct_id: str, *, prefix: str, email: str | None
    ) -> None:
        super().__init__(scope, construct_id)
        self.prefix = prefix
        # CloudWatch publishes for this account's alarms only, and only those named
        # with this stack's prefix (CloudWatch's guide: aws:SourceArn is the alarm's ARN).
        cloudwatch_alarms = service_principal(
            "cloudwatch", source_arn=account_arn("cloudwatch", f"alarm:{prefix}*")
        )
        self.key = kms.Key(
            self,
            "TopicKey",
            description=f"Encrypts the {prefix}{TOPIC_SUFFIX} topic's messages",
            enable_key_rotation=True,
            # It protects only notifications in flight: once the topic is gone there is
            # nothing left to decrypt, and a retained key would cost $1 a month forever.
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        # SNS's guide ("Enable compatibility between event sources from AWS services and
        # encrypted topics"): the publishing service needs these two on the topic's key.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[cloudwatch_alarms],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        self.topic = sns.Topic(
            self,
            "Topic",
            topic_name=f"{prefix}{TOPIC_SUFFIX}",
            display_name="Augury alarms",
            master_key=self.key,
            enforce_ssl=True,
        )
        # The SSL policy replaces SNS's default one, so the publisher must be named.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[cloudwatch_alarms],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
            )
        )
        if email:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        self.action = actions.SnsAction(self.topic)
        self.alarms: dict[str, cloudwatch.Alarm] = {}

    def workflows(
        self, machines: Mapping[str, sfn.StateMachine], *, step_function: lambda_.Function
    ) -> None:
        """ExecutionsFailed and ExecutionsTimedOut of each workflow's state machine."""
        step_logs = _log_group_name(step_function)
        for name, machine in machines.items():
            machine_name = state_machine_name(self.prefix, name)
            self._alarm(
                f"workflow-{name}-failed",
                machine.metric_failed(period=PERIOD, statistic="Sum"),
                FAILED_EXECUTIONS,
                f"Augury workflow {name}: an execution of state machine {machine_name} "
                "failed, and the failure handler marked its resource FAILED with the reason "
                "(Describe* shows it). Look at the failed execution in the Step Functions "
                "console (which step, which error), then the WorkflowStep function's log "
                f"group {step_logs}. A reason about the user's input needs no fix; an error "
                "from Augury or AWS does.",
            )
            self._alarm(
                f"workflow-{name}-timed-out",
                machine.metric_timed_out(period=PERIOD, statistic="Sum"),
                TIMED_OUT_EXECUTIONS,
                f"Augury workflow {name}: an execution of state machine {machine_name} "
                "reached Step Functions' time limit without running its failure handler, "
                "so its resource is still in a working status. Find the execution in the "
                "Step Functions console (its last step waited forever: a training job or "
                "resource that never finished), check that job in SageMaker, then the "
                f"WorkflowStep function's log group {step_logs}.",
            )

    def function(self, function: lambda_.Function, *, errors: bool = True) -> None:
        """Errors and Throttles of ``function``.

        ``errors=False`` for the workflow-step function: a step that must wait
        raises ``ResourcePending`` for Step Functions to retry, so its Errors count
        every poll of every running training job. Its real failures end the
        execution, and the workflow alarms report those.
        """
        name = _kebab(function.node.id)
        function_logs = _log_group_name(function)
        if errors:
            self._alarm(
                f"{name}-errors",
                function.metric_errors(period=PERIOD, statistic="Sum"),
                FUNCTION_ERRORS,
                f"Augury {function.node.id} function: invocations failed in the Lambda "
                "runtime itself (the handler answers its own exceptions), i.e. timed out, "
                "ran out of memory or could not start. Look at its log group "
                f"{function_logs} for 'Task timed out', 'Runtime exited' or an import "
                "error, and at its Duration and memory in the Lambda console; a deployment "
                "that just happened is the first suspect.",
            )
        self._alarm(
            f"{name}-throttles",
            function.metric_throttles(period=PERIOD, statistic="Sum"),
            FUNCTION_THROTTLES,
            f"Augury {function.node.id} function: Lambda refused invocations for lack of "
            "concurrency. Look at the account's ConcurrentExecutions in the Lambda console "
            "(the regional limit is shared with every function in the account; ask for a "
            "quota increase or reserve concurrency for Augury) and, if this is a serving "
            "function with servingProvisionedConcurrency, whether its warm instances were "
            "all busy. "
            f"Its log group: {function_logs}.",
        )

    def consumer(self, function: lambda_.Function, *, failures: sqs.IQueue) -> None:
        """How far behind the Kinesis consumer is, and batches it gave up on."""
        consumer_logs = _log_group_name(function)
        self._alarm(
            "events-consumer-iterator-age",
            function.metric("IteratorAge", period=PERIOD, statistic="Maximum"),
            ITERATOR_AGE.to_milliseconds(),
            f"Augury events consumer: events waited over {ITERATOR_AGE.to_minutes()} minutes "
            "on the Kinesis stream, so PutEvents/PutUsers/PutItems are not reaching "
            "recommendations. Look at the EventsConsumer log group "
            f"{consumer_logs} for 'applying ... Kinesis records failed' and its cause "
            "(DynamoDB or S3 errors, throttles), and at the function's Errors and Duration. "
            f"Records older than {MAX_RECORD_AGE.to_hours()} hours go to the failure queue "
            "unapplied.",
        )
        self._alarm(
            "events-consumer-failures",
            failures.metric_approximate_number_of_messages_visible(
                period=PERIOD, statistic="Maximum"
            ),
            WAITING_FAILURES,
            "Augury events consumer: batches of events failed every retry (or waited past "
            f"{MAX_RECORD_AGE.to_hours()} hours) and their descriptions are in the failure queue "
            f"{failures.queue_name} (stack output ConsumerFailureQueueUrl): those events "
            "are in neither the history table nor the event files. Read a message for the "
            "shard and sequence numbers, find the error in the EventsConsumer log group "
            f"{consumer_logs}, fix it, replay the records from the stream while it still holds "
            "them, then delete the messages (they are kept 14 days).",
        )

    def api(self, stage: apigw.Stage, *, access_logs: logs.ILogGroup) -> None:
        """Server errors (5XX) on the API stage, whatever the service."""
        self._alarm(
            "api-5xx",
            stage.metric_server_error(period=PERIOD, statistic="Sum"),
            API_SERVER_ERRORS,
            "Augury API: callers got 5XX answers. Look at the stage's access logs "
            f"({access_logs.log_group_name}) for the paths and statuses (502/504: the "
            "function failed or took over 29 seconds; 500: an internal error), then the "
            "log group of the function serving that path (Api, PersonalizeRuntime or "
            "ForecastQuery) for the request ID; its errors and throttles alarms say which.",
        )

    def _alarm(
        self, name: str, metric: cloudwatch.IMetric, threshold: float, description: str
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            "".join(part.capitalize() for part in name.split("-")),
            alarm_name=f"{self.prefix}{name}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self.action)
        alarm.add_ok_action(self.action)
        self.alarms[name] = alarm
        return alarm


def _kebab(construct_id: str) -> str:
    """``PersonalizeRuntime`` → ``personalize-runtime``: a function's part of alarm names."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", construct_id).lower()


def _log_group_name(function: lambda_.Function) -> str:
    return function.log_group.log_group_name
