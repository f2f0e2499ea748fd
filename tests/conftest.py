"""Project-wide pytest options: `--runslow` opts into tests marked `slow`; one hypothesis
profile for every property test."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

# Property tests check values, never speed (benchmarks under bench/ do that). On a loaded
# 2-core CI machine, hypothesis's default 200 ms deadline per example and its too-slow
# health check would fail a correct test; a test's own @settings still override the rest.
settings.register_profile("sealdog", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("sealdog")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)
