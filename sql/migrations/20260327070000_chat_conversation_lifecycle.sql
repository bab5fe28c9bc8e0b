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

-- Tokens stored before this migration count as issued now: CHAT_TOKEN_MAX_AGE_DAYS gives
-- them a full lifetime from here instead of ending them all at once.
update public.chat_conversations
   set access_token_issued_at = now()
 where access_token_hash is not null and access_token_issued_at is null;

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

-- The sync also returns when the token was issued (`tokenIssuedAt`), so that the functions
-- can apply CHAT_TOKEN_MAX_AGE_DAYS in the same single round trip; they strip it from the
-- answer. Same signature as 20260327055400, so its grants stay.
create or replace function public.chat_visitor_sync(
  p_conversation_id uuid,
  p_token_hash text,
  p_after_xid xid8 default null,
  p_since timestamptz default null,
  p_typing_ttl_seconds integer default 8
) returns jsonb
language plpgsql
stable
security invoker
set search_path = ''
as $$
-- plpgsql so that each way of reading messages is its own statement with its own cached
-- plan: a single `(p_after_xid is null or ...)` query gets a generic plan that scans the
-- whole conversation instead of the (conversation_id, sync_xid) index.
declare
  conversation jsonb;
  messages jsonb;
  typing jsonb;
begin
  select jsonb_build_object(
           'id', c.id,
           'status', c.status,
           'escalated', c.status = 'escalated',
           'escalatedAt', c.escalated_at,
           'escalationReason', c.escalation_reason,
           'updatedAt', c.updated_at,
           'tokenIssuedAt', c.access_token_issued_at)
    into conversation
    from public.chat_conversations c
   where c.id = p_conversation_id
     and c.access_token_hash = p_token_hash;
  if conversation is null then
    return null;
  end if;

  if p_after_xid is not null then
    select jsonb_agg(public.chat_visitor_message(m) order by m.created_at, m.id) into messages
      from public.chat_messages m
     where m.conversation_id = p_conversation_id
       and m.sync_xid >= p_after_xid
       and not coalesce(m.is_internal, false);
  elsif p_since is not null then
    select jsonb_agg(public.chat_visitor_message(m) order by m.created_at, m.id) into messages
      from public.chat_messages m
     where m.conversation_id = p_conversation_id
       and m.created_at >= p_since
       and not coalesce(m.is_internal, false);
  else
    select jsonb_agg(public.chat_visitor_message(m) order by m.created_at, m.id) into messages
      from public.chat_messages m
     where m.conversation_id = p_conversation_id
       and not coalesce(m.is_internal, false);
  end if;

  select jsonb_build_object('isTyping', true, 'name', t.user_name) into typing
    from public.team_typing_indicators t
   where t.conversation_id = p_conversation_id
     and t.is_typing
     and t.updated_at > now() - make_interval(secs => p_typing_ttl_seconds)
   order by t.updated_at desc
   limit 1;

  return jsonb_build_object(
    'conversation', conversation,
    'messages', coalesce(messages, '[]'::jsonb),
    'typing', coalesce(typing, jsonb_build_object('isTyping', false, 'name', null)),
    'cursor', pg_snapshot_xmin(pg_current_snapshot())::text);
end
$$;
