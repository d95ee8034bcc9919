"""How far a long stage has come, and about how long it still needs, in one phrase for log lines.

Why: a reload of years of history runs for minutes per stage; an operator watching the CLI or
the Airflow task log wants "12/96, about 3 min left", not a silent task. The estimate is the
mean time per item so far times the items left: crude, but it needs no model and settles
as the stage goes on.
"""

from __future__ import annotations


def time_left(done: int, total: int, elapsed_s: float) -> str:
    """``'about 40 s left'`` after ``done`` of ``total`` items in ``elapsed_s``; ``''`` when none are done or none left."""
    if done <= 0 or done >= total:
        return ""
    seconds = elapsed_s / done * (total - done)
    if seconds < 60:
        return f"about {max(1, round(seconds))} s left"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min left"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"about {hours} h {minutes:02d} min left"
