#!/usr/bin/env bash
# The Debian packages the test suite needs beyond the Python venv: headless Chromium (the
# report and dashboard browser checks), PostgreSQL and Redis (the deployment tests run real
# servers; PostgreSQL is also the DuckLake catalog), plus npm's s3rver, the file-backed S3
# store the DuckLake tests write to. Quick and silent when all are present; installs the
# missing ones when this user can (root with apt-get), else prints one line naming the
# command to run and fails.
set -euo pipefail
S3RVER=s3rver@3.7.1
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
need_s3rver=0
command -v s3rver >/dev/null 2>&1 || need_s3rver=1
[ "$need_s3rver" = 1 ] && ! command -v npm >/dev/null 2>&1 && missing+=(npm)
[ "${#missing[@]}" -eq 0 ] && [ "$need_s3rver" = 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  commands=()
  [ "${#missing[@]}" -gt 0 ] && commands+=("sudo apt-get install -y ${missing[*]}")
  [ "$need_s3rver" = 1 ] && commands+=("sudo npm install -g $S3RVER")
  joined=$(printf ' && %s' "${commands[@]}")
  echo "the tests need packages this user cannot install; run: ${joined:4}" >&2
  exit 1
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing the tests' Debian packages: ${missing[*]}"
  install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }
  # An empty package index (a fresh container) needs `apt-get update` first; otherwise try without.
  install 2>/dev/null || { apt-get update -qq && install; }
fi
if [ "$need_s3rver" = 1 ]; then
  echo "installing the tests' S3 stand-in: npm $S3RVER"
  npm install -g --silent --no-fund --no-audit "$S3RVER" >/dev/null
fi
