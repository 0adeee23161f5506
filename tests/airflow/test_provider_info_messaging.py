"""The provider with and without Airflow's common.messaging provider (the optional extra ``messaging``).

"Without" runs real processes in which ``airflow.providers.common.messaging`` is not there (a
``sitecustomize`` on PYTHONPATH refuses to import it and hides its distribution, as if it were not
installed): the provider info still
validates, everything but the queue imports, Airflow's providers manager skips the queue quietly,
``airflow providers list`` works, and importing the queue says what to install.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from airflow_provider_fluvio.get_provider_info import get_provider_info

HIDE_MESSAGING = '''
import importlib.abc, sys

class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "airflow.providers.common.messaging" or name.startswith("airflow.providers.common.messaging."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled())

# ... and its distribution is not there either (Airflow finds providers through their metadata,
# with importlib.metadata or its backport importlib_metadata).
import importlib.metadata


def _without_messaging(module):
    every = module.distributions

    def distributions(**kwargs):
        for dist in every(**kwargs):
            if (dist.metadata["Name"] or "").lower().replace("_", "-") != "apache-airflow-providers-common-messaging":
                yield dist

    module.distributions = distributions


_without_messaging(importlib.metadata)
try:
    import importlib_metadata
except ImportError:
    pass
else:
    _without_messaging(importlib_metadata)
'''

CHECKS = '''
import json
from importlib.resources import files
import jsonschema
from airflow_provider_fluvio.get_provider_info import get_provider_info

result = {}
schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
jsonschema.validate(get_provider_info(), schema)
result["valid"] = True
import airflow_provider_fluvio.hooks.fluvio, airflow_provider_fluvio.operators.connector
import airflow_provider_fluvio.sensors.connector, airflow_provider_fluvio.triggers.records
import airflow_provider_fluvio.assets.fluvio
from airflow.sdk import Asset
result["asset"] = Asset(uri="fluvio://SC/orders").uri
from airflow.providers_manager import ProvidersManager
result["queues"] = ProvidersManager().queue_class_names
try:
    import airflow_provider_fluvio.queues.fluvio
except Exception as exc:
    result["queue_error"] = [type(exc).__name__, str(exc)]
try:
    import airflow.providers.common.messaging
    result["messaging"] = "importable"
except ImportError:
    result["messaging"] = "missing"
print(json.dumps(result))
'''


def _run(args: list[str], hide: bool, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if hide:
        (tmp_path / "sitecustomize.py").write_text(HIDE_MESSAGING)
        env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)


def test_with_common_messaging_the_fluvio_queue_is_registered(tmp_path: Path) -> None:
    done = _run([sys.executable, "-c", CHECKS], hide=False, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["messaging"] == "importable"
    assert result["valid"] and result["asset"] == "fluvio://sc:9003/orders"
    assert "airflow_provider_fluvio.queues.fluvio.FluvioMessageQueueProvider" in result["queues"]
    assert "queue_error" not in result


def test_without_common_messaging_everything_else_works_and_the_queue_says_what_to_install(tmp_path: Path) -> None:
    done = _run([sys.executable, "-c", CHECKS], hide=True, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["messaging"] == "missing"
    assert result["valid"] and result["asset"] == "fluvio://sc:9003/orders"
    assert result["queues"] == [q for q in result["queues"] if "fluvio" not in q]
    assert result["queue_error"] == [
        "AirflowOptionalProviderFeatureException",
        "Fluvio as a message queue needs Airflow's common.messaging provider: "
        "pip install 'airflow-provider-fluvio[messaging]'",
    ]
    assert "Traceback" not in done.stderr


def test_without_common_messaging_airflow_providers_list_shows_the_provider(tmp_path: Path) -> None:
    airflow = str(Path(sys.executable).with_name("airflow"))
    done = _run([airflow, "providers", "list", "-o", "json"], hide=True, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = [line for line in done.stdout.splitlines() if line.startswith('[{"package_name"')]
    listed = {p["package_name"] for p in json.loads(line)}
    assert "airflow-provider-fluvio" in listed
    assert "apache-airflow-providers-common-messaging" not in listed
    assert get_provider_info()["queues"] == ["airflow_provider_fluvio.queues.fluvio.FluvioMessageQueueProvider"]
