"""The base of every connector type's parameter model (``catalog`` lists the types)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


def kebab(name: str) -> str:
    return name.replace("_", "-")


class Parameters(BaseModel):
    """Base of every connector type's parameter model."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=kebab, populate_by_name=True, frozen=True, strict=False
    )
    # Parameters whose value is never shown in a message (it may hold a password).
    sensitive: ClassVar[frozenset[str]] = frozenset()

    def legacy_topics(self) -> dict[str, str]:
        """Legacy parameters naming the Fluvio topic, which must equal the config's topic."""
        return {}
