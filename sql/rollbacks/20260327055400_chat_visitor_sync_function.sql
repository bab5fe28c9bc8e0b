-- Rollback: chat-visitor-sync answers 503 until the function is back.
drop function if exists public.chat_visitor_sync(uuid, text, xid8, timestamptz, integer);
drop function if exists public.chat_visitor_message(public.chat_messages);
