"""Failure notifications: an Airflow notifier that logs, and posts to a webhook if configured.

Configure with ``TRADE_ALERT_WEBHOOK_URL`` (Slack-compatible JSON ``{"text": ...}`` plus
structured fields). E-mail goes through Airflow's own SMTP settings (``email`` and
``email_on_failure`` in default_args) when an operator sets them.
"""

from __future__ import annotations

import logging
import os

import httpx
from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)


def failure_message(context: dict) -> dict:
    """DAG, run, task, the months concerned and the reason, from a task's failure context."""
    ti = context.get("ti") or context.get("task_instance")
    error = context.get("exception")
    reason = str(error) if error else "unknown error (see the task log)"
    months = context.get("params", {}) or {}
    text = (
        f"Trade Warehouse: {getattr(ti, 'dag_id', '?')} run {context.get('run_id', '?')} failed at task "
        f"{getattr(ti, 'task_id', '?')}.\n{reason}"
    )
    return {
        "text": text,
        "dag_id": getattr(ti, "dag_id", None),
        "run_id": context.get("run_id"),
        "task_id": getattr(ti, "task_id", None),
        "params": {k: months.get(k) for k in ("month", "start_month", "end_month") if months.get(k)},
        "reason": reason,
        # the failed flow-months of the run (``finish``), each with stage, reason and failed expectations
        "failures": [f.to_xcom() for f in getattr(error, "failures", None) or []],
    }


class TradeAlertNotifier(BaseNotifier):
    """Log the failure; POST it to ``TRADE_ALERT_WEBHOOK_URL`` when that is set."""

    template_fields = ()

    def notify(self, context: dict) -> None:
        message = failure_message(context)
        log.error("ALERT %s", message["text"])
        url = os.environ.get("TRADE_ALERT_WEBHOOK_URL")
        if not url:
            return
        try:
            httpx.post(url, json=message, timeout=10).raise_for_status()
        except httpx.HTTPError as error:  # an alert channel outage must not hide the failure itself
            log.error("could not deliver the alert to the webhook: %s", error.__class__.__name__)
