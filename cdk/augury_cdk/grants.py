"""Least-privilege grants: exactly the API calls each adapter makes, on exactly its resources.

Written out instead of CDK's ``grant_read_write*`` helpers, which add calls
Augury never makes (``BatchWriteItem``, ``s3:List*``, ``s3:*Object*``): each
statement below names the adapter call it serves, so a reviewer can check it
against ``lambdas/augury/aws/``. Every wildcard that remains is acknowledged
for cdk-nag next to the grant, with the reason AWS leaves no narrower choice.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from augury_cdk.checks import acknowledge
from augury_cdk.storage import Storage

TABLE_READ = ("dynamodb:GetItem", "dynamodb:Query")
"""``DynamoDBMetadataStore.get/list`` and ``DynamoDBUserHistoryStore.history/get_row/rows``."""
TABLE_WRITE = ("dynamodb:PutItem", "dynamodb:DeleteItem")
"""``create/update`` and ``append/put_row`` are conditional puts; ``delete``/``discard``."""
OBJECT_READ = ("s3:GetObject",)
"""``S3BlobStore.get_bytes/download_file`` (its HeadObject needs GetObject too)."""
OBJECT_WRITE = ("s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject")
"""``put_bytes``, ``upload_file`` (multipart for large files), ``delete_prefix``."""
DATA_ACCESS_TAG = "augury:data-access"
"""A role carrying this tag with value ``true`` may be assumed to reach users' S3 data."""


def account_arn(service: str, resource: str) -> str:
    """``arn:<partition>:<service>:<region>:<account>:<resource>`` in this stack's account.

    Pseudo parameters throughout (``Aws.PARTITION`` too), so the pattern holds in
    any partition and for an environment-agnostic synth.
    """
    return f"arn:{Aws.PARTITION}:{service}:{Aws.REGION}:{Aws.ACCOUNT_ID}:{resource}"


def service_principal(service: str, *, source_arn: str) -> iam.ServicePrincipal:
    """``service`` acting only for this account's resources matching ``source_arn``.

    A bare service principal may act for any AWS account's resources: a role
    (or key, or topic) trusting it could be used by another customer's state
    machine, job or alarm that names it (the cross-service confused deputy).
    ``aws:SourceAccount`` pins the caller to this stack's account and
    ``aws:SourceArn`` to the kind of resource that legitimately acts, as each
    service documents it (``account_arn`` builds the pattern).
    """
    return iam.ServicePrincipal(
        f"{service}.amazonaws.com",
        conditions={
            "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
            "ArnLike": {"aws:SourceArn": source_arn},
        },
    )


def grant_table(
    function: lambda_.Function, table: dynamodb.ITable, *, write: bool, delete: bool = True
) -> None:
    """Items of ``table`` only (never ``Scan``, never another table); a writer that never
    deletes (``delete=False``) gets ``PutItem`` alone."""
    writes = TABLE_WRITE if delete else ("dynamodb:PutItem",)
    actions = [*TABLE_READ, *(writes if write else ())]
    function.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=[table.table_arn]))


def grant_metadata(
    function: lambda_.Function, storage: Storage, *, write: bool, delete: bool = True
) -> None:
    """The resources table and, for listing, its named indexes (not ``index/*``)."""
    grant_table(function, storage.table, write=write, delete=delete)
    function.add_to_role_policy(
        iam.PolicyStatement(
            actions=["dynamodb:Query"],
            resources=[f"{storage.table.table_arn}/index/{name}" for name in storage.index_names],
        )
    )


def grant_blobs(
    function: lambda_.Function, storage: Storage, *, access: str, keys: str = "*"
) -> None:
    """Objects of Augury's data bucket: ``read``, ``read-write``, ``rewrite`` (read, whole-object
    puts and deletes: no multipart upload to abort), ``put`` (write only) or ``list``.

    Listing (``S3BlobStore.list_keys``) comes with every access but ``put``, on the bucket
    only, and when ``keys`` narrows the objects (an IAM pattern of object keys; all by
    default) only under prefixes matching it (``s3:prefix``).
    """
    bucket = storage.bucket
    actions = {
        "read": OBJECT_READ,
        "read-write": (*OBJECT_READ, *OBJECT_WRITE),
        "rewrite": (*OBJECT_READ, "s3:PutObject", "s3:DeleteObject"),
        "put": ("s3:PutObject",),
        "list": (),
    }[access]
    if access != "put":
        narrowed = {} if keys == "*" else {"StringLike": {"s3:prefix": [keys]}}
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"], resources=[bucket.bucket_arn], conditions=narrowed
            )
        )
    if not actions:
        return
    function.add_to_role_policy(
        iam.PolicyStatement(actions=list(actions), resources=[bucket.arn_for_objects(keys)])
    )
    acknowledge(
        function.role,  # type: ignore[arg-type]
        f"AwsSolutions-IAM5[Resource::<{logical_id(bucket)}.Arn>/{keys}]",
        "Object keys are created at run time, one prefix per resource (datasets, models, "
        "forecasts, events); the grant covers objects of Augury's own data bucket only.",
    )


def event_file_keys() -> str:
    """The keys the events consumer writes: each dataset group's ``events/`` Parquet files.

    Derived from ``augury.personalize.event_data.events_prefix``, the code that names them.
    """
    from augury.personalize.event_data import events_prefix

    return events_prefix("arn:aws:personalize:region:account:dataset-group/*") + "*"


def dataset_data_keys(dataset_type: str) -> str:
    """The keys of every dataset group's ``dataset_type`` dataset versions (imported data).

    Derived from ``augury.workflows.lifecycle.blob_prefix`` (a dataset's ARN is
    ``dataset/<group>/<TYPE>``) and the import's ``data/`` version prefix.
    """
    from augury.workflows.lifecycle import blob_prefix

    datasets = f"arn:aws:personalize:region:account:dataset/*/{dataset_type}"
    return f"{blob_prefix(datasets)}data/*"


def grant_put_metrics(function: lambda_.Function, namespace: str) -> None:
    """PutMetricData into ``namespace`` only (``CloudWatchMetrics``, metric attributions)."""
    function.add_to_role_policy(
        iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": namespace}},
        )
    )
    acknowledge(
        function.role,  # type: ignore[arg-type]
        "AwsSolutions-IAM5[Resource::*]",
        "cloudwatch:PutMetricData has no resource-level permissions; the grant is limited to "
        "the stack's metric attribution namespace by condition.",
    )


def grant_state_machine_start(function: lambda_.IFunction, state_machine_arns: list[str]) -> None:
    """StartExecution on exactly these state machines (``StepFunctionsEngine.start``)."""
    function.add_to_role_policy(
        iam.PolicyStatement(actions=["states:StartExecution"], resources=state_machine_arns)
    )


def grant_publish(function: lambda_.IFunction, stream: kinesis.IStream) -> None:
    """``KinesisEventStream.publish`` calls PutRecords and nothing else."""
    function.add_to_role_policy(
        iam.PolicyStatement(actions=["kinesis:PutRecords"], resources=[stream.stream_arn])
    )


def grant_data_access_roles(
    function: lambda_.Function, role_arns: Sequence[str], tag_value: str
) -> None:
    """``sts:AssumeRole`` for the roles requests name (``S3ExternalStorage``).

    Amazon Forecast and Personalize read users' buckets as the role each request
    names, so the role is known only at run time. With ``role_arns`` from context
    the grant names them; without, it is this account's roles tagged
    ``augury:data-access=<tag_value>``, the stack's prefix: a role whose trust
    policy trusts the account root is not assumable by Augury unless its owner
    also tags it, and a role tagged for one stack (``augury-``) is out of another's
    reach (``staging-``), so a staging API cannot read through production's roles.
    """
    if role_arns:
        statement = iam.PolicyStatement(actions=["sts:AssumeRole"], resources=list(role_arns))
        reason = (
            "The operator listed these roles in context dataAccessRoleArns; Augury assumes "
            "them to read and write users' S3 data, as the request's RoleArn names."
        )
    else:
        stack = Stack.of(function)
        statement = iam.PolicyStatement(
            actions=["sts:AssumeRole"],
            resources=[f"arn:{stack.partition}:iam::{stack.account}:role/*"],
            conditions={"StringEquals": {f"aws:ResourceTag/{DATA_ACCESS_TAG}": tag_value}},
        )
        reason = (
            "Requests name the role to read users' S3 data with (DataSource.S3Config.RoleArn), "
            "known only at run time; the grant is limited to this account's roles tagged "
            f"{DATA_ACCESS_TAG}={tag_value}, this stack's prefix."
        )
    function.add_to_role_policy(statement)
    for resource in statement.resources:
        acknowledge(function.role, f"AwsSolutions-IAM5[Resource::{nag_string(resource)}]", reason)  # type: ignore[arg-type]


def grant_role_passing_checks(function: lambda_.Function) -> None:
    """``IamRolePassing``: may the caller pass the role its request names?

    ``iam:SimulatePrincipalPolicy`` on the caller's principal (an IAM user, or the role of
    a role session) and ``iam:GetRole`` to find a session's role by name. Any of the
    account's users and roles may call the API, so the grant names them all; neither
    action changes anything.
    """
    stack = Stack.of(function)
    users = f"arn:{stack.partition}:iam::{stack.account}:user/*"
    roles = f"arn:{stack.partition}:iam::{stack.account}:role/*"
    function.add_to_role_policy(
        iam.PolicyStatement(actions=["iam:SimulatePrincipalPolicy"], resources=[users, roles])
    )
    function.add_to_role_policy(iam.PolicyStatement(actions=["iam:GetRole"], resources=[roles]))
    reason = (
        "A request may name only a role its caller may pass (iam:PassRole), as Amazon's "
        "services require; the caller is any of this account's users or roles, known only "
        "at run time, and the policy simulator and GetRole only read."
    )
    for resource in (users, roles):
        acknowledge(function.role, f"AwsSolutions-IAM5[Resource::{nag_string(resource)}]", reason)  # type: ignore[arg-type]


def logical_id(construct: Construct) -> str:
    """The CloudFormation logical ID of an L2 construct's resource (cdk-nag names it)."""
    child = construct.node.default_child
    return Stack.of(construct).get_logical_id(child)  # type: ignore[arg-type]


def nag_string(value: str) -> str:
    """How cdk-nag writes a resource string in a finding ID: pseudo parameters as ``<AWS::X>``."""
    replacements = {
        "${Token[AWS.Partition": "<AWS::Partition>",
        "${Token[AWS.Region": "<AWS::Region>",
        "${Token[AWS.AccountId": "<AWS::AccountId>",
        "${Token[AWS.URLSuffix": "<AWS::URLSuffix>",
    }
    result = value
    for token, pseudo in replacements.items():
        while token in result:
            start = result.index(token)
            end = result.index("}", start) + 1
            result = result[:start] + pseudo + result[end:]
    return result
