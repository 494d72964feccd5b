"""Start and stop the BigQuery emulator (PyPI ``bqemulator``) as a subprocess.

Used by the tests (session fixture) and by ``make demo-bigquery``::

    python -m orchestration.demo.bigquery_emulator          # start one, print its settings, wait
    python -m orchestration.demo.bigquery_emulator demo     # start one, run the demo pipeline on it

The emulator runs GoogleSQL on DuckDB and needs DuckDB's spatial extension, which
cannot be downloaded here: it is installed once from the ``duckdb-extension-spatial``
wheel. The process gets its own process group so a failed start-up never leaves an
orphan listening on a port.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from google.cloud import bigquery
    from google.cloud.bigquery_storage_v1 import BigQueryWriteClient

DEFAULT_PROJECT = "local"
START_TIMEOUT_S = 90.0


class EmulatorUnavailable(RuntimeError):
    """bqemulator is not installed or did not answer; the message says why."""


def install_spatial_extension() -> None:
    """Install DuckDB's spatial extension from its wheel into the user's extension dir."""
    try:
        import duckdb
        from duckdb_extensions import import_extension
    except ImportError as exc:
        raise EmulatorUnavailable(
            f"the emulator needs duckdb-extensions and duckdb-extension-spatial: {exc}"
        ) from exc
    con = duckdb.connect()
    try:
        import_extension("spatial", con=con)
        con.execute("load spatial")
    except Exception as exc:
        raise EmulatorUnavailable(f"cannot install DuckDB's spatial extension: {exc}") from exc
    finally:
        con.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _executable() -> str:
    beside_python = Path(sys.executable).with_name("bqemulator")
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("bqemulator")
    if not found:
        raise EmulatorUnavailable("the bqemulator executable is not installed (PyPI package bqemulator)")
    return found


@dataclass
class BigQueryEmulator:
    rest_url: str
    grpc_endpoint: str
    project: str
    process: subprocess.Popen[bytes]
    log_path: Path
    started_in_s: float = 0.0
    _write_clients: list[BigQueryWriteClient] = field(default_factory=list)

    def client(self, project: str | None = None) -> bigquery.Client:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        return bigquery.Client(
            project=project or self.project,
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=self.rest_url),
        )

    def environment(self) -> dict[str, str]:
        """The settings that point the whole platform (loader and dbt) at this emulator."""
        return {
            "WAREHOUSE": "bigquery",
            "GCP_PROJECT": self.project,
            "BIGQUERY_EMULATOR_HOST": self.rest_url,
            "BIGQUERY_STORAGE_EMULATOR_HOST": self.grpc_endpoint,
        }

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout_s)


def _answers(rest_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{rest_url}/readyz", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _grpc_listens(endpoint: str) -> bool:
    host, port = endpoint.rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        return s.connect_ex((host, int(port))) == 0


def start_emulator(
    project: str = DEFAULT_PROJECT, *, log_dir: Path | None = None, timeout_s: float = START_TIMEOUT_S
) -> BigQueryEmulator:
    started = time.perf_counter()
    executable = _executable()
    install_spatial_extension()
    rest_port, grpc_port = free_port(), free_port()
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="bqemulator-"))
    log_path = log_dir / "bqemulator.log"
    command = [
        executable, "start",
        "--rest-port", str(rest_port),
        "--grpc-port", str(grpc_port),
        "--project", project,
        "--log-level", "warning",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    emulator = BigQueryEmulator(
        rest_url=f"http://127.0.0.1:{rest_port}",
        grpc_endpoint=f"127.0.0.1:{grpc_port}",
        project=project,
        process=process,
        log_path=log_path,
    )
    try:
        deadline = time.monotonic() + timeout_s
        while not (_answers(emulator.rest_url) and _grpc_listens(emulator.grpc_endpoint)):
            if process.poll() is not None:
                raise EmulatorUnavailable(
                    f"bqemulator exited with code {process.returncode} during start-up:\n{emulator.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise EmulatorUnavailable(
                    f"bqemulator did not answer on {emulator.rest_url} within {timeout_s:.0f} s:\n"
                    f"{emulator.log_tail()}"
                )
            time.sleep(0.2)
    except BaseException:
        emulator.stop(timeout_s=5)
        raise
    emulator.started_in_s = time.perf_counter() - started
    return emulator


@contextlib.contextmanager
def running_emulator(project: str = DEFAULT_PROJECT) -> Iterator[BigQueryEmulator]:
    emulator = start_emulator(project)
    try:
        yield emulator
    finally:
        emulator.stop()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # SIGTERM unwinds like Ctrl-C, so the emulator is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with running_emulator() as emu:
        print(f"BigQuery emulator: REST {emu.rest_url}  gRPC {emu.grpc_endpoint}  ({emu.started_in_s:.1f} s)")
        if argv[:1] == ["demo"]:
            from orchestration.demo.run import main as run_demo

            os.environ.update(emu.environment())
            return run_demo(argv[1:])
        for name, value in emu.environment().items():
            print(f"export {name}={value}")
        with contextlib.suppress(KeyboardInterrupt):
            emu.process.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
