-- One PostgREST round trip per steady-state sync: the token check, the visitor-safe
-- messages since the cursor and the typing indicator in a single indexed query.
-- Returns null when no conversation has that id and token hash, so "unknown id" and
-- "wrong token" cannot be told apart. Only the functions (service role) may call it.
-- The visitor-safe fields of one message: the single place that decides what leaves.
create or replace function public.chat_visitor_message(m public.chat_messages) returns jsonb
language sql
immutable
set search_path = ''
as $$
  select jsonb_build_object(
    'id', m.id,
    'senderType', m.sender_type,
    'senderName', m.sender_name,
    'text', m.message_text,
    'createdAt', m.created_at)
$$;

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

revoke all on function public.chat_visitor_sync(uuid, text, xid8, timestamptz, integer)
  from public, anon, authenticated;
grant execute on function public.chat_visitor_sync(uuid, text, xid8, timestamptz, integer)
  to service_role;
revoke all on function public.chat_visitor_message(public.chat_messages)
  from public, anon, authenticated;
grant execute on function public.chat_visitor_message(public.chat_messages) to service_role;
