"""`[core] hostname_callable` for the Celery workers of the deployment tests.

All test workers run on one machine; each reports the name it was started with
(``TW_WORKER_NAME``) as its host name, so a task instance's ``hostname`` says which
worker ran it.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    """The worker's name from the environment, or the real host name outside the tests."""
    return os.environ.get("TW_WORKER_NAME") or socket.getfqdn()
