#!/usr/bin/env bash
# One command: install skupix into .venv and run it on the embedded default
# (SQLite + blob folder under ./skupix-data, tasks in-process). Extra arguments go to `skupix serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/skupix serve "$@"
