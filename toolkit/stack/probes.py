"""REST probes of a Supabase target: can a given key read the chat tables?

Statuses matter here (401 for anon versus 403 for other roles), and supabase-py's
APIError carries no status, so these use httpx directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from toolkit.keys import PUBLISHABLE_PREFIX, SECRET_PREFIX
from toolkit.protocol import PERMISSION_DENIED, READ_TABLES, REST_PATH, api_key_headers

__all__ = ["ReadProbe", "probe_read", "read_summary"]


@dataclass(frozen=True)
class ReadProbe:
    """The answer to `GET /rest/v1/<table>` with one key (or none)."""

    table: str
    status: int
    code: str | None
    rows: int

    @property
    def blocked(self) -> bool:
        return self.status == 401 and self.code == PERMISSION_DENIED


def probe_read(client: httpx.Client, api_url: str, table: str, key: str | None) -> ReadProbe:
    headers = api_key_headers(key) if key else {}
    response = client.get(f"{api_url}{REST_PATH}/{table}", params={"select": "id"}, headers=headers)
    body = response.json() if response.content else None
    if isinstance(body, list):
        return ReadProbe(table, response.status_code, None, len(body))
    code = body.get("code") if isinstance(body, dict) else None
    return ReadProbe(table, response.status_code, code, 0)


def read_summary(api_url: str, visitor_key: str, server_key: str) -> list[str]:
    """One line per table and key, as `stack up` and dev.sh print them: the visitor's key
    (publishable, else anon) must be refused, the server's (secret, else service_role) read."""
    visitor = "publishable key" if visitor_key.startswith(PUBLISHABLE_PREFIX) else "anon key"
    server = "secret key" if server_key.startswith(SECRET_PREFIX) else "service_role key"
    lines = []
    with httpx.Client(timeout=5.0) as client:
        for table in READ_TABLES:
            anon = probe_read(client, api_url, table, visitor_key)
            if anon.blocked:
                lines.append(f"check  anon read of {table} ({visitor}): blocked (401 {anon.code})")
            else:
                lines.append(
                    f"check  anon read of {table} ({visitor}): OPEN ({anon.status}, "
                    f"{anon.rows} rows visible)"
                )
            service = probe_read(client, api_url, table, server_key)
            lines.append(
                f"check  service_role read of {table} ({server}): {service.status} "
                f"({service.rows} rows)"
            )
    return lines
