-- Conversation lifecycle (CONTRACT §3, §4).
-- first_client_message_id: the clientMessageId of the message that created the
-- conversation. Unique per visitor, so a retried (or concurrent) first message finds the
-- conversation its first try created instead of opening another; not partial, so
-- PostgREST's on_conflict can name it, and NULLs (no clientMessageId) never collide.
-- access_token_issued_at: when the current hash was stored (CHAT_TOKEN_MAX_AGE_DAYS).
-- token_revoked_at: set by `chat-toolkit tokens revoke`; a revoked conversation is never
-- keyed again (no bootstrap, no auto-issue).
alter table public.chat_conversations
  add column if not exists first_client_message_id text,
  add column if not exists access_token_issued_at timestamptz,
  add column if not exists token_revoked_at timestamptz;

create unique index if not exists idx_chat_conversations_first_message_unique
  on public.chat_conversations (visitor_id, first_client_message_id);

alter table public.chat_access_events
  drop constraint if exists chat_access_events_event_check;

alter table public.chat_access_events
  add constraint chat_access_events_event_check check (event in (
    'token_issued', 'token_bootstrapped', 'tokenless_accepted', 'token_revoked'));

-- The team reads every column but access_token_hash (20260327061000); these are no
-- secret beyond what chat_messages.client_message_id already shows it, and only the
-- functions and the operator CLI write them.
grant select (first_client_message_id, access_token_issued_at, token_revoked_at)
  on table public.chat_conversations to authenticated;
