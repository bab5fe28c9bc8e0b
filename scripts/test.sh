#!/usr/bin/env bash
# Every test: lint and types, unit tests, pgTAP, and the contract tests against embedded
# stacks that the test session starts and always stops. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
started=$(date +%s)
.venv/bin/ruff check toolkit tests edge_contract_tests scripts
.venv/bin/ruff format --check toolkit tests edge_contract_tests scripts
.venv/bin/mypy toolkit tests edge_contract_tests
.venv/bin/pytest tests edge_contract_tests "$@"
echo "test.sh: all green in $(( $(date +%s) - started ))s"
