"""Fixtures for the runtime tests: a fake Kubernetes API behind the real client classes
(``runtime_testing.FakeKube``) and a Kubernetes runtime wired to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from runtime_testing import FakeKube

from airflow_provider_fluvio.runtimes.base import ConnectorRuntime


@pytest.fixture
def fake_kube() -> FakeKube:
    return FakeKube()


@pytest.fixture
def kube_runtime(fake_kube: FakeKube) -> Iterator[ConnectorRuntime]:
    from airflow_provider_fluvio.runtimes.kubernetes import KubernetesRuntime

    runtime = KubernetesRuntime(apps_api=fake_kube.apps, core_api=fake_kube.core, registry="example")
    yield runtime
    runtime.close()
