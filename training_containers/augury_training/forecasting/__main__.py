"""``python -m augury_training.forecasting [train]``: the forecasting container's entry point.

SageMaker starts a training image with the argument ``train``; it is accepted
and ignored (the job's mode comes from its configuration). Thread pools are
limited to one thread per process before NumPy loads: parallelism comes from
one process per core (``parallel``), and BLAS threads on top would oversubscribe.
"""

from __future__ import annotations

import sys

from augury_training.forecasting.parallel import limit_threads


def run() -> None:
    limit_threads()
    args = [a for a in sys.argv[1:] if a != "train"]
    if args:
        print(f"ignoring unexpected arguments {args}", file=sys.stderr)
    from augury_training.contract import run_training
    from augury_training.forecasting.train import main

    run_training(main)


if __name__ == "__main__":
    run()
