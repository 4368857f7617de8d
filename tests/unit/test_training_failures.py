"""How a training container's failure reads: the user's mistakes in plain words, Augury's
own errors with their type."""

from __future__ import annotations

from pathlib import Path

import pytest

from augury_training.contract import ClientError, TrainPaths, run_training, user_reason
from augury_training.forecasting.models.hyperparameters import HyperparameterError, get_float
from augury_training.personalization.recipes import ConfigError


def _fail_with(tmp_path: Path, error: BaseException) -> str:
    paths = TrainPaths(tmp_path)
    paths.make_dirs()

    def main(paths: TrainPaths, hyperparameters: dict[str, str]) -> None:
        raise error

    with pytest.raises(SystemExit):
        run_training(main, paths)
    return paths.failure_file.read_text()


def test_the_users_mistake_is_a_client_error_shown_without_a_class_name(tmp_path):
    with pytest.raises(HyperparameterError) as raised:
        get_float({"learning_rate": "abc"}, "learning_rate", 0.001)
    reason = _fail_with(tmp_path, raised.value)
    assert reason.startswith("ClientError: learning_rate")
    assert user_reason(reason) == str(raised.value)


def test_every_user_error_class_is_a_client_error():
    assert issubclass(HyperparameterError, ClientError)
    assert issubclass(ConfigError, ClientError)
    assert issubclass(ClientError, ValueError)  # the handlers that catch ValueError still do


def test_augurys_own_errors_keep_their_type(tmp_path):
    reason = _fail_with(tmp_path, RuntimeError("the weights did not load"))
    assert reason == "RuntimeError: the weights did not load"
    assert user_reason(reason) == reason
