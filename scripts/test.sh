#!/usr/bin/env bash
# One command: install skupix with its dev tools into .venv, then lint, type-check and run every test.
# Tests needing PostgreSQL, Redis, RabbitMQ or nginx skip when those are absent, unless
# SKUPIX_REQUIRE_SERVICES=1 (as in CI), which turns the skip into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh dev
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/pytest "$@"
