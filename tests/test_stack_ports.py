"""The stack's port check binds as its servers do (SO_REUSEADDR): TIME-WAIT sockets that a
stopped stack leaves behind do not block a port, a listener does, with a one-line error."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolkit.errors import StackError
from toolkit.paths import REPO_ROOT
from toolkit.stack.processes import check_port, port_free


def listener() -> socket.socket:
    """A loopback listener set up as nginx, PostgreSQL and uvicorn set theirs up."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    return server


def time_wait_states(port: int) -> int:
    """How many TIME-WAIT sockets have 127.0.0.1:port as their local end (/proc/net/tcp)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(
        1 for row in rows if row.split()[1] == f"0100007F:{port:04X}" and row.split()[3] == "06"
    )


@pytest.fixture()
def port_in_time_wait() -> Iterator[int]:
    """A port whose listener is gone and whose server side closed first: what `stack down`
    leaves behind on the API port."""
    server = listener()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server closes first, so its end goes to TIME-WAIT
    client.recv(1)  # the FIN
    client.close()
    server.close()
    assert time_wait_states(port) >= 1
    yield port


def test_a_port_in_time_wait_is_accepted(port_in_time_wait: int) -> None:
    """Only TIME-WAIT remains: a server binding with SO_REUSEADDR gets the port, so the
    check lets it through."""
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind(("127.0.0.1", port_in_time_wait))  # the check without SO_REUSEADDR
    assert port_free(port_in_time_wait)
    assert check_port(port_in_time_wait, "--api-port") == port_in_time_wait


def test_a_port_listened_on_is_refused() -> None:
    """A port a server listens on is refused, naming the flag that chooses another."""
    with listener() as server:
        port = server.getsockname()[1]
        assert not port_free(port)
        with pytest.raises(StackError) as caught:
            check_port(port, "--api-port")
    assert str(caught.value) == f"port {port} is taken; free it or choose another with --api-port"


def test_stack_up_on_a_taken_port_is_one_line(tmp_path: Path) -> None:
    """`stack up --api-port P` with P listened on: one line and a failing exit, nothing
    started."""
    with listener() as server:
        port = server.getsockname()[1]
        argv = ["stack", "up", "--detach", "--dir", f"{tmp_path}/stack", "--api-port", str(port)]
        result = subprocess.run(
            [sys.executable, "-m", "toolkit.cli", *argv],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            env={k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "CHAT_"))},
            timeout=60,
            check=False,
        )
    assert result.returncode != 0
    assert result.stderr == (
        f"chat-toolkit: port {port} is taken; free it or choose another with --api-port\n"
    )
    assert result.stdout == ""
