-- Lossless incremental sync. `created_at` is the transaction's start time, so a message
-- whose transaction commits late can carry a timestamp older than messages a poller has
-- already seen; a timestamp cursor would skip it. Each message is therefore tagged with
-- the id of the transaction that wrote it, and a sync cursor is the xmin of the reader's
-- snapshot: every transaction below it had finished when the poller read, so asking next
-- time for `sync_xid >= cursor` can repeat a message (the client dedupes by id) but can
-- never miss one. xid8 does not wrap around. The index keeps an incremental sync's cost
-- independent of how long the conversation is.
alter table public.chat_messages
  add column if not exists sync_xid xid8 not null default pg_current_xact_id();

create index if not exists idx_chat_messages_conversation_sync_xid
  on public.chat_messages (conversation_id, sync_xid);

create index if not exists idx_chat_messages_conversation_created_at
  on public.chat_messages (conversation_id, created_at, id);
