"""How a request of the helper fails: ``ClientError`` with a ``kind`` the caller maps (a missing
topic, a missing partition, ...), read from the client's own messages."""

from __future__ import annotations

from fluvio_connectors.errors import BackendError

EXISTS, NOT_FOUND, NO_PARTITION, INVALID, FAILED = "exists", "not_found", "no_partition", "invalid", "failed"
# The request's arguments were refused and the message says why, for the user (a ConfigError).
REFUSED = "refused"


class ClientError(BackendError):
    """The client refused a request; ``kind`` says how (``exists``, ``not_found``, ...)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def client_error(exc: Exception) -> ClientError:
    if isinstance(exc, ClientError):
        return exc
    message = first_line(exc)
    return ClientError(kind_of(message), message)


def kind_of(message: str) -> str:
    text = message.lower()
    if "already exists" in text:
        return EXISTS
    if "partition not found" in text:
        return NO_PARTITION
    if "not found" in text:
        return NOT_FOUND
    if "invalid" in text:
        return INVALID
    return FAILED


__all__ = ["EXISTS", "FAILED", "INVALID", "NOT_FOUND", "NO_PARTITION", "REFUSED", "ClientError", "client_error",
           "first_line", "kind_of"]
