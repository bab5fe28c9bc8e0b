"""The soak's run: simulated visitors poll and write through the visitor client while a
simulated team replies and types; then every visitor syncs once more and the database is read
back for the account."""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
from httpx_aiohttp import AiohttpTransport

from toolkit.client import (
    SessionStore,
    VisitorClient,
    backoff_delay,
    parse_retry_after,
)
from toolkit.config import Target
from toolkit.errors import (
    FunctionError,
    RateLimited,
    ToolkitError,
    UpstreamUnavailable,
)
from toolkit.load.soak.accounting import TruthRow, View, account, percentile
from toolkit.load.soak.gauges import Gauges
from toolkit.load.soak.model import Run, SoakOptions, Visitor
from toolkit.load.soak.report import build_report
from toolkit.load.soak.wire import Wire
from toolkit.protocol import PREFER, REST_PATH, RETRY_AFTER, api_key_headers

__all__ = ["Progress", "quiet", "soak"]

Progress = Callable[[str], None]

_TRANSIENT = (RateLimited, UpstreamUnavailable)
# Visitors' addresses, sent as X-Forwarded-For so per-address limits see distinct visitors:
# the documentation ranges of RFC 5737, never routed anywhere.
_NETWORKS = ("198.51.100", "203.0.113", "192.0.2")
_TRUTH_FIELDS = "id,conversation_id,sender_type,is_internal"
_PAGE = 500
_FINAL_CONCURRENCY = 50


def quiet(_line: str) -> None:
    """Progress that goes nowhere."""


async def soak(
    target: Target,
    options: SoakOptions,
    *,
    server_pid: int | None = None,
    server_log: Path | None = None,
    progress: Progress = quiet,
) -> dict[str, Any]:
    """Run the soak against `target` and return its report (see `format_summary`).

    `server_pid` and `server_log` are the functions server's process and log, when it runs
    on this machine: its memory, CPU and own timings are then reported too.
    """
    run_id = uuid.uuid4().hex[:8]
    # httpx's own pool (httpcore) queued requests for seconds at a few hundred connections
    # while the server answered in milliseconds; aiohttp's measures the server instead.
    limits = httpx.Limits(max_connections=options.visitors + 16)
    wire = Wire(AiohttpTransport(limits=limits))
    run = Run(options, random.Random(options.seed), asyncio.Event())
    gauges = Gauges(server_pid, server_log)
    with _session_folder(options.session_dir) as folder:
        try:
            async with (
                httpx.AsyncClient(
                    base_url=f"{target.url}{REST_PATH}",
                    headers=api_key_headers(target.server_key),
                    timeout=options.request_timeout,
                ) as rest,
                _clients(target, options, folder, run_id, wire) as visitors,
            ):
                progress(
                    f"soak: {options.visitors} visitors for {options.duration:g} s, "
                    f"{_syncing(options)}, {options.agents} team members"
                )
                crashed = await _load(visitors, rest, run, wire, gauges, progress)
                views, unsynced, truth, late = await _close(visitors, rest, run, wire, progress)
                gauges.sample()
        finally:
            await wire.close()
    accounting = account(truth, [v for v in views if v is not None], late)
    return build_report(run, visitors, wire, accounting, gauges, views, unsynced, crashed)


# -- visitors and the team -----------------------------------------------------------------


def _syncing(options: SoakOptions) -> str:
    if options.wait:
        return f"long-polling (wait {options.wait:g} s)"
    return f"polling every {options.interval:g} s"


async def _pause(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`; True when the run stopped meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))
    except TimeoutError:
        return stop.is_set()
    return True


async def _send(visitor: Visitor, run: Run) -> bool:
    """One message, retried with the same clientMessageId through transient failures."""
    text = f"soak visitor {visitor.index} message {len(visitor.acked) + 1}"
    client_message_id = str(uuid.uuid4())
    attempt = 0
    while not run.stop.is_set():
        try:
            sent = await visitor.client.send(text, client_message_id)
        except _TRANSIENT as exc:
            visitor.sends["retried"] += 1
            retry_after = parse_retry_after(exc.headers.get(RETRY_AFTER))
            delay = backoff_delay(attempt, rng=run.rng.random, retry_after=retry_after)
            attempt += 1
            if await _pause(run.stop, delay):
                break
            continue
        except FunctionError as exc:
            visitor.sends[exc.code] += 1
            return False
        visitor.acked.append(sent.message_id)
        visitor.sends["ok"] += 1
        if sent.conversation_id not in visitor.conversations:
            visitor.conversations.append(sent.conversation_id)
            run.conversations.append(sent.conversation_id)
        return True
    visitor.sends["abandoned"] += 1
    return False


async def _live(visitor: Visitor, run: Run, arrival: float) -> None:
    """Arrive, open a conversation, then poll (the client's own loop) and write now and then."""
    if await _pause(run.stop, arrival) or not await _send(visitor, run):
        return

    async def write() -> None:
        while not await _pause(run.stop, run.rng.expovariate(1 / run.options.message_every)):
            await _send(visitor, run)

    writer = asyncio.create_task(write())
    try:
        await visitor.client.run(visitor.on_update, run.stop)
    except FunctionError as exc:
        visitor.failure = exc.code
    finally:
        await writer


async def _team_member(k: int, rest: httpx.AsyncClient, run: Run) -> None:
    """Pick a conversation, type for a moment, reply (sometimes an internal note), stop typing."""
    user_id = f"00000000-0000-4000-8000-{k:012d}"
    name = f"Agent {k}"
    while not run.stop.is_set():
        if not run.conversations:
            await _pause(run.stop, 0.2)
            continue
        conversation = run.rng.choice(run.conversations)
        if await _set_typing(rest, run, conversation, user_id, name, True):
            run.team["typing_on"] += 1
        await _pause(run.stop, run.rng.uniform(0.3, 1.5))
        internal = run.rng.random() < run.options.internal_share
        row = {
            "conversation_id": conversation,
            "sender_type": "team",
            "sender_name": name,
            "message_text": "internal note" if internal else f"{name} here, how can I help?",
            "is_internal": internal,
        }
        if await _team_write(rest, run, "/chat_messages", row, "return=minimal"):
            run.team["internal_notes" if internal else "replies"] += 1
        await _set_typing(rest, run, conversation, user_id, name, False)
        await _pause(run.stop, run.rng.uniform(0.0, 0.5))


async def _set_typing(
    rest: httpx.AsyncClient, run: Run, conversation: str, user_id: str, name: str, on: bool
) -> bool:
    row = {
        "conversation_id": conversation,
        "user_id": user_id,
        "user_name": name,
        "is_typing": on,
        "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    prefer = "resolution=merge-duplicates,return=minimal"
    return await _team_write(rest, run, "/team_typing_indicators", row, prefer)


async def _team_write(
    rest: httpx.AsyncClient, run: Run, path: str, row: dict[str, Any], prefer: str
) -> bool:
    """One service-role REST write; failures are counted, never raised."""
    run.team["requests"] += 1
    try:
        response = await rest.post(path, json=row, headers={PREFER: prefer})
    except httpx.HTTPError as exc:
        run.team[f"error {type(exc).__name__}"] += 1
        return False
    if response.status_code not in (200, 201):
        run.team[f"error {response.status_code}"] += 1
        return False
    return True


# -- the run ------------------------------------------------------------------------------------


def _address(index: int) -> str:
    network, host = divmod(index % (len(_NETWORKS) * 254), 254)
    return f"{_NETWORKS[network]}.{host + 1}"


@contextlib.contextmanager
def _session_folder(chosen: Path | None) -> Iterator[Path]:
    if chosen is not None:
        chosen.mkdir(parents=True, exist_ok=True)
        yield chosen
        return
    with tempfile.TemporaryDirectory(prefix="chat-toolkit-soak-") as folder:
        yield Path(folder)


@contextlib.asynccontextmanager
async def _clients(
    target: Target, options: SoakOptions, folder: Path, run_id: str, wire: Wire
) -> AsyncIterator[list[Visitor]]:
    """One httpx client per visitor (its own X-Forwarded-For), all on the one pooled wire."""
    async with contextlib.AsyncExitStack() as stack:
        visitors = []
        for i in range(options.visitors):
            http = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=wire,
                    timeout=options.request_timeout + options.wait,
                    headers={"X-Forwarded-For": _address(i)},
                )
            )
            client = VisitorClient(
                target.functions_url,
                target.visitor_key,
                SessionStore(folder / f"visitor-{i}.json"),
                http=http,
                visitor_id=f"soak-{run_id}-{i}",
                interval=options.interval,
                wait=options.wait,
            )
            visitors.append(Visitor(i, client))
        yield visitors


async def _load(
    visitors: list[Visitor],
    rest: httpx.AsyncClient,
    run: Run,
    wire: Wire,
    gauges: Gauges,
    progress: Progress,
) -> list[str]:
    """The timed phase; returns a description of each task that crashed."""
    options = run.options
    gauges.sample()
    started = time.monotonic()
    spread = options.ramp_seconds / max(1, len(visitors))
    tasks = [asyncio.create_task(_live(v, run, v.index * spread)) for v in visitors]
    tasks += [asyncio.create_task(_team_member(k, rest, run)) for k in range(options.agents)]
    tasks.append(asyncio.create_task(gauges.watch_loop(run.stop)))
    next_report = started + 10
    while (now := time.monotonic()) < started + options.duration:
        await asyncio.sleep(min(2.0, started + options.duration - now))
        gauges.sample()
        if time.monotonic() >= next_report:
            next_report += 10
            p99 = percentile(wire.latency_ms["sync"], 99)
            progress(
                f"  t={time.monotonic() - started:4.0f}s  requests {wire.requests():>7}  "
                f"conversations {len(run.conversations):>5}  sync p99 "
                f"{'-' if p99 is None else f'{p99:.0f} ms'}  not 200: "
                f"{sum(wire.failures().values())}"
            )
    run.stop.set()
    # Every task ends by itself once stopped; a request in flight is bounded by its timeout.
    grace = 3 * options.request_timeout + options.wait + 5
    done, pending = await asyncio.wait(tasks, timeout=grace)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    wire.timing = False
    gauges.end_of_load()
    crashed = [f"task still running {grace:g} s after the stop" for _ in pending]
    for task in done:
        error = task.exception()
        if error is not None:
            crashed.append(f"{type(error).__name__}: {error}")
    return crashed


# -- the closing phase ------------------------------------------------------------------------


async def _close(
    visitors: list[Visitor],
    rest: httpx.AsyncClient,
    run: Run,
    wire: Wire,
    progress: Progress,
) -> tuple[list[View | None], int, list[TruthRow], list[TruthRow]]:
    """Read the database, then sync every visitor once more, then attribute late ids."""
    deadline = time.monotonic() + run.options.final_timeout
    ours = {c for v in visitors for c in v.conversations}
    truth = await _read_rows(rest, "conversation_id", sorted(ours), deadline)
    gate = asyncio.Semaphore(_FINAL_CONCURRENCY)

    async def final(visitor: Visitor) -> bool:
        async with gate:
            return await _final_sync(visitor, deadline, run.rng)

    synced = await asyncio.gather(*(final(v) for v in visitors if v.conversations))
    views = [v.view(wire.raw) for v in visitors]
    known = {r.id for r in truth}
    unknown = {i for view in views if view for i in (*view.seen, *view.raw) if i not in known}
    # Only ids shaped like message ids can be looked up; any other stays foreign (leaked).
    lookup = sorted(i for i in unknown if _is_uuid(i))
    late = await _read_rows(rest, "id", lookup, deadline) if lookup else []
    progress(f"  final sync of {len(synced)} visitors; {len(truth)} messages read back")
    return views, synced.count(False), truth, late


async def _final_sync(visitor: Visitor, deadline: float, rng: random.Random) -> bool:
    """One last sync, retried through transient failures until `deadline`."""
    if visitor.client.session is None:
        return False
    attempt = 0
    while True:
        try:
            update = await visitor.client.sync()
        except _TRANSIENT as exc:
            retry_after = parse_retry_after(exc.headers.get(RETRY_AFTER))
            delay = backoff_delay(attempt, cap=2.0, rng=rng.random, retry_after=retry_after)
            if time.monotonic() + delay > deadline:
                return False
            attempt += 1
            await asyncio.sleep(delay)
            continue
        except FunctionError:
            return False
        visitor.on_update(update)
        return update.reset is None


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


async def _read_rows(
    rest: httpx.AsyncClient, column: str, values: Sequence[str], deadline: float
) -> list[TruthRow]:
    """Messages whose `column` is one of `values`, through REST with the service role."""
    rows: list[TruthRow] = []
    ordered = sorted(set(values))
    for start in range(0, len(ordered), 25):
        chunk = ordered[start : start + 25]
        offset = 0
        while True:  # page until an empty page: a server's max-rows may cap any page
            params = {
                "select": _TRUTH_FIELDS,
                column: f"in.({','.join(chunk)})",
                "order": "id",
                "offset": str(offset),
                "limit": str(_PAGE),
            }
            page = await _get_json(rest, "/chat_messages", params, deadline)
            rows += [
                TruthRow(r["id"], r["conversation_id"], r["sender_type"], bool(r["is_internal"]))
                for r in page
            ]
            if not page:
                break
            offset += len(page)
    return rows


async def _get_json(
    rest: httpx.AsyncClient, path: str, params: dict[str, str], deadline: float
) -> list[dict[str, Any]]:
    attempt = 0
    while True:
        try:
            response = await rest.get(path, params=params)
            if response.status_code == 200:
                data = response.json()
                if isinstance(data, list):
                    return data
            problem = f"HTTP {response.status_code}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        delay = backoff_delay(attempt, cap=2.0)
        if time.monotonic() + delay > deadline:
            raise ToolkitError(f"cannot read the messages back through REST ({problem})")
        attempt += 1
        await asyncio.sleep(delay)
