"""Deploy, update, inspect and destroy Augury in your AWS account with the pinned CDK CLI.

    python scripts/deploy.py bootstrap               # once per account and region
    python scripts/deploy.py deploy                  # create, or update in place
    python scripts/deploy.py deploy -c removalPolicy=destroy -c throttleRateLimit=500
    python scripts/deploy.py diff                    # what an update would change
    python scripts/deploy.py outputs                 # the endpoints of a deployed stack
    python scripts/deploy.py destroy                 # delete the stack (data is kept)
    python scripts/deploy.py synth                   # the template, with cdk-nag, no account

Why a wrapper: the CDK CLI must be at least as new as ``aws-cdk-lib`` (the
``aws-cdk`` package's ``latest`` tag is 3.x, which cannot read this library's
cloud assembly), and the app must run under the Python that has
``aws-cdk-lib`` installed. The script runs ``npx --yes aws-cdk@<CDK_CLI_VERSION>``
in ``cdk/`` with ``--app "<this python> app.py"`` and passes ``-c`` context
through, so every machine deploys with the same CLI. After ``deploy`` it prints
each service's endpoint and how to call it.

Credentials and region come from the usual AWS chain (``--profile``,
``AWS_PROFILE``, ``AWS_REGION``...). See docs/deploy.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CDK_DIR = ROOT / "cdk"
CDK_CLI_VERSION = "2.1148.1"
"""The CDK CLI this repository is tested with (aws-cdk-lib 2.275 needs 2.1148 or newer)."""
DEFAULT_STACK_NAME = "Augury"
OUTPUTS_FILE = CDK_DIR / "cdk.out" / "augury-outputs.json"
SERVICES = (
    "forecast",
    "forecastquery",
    "personalize",
    "personalize-runtime",
    "personalize-events",
)
COMMANDS = ("bootstrap", "synth", "diff", "deploy", "destroy", "outputs")
RETAINED = (
    "the data bucket (datasets, models, forecasts) and its access-log bucket",
    "the DynamoDB tables (resources, user history) with their point-in-time backups",
    "the CloudWatch log groups",
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command, its context and options; what follows ``--`` goes to the CDK CLI as is."""
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, passthrough = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(
        description="Deploy Augury with the pinned CDK CLI.",
        epilog="Arguments after '--' go to the CDK CLI unchanged.",
    )
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="CDK context (prefix, removalPolicy, throttleRateLimit, ...); repeatable",
    )
    parser.add_argument("--profile", help="AWS named profile")
    parser.add_argument("--region", help="AWS region (else AWS_REGION / the profile's)")
    parser.add_argument(
        "--yes", action="store_true", help="no prompts: approve IAM changes, force destroy"
    )
    args = parser.parse_args(argv)
    for item in args.context:
        if "=" not in item:
            parser.error(f"context {item!r}: use KEY=VALUE")
    args.cdk_args = passthrough
    return args


def cdk_command(args: argparse.Namespace, *, python: str = sys.executable) -> list[str]:
    """The ``npx aws-cdk@<pinned> ...`` command line for ``args`` (run in ``cdk/``)."""
    command = [
        "npx",
        "--yes",
        f"aws-cdk@{CDK_CLI_VERSION}",
        args.command,
        "--app",
        f"{shlex.quote(python)} app.py",
    ]
    for item in args.context:
        command += ["--context", item]
    if args.profile:
        command += ["--profile", args.profile]
    if args.command == "deploy":
        command += ["--outputs-file", str(OUTPUTS_FILE)]
        command += ["--require-approval", "never" if args.yes else "broadening"]
    if args.command == "destroy" and args.yes:
        command.append("--force")
    if args.command in ("synth", "diff", "deploy", "destroy"):
        command.append(stack_name(args))
    return command + list(args.cdk_args)


def context_value(args: argparse.Namespace, key: str) -> str | None:
    """The last ``-c key=value`` given for ``key`` (the CLI's own rule), or None."""
    values = [item.split("=", 1)[1] for item in args.context if item.split("=", 1)[0] == key]
    return values[-1] if values else None


def stack_name(args: argparse.Namespace) -> str:
    """The stack's name: context ``stackName``, as the app reads it, else ``Augury``."""
    return context_value(args, "stackName") or DEFAULT_STACK_NAME


def cdk_environment(args: argparse.Namespace, base: Mapping[str, str] = os.environ) -> dict:
    """The environment for the CLI: region, and Node's end-of-life banner silenced."""
    env = dict(base)
    env.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    if args.region:
        env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = env["CDK_DEFAULT_REGION"] = args.region
    return env


def endpoints(outputs: Mapping[str, str]) -> dict[str, str]:
    """``{service: endpoint_url}`` from the stack outputs (``ApiUrl`` joined with the path)."""
    api = outputs["ApiUrl"].rstrip("/")
    return {service: f"{api}/{service}" for service in SERVICES}


def describe(outputs: Mapping[str, str]) -> str:
    """What to tell the user after a deploy: the endpoints and how to call them."""
    api = outputs["ApiUrl"]
    width = max(len(service) for service in SERVICES)
    lines = ["", "Augury is deployed. Endpoints (IAM-authorized: sign for 'execute-api'):"]
    lines += [f"  {service:<{width}}  {url}" for service, url in endpoints(outputs).items()]
    extra = {key: value for key, value in outputs.items() if not key.endswith("Endpoint")}
    extra.pop("ApiUrl", None)
    if extra:
        lines += ["", "Resources:"]
        lines += [f"  {key:<{width}}  {value}" for key, value in sorted(extra.items())]
    lines += [
        "",
        "From Python (pip install augury, or this checkout):",
        "  from augury.clients import deployed_client",
        f'  forecast = deployed_client("forecast", api_url="{api}")',
        "From the AWS CLI, with the augury plugin enabled (see docs/deploy.md):",
        f"  AUGURY_API_URL={api} aws forecast list-dataset-groups \\",
        f"      --endpoint-url {endpoints(outputs)['forecast']}",
    ]
    return "\n".join(lines)


def read_outputs_file(name: str, path: Path = OUTPUTS_FILE) -> dict[str, str]:
    """The outputs ``cdk deploy --outputs-file`` wrote for stack ``name``."""
    return json.loads(path.read_text())[name]


def stack_outputs(args: argparse.Namespace) -> dict[str, str]:
    """The deployed stack's outputs, from CloudFormation."""
    import boto3  # only this command needs it

    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    cloudformation = session.client("cloudformation")
    stack = cloudformation.describe_stacks(StackName=stack_name(args))["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def after_destroy(args: argparse.Namespace) -> str:
    """What ``destroy`` leaves behind, so nobody is surprised by a bill or by lost data."""
    policy = context_value(args, "removalPolicy")
    if policy and policy.strip().lower() == "destroy":
        return (
            "The stack was deployed with removalPolicy=destroy: its buckets, tables and log "
            "groups are gone with it (non-empty buckets make the delete fail; empty them first)."
        )
    kept = "\n".join(f"  - {item}" for item in RETAINED)
    return (
        "Kept (removalPolicy=retain, the default), still billed for storage:\n"
        f"{kept}\n"
        "Delete them in the console or with the AWS CLI once you no longer need the data; "
        "the tables have deletion protection on, which you turn off first."
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "outputs":
        print(describe(stack_outputs(args)))
        return 0
    if shutil.which("npx") is None:
        print("npx not found: install Node.js 20 or newer (https://nodejs.org).", file=sys.stderr)
        return 2
    command = cdk_command(args)
    print("+", shlex.join(command), file=sys.stderr)
    result = subprocess.run(command, cwd=CDK_DIR, env=cdk_environment(args), check=False)
    if result.returncode != 0:
        return result.returncode
    if args.command == "deploy" and OUTPUTS_FILE.exists():
        print(describe(read_outputs_file(stack_name(args))))
    if args.command == "destroy":
        print(after_destroy(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
