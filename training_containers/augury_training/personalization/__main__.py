"""``python -m augury_training.personalization [train]``: the container's entry point.

SageMaker starts a training image with the argument ``train``; it is accepted
and ignored. Thread pools are left at their defaults: the deep recipes train
with torch's intra-op threads, and the other recipes are single large
vectorised operations.
"""

from __future__ import annotations

import sys


def run() -> None:
    args = [a for a in sys.argv[1:] if a != "train"]
    if args:
        print(f"ignoring unexpected arguments {args}", file=sys.stderr)
    from augury_training.contract import run_training
    from augury_training.personalization.train import main

    run_training(main)


if __name__ == "__main__":
    run()
