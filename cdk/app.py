#!/usr/bin/env python3
"""Synthesize the Augury stack: ``python cdk/app.py`` or, from ``cdk/``, ``cdk deploy``.

Needs no Docker and no CDK CLI to synthesize: the Lambda dependencies are
bundled with pip on this machine (context ``bundle=false`` skips that; without
the CLI, pass context as ``CDK_CONTEXT_JSON='{"bundle": "false"}'``), the
training images are only staged (Docker builds them at deploy time), and
cdk-nag's AWS Solutions checks fail the synth on any unacknowledged finding.

Run directly, the app writes to ``cdk/cdk.out`` (where the CLI writes too), so a
second synth reuses the pip bundle instead of downloading the wheels again.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from augury_cdk.stack import build_app


def main() -> None:
    outdir = os.environ.get("CDK_OUTDIR") or str(Path(__file__).resolve().parent / "cdk.out")
    app, _ = build_app(outdir=outdir)
    app.synth()


if __name__ == "__main__":
    main()
