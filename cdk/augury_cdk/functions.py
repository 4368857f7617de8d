"""The Python Lambda functions: one code bundle, built without Docker, and least privilege.

The bundle is ``lambdas/``, the training package's source (the runtime imports its
contracts, parameter rules and recommender artifacts from ``augury_training``, never
its frameworks), plus the runtime dependencies from ``pyproject.toml``
(``[project].dependencies``), installed by ``pip --platform ... --only-binary=:all:``
into the asset directory through CDK's ``ILocalBundling``: wheels for the Lambda
platform, fetched on any machine, with no Docker daemon. Context ``bundle=false``
skips all of that and ships ``lambdas/`` as it is (synth-only tests and quick
template reviews: that asset cannot run).

The installed wheels weigh about 290 MB, over Lambda's 250 MiB limit for
unzipped code; ``prune_bundle`` removes what Augury never loads (Arrow Flight,
headers, test suites, Cython sources: about 55 MB) and the bundling fails the
synth, naming the size, if the result is still too large to deploy.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    AssetHashType,
    BundlingOptions,
    Duration,
    FileSystem,
    ILocalBundling,
    RemovalPolicy,
    Size,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from augury_cdk import LAMBDAS_DIR, REPO_ROOT
from augury_cdk.checks import acknowledge

RUNTIME = lambda_.Runtime.PYTHON_3_13
PYTHON_VERSION = "3.13"
ARCHITECTURE = lambda_.Architecture.X86_64
PIP_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")
"""Wheel tags for x86_64 Lambda (Amazon Linux 2023, glibc 2.34): must match ARCHITECTURE."""

EXCLUDE = ("**/__pycache__", "**/*.pyc", "**/.pytest_cache", "**/.ruff_cache")
TRAINING_PACKAGE_DIR = REPO_ROOT / "training_containers" / "augury_training"
"""Copied into the bundle as ``augury_training``: the modules the runtime shares with the
training containers. Only NumPy and PyArrow stand behind the ones it imports
(``tests/cdk/test_bundle_sources.py`` imports every runtime module from a staged bundle)."""
LOG_RETENTION = logs.RetentionDays.ONE_MONTH
LAMBDA_UNZIPPED_LIMIT = 262_144_000
"""Lambda's limit on a function's unzipped code (bytes)."""
PRUNE = (
    # Arrow Flight (RPC) and its Python binding: nothing links them but themselves.
    "pyarrow/libarrow_flight.so*",
    "pyarrow/libarrow_python_flight.so*",
    "pyarrow/_flight.*.so",
    "pyarrow/_pyarrow_cpp_tests.*.so",
    # Wheels carry each shared library three times (no symlinks in a zip); the
    # extensions load them by soname (``libarrow_python.so.<major>``) only.
    "pyarrow/libarrow_python.so",
    "pyarrow/libarrow_python.so.*.*.*",
    "pyarrow/libarrow_python_parquet_encryption.so",
    "pyarrow/libarrow_python_parquet_encryption.so.*.*.*",
    "pyarrow/include",
    "pyarrow/src",
    "pyarrow/tests",
    "numpy/tests",
    "numpy/*/tests",
    "**/*.pyx",
    "**/*.pxd",
    "**/*.pxi",
)
"""What ``prune_bundle`` deletes from the installed wheels (globs under the bundle root)."""


def runtime_requirements(pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[str]:
    """What the Lambda bundle installs: the distribution's runtime dependencies."""
    project = tomllib.loads(pyproject.read_text())["project"]
    return list(project.get("dependencies", []))


def stage_sources(target: Path) -> None:
    """Copy the runtime's Python source into ``target``: ``lambdas/`` and the training
    package beside it, as the bundle's root holds them."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache")
    shutil.copytree(LAMBDAS_DIR, target, dirs_exist_ok=True, ignore=ignore)
    shutil.copytree(
        TRAINING_PACKAGE_DIR, target / TRAINING_PACKAGE_DIR.name, dirs_exist_ok=True, ignore=ignore
    )


@jsii.implements(ILocalBundling)
class PipLocalBundling:
    """Stages the runtime source and pip-installs Lambda-platform wheels next to it."""

    def __init__(self, requirements: Sequence[str]) -> None:
        self.requirements = list(requirements)

    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        """Always bundles here (never falls back to Docker); raises when pip fails."""
        target = Path(output_dir)
        stage_sources(target)
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            PYTHON_VERSION,
            *(argument for platform in PIP_PLATFORMS for argument in ("--platform", platform)),
            "--target",
            str(target),
            *self.requirements,
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(
                "Bundling the Lambda dependencies with pip failed (run with -c bundle=false "
                f"to synthesize without them):\n{result.stderr or result.stdout}"
            )
        size = prune_bundle(target)
        if size > LAMBDA_UNZIPPED_LIMIT:
            raise RuntimeError(
                f"The Lambda bundle is {size / 2**20:.0f} MiB unzipped, over Lambda's "
                f"{LAMBDA_UNZIPPED_LIMIT / 2**20:.0f} MiB: trim [project].dependencies"
            )
        return True


def prune_bundle(root: Path) -> int:
    """Delete ``PRUNE`` under ``root``; return what is left, in bytes."""
    for pattern in PRUNE:
        for path in sorted(root.glob(pattern), reverse=True):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def lambda_code(bundle: bool) -> lambda_.Code:
    """The one code asset both functions share (staged and uploaded once)."""
    if not bundle:
        return lambda_.Code.from_asset(str(LAMBDAS_DIR), exclude=list(EXCLUDE))
    requirements = runtime_requirements()
    fingerprints = [
        FileSystem.fingerprint(str(source), exclude=list(EXCLUDE))
        for source in (LAMBDAS_DIR, TRAINING_PACKAGE_DIR)
    ]
    recipe = "\n".join([*fingerprints, PYTHON_VERSION, *PIP_PLATFORMS, *requirements, *PRUNE])
    return lambda_.Code.from_asset(
        str(LAMBDAS_DIR),
        exclude=list(EXCLUDE),
        # Hash the inputs (source, requirements, platform), so an unchanged bundle is
        # not rebuilt and a changed requirement always is.
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=hashlib.sha256(recipe.encode()).hexdigest(),
        bundling=BundlingOptions(
            image=RUNTIME.bundling_image,
            local=PipLocalBundling(requirements),
            command=["false"],  # never used: local bundling always succeeds or raises
        ),
    )


class PythonFunctions(Construct):
    """Builds Augury's Lambda functions: same code, runtime, tracing and environment."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        environment: Mapping[str, str],
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.code = code
        self.environment = dict(environment)
        self.removal_policy = removal_policy

    def function(
        self,
        construct_id: str,
        *,
        handler: str,
        description: str,
        timeout: Duration,
        memory_size: int = 1024,
        ephemeral_storage_mb: int = 512,
        reserved_concurrency: int = 0,
    ) -> lambda_.Function:
        """A function with its own role and log group, and nothing granted yet; with
        ``reserved_concurrency``, that many instances kept for it (and no more)."""
        log_group = logs.LogGroup(
            self,
            f"{construct_id}Logs",
            retention=LOG_RETENTION,
            removal_policy=self.removal_policy,
        )
        # An explicit role instead of AWSLambdaBasicExecutionRole: it may write to
        # this function's log group and nothing else until something is granted.
        role = iam.Role(
            self,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Augury {construct_id} function",
        )
        log_group.grant_write(role)
        function = lambda_.Function(
            self,
            construct_id,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            code=self.code,
            description=description,
            timeout=timeout,
            memory_size=memory_size,
            # /tmp holds what a function downloads: models (serving), users' files
            # (imports), Parquet (exports); 512 MB is Lambda's free default.
            ephemeral_storage_size=Size.mebibytes(ephemeral_storage_mb),
            role=role,
            reserved_concurrent_executions=reserved_concurrency or None,
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            tracing=lambda_.Tracing.ACTIVE,
            environment={
                **self.environment,
                "POWERTOOLS_SERVICE_NAME": "augury",
                "AUGURY_DATA_DIR": "/tmp/augury",  # the only writable path on Lambda
            },
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray's PutTraceSegments and PutTelemetryRecords have no resource-level "
            "permissions; active tracing needs them on '*'.",
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            f"Pinned to {RUNTIME.name}: the dependency wheels are fetched for exactly this "
            "CPython (pip --python-version), so a runtime upgrade is a deliberate, tested change.",
        )
        return function
