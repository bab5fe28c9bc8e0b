-- Rollback: cursors already handed out stop working (the sync answers 400 to them).
drop index if exists public.idx_chat_messages_conversation_created_at;
drop index if exists public.idx_chat_messages_conversation_sync_xid;
alter table public.chat_messages drop column if exists sync_xid;
