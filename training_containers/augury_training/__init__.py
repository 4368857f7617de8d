"""Augury's training containers and the SageMaker training contract they share.

Everything a container needs from the platform is in :mod:`augury_training.contract`;
this package imports nothing from ``augury`` so a container image carries only
its own code.
"""

from augury_training.contract import TrainPaths, read_hyperparameters, run_training, write_failure

__all__ = ["TrainPaths", "read_hyperparameters", "run_training", "write_failure"]
