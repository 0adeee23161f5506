"""``fluvio-connector validate`` and ``catalog`` as a user runs them: exit codes, one line, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from seed_examples import SEED_MQTT, SEED_TEST_CONNECTOR

SEED_EXAMPLES = {"mqtt.yaml": SEED_MQTT, "test.yaml": SEED_TEST_CONNECTOR}


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow_provider_fluvio.cli", *args],
        input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )


@pytest.mark.parametrize("filename", sorted(SEED_EXAMPLES))
def test_validate_accepts_seed_examples(tmp_path: Path, filename: str) -> None:
    path = tmp_path / filename
    path.write_text(SEED_EXAMPLES[filename])
    result = run_cli("validate", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"ok: {path}: connector my-test-")


BAD_FILES: dict[str, bytes] = {
    "empty": b"",
    "not-yaml": b"name: [a\n",
    "list": b"- 1\n- 2\n",
    "binary": bytes(range(256)),
    "wrong-types": b"name: 12\ntype: test\ntopic: t\n",
    "bad-name": b"name: Bad_Name\ntype: test\ntopic: t\n",
    "bad-topic": b"name: a\ntype: test\ntopic: UPPER\n",
    "unknown-type": b"name: a\ntype: kafka\ntopic: t\n",
    "direction": b"name: a\ntype: mqtt\ndirection: sink\ntopic: t\nparameters: {mqtt-url: h, mqtt-topic: x}\n",
    "param-type": b"name: a\ntype: mqtt\ntopic: t\nparameters: {mqtt-url: h, mqtt-topic: x, qos: high}\n",
    "param-range": b"name: a\ntype: test\ntopic: t\nparameters: {count: -5}\n",
    "misspelt": b"name: a\ntype: mqtt\ntopic: t\nparameters: {mqtt-ulr: h, mqtt-topic: x}\n",
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_validate_rejects_bad_input_with_exit_2_and_one_line(tmp_path: Path, case: str) -> None:
    path = tmp_path / f"{case}.yaml"
    path.write_bytes(BAD_FILES[case])
    result = run_cli("validate", "--config", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path}")
    assert "Traceback" not in result.stderr


def test_validate_misspelt_key_suggests(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(BAD_FILES["misspelt"])
    result = run_cli("validate", "--config", str(path))
    assert "mqtt-ulr: unknown key; did you mean mqtt-url?" in result.stderr


@pytest.mark.parametrize("target", ["missing.yaml", "."])
def test_validate_missing_file_or_directory(tmp_path: Path, target: str) -> None:
    result = run_cli("validate", "--config", str(tmp_path / target))
    assert result.returncode == 2
    assert ("file not found" in result.stderr) or ("is a directory" in result.stderr)
    assert "Traceback" not in result.stderr


def test_usage_error_is_exit_2() -> None:
    result = run_cli("validate")
    assert result.returncode == 2
    assert "Missing option '--config'" in result.stderr


def test_catalog_lists_types_and_prints_a_schema() -> None:
    listing = run_cli("catalog")
    assert listing.returncode == 0
    assert "test-connector" in listing.stdout and "mqtt" in listing.stdout
    schema = run_cli("catalog", "--type", "mqtt", "-O", "json")
    described = json.loads(schema.stdout)
    assert described["type"] == "mqtt"
    assert "mqtt-url" in described["parameters"]["properties"]
    unknown = run_cli("catalog", "--type", "nope")
    assert unknown.returncode == 2
    assert "unknown connector type 'nope'" in unknown.stderr
