-- Rollback: retried first messages may open several conversations again, revocations are
-- forgotten (a revoked conversation may be keyed again by bootstrap) and token ages unknown.
delete from public.chat_access_events where event = 'token_revoked';

alter table public.chat_access_events
  drop constraint if exists chat_access_events_event_check;

alter table public.chat_access_events
  add constraint chat_access_events_event_check check (event in (
    'token_issued', 'token_bootstrapped', 'tokenless_accepted'));

drop index if exists public.idx_chat_conversations_first_message_unique;

alter table public.chat_conversations
  drop column if exists first_client_message_id,
  drop column if exists access_token_issued_at,
  drop column if exists token_revoked_at;
