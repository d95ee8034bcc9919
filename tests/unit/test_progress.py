"""The time-left phrase of long stages' progress lines."""

import pytest

from trade_warehouse.core.progress import time_left

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("done", "total", "elapsed", "expected"),
    [
        (0, 10, 5.0, ""),  # nothing to extrapolate from yet
        (10, 10, 50.0, ""),  # finished: nothing left
        (1, 3, 10.0, "about 20 s left"),
        (1, 1000, 0.0001, "about 1 s left"),  # never "0 s" while items remain
        (12, 96, 60.0, "about 7 min left"),  # 84 items at 5 s
        (1, 96, 120.0, "about 3 h 10 min left"),
    ],
)
def test_time_left_extrapolates_the_mean_time_per_item(done, total, elapsed, expected):
    assert time_left(done, total, elapsed) == expected


def test_a_dbt_run_logs_its_nodes_done_and_the_time_left(monkeypatch, caplog, capfd):
    """dbt's own "N of M STATUS" lines become progress lines; the whole output is still returned."""
    import logging
    import re
    import subprocess
    import sys

    from trade_warehouse.transform import dbt_runner

    monkeypatch.setattr(dbt_runner, "PROGRESS_EVERY_S", 0.0)
    script = (
        "import time\n"
        "print('Running with dbt=1.11')\n"
        "for i, status in enumerate(['OK created', 'PASS', 'FAIL 3', 'OK created'], 1):\n"
        "    print(f'{i} of 4 START node {i}')\n"
        "    time.sleep(0.01)\n"
        "    print(f'{i} of 4 {status} node {i} [in 0.01s]')\n"
    )
    with caplog.at_level(logging.INFO, logger=dbt_runner.__name__):
        process = subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        completed = dbt_runner.follow_progress(process, "build")
    assert completed.returncode == 0 and "3 of 4 FAIL 3 node 3" in completed.stdout
    # stdlib logging, or the console once Airflow has set up structlog in this worker: read both
    captured = capfd.readouterr()
    text = "\n".join([caplog.text, captured.out, captured.err])
    lines = list(
        dict.fromkeys(
            line.rstrip() for line in re.findall(r"dbt build: \d/4 nodes done[^\n]*?(?= \[|$)", text, re.MULTILINE)
        )
    )
    assert [line.split(":")[1].split(";")[0].strip() for line in lines] == [
        "1/4 nodes done",
        "2/4 nodes done",
        "3/4 nodes done, 1 failed",
        "4/4 nodes done, 1 failed",
    ], text
    assert all(line.endswith(" left") for line in lines[:3]), lines
