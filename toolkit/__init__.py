"""chat-toolkit: token-scoped visitor chat for Supabase.

cli               `chat-toolkit`: arguments and the environment read once; errors to exit codes
config            the settings (Target, ServerSettings, ...), which source wins, redact_url
errors            the one error tree, each class with its exit code
protocol          facts of the wire written once (paths, headers, CORS, names, codes)
tokens, keys      conversation tokens; Supabase's API keys (legacy HS256, sb_ keys) and JWTs
key_settings      the key system's variables and FUNCTIONS_AUTH (read for config)
supabase_status   `chat-toolkit env --from-supabase-status`
paths             where the SQL and the installed binaries are
functions/        server side: the two edge functions
client/           visitor side: VisitorClient and `chat`
db/               connect, migrations, SQL splitting
stack/            the embedded stack
ops/              operator tools: verify, rollout
load/             bench, the wrk runner, procstat, soak
"""

from toolkit.config import ServerSettings, Target, load_environment
from toolkit.errors import (
    CheckFailed,
    ConfigError,
    Forbidden,
    FunctionError,
    InvalidRequest,
    MigrationError,
    StackError,
    TokenRequired,
    ToolkitError,
    Unauthorized,
    Unreachable,
    UpstreamUnavailable,
    UsageError,
)

__all__ = [
    "CheckFailed",
    "ConfigError",
    "Forbidden",
    "FunctionError",
    "InvalidRequest",
    "MigrationError",
    "ServerSettings",
    "StackError",
    "Target",
    "TokenRequired",
    "ToolkitError",
    "Unauthorized",
    "Unreachable",
    "UpstreamUnavailable",
    "UsageError",
    "load_environment",
]
