"""The API: one REST API, five base paths, every method behind AWS_IAM (SigV4).

A stock boto3 client pointed at ``<url>/forecast`` (etc.) signs its requests;
nothing on this API answers an unsigned one. The JSON 1.1 services
(forecast, forecastquery, personalize) send every operation as ``POST`` to the
base path itself with an ``X-Amz-Target`` header; the REST-JSON services
(personalize-runtime, personalize-events) ``POST`` to sub-paths. Each base path
proxies to the function given for its service (the control-plane function, or
a serving function for ``forecastquery`` and ``personalize-runtime``); every
one of them dispatches by the service models.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from augury_cdk.checks import acknowledge
from augury_cdk.firewall import RequestSizeLimit
from augury_cdk.functions import LOG_RETENTION

JSON_SERVICES = ("forecast", "forecastquery", "personalize")
REST_JSON_SERVICES = ("personalize-runtime", "personalize-events")
SERVICES = JSON_SERVICES + REST_JSON_SERVICES
STAGE = "v1"


def access_log_fields() -> dict[str, str]:
    """One JSON line per request: who called, what, the answer, and why it failed. The
    ``api-5xx`` alarm sends on-call here first (docs/deploy.md), so the line carries API
    Gateway's and the integration's error messages and the caller's ARN, not only ids."""
    field = apigw.AccessLogField
    return {
        "requestId": field.context_request_id(),
        "requestTime": field.context_request_time(),
        "ip": field.context_identity_source_ip(),
        "caller": field.context_identity_caller(),
        "user": field.context_identity_user(),
        "userArn": field.context_identity_user_arn(),
        "httpMethod": field.context_http_method(),
        "resourcePath": field.context_resource_path(),
        "protocol": field.context_protocol(),
        "status": field.context_status(),
        "responseLength": field.context_response_length(),
        "errorMessage": field.context_error_message(),
        "errorType": field.context_error_response_type(),
        "wafError": field.context_waf_error(),
        "integrationStatus": field.context_integration_status(),
        "integrationLatency": field.context_integration_latency(),
        "integrationError": field.context_integration_error_message(),
    }


class AuguryApi(Construct):
    """The REST API in front of the functions; ``handlers`` maps each service to its function."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        handlers: Mapping[str, lambda_.IFunction],
        throttle_rate_limit: float,
        throttle_burst_limit: int,
        removal_policy: RemovalPolicy,
        request_body_limit_kb: int | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=LOG_RETENTION, removal_policy=removal_policy
        )
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            # API Gateway's metrics are keyed by this name: one per stack in the account
            # and region, or two stacks' 5XX counts would add up in one metric.
            rest_api_name=name,
            description="Augury: Amazon Forecast and Amazon Personalize APIs (SigV4-signed)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            default_method_options=apigw.MethodOptions(
                authorization_type=apigw.AuthorizationType.IAM
            ),
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.RETAIN,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(access_log_fields())),
                logging_level=apigw.MethodLoggingLevel.INFO,
                data_trace_enabled=False,  # request bodies carry user data
                metrics_enabled=True,
                tracing_enabled=True,
                throttling_rate_limit=throttle_rate_limit,
                throttling_burst_limit=throttle_burst_limit,
            ),
        )
        # The stack names its own outputs (ApiUrl and one endpoint per service).
        self.rest_api.node.try_remove_child("Endpoint")
        # The stage's execution logs (INFO above) go to a group API Gateway creates on
        # first use, named after the API and stage, with no retention: logs kept, and
        # billed, forever. Created here first, it expires like every other log group.
        self.execution_logs = logs.LogGroup(
            self,
            "ExecutionLogs",
            log_group_name=f"API-Gateway-Execution-Logs_{self.rest_api.rest_api_id}/{STAGE}",
            retention=LOG_RETENTION,
            removal_policy=removal_policy,
        )
        self.rest_api.deployment_stage.node.add_dependency(self.execution_logs)
        # The account-level role API Gateway writes execution logs with: one per
        # region, shared by every REST API in it (CDK sets it on AWS::ApiGateway::Account).
        acknowledge(
            self.rest_api,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "The API Gateway account's CloudWatch role serves every REST API in the region; "
            "the AWS managed policy is the documented one, and narrowing it to this API's "
            "log groups would break logging for the account's other APIs.",
        )
        if request_body_limit_kb is not None:
            self.firewall: RequestSizeLimit | None = RequestSizeLimit(
                self,
                "Firewall",
                stage=self.rest_api.deployment_stage,
                limit_kb=request_body_limit_kb,
            )
        else:
            self.firewall = None
            acknowledge(
                self.rest_api,
                "AwsSolutions-APIG3",
                "The operator turned the WAF web ACL off (context waf=false); every method "
                "still requires SigV4 (AWS_IAM) and the stage throttles all callers.",
            )
        acknowledge(
            self.rest_api,
            "AwsSolutions-COG4",
            "These are AWS service APIs: callers are AWS principals signing with SigV4, "
            "as with Amazon Forecast and Personalize themselves, not Cognito users.",
        )

        integrations = {
            service: apigw.LambdaIntegration(handlers[service], allow_test_invoke=False)
            for service in SERVICES
        }
        require_target = self.rest_api.add_request_validator(
            "RequireTarget",
            request_validator_name="require-x-amz-target",
            validate_request_parameters=True,
            # No method has a body model, so bodies pass through: the API function
            # validates them against botocore's service models and answers malformed
            # ones as Amazon does (SerializationException, ValidationException).
            validate_request_body=True,
        )
        self.resources: dict[str, apigw.Resource] = {}
        for service in JSON_SERVICES:
            resource = self.rest_api.root.add_resource(service)
            resource.add_method(
                "POST",
                integrations[service],
                request_parameters={"method.request.header.X-Amz-Target": True},
                request_validator=require_target,
            )
            self.resources[service] = resource
        for service in REST_JSON_SERVICES:
            resource = self.rest_api.root.add_resource(service)
            resource.add_resource("{proxy+}").add_method("POST", integrations[service])
            self.resources[service] = resource

    def endpoint(self, service: str) -> str:
        """The ``endpoint_url`` a boto3 client for ``service`` uses."""
        return self.rest_api.url_for_path(self.resources[service].path)
