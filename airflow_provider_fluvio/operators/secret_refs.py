"""A connector config's secret references survive Airflow's templating.

Fluvio's config format writes a secret as ``${{ secrets.NAME }}``; Jinja reads ``{{ secrets.NAME }}``
in it as an expression and fails (``'secrets' is undefined``), so a config file copied from
Fluvio's docs could not be given to the create operator. ``keep_secret_references(env)`` adds an
extension to the environment a task renders with: before a template is compiled, each reference
is put in a ``{% raw %}`` block, so it reaches the config loader as written (which resolves it).
References already inside a ``{% raw %}`` block or a ``{{ ... }}`` expression are left alone.
"""

from __future__ import annotations

import re

import jinja2
from jinja2.ext import Extension

_SCAN = re.compile(
    r"(?P<reference>\$\{\{\s*secrets\.[A-Za-z_][A-Za-z0-9_]*\s*\}\})"
    r"|(?P<raw>\{%-?\s*raw\s*-?%\}.*?\{%-?\s*endraw\s*-?%\})"
    r"|(?P<expression>\{\{.*?\}\})",
    re.S,
)


def protect(source: str) -> str:
    """``source`` with every bare ``${{ secrets.NAME }}`` in a ``{% raw %}`` block."""
    if "${{" not in source:
        return source
    return _SCAN.sub(lambda m: f"{{% raw %}}{m.group(0)}{{% endraw %}}" if m.group("reference") else m.group(0), source)


class SecretReferences(Extension):
    """The extension: ``protect`` as Jinja's preprocessing step."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return protect(source)


def keep_secret_references(env: jinja2.Environment) -> jinja2.Environment:
    """``env`` with ``SecretReferences`` added (once)."""
    if not any(isinstance(ext, SecretReferences) for ext in env.extensions.values()):
        env.add_extension(SecretReferences)
    return env


__all__ = ["SecretReferences", "keep_secret_references", "protect"]
