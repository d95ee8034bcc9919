#!/usr/bin/env bash
# The Debian packages the test suite needs beyond the Python venv: headless Chromium (the
# report and dashboard browser checks), PostgreSQL and Redis (the deployment tests run real
# servers). Quick and silent when all are present; installs the missing ones when this user
# can (root with apt-get), else prints one line naming the command to run and fails.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "the tests need Debian packages this user cannot install; run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing the tests' Debian packages: ${missing[*]}"
install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
# An empty package index (a fresh container) needs `apt-get update` first; otherwise try without.
install 2>/dev/null || { apt-get update -qq && install; }
