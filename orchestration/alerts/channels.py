"""The alert channels: Slack (dagster-slack), Microsoft Teams (dagster-msteams), e-mail (SMTP).

``AlertChannels`` is a Dagster resource; its secret fields are filled from ``EnvVar``s by
:meth:`AlertChannels.from_settings`, so the token, the webhook URL and the SMTP password
never appear in run config, the UI or these messages. A channel is tried ``attempts`` times; one
that still fails is reported (scrubbed) and the others are still tried: one broken channel
must not silence the rest.
"""

from __future__ import annotations

import smtplib
import time
from email.message import EmailMessage

import dagster as dg
from dagster_msteams import MSTeamsResource
from dagster_msteams.adaptive_card import AdaptiveCard
from dagster_slack import SlackResource

from orchestration.alerts.message import Alert, scrub
from orchestration.settings import DEFAULT_SLACK_API_URL, AlertSettings, secret_values


class AlertDeliveryError(RuntimeError):
    """At least one configured channel did not take the alert; the message names which."""


class AlertChannels(dg.ConfigurableResource):
    slack_token: str | None = None
    slack_channel: str | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    teams_webhook_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    email_from: str | None = None
    email_to: list[str] = []
    timeout_s: float = 20.0
    attempts: int = 3  # per channel, 1 s then 2 s apart: a webhook's brief hiccup is not a lost alert

    @classmethod
    def from_settings(cls, alerts: AlertSettings) -> AlertChannels:
        return cls(
            slack_token=dg.EnvVar("ALERT_SLACK_TOKEN") if alerts.slack_enabled else None,
            slack_channel=alerts.slack_channel,
            slack_api_url=alerts.slack_api_url,
            teams_webhook_url=dg.EnvVar("ALERT_TEAMS_WEBHOOK_URL") if alerts.teams_enabled else None,
            smtp_host=alerts.smtp_host,
            smtp_port=alerts.smtp_port,
            smtp_user=alerts.smtp_user,
            smtp_password=dg.EnvVar("ALERT_SMTP_PASSWORD") if alerts.smtp_has_password else None,
            smtp_starttls=alerts.smtp_starttls,
            email_from=alerts.email_from,
            email_to=list(alerts.email_to),
        )

    @property
    def configured(self) -> tuple[str, ...]:
        enabled = {
            "slack": bool(self.slack_token),
            "teams": bool(self.teams_webhook_url),
            "email": bool(self.smtp_host),
        }
        return tuple(name for name, on in enabled.items() if on)

    def _secrets(self) -> tuple[str, ...]:
        own = (self.slack_token, self.teams_webhook_url, self.smtp_password)
        return (*(s for s in own if s), *secret_values())

    def send(
        self, alert: Alert, skip: frozenset[str] = frozenset()
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Posts ``alert`` to every configured channel not in ``skip``.

        Returns the channels that took it and the (scrubbed) errors of those that did not.
        """
        secrets = self._secrets()
        alert = alert.scrubbed(secrets)
        senders = {"slack": self._slack, "teams": self._teams, "email": self._email}
        delivered: list[str] = []
        errors: list[str] = []
        for name in self.configured:
            if name in skip:
                continue
            for attempt in range(1, self.attempts + 1):
                try:
                    senders[name](alert)
                    delivered.append(name)
                    break
                except Exception as exc:  # any transport error: report it without its secrets
                    if attempt == self.attempts:
                        errors.append(f"{name}: {scrub(f'{type(exc).__name__}: {exc}', secrets)}")
                    else:
                        time.sleep(attempt)
        return tuple(delivered), tuple(errors)

    def _slack(self, alert: Alert) -> None:
        client = SlackResource(token=self.slack_token or "").get_client()
        client.base_url = self.slack_api_url  # the Slack API itself unless ALERT_SLACK_API_URL says otherwise
        client.timeout = int(self.timeout_s)
        client.chat_postMessage(
            channel=self.slack_channel or "",
            text=alert.text(),
            blocks=[
                {"type": "header", "text": {"type": "plain_text", "text": alert.subject[:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(alert.lines()[1:-1])}},
                {"type": "section", "text": {"type": "mrkdwn", "text": f"<{alert.run_url}|Open the run>"}},
            ],
        )

    def _teams(self, alert: Alert) -> None:
        card = AdaptiveCard()
        for line in alert.lines():
            card.add_attachment(text_message=line)
        client = MSTeamsResource(hook_url=self.teams_webhook_url or "", timeout=self.timeout_s).get_client()
        client.post_message(payload=card.payload)

    def _email(self, alert: Alert) -> None:
        message = EmailMessage()
        message["Subject"] = alert.subject
        message["From"] = self.email_from or ""
        message["To"] = ", ".join(self.email_to)
        message.set_content(alert.text() + "\n")
        with smtplib.SMTP(self.smtp_host or "", self.smtp_port, timeout=self.timeout_s) as smtp:
            if self.smtp_starttls:
                smtp.starttls()
            if self.smtp_user:
                smtp.login(self.smtp_user, self.smtp_password or "")
            smtp.send_message(message)
