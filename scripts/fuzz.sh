#!/usr/bin/env bash
# The long fuzz pass: FUZZ_CASES (default 2000) derandomized schemathesis cases per endpoint
# (edge_contract_tests/test_fuzz.py), printing the case count per endpoint and every failure;
# non-zero exit on any failure. Target: the one SUPABASE_URL & co. name (it writes
# conversations there, so pass --allow-writes; with rate limits on, expect mostly 429s), or
# else an embedded stack this script starts, with rate limits off, and always stops.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZ_CASES="${FUZZ_CASES:-2000}"
args=("$@")
if [[ -n "${SUPABASE_URL:-}" ]]; then
  if [[ " $* " != *" --allow-writes "* ]]; then
    echo "fuzz.sh: the fuzz pass writes conversations to $SUPABASE_URL; pass --allow-writes" >&2
    exit 2
  fi
else
  dir=$(mktemp -d /tmp/chat-toolkit-fuzz-XXXXXX)
  trap '.venv/bin/chat-toolkit stack down --dir "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
  CHAT_RATE_LIMITS=off .venv/bin/chat-toolkit stack up --detach --dir "$dir" >/dev/null
  echo "fuzz.sh: embedded stack up in $dir (rate limits off); stopped on exit"
  set -a
  # shellcheck disable=SC1091
  . "$dir/env"
  set +a
  args+=(--allow-writes)
fi
started=$(date +%s)
.venv/bin/pytest edge_contract_tests/test_fuzz.py -s -q -p no:cacheprovider "${args[@]}"
echo "fuzz.sh: $FUZZ_CASES cases per endpoint, no failure, in $(( $(date +%s) - started ))s"
