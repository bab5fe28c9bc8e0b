"""`chat-toolkit verify`: one line per check, PASS / FAIL / WARN / SKIP.

run   the checks and the report
"""

from toolkit.ops.verify.run import SEED_VERSIONS, VERIFY_PREFIX, Check, Report, Status, verify

__all__ = ["SEED_VERSIONS", "VERIFY_PREFIX", "Check", "Report", "Status", "verify"]
