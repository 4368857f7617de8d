"""docs/compatibility.md says what Augury implements of Amazon's APIs; it must stay true.

The implemented counts are checked against the registry, and every operation the page
lists as missing must be in botocore's model and not implemented. (An operation a newer
botocore adds is not held against the page: botocore is not pinned.)
"""

from __future__ import annotations

import re
from pathlib import Path

from augury.api.operations import default_registry
from augury.api.service_models import operation_model

PAGE = Path(__file__).resolve().parents[2] / "docs" / "compatibility.md"
SERVICES = ("forecast", "forecastquery", "personalize", "personalize-runtime", "personalize-events")


def _page() -> str:
    return PAGE.read_text()


def test_the_implemented_counts_are_the_registrys():
    registry = default_registry()
    rows = dict(re.findall(r"^\| `([a-z-]+)` \| \d+ \| (\d+) \|$", _page(), re.MULTILINE))
    assert {service: int(count) for service, count in rows.items()} == {
        service: len(registry.implemented(service)) for service in SERVICES
    }


def test_every_operation_listed_as_missing_is_in_the_model_and_not_implemented():
    registry = default_registry()
    missing = _page().split("## Not implemented", 1)[1].split("\n## ", 1)[0]
    listed = 0
    for service, text in re.findall(r"^- `([a-z-]+)`: (.*?)(?=^- |\Z)", missing, re.M | re.S):
        for name in re.findall(r"`([A-Z][A-Za-z]+)`", text):
            assert operation_model(service, name).name == name
            assert registry.get(service, name) is None, f"{service}:{name} is implemented now"
            listed += 1
    table = re.findall(r"^\| `[a-z-]+` \| (\d+) \| (\d+) \|$", _page(), re.MULTILINE)
    assert listed == sum(int(total) - int(done) for total, done in table), "a missing one unlisted"
