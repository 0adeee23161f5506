"""Record filters the trigger tests name by import path (``record_filters.NAME``)."""

from __future__ import annotations

from typing import Any


def even_offsets(payload: dict[str, Any]) -> bool:
    return payload["offset"] % 2 == 0


def tagged(payload: dict[str, Any], tag: str, *, upper: bool = False) -> dict[str, Any]:
    value = payload["value"].upper() if upper else payload["value"]
    return {"tag": tag, "value": value, "offset": payload["offset"]}


async def async_keep_all(payload: dict[str, Any]) -> bool:
    return True


def explode_on_three(payload: dict[str, Any]) -> bool:
    if payload["value"] == "r3":
        raise RuntimeError("cannot handle r3")
    return True


NOT_A_FUNCTION = 42


class Callable:
    def __call__(self, payload: dict[str, Any]) -> bool:
        return True
