"""The ``stack`` fixture: Augury deployed into moto, with the test doubles of ``moto_stack``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from augury import handlers
from tests.aws.moto_stack import Stack, configure, deploy


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[Stack]:
    sagemaker = configure(monkeypatch, tmp_path)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        deployed = deploy(sagemaker)
        try:
            yield deployed
        finally:
            sagemaker.join()
            handlers.runtime.cache_clear()
            handlers.dispatcher.cache_clear()
