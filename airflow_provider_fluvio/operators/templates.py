"""Template files an operator may read: regular files only.

Jinja's ``FileSystemLoader`` opens whatever the name leads to. A FIFO there blocks the open until
someone writes to it (forever, in a DAG processor or a task, which then does not even stop on
SIGTERM), a device streams without end. ``regular_files_only`` wraps a DAG's loader so that such
a name fails at once with one line, before anything is opened.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import Any

import jinja2
from jinja2.loaders import split_template_path


class NotARegularFile(jinja2.TemplateNotFound):
    """A template name that leads to a FIFO, a device, a socket or a directory."""


class _RegularFilesOnly(jinja2.BaseLoader):
    def __init__(self, inner: jinja2.BaseLoader) -> None:
        self.inner = inner

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str | None, Callable[[], bool] | None]:
        searchpath = getattr(self.inner, "searchpath", None) or ()
        for base in searchpath:
            path = os.path.join(base, *split_template_path(template))
            try:
                mode = os.stat(path).st_mode  # stat never waits on a FIFO; open would
            except OSError:
                continue
            if not stat.S_ISREG(mode):
                raise NotARegularFile(template, f"{path}: not a regular file (a FIFO, a device or a directory); "
                                                "expected a YAML config file")
            break
        return self.inner.get_source(environment, template)

    def list_templates(self) -> list[str]:
        return self.inner.list_templates()


def regular_files_only(loader: Any) -> Any:
    """``loader``, refusing names that lead to anything but a regular file (None stays None)."""
    if loader is None or isinstance(loader, _RegularFilesOnly):
        return loader
    return _RegularFilesOnly(loader)


__all__ = ["NotARegularFile", "regular_files_only"]
