-- Rollback: chat-visitor-sync answers 503 until the function is back (servers that predate
-- it keep using chat_visitor_sync).
drop function if exists public.chat_visitor_sync_v2(
  uuid, text, pg_snapshot, uuid, xid8, uuid, timestamptz, timestamptz, uuid, integer, integer,
  integer);
