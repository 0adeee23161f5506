"""The example DAG files of ``dags_examples/``, loaded as the DAG processor loads them."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

EXAMPLES = Path(__file__).resolve().parents[1] / "dags_examples"


def load_example(name: str) -> ModuleType:
    """A fresh copy of the example DAG file ``name`` (without ``.py``): its module, run anew."""
    spec = importlib.util.spec_from_file_location(f"{name}_under_test", EXAMPLES / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
