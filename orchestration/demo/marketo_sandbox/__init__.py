"""A local, Marketo-compatible server with deterministic data and fault injection.

``start_sandbox()`` runs it in a background thread (tests, the demo);
``python -m orchestration.demo.marketo_sandbox --port 8765`` runs it standalone.
"""

from .data import SandboxData, default_customer_emails
from .faults import NASTY_VALUES, Faults, SandboxConfig
from .server import SandboxHandle, SandboxStats, nasty_value_for, start_sandbox

__all__ = [
    "NASTY_VALUES",
    "Faults",
    "SandboxConfig",
    "SandboxData",
    "SandboxHandle",
    "SandboxStats",
    "default_customer_emails",
    "nasty_value_for",
    "start_sandbox",
]
