"""ARNs in the formats Amazon Forecast and Amazon Personalize use.

``arn:aws:forecast:us-east-1:123456789012:dataset-group/my_group``
``arn:aws:personalize:us-east-1:123456789012:dataset/my-group/INTERACTIONS``
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):(?P<service>[a-z-]+):(?P<region>[a-z0-9-]*):"
    r"(?P<account>\d{12}|):(?P<kind>[a-z-]+)/(?P<path>.+)$"
)


@dataclass(frozen=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    kind: str
    path: str

    def __str__(self) -> str:
        return (
            f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:"
            f"{self.kind}/{self.path}"
        )

    @property
    def name(self) -> str:
        """The last path segment: the resource's own name."""
        return self.path.rsplit("/", 1)[-1]


def parse_arn(text: str) -> Arn | None:
    """The parts of ``text``, or ``None`` when it is not a resource ARN."""
    match = _ARN.match(text or "")
    if not match:
        return None
    return Arn(**match.groupdict())


@dataclass(frozen=True)
class ArnFactory:
    """Builds ARNs for one deployment (partition, region, account)."""

    region: str
    account: str
    partition: str = "aws"

    def build(self, service: str, kind: str, *path: str) -> str:
        return str(Arn(self.partition, service, self.region, self.account, kind, "/".join(path)))
