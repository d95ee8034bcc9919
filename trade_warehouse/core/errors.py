"""One error base for every stage and source: transient (a retry may succeed) or terminal.

Why one base: the orchestration decides retries and the run summary decides wording from
these two classes alone, so a new source raises subclasses of them and needs no new
handling anywhere else (the shape dlt uses for its destinations).
"""

from __future__ import annotations


class TradeError(RuntimeError):
    """Base of every error this package raises on purpose; ``transient`` says whether to retry."""

    transient: bool = False


class TransientError(TradeError):
    """A fault that a later attempt may not meet (timeouts, 429/5xx, a busy writer)."""

    transient = True


class TerminalError(TradeError):
    """A fault no retry fixes (a wrong key, a bad request, data the gate refused): fix, then re-run."""

    transient = False


class ConfigError(ValueError):
    """A setting has a value the pipeline cannot work with (terminal: fix the setting).

    Here rather than in ``core.config`` so that the settings modules beside it (``duckdb_settings``)
    raise it without importing ``config``, which reads them: data flows one way.
    """
