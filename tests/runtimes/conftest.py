"""Fixtures for the runtime tests: a fake Kubernetes API behind the real client classes
(``runtime_testing.FakeKube``), a Kubernetes runtime wired to it, and local runtimes with short
backoffs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from runtime_testing import FakeKube

from airflow_provider_fluvio.runtimes.base import ConnectorRuntime
from airflow_provider_fluvio.runtimes.local import LocalRuntime


@pytest.fixture
def fake_kube() -> FakeKube:
    return FakeKube()


@pytest.fixture
def kube_runtime(fake_kube: FakeKube) -> Iterator[ConnectorRuntime]:
    from airflow_provider_fluvio.runtimes.kubernetes import KubernetesRuntime

    runtime = KubernetesRuntime(apps_api=fake_kube.apps, core_api=fake_kube.core, registry="example")
    yield runtime
    runtime.close()


@pytest.fixture
def make_runtime() -> Iterator[Callable[..., LocalRuntime]]:
    """Local runtimes with short backoffs (and any policy given); every connector deleted after."""
    made: list[LocalRuntime] = []

    def make(**policy: Any) -> LocalRuntime:
        options: dict[str, Any] = {"backoff_initial": 0.05, "backoff_max": 0.5, "max_crashes": 5,
                                   "crash_window": 30.0, "stable_after": 1.0, "stop_timeout": 5.0}
        options.update(policy)
        runtime = LocalRuntime(**options)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        for info in runtime.list():
            runtime.delete(info.name)
