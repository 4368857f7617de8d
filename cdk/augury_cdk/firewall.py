"""The request size limit: a WAF web ACL on the API stage (REST APIs have no body limit).

API Gateway accepts bodies up to 10 MB and Lambda up to 6 MB; Amazon's own
operations need far less. The one rule blocks a body over ``limit_kb`` except
on the operations whose legitimate bodies can be larger: PutItems, PutUsers
and PutActions (ten rows of up to 24 KB of properties each) and
GetPersonalizedRanking (up to 500 item IDs); those stay bounded by API
Gateway's 10 MB. WAF can only measure the first
16 to 64 KB of a body; a larger one counts as too large (``OversizeHandling:
MATCH``). Throttling stays on the stage, where it covers every caller; a
per-address rate rule would block a backend that sends every user's events.
"""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

EXEMPT_PATHS = r"/personalize-(events/(items|users|actions)|runtime/personalize-ranking)$"
METRIC_PREFIX = "augury"


class RequestSizeLimit(Construct):
    """A regional web ACL that allows everything but oversized bodies, on ``stage``."""

    def __init__(
        self, scope: Construct, construct_id: str, *, stage: apigw.Stage, limit_kb: int
    ) -> None:
        super().__init__(scope, construct_id)
        inspection_kb = min(64, max(16, -(-limit_kb // 16) * 16))  # 16, 32, 48 or 64
        too_large = wafv2.CfnWebACL.StatementProperty(
            size_constraint_statement=wafv2.CfnWebACL.SizeConstraintStatementProperty(
                field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                    body=wafv2.CfnWebACL.BodyProperty(oversize_handling="MATCH")
                ),
                comparison_operator="GT",
                size=limit_kb * 1024,
                text_transformations=[
                    wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                ],
            )
        )
        exempt = wafv2.CfnWebACL.StatementProperty(
            regex_match_statement=wafv2.CfnWebACL.RegexMatchStatementProperty(
                field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
                regex_string=EXEMPT_PATHS,
                text_transformations=[
                    wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                ],
            )
        )
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            description=f"Augury API: request bodies up to {limit_kb} KB",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            association_config=wafv2.CfnWebACL.AssociationConfigProperty(
                request_body={
                    "API_GATEWAY": wafv2.CfnWebACL.RequestBodyAssociatedResourceTypeConfigProperty(
                        default_size_inspection_limit=f"KB_{inspection_kb}"
                    )
                }
            ),
            visibility_config=_visibility(f"{METRIC_PREFIX}-api"),
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name="request-body-size",
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(
                        block=wafv2.CfnWebACL.BlockActionProperty(
                            custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                                response_code=413
                            )
                        )
                    ),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        and_statement=wafv2.CfnWebACL.AndStatementProperty(
                            statements=[
                                too_large,
                                wafv2.CfnWebACL.StatementProperty(
                                    not_statement=wafv2.CfnWebACL.NotStatementProperty(
                                        statement=exempt
                                    )
                                ),
                            ]
                        )
                    ),
                    visibility_config=_visibility(f"{METRIC_PREFIX}-request-body-size"),
                )
            ],
        )
        self.association = wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage.stage_arn, web_acl_arn=self.web_acl.attr_arn
        )


def _visibility(metric: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
    )
