"""The CDK app that deploys Augury into the user's own account: one construct per box.

``storage`` (S3 + the resources and user-history tables), ``ingestion`` (the
Kinesis stream and its consumer's event source), ``trainers`` (the training
images and SageMaker's role), ``functions`` (the Python Lambda functions and
their bundling), ``workflows`` (one state machine per workflow, compiled from
the same Python definitions the embedded runner executes), ``api`` (the
IAM-protected REST API on five base paths, with ``firewall``'s size limit),
``alarms`` (CloudWatch alarms on one encrypted SNS topic), ``grants``
(least-privilege IAM), ``settings`` (context) and ``stack``, which wires them.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LAMBDAS_DIR = REPO_ROOT / "lambdas"
"""The runtime's source: the Lambda bundle's root and where ``augury`` is imported from."""

if str(LAMBDAS_DIR) not in sys.path:
    # The app reads the workflow catalog from the runtime package itself, so the
    # state machines can never drift from the code; no install step is needed.
    sys.path.insert(0, str(LAMBDAS_DIR))
