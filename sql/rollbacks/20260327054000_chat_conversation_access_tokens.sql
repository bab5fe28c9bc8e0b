-- Rollback: every issued token stops working; visitors fall back to bootstrap.
drop index if exists public.idx_chat_conversations_access_token_hash_unique;
alter table public.chat_conversations drop column if exists access_token_hash;
