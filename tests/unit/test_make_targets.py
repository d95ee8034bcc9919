"""``make`` alone prints the targets (every public one with its ``##`` line); ``make test``'s Debian check."""

import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def test_plain_make_lists_every_phony_target() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    phony = {t for line in re.findall(r"^\.PHONY:(.*)$", makefile, re.M) for t in line.split()}
    done = subprocess.run(["make", "--no-print-directory"], cwd=REPO, capture_output=True, text=True, check=True)
    described = set()
    for line in done.stdout.splitlines():
        match = re.match(r"^  ([a-z][a-z-]*(?: / [a-z-]+)*):", line)
        if match:
            described.update(match.group(1).split(" / "))
    assert phony and phony <= described, f"targets without a `## target: ...` line: {sorted(phony - described)}"
    assert done.stdout.startswith("  help:")


def test_test_deps_names_the_command_in_one_line_when_it_cannot_install(tmp_path: Path) -> None:
    """A user who is not root gets one line with the command to run, and a failure (not a test error later)."""
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "id").write_text("#!/bin/sh\necho 1000\n")  # not root; no chromium, no redis-server on this PATH
    (shims / "id").chmod(0o755)
    done = subprocess.run(
        ["/bin/bash", str(REPO / "scripts" / "test-deps.sh")],
        env={"PATH": str(shims)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert "apt-get install -y chromium" in line and "redis-server" in line and "npm install -g s3rver@" in line
