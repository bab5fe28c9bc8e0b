-- Rollback: retried first messages may open several conversations again, revocations are
-- forgotten (a revoked conversation may be keyed again by bootstrap) and token ages unknown.
delete from public.chat_access_events where event = 'token_revoked';

-- The sync as 20260327055400 made it, before the column it reads goes.
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
           'updatedAt', c.updated_at)
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
