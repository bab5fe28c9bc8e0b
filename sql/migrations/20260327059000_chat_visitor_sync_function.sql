-- One PostgREST round trip per steady-state sync: the token check, the visitor-safe
-- messages since the cursor and the typing indicator in a single indexed query.
-- Returns null when no conversation has that id and token hash, so "unknown id" and
-- "wrong token" cannot be told apart. Only the functions (service role) may call it.
create or replace function public.chat_visitor_sync(
  p_conversation_id uuid,
  p_token_hash text,
  p_after_xid xid8 default null,
  p_since timestamptz default null,
  p_typing_ttl_seconds integer default 8
) returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select jsonb_build_object(
    'conversation', jsonb_build_object(
      'id', c.id,
      'status', c.status,
      'escalated', c.status = 'escalated',
      'escalatedAt', c.escalated_at,
      'escalationReason', c.escalation_reason,
      'updatedAt', c.updated_at
    ),
    'messages', coalesce((
      select jsonb_agg(jsonb_build_object(
               'id', m.id,
               'senderType', m.sender_type,
               'senderName', m.sender_name,
               'text', m.message_text,
               'createdAt', m.created_at
             ) order by m.created_at, m.id)
      from public.chat_messages m
      where m.conversation_id = c.id
        and not coalesce(m.is_internal, false)
        and (p_after_xid is null or m.sync_xid >= p_after_xid)
        and (p_since is null or m.created_at >= p_since)
    ), '[]'::jsonb),
    'typing', coalesce((
      select jsonb_build_object('isTyping', true, 'name', t.user_name)
      from public.team_typing_indicators t
      where t.conversation_id = c.id
        and t.is_typing
        and t.updated_at > now() - make_interval(secs => p_typing_ttl_seconds)
      order by t.updated_at desc
      limit 1
    ), jsonb_build_object('isTyping', false, 'name', null)),
    'cursor', pg_snapshot_xmin(pg_current_snapshot())::text
  )
  from public.chat_conversations c
  where c.id = p_conversation_id
    and c.access_token_hash = p_token_hash
$$;

revoke all on function public.chat_visitor_sync(uuid, text, xid8, timestamptz, integer)
  from public, anon, authenticated;
grant execute on function public.chat_visitor_sync(uuid, text, xid8, timestamptz, integer)
  to service_role;
