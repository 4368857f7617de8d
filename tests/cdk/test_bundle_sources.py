"""The Lambda bundle's source imports on its own: every runtime module, from the staged
tree alone, with nothing of the training frameworks.

The other CDK tests synthesize with ``bundle=false`` and the AWS-mode tests run the
handlers in this process, where the editable install puts ``training_containers/`` on
the path; neither would notice a bundle that leaves out a package the runtime imports.
A deployed function did exactly that: ``augury.forecast.group_data`` imports
``augury_training.forecast_contract``, which ``lambdas/`` alone does not hold.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

from augury_cdk.functions import stage_sources

FRAMEWORKS = ("torch", "pandas", "statsforecast", "statsmodels", "prophet", "scipy", "implicit")
CONTAINER_ONLY = {"torch_runtime"}
"""Modules of the training package's root that only the containers import (PyTorch's)."""

PROBE = """
import importlib, json, pkgutil, sys
sys.path[:0] = [{bundle!r}, {site!r}]
import augury, augury.handlers, augury_training
failed = {{}}
runtime = [info.name for info in pkgutil.walk_packages(augury.__path__, "augury.")]
# the training package's own modules (not its containers), some imported only inside
# functions (the recommender loads its encoders when it reads a model)
shared = [
    "augury_training." + info.name
    for info in pkgutil.iter_modules(augury_training.__path__)
    if not info.ispkg and info.name not in {container_only!r}
]
for name in runtime + shared:
    try:
        importlib.import_module(name)
    except Exception as error:
        failed[name] = repr(error)
loaded = sorted({{name.split(".")[0] for name in sys.modules}})
print(json.dumps({{"failed": failed, "loaded": loaded}}))
"""


def test_every_runtime_module_imports_from_the_staged_bundle_without_a_framework(
    tmp_path: Path,
) -> None:
    stage_sources(tmp_path)
    assert (tmp_path / "augury" / "handlers.py").is_file()
    assert (tmp_path / "augury_training" / "forecast_contract.py").is_file()
    # -S: no site-packages processing, so no .pth file (the editable install) adds the
    # repository; the installed wheels' folder is put on the path by hand, as Lambda's is
    site = sysconfig.get_paths()["purelib"]
    probe = PROBE.format(bundle=str(tmp_path), site=site, container_only=CONTAINER_ONLY)
    result = subprocess.run(
        [sys.executable, "-S", "-c", probe], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["failed"] == {}
    assert not set(FRAMEWORKS) & set(report["loaded"]), report["loaded"]
