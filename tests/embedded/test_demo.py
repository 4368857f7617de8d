"""The README's main job runs from start to end.

The Forecast walkthrough trains on the whole bundled sample, which takes
minutes: the test runs the Personalize walkthrough and the demo's plumbing;
``tests/embedded/test_forecast_workflow.py`` walks the forecast workflow on
small data.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"


def test_the_demo_walks_both_services(tmp_path):
    result = subprocess.run(
        [sys.executable, str(DEMO), "--data-dir", str(tmp_path / "demo"), "--only", "personalize"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"status": "ACTIVE"' in result.stdout
    assert "ResourceInUseException" in result.stdout
