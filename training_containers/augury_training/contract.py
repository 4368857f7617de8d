"""The SageMaker training contract, shared by the control plane and every container.

A training container is started with this directory tree (``/opt/ml`` on
SageMaker, a per-job directory named by ``AUGURY_SM_ROOT`` when Augury runs it as
a local subprocess)::

    <root>/input/config/hyperparameters.json   {"name": "value", ...} -- values are strings
    <root>/input/config/inputdataconfig.json   {"<channel>": {"TrainingInputMode": "File", ...}}
    <root>/input/config/resourceconfig.json    {"current_host": "algo-1", "hosts": [...]}
    <root>/input/data/<channel>/...            the channel's files, relative paths kept
    <root>/model/                              write the model here; it is shipped back
                                               as model.tar.gz when the process exits 0
    <root>/output/failure                      on error, a reason; its first 1024
                                               characters become the job's FailureReason
    <root>/output/data/                        other outputs (shipped as output.tar.gz
                                               on SageMaker; kept in the job dir locally)

The process's exit status decides the outcome: 0 is Completed, anything else is
Failed. This module must import nothing from ``augury``: containers ship without
the control plane.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = [
    "FAILURE_REASON_LIMIT",
    "HYPERPARAMETER_VALUE_LIMIT",
    "ROOT_ENV",
    "TrainPaths",
    "read_hyperparameters",
    "run_training",
    "split_long_values",
    "write_failure",
]

ROOT_ENV = "AUGURY_SM_ROOT"
"""Environment variable that moves the root away from ``/opt/ml`` (local runs)."""

DEFAULT_ROOT = Path("/opt/ml")

FAILURE_REASON_LIMIT = 1024
"""SageMaker keeps the first 1024 characters of ``output/failure`` as FailureReason."""
HYPERPARAMETER_VALUE_LIMIT = 2500
"""SageMaker's longest hyperparameter value (``HyperParameterValue`` in botocore's model)."""
HYPERPARAMETER_COUNT_LIMIT = 100
"""SageMaker's most hyperparameters in one CreateTrainingJob."""
PART_SEPARATOR = "__part"
"""``config__part1``: the second piece of a value too long for one hyperparameter."""


class TrainPaths:
    """Where a training job's inputs and outputs live under one root directory."""

    def __init__(self, root: Path | str = DEFAULT_ROOT) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"TrainPaths({str(self.root)!r})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TrainPaths:
        """The paths of the running job: ``$AUGURY_SM_ROOT`` if set, else ``/opt/ml``."""
        env = os.environ if env is None else env
        root = env.get(ROOT_ENV)
        return cls(Path(root) if root else DEFAULT_ROOT)

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def input_config_dir(self) -> Path:
        return self.input_dir / "config"

    @property
    def hyperparameters_file(self) -> Path:
        return self.input_config_dir / "hyperparameters.json"

    @property
    def input_data_config_file(self) -> Path:
        return self.input_config_dir / "inputdataconfig.json"

    @property
    def resource_config_file(self) -> Path:
        return self.input_config_dir / "resourceconfig.json"

    @property
    def input_data_dir(self) -> Path:
        return self.input_dir / "data"

    def channel(self, name: str) -> Path:
        """The directory holding channel ``name``'s files."""
        if not name or "/" in name or "\\" in name or name in {".", ".."}:
            raise ValueError(f"invalid channel name {name!r}")
        return self.input_data_dir / name

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.output_dir / "data"

    @property
    def failure_file(self) -> Path:
        return self.output_dir / "failure"

    def make_dirs(self) -> None:
        """Create the empty tree (the platform does this before the container starts)."""
        for path in (self.input_config_dir, self.input_data_dir, self.model_dir):
            path.mkdir(parents=True, exist_ok=True)
        self.output_data_dir.mkdir(parents=True, exist_ok=True)

    def read_hyperparameters(self) -> dict[str, str]:
        """The hyperparameters as SageMaker passes them: every value a string.

        A missing file means no hyperparameters. Non-string values (a hand-written
        file) are turned into strings so containers parse one form only.
        """
        if not self.hyperparameters_file.exists():
            return {}
        raw = json.loads(self.hyperparameters_file.read_text(encoding="utf-8"))
        values = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}
        return _join_parts(values)

    def read_input_data_config(self) -> dict[str, dict]:
        """``inputdataconfig.json``: one entry per channel (``{}`` when absent)."""
        if not self.input_data_config_file.exists():
            return {}
        return json.loads(self.input_data_config_file.read_text(encoding="utf-8"))

    def write_failure(self, message: str) -> None:
        """Record why the job failed; only the first 1024 characters are kept."""
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.failure_file.write_text(message[:FAILURE_REASON_LIMIT], encoding="utf-8")


def split_long_values(
    hyperparameters: Mapping[str, str], limit: int = HYPERPARAMETER_VALUE_LIMIT
) -> dict[str, str]:
    """``hyperparameters`` as SageMaker takes them: a value longer than ``limit`` is cut into
    ``name``, ``name__part1``, ``name__part2``... of ``limit`` characters at most, which
    :meth:`TrainPaths.read_hyperparameters` joins back.

    A job's configuration is one JSON hyperparameter, and a predictor with many related
    fields, or a solution over many metadata fields, passes SageMaker's 2500 characters;
    CreateTrainingJob would refuse it. Raises ``ValueError`` for a name that already looks
    like a part, or for more pieces than SageMaker takes hyperparameters.
    """
    pieces: dict[str, str] = {}
    for name, value in hyperparameters.items():
        if PART_SEPARATOR in name:
            raise ValueError(f"hyperparameter names may not contain {PART_SEPARATOR!r}: {name}")
        chunks = [value[i : i + limit] for i in range(0, len(value), limit)] or [""]
        pieces[name] = chunks[0]
        for number, chunk in enumerate(chunks[1:], start=1):
            pieces[f"{name}{PART_SEPARATOR}{number}"] = chunk
    if len(pieces) > HYPERPARAMETER_COUNT_LIMIT:
        raise ValueError(
            f"the job's hyperparameters need {len(pieces)} values of at most {limit} "
            f"characters; SageMaker takes {HYPERPARAMETER_COUNT_LIMIT}"
        )
    return pieces


def _join_parts(values: Mapping[str, str]) -> dict[str, str]:
    """The inverse of :func:`split_long_values` (values without parts pass unchanged)."""
    joined = {name: value for name, value in values.items() if PART_SEPARATOR not in name}
    for name in joined:
        index = 1
        while f"{name}{PART_SEPARATOR}{index}" in values:
            joined[name] += values[f"{name}{PART_SEPARATOR}{index}"]
            index += 1
    return joined


def read_hyperparameters(paths: TrainPaths | None = None) -> dict[str, str]:
    """The running job's hyperparameters (see :meth:`TrainPaths.read_hyperparameters`)."""
    return (paths or TrainPaths.from_env()).read_hyperparameters()


CLIENT_ERROR = "ClientError: "
"""How a failure reason says the user's input was at fault, as SageMaker's algorithms do."""


class ClientError(ValueError):
    """Something in the job's data or settings that the user can fix.

    Its failure reason reads ``ClientError: <message>``, the label SageMaker's built-in
    algorithms give customer errors, and the services show the user the message alone
    (:func:`user_reason`): "learning_rate must be a number, got 'abc'", not a Python
    class name. Any other exception is Augury's fault and keeps its type in the reason.
    """


def user_reason(reason: str) -> str:
    """A failed job's reason as the user reads it: without the ``ClientError:`` label."""
    return reason.removeprefix(CLIENT_ERROR)


def write_failure(message: str, paths: TrainPaths | None = None) -> None:
    """Record the running job's failure reason in ``output/failure``."""
    (paths or TrainPaths.from_env()).write_failure(message)


def run_training(
    main: Callable[[TrainPaths, dict[str, str]], None],
    paths: TrainPaths | None = None,
) -> None:
    """Run a container's ``main(paths, hyperparameters)`` under the contract.

    On any exception the reason (``Type: message``, or ``ClientError: message`` for a
    :class:`ClientError`) goes to ``output/failure``,
    the traceback to stderr (the job log), and the process exits with status 1,
    which the platform reports as Failed with that reason. A non-zero
    ``sys.exit`` keeps a failure file ``main`` wrote itself. Returning normally
    exits 0: the platform ships ``model/`` back.
    """
    paths = paths or TrainPaths.from_env()
    try:
        main(paths, paths.read_hyperparameters())
    except SystemExit as exc:
        if exc.code not in (None, 0) and not paths.failure_file.exists():
            paths.write_failure(f"SystemExit: exit status {exc.code}")
        raise
    except BaseException as exc:
        traceback.print_exc(file=sys.stderr)
        label = CLIENT_ERROR if isinstance(exc, ClientError) else f"{type(exc).__name__}: "
        paths.write_failure(f"{label}{exc}")
        sys.stderr.flush()
        sys.exit(1)
