#!/usr/bin/env bash
# The main job: set up if needed, then run the embedded stack (PostgreSQL, PostgREST, the
# functions server, the gateway) in the foreground until Ctrl-C. Flags go to `stack up`,
# e.g. --detach, --baseline-only, --api-port 54321.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/chat-toolkit stack up "$@"
