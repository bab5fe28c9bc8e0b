"""`chat-toolkit verify`: one line per check, PASS / FAIL / WARN / SKIP.

run       `verify()`: the order of the checks, and the one-line errors when it cannot run
report    Check, Report, Status and the Recorder the checks are added to
catalog   checks over SUPABASE_DB_URL: catalog.*, the migration history, hardening.*, lint.*
keys      keys.*: which key system is used, is each legacy key what its name says, and
          (told so) are deactivated legacy keys refused
access    access.*: every role PostgREST can switch to but service_role (grants,
          always-true policies, reads as a non-member)
api       checks over HTTP: rest.* and functions.*, and the probe (keys, status-only reasons)
write     `--write`: the seed's five validations on marked rows, and their cleanup
"""

from toolkit.ops.verify.api import VERIFY_PREFIX
from toolkit.ops.verify.catalog import SEED_VERSIONS
from toolkit.ops.verify.report import Check, Report, Status
from toolkit.ops.verify.run import verify

__all__ = ["SEED_VERSIONS", "VERIFY_PREFIX", "Check", "Report", "Status", "verify"]
