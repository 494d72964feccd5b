"""Alerts that reach people: run failures, failed blocking checks, breached freshness SLAs.

- ``message``: what an alert says (job or asset, check, reason, run link) and the scrubbing
  that keeps every secret out of it;
- ``channels``: the ``AlertChannels`` resource, posting to Slack (dagster-slack), Microsoft
  Teams (dagster-msteams) and e-mail (SMTP), whichever ``AlertSettings`` enables;
- ``sensors``: the run-failure sensor and the freshness-breach sensor that send them.
"""
