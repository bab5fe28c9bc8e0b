"""Exit codes: each error class carries its code, and each CLI path ends with the right one."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit import errors
from toolkit.cli import BUG_EXIT_CODE, main
from toolkit.ops.verify import Check, Report


@pytest.fixture(autouse=True)
def _no_exported_target(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing from the shell or a `.env` in the working folder picks the target."""
    for name in ("SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_SERVICE_ROLE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("SUPABASE_DB_URL", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (errors.ToolkitError, 4),
        (errors.CheckFailed, 1),
        (errors.UsageError, 2),
        (errors.ConfigError, 2),
        (errors.Unreachable, 3),
        (errors.Interrupted, 130),
        (errors.StackError, 4),
        (errors.MigrationError, 4),
        (errors.FunctionError, 4),
        (errors.Forbidden, 4),
        (errors.UpstreamUnavailable, 3),
    ],
)
def test_each_class_carries_its_exit_code(cls: type[errors.ToolkitError], code: int) -> None:
    """0 ok, 1 a check failed, 2 usage or configuration, 3 unreachable, 4 other, 130 interrupted."""
    assert cls.exit_code == code


def test_the_code_map_holds_every_function_error() -> None:
    """FUNCTION_ERRORS_BY_CODE maps each answer code to the class that carries it."""
    leaves = set(errors.FunctionError.__subclasses__())
    assert set(errors.FUNCTION_ERRORS_BY_CODE.values()) == leaves
    assert all(code == cls.code for code, cls in errors.FUNCTION_ERRORS_BY_CODE.items())


def _env_file(tmp_path: Path, url: str) -> str:
    path = tmp_path / "target.env"
    path.write_text(f"SUPABASE_URL={url}\nSUPABASE_ANON_KEY=a\nSUPABASE_SERVICE_ROLE_KEY=s\n")
    return str(path)


def _one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("chat-toolkit: "), err
    return lines[0]


@pytest.mark.parametrize("argv", [["no-such-command"], ["verify", "--no-such-flag"], []])
def test_argparse_errors_exit_2(argv: list[str]) -> None:
    """argparse's own errors (unknown command or flag, none given) exit 2."""
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--workers", "0"],
        ["chat", "--interval", "0"],
        ["bench", "--concurrency", "x"],
        ["rollout", "status", "--days", "0"],
        ["soak", "--visitors", "0"],
        ["soak", "--workers", "0"],
    ],
)
def test_a_flag_out_of_range_exits_2(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A malformed or out-of-range flag is a UsageError: one line, exit 2."""
    if argv[0] == "rollout":
        env = tmp_path / "db.env"
        env.write_text("SUPABASE_DB_URL=postgresql://postgres@127.0.0.1:1/postgres\n")
        argv = [*argv, "--env-file", str(env)]
    assert main(argv) == 2
    _one_line(capsys.readouterr().err)


def test_a_missing_env_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An --env-file that does not exist is a ConfigError: exit 2, naming the file."""
    assert main(["verify", "--env-file", str(tmp_path / "missing.env")]) == 2
    assert _one_line(capsys.readouterr().err) == (
        f"chat-toolkit: env file {tmp_path / 'missing.env'} does not exist"
    )


def test_a_missing_setting_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """verify without SUPABASE_URL cannot run: exit 2, not 1 (1 is for a FAIL)."""
    empty = tmp_path / "empty.env"
    empty.write_text("")
    assert main(["verify", "--env-file", str(empty)]) == 2
    assert _one_line(capsys.readouterr().err).startswith("chat-toolkit: SUPABASE_URL is not set")


def test_an_unreachable_api_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """verify against a closed port cannot look: exit 3, one line naming the URL."""
    assert main(["verify", "--env-file", _env_file(tmp_path, "http://127.0.0.1:1")]) == 3
    assert _one_line(capsys.readouterr().err).startswith(
        "chat-toolkit: cannot reach the Supabase API at http://127.0.0.1:1 "
    )


def test_an_unreachable_database_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """rollout status against a closed database port: exit 3."""
    env = tmp_path / "db.env"
    env.write_text("SUPABASE_DB_URL=postgresql://postgres:secret@127.0.0.1:1/postgres\n")
    assert main(["rollout", "status", "--env-file", str(env)]) == 3
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("chat-toolkit: cannot connect to the database at 127.0.0.1:1 ")
    assert "secret" not in line


def test_a_verify_fail_exits_1_and_names_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A FAIL is CheckFailed: exit 1, the summary on stdout and the failed ids on stderr."""
    report = Report((Check("rest.a", "PASS", "ok"), Check("rest.b", "FAIL", "open")))
    monkeypatch.setattr("toolkit.ops.verify.verify", lambda *_a, **_k: report)
    assert main(["verify", "--env-file", _env_file(tmp_path, "http://127.0.0.1:1")]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == "verify FAILED: 1 pass, 1 fail, 0 warn, 0 skip"
    assert _one_line(err) == "chat-toolkit: 1 check(s) FAILed: rest.b"


def test_a_verify_pass_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """WARN and SKIP do not fail a run: exit 0, nothing on stderr."""
    report = Report((Check("rest.a", "PASS", "ok"), Check("lint.x", "WARN", "w")))
    monkeypatch.setattr("toolkit.ops.verify.verify", lambda *_a, **_k: report)
    assert main(["verify", "--env-file", _env_file(tmp_path, "http://127.0.0.1:1")]) == 0
    assert capsys.readouterr().err == ""


def test_no_stack_exits_4(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`stack env` without a running stack is a StackError: exit 4."""
    assert main(["stack", "env", "--dir", str(tmp_path / "none")]) == 4
    assert "no running stack" in _one_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("raised", "code", "line"),
    [
        (KeyboardInterrupt(), 130, "chat-toolkit: interrupted"),
        (RuntimeError("boom"), BUG_EXIT_CODE, "chat-toolkit: unexpected RuntimeError: boom "),
    ],
)
def test_interrupt_and_bug_exit_codes(
    raised: BaseException,
    code: int,
    line: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ctrl-C exits 130; an unexpected exception exits 70 with one line, no traceback."""

    def explode(*_a: object, **_k: object) -> Report:
        raise raised

    monkeypatch.delenv("CHAT_TOOLKIT_DEBUG", raising=False)
    monkeypatch.setattr("toolkit.ops.verify.verify", explode)
    assert main(["verify", "--env-file", _env_file(tmp_path, "http://127.0.0.1:1")]) == code
    assert _one_line(capsys.readouterr().err).startswith(line)
