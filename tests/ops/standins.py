"""Local stand-ins that receive the alert channels' real payloads.

- :class:`WebhookStandIn`: an HTTP server on 127.0.0.1 answering like Slack's Web API
  (``{"ok": true}`` on ``…/chat.postMessage``) and like a Teams webhook (``1``);
- :class:`SmtpStandIn`: aiosmtpd on 127.0.0.1 with AUTH, recording every message.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: str

    def json(self):
        return json.loads(self.body)


class WebhookStandIn:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode()
                standin.requests.append(Received(self.path, dict(self.headers), body))
                reply = b'{"ok": true, "channel": "C1", "ts": "1.0"}' if "/slack/" in self.path else b"1"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args) -> None:  # keep pytest's output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def slack(self) -> list[Received]:
        return [r for r in self.requests if "/slack/" in r.path]

    def teams(self) -> list[Received]:
        return [r for r in self.requests if "/teams/" in r.path]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpStandIn:
    def __init__(self, user: str, password: str) -> None:
        self.messages: list[EmailMessage] = []
        self.logins: list[str] = []
        self.port = free_port()
        standin = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                raw = envelope.original_content or envelope.content
                standin.messages.append(message_from_bytes(raw, policy=policy.default))
                return "250 OK"

        def authenticate(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user
            ok = ok and auth_data.password.decode() == password
            if ok:
                standin.logins.append(user)
            return AuthResult(success=ok)

        self._controller = Controller(
            Handler(),
            hostname="127.0.0.1",
            port=self.port,
            authenticator=authenticate,
            auth_require_tls=False,  # no certificate in the test; production uses STARTTLS
        )

    def __enter__(self) -> SmtpStandIn:
        self._controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self._controller.stop()
