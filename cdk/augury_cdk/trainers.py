"""Trainers: the training images and the role SageMaker training jobs run as.

The images are ``DockerImageAsset``s built from ``training_containers/*.Dockerfile``
with the repository root as context: one per container, plus a GPU build of each
(CUDA torch, ``TORCH_VARIANT``) for its deep models: DeepAR+ and CNN-QR in the
forecasting container, the deep recipes in the personalization container.
Synthesis only stages the context and records the build in the asset manifest;
Docker runs at ``cdk deploy`` (the CDK CLI's asset publishing), so
``python cdk/app.py`` needs no Docker daemon.

The functions reach SageMaker through ``augury.aws.sagemaker_trainer``, which
reads ``AUGURY_TRAINER``: ``sagemaker://?role_arn=...&image.<container>=...``,
``gpu_image.<container>=...`` plus the per-container choices below (instance
types, GPU for the deep models, managed spot for CPU jobs).
"""

from __future__ import annotations

from aws_cdk import IgnoreMode, Stack
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from augury_cdk import REPO_ROOT
from augury_cdk.checks import acknowledge
from augury_cdk.grants import account_arn, logical_id, nag_string, service_principal
from augury_cdk.settings import StackSettings
from augury_cdk.storage import Storage

CONTAINERS = ("forecasting", "personalization")
GPU_VARIANTS = {"forecasting": "cu126", "personalization": "cu126"}
"""The containers with a GPU image, and the CUDA build of torch it installs."""
BLOB_ROOT = "resources/"
"""Channels and outputs live under ``resources/<service>/<arn path>/`` in the data bucket."""
CONTEXT_EXCLUDE = [
    # The build context is the repository root; the Dockerfiles copy only these.
    "*",
    "!pyproject.toml",
    "!README.md",
    "!lambdas",
    "!training_containers",
    "**/__pycache__",
    "**/*.pyc",
    "**/.pytest_cache",
    "**/.ruff_cache",
    "**/*.egg-info",
]
SAGEMAKER_LOG_GROUP = "/aws/sagemaker/TrainingJobs"


class Trainers(Construct):
    """The images, the SageMaker execution role and the ``AUGURY_TRAINER`` URI."""

    def __init__(
        self, scope: Construct, construct_id: str, *, storage: Storage, settings: StackSettings
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        # Every job the stack starts is named <prefix><kind>-<id> (AUGURY_JOB_PREFIX,
        # ``Settings.training_job_name``), so each grant below reaches this stack's jobs only.
        self.job_prefix = settings.prefix
        self.images = {container: self._image(container) for container in CONTAINERS}
        self.gpu_images = {
            container: self._image(container, torch_variant=variant)
            for container, variant in GPU_VARIANTS.items()
        }
        self.role = iam.Role(
            self,
            "SageMakerRole",
            # Only SageMaker running one of this account's Augury training jobs: SageMaker
            # sets aws:SourceArn to the training job's ARN when it assumes the role
            # (SageMaker's guide, "Cross-service confused deputy prevention").
            assumed_by=service_principal(
                "sagemaker", source_arn=account_arn("sagemaker", f"training-job/{self.job_prefix}*")
            ),
            description="Augury training jobs: read channels, write model.tar.gz, pull images",
        )
        self._grant_job_permissions(storage)

    def _image(
        self, container: str, torch_variant: str | None = None
    ) -> ecr_assets.DockerImageAsset:
        """The container's image; with ``torch_variant``, its GPU build."""
        gpu = "Gpu" if torch_variant else ""
        return ecr_assets.DockerImageAsset(
            self,
            f"{container.capitalize()}{gpu}Image",
            directory=str(REPO_ROOT),
            file=f"training_containers/{container}.Dockerfile",
            build_args={"TORCH_VARIANT": torch_variant} if torch_variant else None,
            exclude=CONTEXT_EXCLUDE,
            ignore_mode=IgnoreMode.DOCKER,
            platform=ecr_assets.Platform.LINUX_AMD64,  # SageMaker's x86 instances
            display_name=f"augury-{container}{'-gpu' if torch_variant else ''}",
        )

    def _grant_job_permissions(self, storage: Storage) -> None:
        """What a training job does: the SageMaker training contract, nothing more."""
        bucket, role, stack = storage.bucket, self.role, Stack.of(self)
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{BLOB_ROOT}*"]}},
            )
        )
        role.add_to_policy(  # the input channels: datasets, events, a previous model
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{BLOB_ROOT}*")]
            )
        )
        output = f"{BLOB_ROOT}*/{self.job_prefix}*/output/*"
        role.add_to_policy(  # <output prefix>/<job name>/output/model.tar.gz
            iam.PolicyStatement(
                actions=["s3:PutObject", "s3:AbortMultipartUpload"],
                resources=[bucket.arn_for_objects(output)],
            )
        )
        for image in [*self.images.values(), *self.gpu_images.values()]:
            image.repository.grant_pull(role)
        log_group = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:"
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:DescribeLogStreams"],
                # Both forms: IAM matches some logs actions on the bare log-group ARN.
                resources=[
                    f"{log_group}{SAGEMAKER_LOG_GROUP}",
                    f"{log_group}{SAGEMAKER_LOG_GROUP}:*",
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[f"{log_group}{SAGEMAKER_LOG_GROUP}:log-stream:{self.job_prefix}*"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringEquals": {"cloudwatch:namespace": SAGEMAKER_LOG_GROUP}},
            )
        )
        bucket_id = logical_id(bucket)
        for resource, reason in [
            (
                f"<{bucket_id}.Arn>/{BLOB_ROOT}*",
                "A job reads the channels its request names, all under resources/ in Augury's "
                "data bucket; their keys are created at run time.",
            ),
            (
                f"<{bucket_id}.Arn>/{output}",
                "SageMaker writes <output prefix>/<job name>/output/model.tar.gz; job names are "
                f"{self.job_prefix}<kind>-<id>, created at run time.",
            ),
            (
                f"{nag_string(log_group)}{SAGEMAKER_LOG_GROUP}:*",
                "SageMaker writes every training job's logs to the log group it names, "
                f"{SAGEMAKER_LOG_GROUP}, one stream per job.",
            ),
            (
                f"{nag_string(log_group)}{SAGEMAKER_LOG_GROUP}:log-stream:{self.job_prefix}*",
                "Log streams are named <job name>/algo-1-<time>, created by SageMaker at run "
                "time; only Augury's job names match.",
            ),
            (
                "*",
                "ecr:GetAuthorizationToken and cloudwatch:PutMetricData have no resource-level "
                "permissions; the metric grant is limited to SageMaker's namespace by condition.",
            ),
        ]:
            acknowledge(role, f"AwsSolutions-IAM5[Resource::{resource}]", reason)

    def uri(self) -> str:
        """``AUGURY_TRAINER`` for the functions: the role, the images and the choices.

        ``gpu_image.<c>`` is the image of the container's GPU jobs (CUDA torch),
        ``instance.<c>`` is the instance type for the container's CPU jobs,
        ``gpu_instance.<c>`` for the jobs the workflow asks a GPU for (predictors
        training DeepAR+ or CNN-QR, the deep Personalize recipes) and ``spot.<c>``
        turns managed spot on for CPU jobs: a job restarts from the beginning when
        its spot capacity is reclaimed, which is safe because jobs write their model
        only at the end. GPU jobs, long and scarce on spot, always run on demand.
        ``volume_gb`` is every job's storage volume.
        """
        s = self.settings
        query = [("role_arn", self.role.role_arn)]
        query += [(f"image.{name}", image.image_uri) for name, image in self.images.items()]
        query += [(f"gpu_image.{c}", image.image_uri) for c, image in self.gpu_images.items()]
        query += [
            ("instance.forecasting", s.forecasting_instance_type),
            ("gpu_instance.forecasting", s.forecasting_gpu_instance_type),
            ("instance.personalization", s.personalization_instance_type),
            ("gpu_instance.personalization", s.personalization_gpu_instance_type),
            ("spot.forecasting", str(s.spot_training).lower()),
            ("spot.personalization", str(s.spot_training).lower()),
            ("volume_gb", str(s.training_volume_size_gb)),
        ]
        # No escaping: the values (ARNs, image URIs, instance types) hold no '&' or '=',
        # and most are tokens that CloudFormation resolves at deploy time.
        return "sagemaker://?" + "&".join(f"{key}={value}" for key, value in query)

    def grant_run(self, function: lambda_.Function) -> None:
        """Start, watch and stop Augury's jobs, passing only the training role.

        IAM holds a job to what the deployment promises, whatever the code asks for:
        network isolation (the containers read their channels and write their model,
        nothing else) and the configured instance types (no one runs a p4d on the
        stack's budget by editing a request)."""
        self._grant_jobs(function, ["DescribeTrainingJob", "StopTrainingJob"])
        self._grant_jobs(
            function,
            ["CreateTrainingJob"],
            conditions={
                "Bool": {"sagemaker:NetworkIsolation": "true"},
                "ForAllValues:StringEquals": {"sagemaker:InstanceTypes": self.instance_types},
            },
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )

    def grant_stop(self, function: lambda_.Function) -> None:
        """StopResource stops a running job from the API (``Trainer.stop``)."""
        self._grant_jobs(function, ["StopTrainingJob"])

    @property
    def instance_types(self) -> list[str]:
        """Every instance type the deployment lets a job run on, CPU and GPU."""
        s = self.settings
        chosen = (
            s.forecasting_instance_type,
            s.forecasting_gpu_instance_type,
            s.personalization_instance_type,
            s.personalization_gpu_instance_type,
        )
        return sorted(set(chosen))

    def _grant_jobs(
        self,
        function: lambda_.Function,
        actions: list[str],
        conditions: dict[str, dict[str, object]] | None = None,
    ) -> None:
        stack = Stack.of(self)
        jobs = (
            f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}:"
            f"training-job/{self.job_prefix}*"
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=[f"sagemaker:{a}" for a in actions], resources=[jobs], conditions=conditions
            )
        )
        acknowledge(
            function.role,  # type: ignore[arg-type]
            f"AwsSolutions-IAM5[Resource::{nag_string(jobs)}]",
            f"Training job names are created at run time ({self.job_prefix}<kind>-<id>); the grant "
            "covers only jobs carrying Augury's prefix.",
        )
