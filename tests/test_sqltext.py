"""split_statements cuts SQL where the Supabase CLI would, and nowhere else."""

from __future__ import annotations

import pytest

from toolkit.db.sqltext import split_statements
from toolkit.paths import MIGRATIONS_DIR

# Statement count of every migration file; a new migration must be added here.
MIGRATION_STATEMENTS = {
    "20260327054000_chat_conversation_access_tokens.sql": 2,
    "20260327055000_chat_remove_anon_table_read_access.sql": 4,
    "20260327055100_chat_messages_sync_cursor.sql": 3,
    "20260327055200_chat_messages_client_message_id.sql": 2,
    "20260327055300_chat_access_events.sql": 5,
    "20260327055400_chat_visitor_sync_function.sql": 6,
    "20260327060000_chat_revoke_anon_table_access.sql": 3,
    "20260327061000_chat_team_access.sql": 27,
    "20260327062000_chat_sync_epoch.sql": 5,
    "20260327062100_chat_visitor_sync_pages.sql": 3,
    "20260327062200_chat_typing_database_clock.sql": 4,
    "20260327062300_chat_visitor_notify.sql": 12,
}


def test_plain_statements_are_trimmed_without_semicolons() -> None:
    """Top-level semicolons end statements, which come back trimmed and without the `;`."""
    assert split_statements("  select 1 ;\n\nselect 2;  ") == ["select 1", "select 2"]


def test_semicolon_in_single_quotes() -> None:
    """A semicolon inside a string literal, also next to a doubled quote, does not split."""
    sql = "insert into t values ('a;b', 'it''s; fine'); select 2"
    assert split_statements(sql) == ["insert into t values ('a;b', 'it''s; fine')", "select 2"]


def test_escape_string_with_backslash_quote() -> None:
    """In an E'' string a backslash-escaped quote does not end the string."""
    sql = r"select E'it\'s; here', e'\\'; select 2"
    assert split_statements(sql) == [r"select E'it\'s; here', e'\\'", "select 2"]


def test_plain_string_ending_in_backslash() -> None:
    """A backslash ends a standard string literally (standard_conforming_strings)."""
    assert split_statements(r"select 'C:\'; select 2") == [r"select 'C:\'", "select 2"]


def test_double_quoted_identifiers() -> None:
    """Semicolons and doubled quotes inside double-quoted identifiers do not split."""
    sql = 'create table "a;b" ("x""y;" int); select 2'
    assert split_statements(sql) == ['create table "a;b" ("x""y;" int)', "select 2"]


def test_dollar_quoted_bodies() -> None:
    """Function bodies in `$$` and `$tag$` keep their semicolons, even with a nested `$$`."""
    sql = (
        "create function f() returns int language sql as $$ select 1; $$;\n"
        "do $body$ begin perform 'x;'; execute $$select 2;$$; end $body$;\n"
        "select 3"
    )
    assert split_statements(sql) == [
        "create function f() returns int language sql as $$ select 1; $$",
        "do $body$ begin perform 'x;'; execute $$select 2;$$; end $body$",
        "select 3",
    ]


def test_positional_parameters_are_not_dollar_quotes() -> None:
    """`$1` and `$2` are parameters, so the semicolon after them still splits."""
    sql = "prepare p as select $1, $2; select 'after'"
    assert split_statements(sql) == ["prepare p as select $1, $2", "select 'after'"]


def test_line_and_nested_block_comments() -> None:
    """Semicolons in `--` and nested `/* */` comments do not split; the comments stay put."""
    sql = "select 1 -- not here; no\n; /* outer /* inner; */ still; */ select 2; select 3"
    assert split_statements(sql) == [
        "select 1 -- not here; no",
        "/* outer /* inner; */ still; */ select 2",
        "select 3",
    ]


def test_comment_only_fragments_are_dropped() -> None:
    """Fragments holding only comments and blanks produce no statement."""
    sql = "-- header\nselect 1;\n/* done */;\n;\n-- the end"
    assert split_statements(sql) == ["-- header\nselect 1"]


def test_empty_input() -> None:
    """Blank or comment-only SQL has no statements."""
    assert split_statements("  \n-- nothing\n/* at all */ ") == []


@pytest.mark.parametrize("name", sorted(MIGRATION_STATEMENTS))
def test_migration_files_split_into_expected_statements(name: str) -> None:
    """Every migration file splits into its known number of statements."""
    statements = split_statements((MIGRATIONS_DIR / name).read_text(encoding="utf-8"))
    assert len(statements) == MIGRATION_STATEMENTS[name]


def test_every_migration_file_has_a_statement_count() -> None:
    """The table above covers exactly the files in sql/migrations."""
    assert sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql")) == sorted(MIGRATION_STATEMENTS)
