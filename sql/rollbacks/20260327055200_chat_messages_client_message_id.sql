-- Rollback: retried sends may store a message twice again.
drop index if exists public.idx_chat_messages_client_message_id_unique;
alter table public.chat_messages drop column if exists client_message_id;
