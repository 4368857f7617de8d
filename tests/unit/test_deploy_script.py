"""scripts/deploy.py: the pinned CDK CLI, the context passed through, the endpoints printed."""

from __future__ import annotations

import importlib.util
import json
import shlex
import sys
from pathlib import Path

import pytest

from augury.clients import region_of

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "deploy.py"
API = "https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/v1/"


def _load_script():
    spec = importlib.util.spec_from_file_location("deploy_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


deploy = _load_script()


def command_for(*argv: str) -> list[str]:
    return deploy.cdk_command(deploy.parse_args(list(argv)), python="/opt/py env/bin/python")


def test_every_command_runs_the_pinned_cli_with_this_python():
    command = command_for("synth")
    assert command[:4] == ["npx", "--yes", f"aws-cdk@{deploy.CDK_CLI_VERSION}", "synth"]
    # The app runs under the interpreter that has aws-cdk-lib, quoted for the CLI's shell.
    assert command[command.index("--app") + 1] == "'/opt/py env/bin/python' app.py"
    assert command[-1] == "Augury"
    major, minor, _ = (int(part) for part in deploy.CDK_CLI_VERSION.split("."))
    assert (major, minor) >= (2, 1148), "aws-cdk-lib 2.275 needs CDK CLI 2.1148 or newer"


def test_the_cdk_cli_pin_matches_the_library_pin():
    pyproject = (SCRIPT.parents[1] / "pyproject.toml").read_text()
    assert '"aws-cdk-lib==2.275.0"' in pyproject, "re-check CDK_CLI_VERSION when the lib moves"


def test_context_profile_and_passthrough_reach_the_cli():
    command = command_for(
        "deploy",
        "-c",
        "removalPolicy=destroy",
        "--context",
        "throttleRateLimit=500",
        "--profile",
        "prod",
        "--",
        "--hotswap",
    )
    joined = shlex.join(command)
    assert "--context removalPolicy=destroy --context throttleRateLimit=500" in joined
    assert "--profile prod" in joined
    assert "--outputs-file" in command and "--require-approval broadening" in joined
    assert command[-2:] == ["Augury", "--hotswap"]


def test_the_stack_name_follows_the_context():
    assert command_for("diff", "-c", "stackName=AuguryStaging")[-1] == "AuguryStaging"


def test_yes_approves_and_forces():
    assert "--require-approval never" in shlex.join(command_for("deploy", "--yes"))
    assert "--force" in command_for("destroy", "--yes")
    assert "--force" not in command_for("destroy")


def test_bad_context_is_refused(capsys):
    with pytest.raises(SystemExit):
        deploy.parse_args(["deploy", "-c", "removalPolicy"])
    assert "KEY=VALUE" in capsys.readouterr().err


def test_region_reaches_the_app_environment():
    env = deploy.cdk_environment(deploy.parse_args(["deploy", "--region", "eu-central-1"]), {})
    assert env["AWS_REGION"] == env["CDK_DEFAULT_REGION"] == "eu-central-1"
    assert env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] == "20"


def test_after_deploy_the_endpoints_and_a_working_snippet_are_printed(tmp_path):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps(
            {"Augury": {"ApiUrl": API, "ForecastEndpoint": API + "forecast", "TableName": "t"}}
        )
    )
    text = deploy.describe(deploy.read_outputs_file("Augury", outputs))
    for service in deploy.SERVICES:
        assert f"{API}{service}" in text
    assert "TableName" in text and "ForecastEndpoint" not in text
    assert f'deployed_client("forecast", api_url="{API}")' in text
    assert region_of(API) == "eu-central-1"


def test_destroy_says_what_is_kept():
    kept = deploy.after_destroy(deploy.parse_args(["destroy"]))
    assert "data bucket" in kept and "DynamoDB tables" in kept
    gone = deploy.after_destroy(deploy.parse_args(["destroy", "-c", "removalPolicy=destroy"]))
    assert "gone with it" in gone
