#!/usr/bin/env python3
"""Soak the chat functions: `.venv/bin/python scripts/soak.py [--visitors N] [--duration S]
[--json FILE]`. Against the stack SUPABASE_URL names (with --allow-writes), else an embedded
one it starts and always stops. Exit 0 when every invariant holds, 1 when one breaks, 2 when
it cannot run. The logic lives in toolkit/soak/."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolkit.load.soak import main

if __name__ == "__main__":
    raise SystemExit(main())
