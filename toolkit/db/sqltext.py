"""Splitting a SQL file into statements, the way the Supabase CLI records them."""

from __future__ import annotations

__all__ = ["split_statements"]


def split_statements(sql: str) -> list[str]:
    """Split on top-level semicolons, respecting quotes, comments and dollar quoting.

    Comment-only fragments are dropped; each statement is returned trimmed and
    without its terminating semicolon.
    """
    statements: list[str] = []
    start = i = 0
    n = len(sql)
    while i < n:
        ch = sql[i]
        if ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif ch == "/" and sql.startswith("/*", i):
            i = _skip_block_comment(sql, i)
        elif ch == "'":
            escaped = i > 0 and sql[i - 1] in "eE" and (i < 2 or not sql[i - 2].isalnum())
            i = _skip_quoted(sql, i, "'", backslash=escaped)
        elif ch == '"':
            i = _skip_quoted(sql, i, '"', backslash=False)
        elif ch == "$" and (tag := _dollar_tag(sql, i)) is not None:
            end = sql.find(tag, i + len(tag))
            i = n if end < 0 else end + len(tag)
        elif ch == ";":
            _append(statements, sql[start:i])
            start = i = i + 1
        else:
            i += 1
    _append(statements, sql[start:])
    return statements


def _append(statements: list[str], fragment: str) -> None:
    text = fragment.strip()
    if text and _is_code(text):
        statements.append(text)


def _is_code(text: str) -> bool:
    """True when the fragment holds more than comments and blank space."""
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif text.startswith("/*", i):
            i = _skip_block_comment(text, i)
        else:
            return True
    return False


def _skip_block_comment(sql: str, i: int) -> int:
    depth, i = 1, i + 2
    while i < len(sql) and depth:
        if sql.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif sql.startswith("*/", i):
            depth, i = depth - 1, i + 2
        else:
            i += 1
    return i


def _skip_quoted(sql: str, i: int, quote: str, *, backslash: bool) -> int:
    i += 1
    while i < len(sql):
        if backslash and sql[i] == "\\":
            i += 2
        elif sql[i] == quote:
            if sql.startswith(quote * 2, i):
                i += 2
            else:
                return i + 1
        else:
            i += 1
    return i


def _dollar_tag(sql: str, i: int) -> str | None:
    """The `$tag$` opening a dollar-quoted string at i, or None (e.g. a `$1` parameter)."""
    if i > 0 and (sql[i - 1].isalnum() or sql[i - 1] == "_"):
        return None
    j = i + 1
    while j < len(sql) and (sql[j].isalnum() or sql[j] == "_"):
        j += 1
    if j < len(sql) and sql[j] == "$" and not sql[i + 1 : j][:1].isdigit():
        return sql[i : j + 1]
    return None
