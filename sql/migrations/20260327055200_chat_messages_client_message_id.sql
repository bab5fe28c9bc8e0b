-- Idempotent sends: a widget that retries after a timeout repeats its clientMessageId,
-- and the unique index turns the repeat into a no-op instead of a second message.
-- Not partial, so PostgREST's on_conflict can name it; NULLs never collide.
alter table public.chat_messages
  add column if not exists client_message_id text;

create unique index if not exists idx_chat_messages_client_message_id_unique
  on public.chat_messages (conversation_id, client_message_id);
