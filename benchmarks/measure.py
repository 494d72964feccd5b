"""Run one worker in its own process and record its peak memory.

Peak RSS is sampled with psutil over the worker's whole process tree (the worker and,
for the psql paths, its psql child) every 20 ms, and cross-checked with the kernel's
``ru_maxrss`` that the worker reports for itself and its children: the larger wins.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

PROJECT_ROOT = Path(__file__).resolve().parent.parent
POLL_S = 0.02


@dataclass(frozen=True)
class Measurement:
    path: str
    seconds: float  # the worker's timed section (excludes interpreter start-up and imports)
    process_seconds: float  # the whole subprocess, start-up included
    cpu_s: float  # user + system CPU of the worker and its children (not the database server)
    peak_rss_mb: float
    rows: int | None
    sum_total: str | None
    sum_id: int | None


class WorkerFailed(RuntimeError):
    pass


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def run_worker(
    path: str, url: str, *, env: dict[str, str] | None = None, timeout_s: float = 3600
) -> Measurement:
    work_dir = Path(tempfile.mkdtemp(prefix=f"bench-{path}-"))
    try:
        started = time.perf_counter()
        popen = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.workers", path, url, str(work_dir)],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        peak = 0
        stop = threading.Event()

        def poll() -> None:
            nonlocal peak
            try:
                proc = psutil.Process(popen.pid)
                while not stop.is_set():
                    peak = max(peak, _tree_rss(proc))
                    stop.wait(POLL_S)
            except psutil.Error:
                pass

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        try:
            stdout, stderr = popen.communicate(timeout=timeout_s)
        finally:
            stop.set()
            poller.join()
            if popen.poll() is None:
                popen.kill()
                popen.wait()
        process_seconds = time.perf_counter() - started
        lines = [ln for ln in stdout.splitlines() if ln.startswith("BENCHMARK-RESULT ")]
        if popen.returncode != 0 or not lines:
            raise WorkerFailed(f"benchmark path {path!r} failed (exit {popen.returncode}):\n{stderr[-4000:]}")
        data = json.loads(lines[-1].removeprefix("BENCHMARK-RESULT "))
        return Measurement(
            path=path,
            seconds=data["seconds"],
            process_seconds=process_seconds,
            cpu_s=data["cpu_s"],
            peak_rss_mb=data["peak_rss_mb"] or max(peak / 2**20, data["maxrss_mb"]),
            rows=data["rows"],
            sum_total=data["sum_total"],
            sum_id=data["sum_id"],
        )
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
