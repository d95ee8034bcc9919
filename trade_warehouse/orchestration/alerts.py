"""Failure notifications and the typed cause of a failed task.

The notifier logs, and posts to a webhook if configured: ``TRADE_ALERT_WEBHOOK_URL``
(Slack-compatible JSON ``{"text": ...}`` plus structured fields). E-mail goes through
Airflow's own SMTP settings (``email`` and ``email_on_failure`` in default_args) when an
operator sets them. The alert's first line and the CLI's run summary are built from the same
:class:`TaskFailure`, so both say ``FAILED at <task>: <cause>`` in the same words.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import httpx
from airflow.sdk import BaseNotifier

if TYPE_CHECKING:
    from trade_warehouse.core.results import TaskFailure

log = logging.getLogger(__name__)
SECRET_SETTINGS = ("CENSUS_API_KEY", "COMTRADE_API_KEY")  # never in a cause, an alert or a summary


def task_failure(task_id: str, error: BaseException) -> TaskFailure:
    """The typed cause of a failed task, with every configured API key replaced by ``***``."""
    from trade_warehouse.core.results import TaskFailure  # here: parsing a DAG imports no stage code

    return TaskFailure.from_error(task_id, error, secrets=tuple(os.environ.get(name) for name in SECRET_SETTINGS))


def failure_message(context: dict) -> dict:
    """DAG, run, task, the months concerned and the cause, from a task's failure context."""
    ti = context.get("ti") or context.get("task_instance")
    error = context.get("exception")
    task_id = getattr(ti, "task_id", None) or "?"
    failure = task_failure(task_id, error or RuntimeError("unknown error (see the task log)"))
    months = context.get("params", {}) or {}
    headline = f"Trade Warehouse: {getattr(ti, 'dag_id', '?')} run {context.get('run_id', '?')} FAILED at "
    more = failure.cause.strip().splitlines()[1:]
    return {
        "text": "\n".join([headline + failure.describe(), *more]),
        "dag_id": getattr(ti, "dag_id", None),
        "run_id": context.get("run_id"),
        "task_id": getattr(ti, "task_id", None),
        "params": {k: months.get(k) for k in ("month", "start_month", "end_month") if months.get(k)},
        "reason": failure.cause,
        "task_failure": failure.to_xcom(),
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
