"""The soak: simulated visitors poll and write through the visitor client while a simulated
team replies and types, then an exact account of what every visitor saw.

    model       the options, one visitor, and what a run shares
    simulation  the run: visitors, team members, the closing syncs, reading the truth back
    wire        the transport under every visitor's client, recording each call
    gauges      the functions server's memory, CPU and timings; this process's CPU and lag
    accounting  the pure account of each visitor's view against the database
    report      the report dict, its invariants, and the summary a person reads
    command     `scripts/soak.py`: which stack, the run, the exit code
"""

from toolkit.load.soak.accounting import Accounting, TruthRow, View, account
from toolkit.load.soak.command import main, run_soak
from toolkit.load.soak.model import SoakOptions
from toolkit.load.soak.report import INVARIANTS, format_summary
from toolkit.load.soak.simulation import soak

__all__ = [
    "INVARIANTS",
    "Accounting",
    "SoakOptions",
    "TruthRow",
    "View",
    "account",
    "format_summary",
    "main",
    "run_soak",
    "soak",
]
