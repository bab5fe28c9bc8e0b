"""REST probes of a Supabase target: can a given key read the chat tables?

Statuses matter here (401 for anon versus 403 for other roles), and supabase-py's
APIError carries no status, so these use httpx directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

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


def read_summary(api_url: str, anon_key: str, service_key: str) -> list[str]:
    """One line per table and key, as `stack up` and dev.sh print them."""
    lines = []
    with httpx.Client(timeout=5.0) as client:
        for table in READ_TABLES:
            anon = probe_read(client, api_url, table, anon_key)
            if anon.blocked:
                lines.append(f"check  anon read of {table}: blocked (401 {anon.code})")
            else:
                lines.append(
                    f"check  anon read of {table}: OPEN ({anon.status}, {anon.rows} rows visible)"
                )
            service = probe_read(client, api_url, table, service_key)
            lines.append(
                f"check  service_role read of {table}: {service.status} ({service.rows} rows)"
            )
    return lines
