-- Per-conversation visitor secret. Only its lowercase hex SHA-256 is stored; the raw
-- token lives in the visitor's browser. Unique so that one hash opens one conversation;
-- partial because legacy conversations have none until they are issued one.
alter table public.chat_conversations
  add column if not exists access_token_hash text;

create unique index if not exists idx_chat_conversations_access_token_hash_unique
  on public.chat_conversations (access_token_hash)
  where access_token_hash is not null;
