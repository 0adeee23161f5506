"""Which words mean true and which mean false, for every yes/no a user writes: a connection's
extras, an environment variable. Standard library only."""

from __future__ import annotations

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off", "")


def parse_flag(value: object) -> bool | None:
    """``True`` or ``False`` for a bool or one of the words (any case, spaces around), None for
    anything else (the caller says what is wrong where)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    return None


def is_true(value: object) -> bool:
    """Whether ``value`` says yes (anything else, an unknown word included, says no)."""
    return parse_flag(value) is True


__all__ = ["FALSE_WORDS", "TRUE_WORDS", "is_true", "parse_flag"]
