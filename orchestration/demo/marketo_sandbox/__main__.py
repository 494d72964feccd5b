"""Run the Marketo sandbox standalone: ``python -m orchestration.demo.marketo_sandbox --port 8765``."""

from __future__ import annotations

import argparse
import signal
import threading

from . import SandboxConfig, SandboxData, start_sandbox


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Marketo-compatible sandbox server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--client-id", default="sandbox-client")
    parser.add_argument("--client-secret", default="sandbox-secret")
    parser.add_argument(
        "--job-step-seconds",
        type=float,
        default=None,
        help="advance export jobs by time instead of by status polls",
    )
    parser.add_argument(
        "--customer-emails-file",
        default=None,
        help="file with one pharmacy email per line (from the operational customers table)",
    )
    args = parser.parse_args(argv)
    emails = None
    if args.customer_emails_file:
        with open(args.customer_emails_file, encoding="utf-8") as fh:
            emails = [line.strip() for line in fh if line.strip()]
    config = SandboxConfig(
        clients={args.client_id: args.client_secret}, job_step_seconds=args.job_step_seconds
    )
    handle = start_sandbox(
        args.port,
        host=args.host,
        data=SandboxData.build(args.seed, customer_emails=emails),
        config=config,
    )
    print(f"Marketo sandbox listening on {handle.url} (client id {args.client_id!r})", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()


if __name__ == "__main__":
    main()
