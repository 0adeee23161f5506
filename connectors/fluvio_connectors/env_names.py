"""Which secret names a connector may not use: a secret becomes an environment variable of the
connector's processes (the local supervisor and program, a pod's container), so a secret named
after a variable the runtime sets itself (``FLUVIO_CONNECTORS_HOME``: where its records go) or one
that changes how programs are loaded and run (``LD_PRELOAD``, ``PYTHONPATH``, ``PATH``) would
reach far beyond the connector's own settings. Such names are refused when the config is loaded.
"""

from __future__ import annotations

# Set by the runtime for every connector, or read by the C library, the dynamic loader, Python,
# the shell or the TLS stack before the connector's code runs.
_RESERVED = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "TMPDIR", "TZ", "LANG", "LANGUAGE", "HOSTNAME",
    "IFS", "ENV", "BASH_ENV", "VIRTUAL_ENV", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE", "OPENSSL_CONF", "OPENSSL_MODULES", "GCONV_PATH", "GLIBC_TUNABLES", "LOCPATH",
    "NLSPATH", "HOSTALIASES", "RESOLV_HOST_CONF", "RES_OPTIONS", "LOCALDOMAIN", "TERMINFO",
    "PYDANTIC_DISABLE_PLUGINS",
})
_RESERVED_PREFIXES = ("FLUVIO_", "LD_", "DYLD_", "PYTHON", "LC_", "MALLOC_", "KUBERNETES_")


def reserved_secret_name(name: str) -> str | None:
    """Why ``name`` cannot name a secret (one phrase), or None when it can."""
    upper = name.upper()
    if upper.startswith("FLUVIO_"):
        return "the runtime sets the FLUVIO_ variables itself (where records go, how the connector runs)"
    if upper in _RESERVED or upper.startswith(_RESERVED_PREFIXES):
        return "it changes how the connector's processes are loaded and run"
    return None


def check_secret_name(name: str) -> str:
    """``name``, or ``ValueError`` saying why it is reserved."""
    why = reserved_secret_name(name)
    if why:
        raise ValueError(f"{name} is a reserved name: {why}; expected a name of your own, such as MQTT_PASSWORD")
    return name


__all__ = ["check_secret_name", "reserved_secret_name"]
