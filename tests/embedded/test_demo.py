"""The README's main job runs from start to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"


def test_the_demo_walks_both_services(tmp_path):
    result = subprocess.run(
        [sys.executable, str(DEMO), "--data-dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "arn:aws:forecast:us-east-1:000000000000:dataset-group/retail_demo" in result.stdout
    assert '"status": "ACTIVE"' in result.stdout
    assert "ResourceAlreadyExistsException" in result.stdout
    assert "ResourceInUseException" in result.stdout
