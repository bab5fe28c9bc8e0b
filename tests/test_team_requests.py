"""The team console's request shaping, without a server: the exact PostgREST calls."""

from __future__ import annotations

from toolkit.ops import team

CID = "00000000-0000-4000-8000-00000000a001"


def test_a_reply_and_a_note_differ_only_in_is_internal() -> None:
    """Both are team messages returned in full; only the note sets is_internal."""
    reply = team.message_request(CID, "Dana", "Hi", internal=False)
    note = team.message_request(CID, "Dana", "Hi", internal=True)
    assert (reply.method, reply.path, reply.prefer) == (
        "POST",
        "/chat_messages",
        "return=representation",
    )
    assert reply.body == {
        "conversation_id": CID,
        "sender_type": "team",
        "sender_name": "Dana",
        "message_text": "Hi",
        "is_internal": False,
    }
    assert note.body == {**reply.body, "is_internal": True}


def test_typing_upserts_one_row_per_team_member_name() -> None:
    """The same name always types as the same user id, so --stop clears the row it wrote."""
    start = team.typing_request(CID, "Dana", True, "2026-01-01T00:00:00+00:00")
    stop = team.typing_request(CID, "Dana", False, "2026-01-01T00:00:05+00:00")
    assert start.params == {"on_conflict": "conversation_id,user_id"}
    assert start.prefer == "resolution=merge-duplicates,return=minimal"
    assert start.body is not None and stop.body is not None
    assert start.body["user_id"] == stop.body["user_id"] == str(team.team_user_id("Dana"))
    assert team.team_user_id("Dana") != team.team_user_id("Sam")
    assert (start.body["is_typing"], stop.body["is_typing"]) == (True, False)


def test_a_message_row_maps_to_the_sync_shape() -> None:
    """visitor_message gives the five fields chat-visitor-sync returns, nothing more."""
    row = {
        "id": "m1",
        "sender_type": "team",
        "sender_name": "Dana",
        "message_text": "Hi",
        "is_internal": False,
        "created_at": "2026-01-01T00:00:00+00:00",
    }
    assert team.visitor_message(row) == {
        "id": "m1",
        "senderType": "team",
        "senderName": "Dana",
        "text": "Hi",
        "createdAt": "2026-01-01T00:00:00+00:00",
    }


def test_printable_escapes_what_could_drive_a_terminal() -> None:
    """ANSI escapes, newlines, tabs and bidi overrides become escapes; other text stays."""
    assert team.printable("a\x1b[31mb\nc\td\u202ee") == "a\\x1b[31mb\\nc\\td\\u202ee"
    assert team.printable("Grüße, 你好 <b>") == "Grüße, 你好 <b>"
