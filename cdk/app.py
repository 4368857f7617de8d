#!/usr/bin/env python3
"""Synthesize the Augury stack: ``python cdk/app.py`` or, from ``cdk/``, ``cdk deploy``.

Needs no Docker and no CDK CLI to synthesize: the Lambda dependencies are
bundled with pip on this machine (``-c bundle=false`` skips that), and cdk-nag's
AWS Solutions checks fail the synth on any unacknowledged finding.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from augury_cdk.stack import build_app


def main() -> None:
    app, _ = build_app()
    app.synth()


if __name__ == "__main__":
    main()
