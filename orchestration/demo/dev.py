"""``make dev``: the Dagster UI with the local Marketo sandbox running beside it.

Unless MARKETO_BASE_URL points at a real instance, the sandbox is started (lead e-mails from
the operational ``customers`` table, as in the demo) and MARKETO_* are set for ``dagster dev``
and the runs it launches. Ctrl-C or SIGTERM stops both. Extra arguments go to ``dagster dev``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

from orchestration.settings import PROJECT_ROOT, SettingsError, default_ops_database_url, load_settings


@contextlib.contextmanager
def marketo_for_dev(settings) -> Iterator[str | None]:
    if os.environ.get("MARKETO_BASE_URL"):
        yield None
        return
    from orchestration.demo.marketo_sandbox.launch import sandbox_environment

    with sandbox_environment(settings) as handle:
        yield handle.url


def _default_sigint() -> None:
    # A child started from a script inherits SIGINT as ignored and then ignores SIGTERM too.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if settings.ops_database_url == default_ops_database_url():
        from orchestration.demo.database import ensure_demo_database

        ensure_demo_database(settings.ops_database_url, "demo", log=None)
    with marketo_for_dev(settings) as sandbox_url:
        if sandbox_url:
            print(f"Marketo sandbox on {sandbox_url} (MARKETO_* set for dagster dev)", flush=True)
        command = ["dagster", "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), *args]
        child = subprocess.Popen(command, cwd=PROJECT_ROOT, preexec_fn=_default_sigint)

        def stop(signum: int, _frame: object) -> None:
            child.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        return child.wait()


if __name__ == "__main__":
    sys.exit(main())
