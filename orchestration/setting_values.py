"""Parsing and validating one setting's value from an environment mapping (settings.py reads
the environment and calls these). Every error names the variable; a secret's value is never
repeated in one."""

from __future__ import annotations

import os
from typing import TypeVar


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names the environment variable."""


def slot_prefix(env: os._Environ[str] | dict[str, str], default: str) -> str:
    value = env.get("CDC_SLOT_PREFIX", "").strip() or default
    if not (value.isascii() and value.replace("_", "").isalnum() and value == value.lower()):
        raise SettingsError(
            f"CDC_SLOT_PREFIX={value!r} must be lower-case letters, digits and underscores (a slot name)"
        )
    return value


def cron(env: os._Environ[str] | dict[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    if len(value.split()) != 5:
        raise SettingsError(f"{name}={value!r} must be a five-field cron expression, e.g. '* * * * *'")
    return value


def positive(env: os._Environ[str] | dict[str, str], name: str, default: int) -> int:
    value = number(env, name, int, default, "a whole number")
    if value <= 0:
        raise SettingsError(f"{name}={value!r} must be a whole number above 0")
    return value


def policy_tag(env: os._Environ[str] | dict[str, str]) -> str:
    raw = env.get("BIGQUERY_PII_POLICY_TAG", "").strip()
    parts = raw.split("/")
    if raw and (len(parts) != 8 or parts[0::2] != ["projects", "locations", "taxonomies", "policyTags"]):
        raise SettingsError(
            f"BIGQUERY_PII_POLICY_TAG={raw!r} must be a policy tag's resource name: "
            "projects/<project>/locations/<location>/taxonomies/<id>/policyTags/<id>"
        )
    return raw


def seconds(env: os._Environ[str] | dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise SettingsError(f"{name}={raw!r} must be a whole number of seconds, 0 or more")
    return value


Number = TypeVar("Number", int, float)


def number(
    env: os._Environ[str] | dict[str, str], name: str, kind: type[Number], default: Number, what: str
) -> Number:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        return kind(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r} is not {what}") from None


def choice(env: os._Environ[str] | dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or choices[0]
    if value not in choices:
        raise SettingsError(f"{name}={value!r}: use {', '.join(choices[:-1])} or {choices[-1]}")
    return value


def emulator_hosts(env: os._Environ[str] | dict[str, str]) -> tuple[str | None, str | None]:
    """BIGQUERY_EMULATOR_HOST (REST URL) and BIGQUERY_STORAGE_EMULATOR_HOST (gRPC host:port).

    Both or neither: the raw loader writes through the Storage Write API, and without the
    gRPC endpoint it would send the emulator's rows to Google.
    """
    rest = env.get("BIGQUERY_EMULATOR_HOST", "").strip().rstrip("/") or None
    grpc = env.get("BIGQUERY_STORAGE_EMULATOR_HOST", "").strip() or None
    if rest and not rest.startswith(("http://", "https://")):
        raise SettingsError(
            f"BIGQUERY_EMULATOR_HOST must be a URL such as http://127.0.0.1:9050, not {rest!r}"
        )
    if grpc and ("://" in grpc or ":" not in grpc):
        raise SettingsError(
            f"BIGQUERY_STORAGE_EMULATOR_HOST must be host:port such as 127.0.0.1:9060, not {grpc!r}"
        )
    if bool(rest) != bool(grpc):
        missing = "BIGQUERY_STORAGE_EMULATOR_HOST" if rest else "BIGQUERY_EMULATOR_HOST"
        raise SettingsError(
            f"the BigQuery emulator needs both BIGQUERY_EMULATOR_HOST (REST) and "
            f"BIGQUERY_STORAGE_EMULATOR_HOST (gRPC); {missing} is not set"
        )
    return rest, grpc


def url(
    env: os._Environ[str] | dict[str, str], name: str, default: str | None, *, secret: bool
) -> str | None:
    from urllib.parse import urlparse

    value = env.get(name, "").strip() or default
    if value is None:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        shown = "(value not shown: it is a secret)" if secret else repr(value)
        raise SettingsError(
            f"{name} must be an http(s) URL with a host, such as https://host/path; got {shown}"
        )
    return value


def port(env: os._Environ[str] | dict[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{name} must be a port number, not {text!r}") from None
    if not 0 < value < 65536:
        raise SettingsError(f"{name} must be a port number between 1 and 65535, not {value}")
    return value


def flag(env: os._Environ[str] | dict[str, str], name: str, default: bool) -> bool:
    text = env.get(name, "").strip().lower()
    if not text:
        return default
    if text not in ("true", "false", "1", "0", "yes", "no"):
        raise SettingsError(f"{name} must be true or false, not {text!r}")
    return text in ("true", "1", "yes")
