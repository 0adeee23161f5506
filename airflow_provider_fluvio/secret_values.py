"""The secret values a create operator's rendered fields may hold: what Airflow's masker must know
before it stores and shows them (the Rendered Template tab, the metadata database).

They are the ``secrets`` given (``NAME: value``), a config's inline ``secrets:`` values and every
password written in a URL of the config (``mqtt://user:PASSWORD@host``, as written and
percent-decoded). A config given as text is read with the project's bounded YAML reader; text that is
not YAML is searched for URL passwords all the same. No Airflow here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def secret_values(config: Any, secrets: Mapping[str, Any] | None) -> list[str]:
    """Every secret value in ``config`` (a rendered config: text or a mapping) and ``secrets``."""
    from fluvio_connectors.messages import url_passwords

    found: list[str] = [str(v) for v in (secrets or {}).values() if v]
    document = config
    if isinstance(config, str):
        import yaml

        from fluvio_connectors.yaml_safe import YamlRefused, load_yaml

        found += url_passwords(config)
        try:
            document = load_yaml(config)
        except (YamlRefused, yaml.YAMLError, RecursionError, MemoryError):
            return found  # not YAML: the URL passwords above are all there is
    if isinstance(document, Mapping):
        inline = document.get("secrets")
        if isinstance(inline, Mapping):
            found += [str(v) for v in inline.values() if isinstance(v, str | int | float) and v != ""]
        for text in _strings(document):
            found += url_passwords(text)
    return found


def _strings(value: Any, depth: int = 0) -> Iterator[str]:
    if depth > 64:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item, depth + 1)


__all__ = ["secret_values"]
