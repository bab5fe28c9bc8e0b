#!/usr/bin/env python3
"""`chat-toolkit soak` under its old name: `.venv/bin/python scripts/soak.py [flags]` takes the
same flags and exits the same way (0 every invariant holds, 1 one broke, 2 usage or
configuration). The logic lives in toolkit/load/soak/."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolkit.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["soak", *sys.argv[1:]]))
