"""How user input may appear in a message: a short excerpt, on one line, with no secret in it.

Every error this project prints names a field path and, at most, a short excerpt of the value
(``excerpt``); the line printed is bounded and free of control characters (``one_line``); and any
secret value a config uses, or a password written in a URL, is replaced by ``***`` (``Redactor``)
before a message, log line or status file can show it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from urllib.parse import quote, unquote

EXCERPT_CHARS = 40
MAX_MESSAGE_CHARS = 400
# Shorter secret values are not searched for in text (a one-letter secret would blank out every
# word that contains the letter); values are never echoed in the first place (see config.py).
MIN_SECRET_CHARS = 4
MASK = "***"

# How far after "://" a URL's user info is looked for, and in how many URLs of one text: enough
# for any real URL, and a hostile 5 MB string costs no more than a glance.
_AUTHORITY_CHARS = 8192
_MAX_URLS = 64


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """A short, printable picture of ``value``: a quoted prefix of a string, a number (or how many
    digits it has), or the kind and size of a collection. Never longer than about 3 * ``limit``."""
    if isinstance(value, str):
        shown = repr(value[:limit])
        if len(shown) > 3 * limit:
            shown = shown[: 3 * limit] + "...'"
        return shown if len(value) <= limit else f"{shown}... ({len(value)} characters)"
    if value is None or isinstance(value, bool | float):
        return repr(value)
    if isinstance(value, int):
        if value.bit_length() > 64:  # str() of a huge int is slow, and refused past 4300 digits
            return f"a number of about {int(value.bit_length() * 0.30103) + 1} digits"
        return repr(value)
    if isinstance(value, dict):
        return f"a mapping of {len(value)} keys"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} items"
    if isinstance(value, bytes):
        return f"{len(value)} bytes"
    return f"a {type(value).__name__}"


def one_line(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` as one printable line of at most about ``limit`` characters: control characters,
    lone surrogates and bidirectional overrides escaped; a longer one loses its middle (its end
    usually says what is expected)."""
    if len(text) > 4 * limit:  # never escape megabytes to print a few hundred characters
        text = text[: 2 * limit] + text[-2 * limit :]
    out = "".join(_printable(char) for char in text)
    if len(out) > limit:
        head, tail = (limit - 20) * 2 // 3, (limit - 20) // 3
        out = f"{out[:head]} ...(cut)... {out[-tail:]}"
    return out


def _printable(char: str) -> str:
    if char == "\n":
        return " | "
    category = unicodedata.category(char)
    if category in ("Cc", "Cs", "Cf", "Zl", "Zp"):
        return char.encode("unicode_escape", errors="backslashreplace").decode("ascii")
    return char


def url_passwords(text: str) -> set[str]:
    """Passwords written in URLs inside ``text`` (as written and percent-decoded): what lies
    between the first ':' after "://" and the last '@' before the next space."""
    found: set[str] = set()
    position = 0
    for _ in range(_MAX_URLS):
        start = text.find("://", position)
        if start < 0:
            break
        position = start + 3
        window = text[position : position + _AUTHORITY_CHARS]
        authority = window.split(None, 1)[0] if window and not window[0].isspace() else ""
        userinfo, at, _host = authority.rpartition("@")
        _user, sep, password = userinfo.partition(":")
        if at and sep and password:
            found.update({password, unquote(password)})
    return found


class Redactor:
    """Replaces secret values (and the passwords in secret URLs) by ``***`` in any text."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._fragments: list[str] = []
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        fragments = set(self._fragments)
        for value in values:
            if not value:
                continue
            for form in {value, value.strip(), *url_passwords(value)}:
                fragments.update({form, quote(form, safe=""), repr(form)[1:-1]})
        self._fragments = sorted((f for f in fragments if len(f) >= MIN_SECRET_CHARS), key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._fragments)

    def __call__(self, text: str) -> str:
        for fragment in self._fragments:
            if fragment in text:
                text = text.replace(fragment, MASK)
        return text

    def deep(self, value: object) -> object:
        """``value`` with every string in it (in dicts and lists, keys too) redacted."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self.deep(k): self.deep(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.deep(item) for item in value]
        return value
