"""Freshness SLAs (``expectations/freshness.yml``) as Dagster freshness checks.

Each SLA becomes one ``build_last_update_freshness_checks`` definition (one op, one
check named ``freshness_check`` per table): it fails when the table's last
materialization is older than ``max_lag_hours`` before the latest ``deadline_cron``
tick (or before now, without a cron), and its description names the lag ("The last
update was 3 hours ago, which is past the allowed distance of 2 hours"). Dagster 1.13
also has ``FreshnessPolicy`` on assets, but that shows as an asset freshness state, not
as a check result with a lag, and cannot express a business-hours window.

Pure parsing, no I/O beyond reading the YAML: safe while Dagster loads definitions.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import yaml

from orchestration.quality.spec import SAFE_LOADER
from orchestration.settings import EXPECTATIONS_DIR

FRESHNESS_FILE = EXPECTATIONS_DIR / "freshness.yml"
FRESHNESS_CHECK_NAME = "freshness_check"  # the name Dagster's factory gives every check
SENSOR_NAME = "freshness_checks_sensor"
_SLA_KEYS = {
    "name",
    "description",
    "max_lag_hours",
    "deadline_cron",
    "severity",
    "optional",
    "assets",
}


class FreshnessSlaError(ValueError):
    """The SLA file is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class FreshnessSla:
    name: str
    description: str
    max_lag: dt.timedelta
    assets: tuple[dg.AssetKey, ...]
    timezone: str
    deadline_cron: str | None = None
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR
    optional: bool = False

    @property
    def max_lag_hours(self) -> float:
        return self.max_lag.total_seconds() / 3600


def _asset_key(text: str, where: str) -> dg.AssetKey:
    parts = text.split(".")
    if len(parts) < 2 or not all(parts):
        raise FreshnessSlaError(f"{where}: asset {text!r} must be '<layer>.<table>' such as raw_ops.orders")
    return dg.AssetKey(parts)


def load_slas(path: Path = FRESHNESS_FILE) -> list[FreshnessSla]:
    try:
        document = yaml.load(path.read_text(), Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise FreshnessSlaError(f"{path}: not valid YAML: {exc}") from exc
    timezone = document.get("timezone", "UTC")
    slas: list[FreshnessSla] = []
    seen: dict[dg.AssetKey, str] = {}
    for index, entry in enumerate(document.get("slas") or []):
        where = f"{path}: sla #{index + 1} ({entry.get('name', '?')})"
        unknown = set(entry) - _SLA_KEYS
        if unknown:
            raise FreshnessSlaError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_SLA_KEYS)}")
        for required in ("name", "max_lag_hours", "assets"):
            if required not in entry:
                raise FreshnessSlaError(f"{where}: missing {required!r}")
        severity = str(entry.get("severity", "error")).lower()
        if severity not in ("error", "warn"):
            raise FreshnessSlaError(f"{where}: severity must be error or warn, got {severity!r}")
        cron = entry.get("deadline_cron")
        keys = tuple(_asset_key(str(a), where) for a in entry["assets"])
        for key in keys:
            if key in seen:
                raise FreshnessSlaError(f"{where}: {key.to_user_string()} already has the SLA {seen[key]!r}")
            seen[key] = entry["name"]
        slas.append(
            FreshnessSla(
                name=str(entry["name"]),
                description=" ".join(str(entry.get("description", "")).split()),
                max_lag=dt.timedelta(hours=float(entry["max_lag_hours"])),
                assets=keys,
                timezone=timezone,
                deadline_cron=cron,
                severity=dg.AssetCheckSeverity.ERROR if severity == "error" else dg.AssetCheckSeverity.WARN,
                optional=bool(entry.get("optional", False)),
            )
        )
    return slas


def build_freshness_checks(
    slas: Sequence[FreshnessSla], defined_keys: Collection[dg.AssetKey] | None = None
) -> list[dg.AssetChecksDefinition]:
    """One freshness-check definition per SLA, for the SLA's assets that are defined.

    ``defined_keys``: the assets of the code location. A check on an undefined key would
    make Dagster invent a stub asset, so optional SLAs (hooks for assets still to come)
    drop missing keys and a missing key of a required SLA is an error (a typo).
    """
    checks: list[dg.AssetChecksDefinition] = []
    for sla in slas:
        keys = list(sla.assets)
        if defined_keys is not None:
            missing = [k for k in keys if k not in defined_keys]
            if missing and not sla.optional:
                raise FreshnessSlaError(
                    f"freshness SLA {sla.name!r} names undefined assets "
                    f"{[k.to_user_string() for k in missing]}; fix {FRESHNESS_FILE} or mark it optional"
                )
            keys = [k for k in keys if k in defined_keys]
        if not keys:
            continue
        try:
            with warnings.catch_warnings():
                # "superseded by FreshnessPolicy": see the module docstring for why checks.
                warnings.simplefilter("ignore")
                checks.extend(
                    dg.build_last_update_freshness_checks(
                        assets=keys,
                        lower_bound_delta=sla.max_lag,
                        deadline_cron=sla.deadline_cron,
                        timezone=sla.timezone,
                        severity=sla.severity,
                    )
                )
        except Exception as exc:  # dagster raises a CheckError for e.g. a bad cron string
            raise FreshnessSlaError(f"freshness SLA {sla.name!r} in {FRESHNESS_FILE}: {exc}") from exc
    return checks


def build_freshness_sensor(
    checks: Sequence[dg.AssetChecksDefinition], *, minimum_interval_seconds: int = 300
) -> dg.SensorDefinition:
    """Re-evaluates a passing check once it could have gone stale (its ``fresh_until``).

    A failed check is not re-run by the sensor: the run that next materializes the table
    runs it (jobs include the checks of the assets they select) and turns it green.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dg.build_sensor_for_freshness_checks(
            freshness_checks=checks,
            minimum_interval_seconds=minimum_interval_seconds,
            name=SENSOR_NAME,
        )
