"""The scripts behind ``make install`` and ``make test``: what a user sees while they work."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What the scripts call, and nothing else: no go, buildah, podman or mmdebstrap.
BASIC_TOOLS = ("bash", "id", "find", "sed", "date", "dirname", "sleep", "kill", "sh", "cat")


def _basic_path(tmp_path: Path) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in BASIC_TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def test_progress_says_a_quiet_command_is_still_running_and_passes_its_status(tmp_path: Path) -> None:
    script = tmp_path / "work.sh"
    script.write_text("sleep 2.5; echo out; echo err >&2; exit 3\n")
    run = subprocess.run(
        [str(ROOT / "scripts" / "progress.sh"), "installing", "sh", str(script)],
        env={"PATH": _basic_path(tmp_path), "PROGRESS_EVERY": "1"},
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert run.returncode == 3
    assert "... installing: 1 s so far" in run.stdout
    assert "out" in run.stdout and "err" in run.stderr
    assert "installing: failed (exit 3) after" in run.stderr


def test_prepare_says_what_it_builds_and_what_will_skip(tmp_path: Path) -> None:
    """Without Go and the image tools the preparation builds nothing, says which tests will skip,
    and still succeeds (the suite runs, skipping those)."""
    run = subprocess.run(
        [str(ROOT / "scripts" / "prepare-tests.sh")],
        env={"PATH": _basic_path(tmp_path), "HOME": str(tmp_path), "TEST_TIMEOUT": "1500"},
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "before the suite's clock (1500 s) starts" in run.stdout
    assert "no Go >= 1.26 on PATH: tests/system (a real Kubernetes API) will skip" in run.stdout
    assert "the image and real-pod tests will skip" in run.stdout
    assert "about 17 minutes" in run.stdout
