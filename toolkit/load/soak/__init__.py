"""The soak: simulated visitors poll and write through the visitor client while a simulated
team replies and types, then an exact account of what every visitor saw.

The run itself is `simulation.soak` (imported on use: it brings aiohttp).

    model       the options, one visitor, and what a run shares
    simulation  the run: visitors, team members, the closing syncs, reading the truth back
    wire        the transport under every visitor's client, recording each call
    gauges      the functions server's memory, CPU and timings; this process's CPU and lag
    accounting  the pure account of each visitor's view against the database
    report      the report dict, its invariants, and the summary a person reads
    command     `chat-toolkit soak`: its flags, which stack, the run, CheckFailed on a break
"""

from toolkit.load.soak.accounting import Accounting, TruthRow, View, account
from toolkit.load.soak.command import run_soak
from toolkit.load.soak.model import SoakOptions
from toolkit.load.soak.report import INVARIANTS, format_summary

__all__ = [
    "INVARIANTS",
    "Accounting",
    "SoakOptions",
    "TruthRow",
    "View",
    "account",
    "format_summary",
    "run_soak",
]
