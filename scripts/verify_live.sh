#!/usr/bin/env bash
# Check a project end to end without writing to it: `chat-toolkit verify`, then the
# read-only contract tests (`-m "not writes and not embedded"`), both against the env
# file's project.
# Exits non-zero if either fails. Usage: scripts/verify_live.sh ENV_FILE
set -euo pipefail
if [[ $# -ne 1 || "$1" == -* ]]; then
  echo "usage: scripts/verify_live.sh ENV_FILE   (dotenv file with SUPABASE_URL, SUPABASE_PUBLISHABLE_KEY and SUPABASE_SECRET_KEY or the legacy SUPABASE_ANON_KEY and SUPABASE_SERVICE_ROLE_KEY; optional SUPABASE_DB_URL, SUPABASE_FUNCTIONS_URL, SUPABASE_JWT_SECRET)" >&2
  exit 2
fi
if [[ ! -f "$1" ]]; then
  echo "verify_live.sh: env file $1 does not exist" >&2
  exit 2
fi
env_file="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
cd "$(dirname "$0")/.."

status=0
.venv/bin/chat-toolkit verify --env-file "$env_file" || status=1

# Export the file's variables as python-dotenv reads them (the toolkit's own parser),
# quoted for the shell, so a `$` in a password is not expanded.
exports="$(.venv/bin/python - "$env_file" <<'PY'
import shlex
import sys

from dotenv import dotenv_values

for key, value in dotenv_values(sys.argv[1]).items():
    if value is not None:
        print(f"export {key}={shlex.quote(value)}")
PY
)"
eval "$exports"
.venv/bin/pytest edge_contract_tests -m "not writes and not embedded" || status=1

if [[ $status -ne 0 ]]; then
  echo "verify_live.sh: FAILED (see above)" >&2
else
  echo "verify_live.sh: verify and the read-only contract tests passed"
fi
exit $status
