"""The names users give: connectors, topics, consumers, image tags. One check each, used by every
entry point; standard library only, so a DAG file, an asset or a watcher checks a name without
loading a backend or the config models.

A connector name becomes a directory (local runtime), an object name (Kubernetes) and a lock file,
so it is checked as the DNS-1123 label it must be before anything touches a file or an API:
``../x``, ``/abs/path`` or a 5 MB string never get that far.
"""

from __future__ import annotations

import re

from fluvio_connectors.errors import ConfigError
from fluvio_connectors.messages import excerpt

# \Z, not $: "$" also matches before a trailing newline, and "name\n" is not a name.
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
TOPIC_NAME = re.compile(r"^[a-z0-9][-a-z0-9]*\Z")
CONSUMER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")
# The OCI distribution spec's tag grammar: what may follow the ':' of an image reference.
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
MAX_NAME_CHARS = 63

TOPIC_NAME_RULE = "lowercase letters, digits and '-' (not first), at most 63 characters"
CONSUMER_NAME_RULE = f"letters, digits, '.', '_' and '-' (a letter or digit first), at most {MAX_NAME_CHARS} characters"
START_POSITIONS = ("latest", "beginning")
CONNECTOR_NAME_RULE = (
    "a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit, "
    "at most 63 characters"
)


def is_connector_name(name: object) -> bool:
    return isinstance(name, str) and len(name) <= MAX_NAME_CHARS and bool(DNS_LABEL.match(name))


def check_connector_name(name: object) -> str:
    """``name`` when it is a valid connector name, else ``ConfigError`` saying what is expected."""
    if not isinstance(name, str):
        raise ConfigError(f"expected a connector name ({CONNECTOR_NAME_RULE}), got {excerpt(name)}")
    if not is_connector_name(name):
        raise ConfigError(f"{excerpt(name)} is not a valid connector name; expected {CONNECTOR_NAME_RULE}")
    return name


def check_image_tag(tag: str) -> str:
    """``tag`` when it is a valid image tag (``latest``, ``dev``, ``0.1.0``), else ``ConfigError``."""
    if not IMAGE_TAG.match(tag):
        raise ConfigError(
            f"{excerpt(tag)} is not a valid image tag; expected letters, digits, '_', '.' and '-', "
            "not starting with '.' or '-', at most 128 characters (e.g. latest, dev, 0.1.0)"
        )
    return tag


def is_topic_name(name: object) -> bool:
    return isinstance(name, str) and len(name) <= MAX_NAME_CHARS and bool(TOPIC_NAME.match(name))


def validate_topic_name(name: object) -> str:
    """``name`` if Fluvio would accept it as a topic name, else ``ConfigError``."""
    if not is_topic_name(name):
        raise ConfigError(f"{name!r} is not a valid topic name; expected {TOPIC_NAME_RULE}")
    return name  # type: ignore[return-value]


def validate_consumer_name(name: object) -> str:
    """``name`` if it can name a consumer, else ``ConfigError`` saying what a name may hold."""
    if not isinstance(name, str) or len(name) > MAX_NAME_CHARS or not CONSUMER_NAME.match(name):
        raise ConfigError(f"{name!r} is not a valid consumer name; expected {CONSUMER_NAME_RULE}")
    return name


def validate_start(start: object) -> str:
    """``latest`` or ``beginning`` (where a new consumer starts), else ``ConfigError``."""
    if start not in START_POSITIONS:
        raise ConfigError(f"start must be one of {', '.join(START_POSITIONS)}, got {start!r}")
    return str(start)
