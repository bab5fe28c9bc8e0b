-- Sync at scale (issue 14): every answer is bounded, and an incremental answer holds only
-- what the previous one could not have seen, even while unrelated transactions stay open.
--
-- The cursor of 20260327055400 was the reader's snapshot xmin: while any transaction held
-- an id, xmin stood still and every sync repeated everything written since. Here the
-- functions hand back the reader's whole snapshot (xmin, xmax, in-progress list) and ask
-- next time for `sync_xid >= xmin and not pg_visible_in_snapshot(sync_xid, snapshot)`:
-- exactly the transactions that had not committed when the previous answer was read.
-- The `sync_xid >= xmin` bound keeps the (conversation_id, sync_xid) index in use.
--
-- A page that stops short (p_limit messages, or p_max_bytes of message JSON) reports where
-- it stopped (`cut`: the last transaction and message id, and whether that transaction was
-- delivered whole); the functions fold that into the next cursor, and a transaction cut in
-- the middle comes back as p_marker_xid / p_marker_id and is finished first. Without a
-- snapshot the answer is the newest page (optionally only messages at or after p_since,
-- or older than p_before_at/p_before_id); its first (oldest) message is where the next
-- older page starts. The extra fields under `sync` are for the functions only; they never
-- reach a visitor.
--
-- A snapshot from another database (p_epoch differs from chat_sync_epoch) or from this
-- one before a restore (its xmax lies beyond the current one) is answered as a full
-- resync (`sync.resync`), never as a delta that could skip messages.
--
-- chat_visitor_sync (20260327055400) stays for functions servers not yet upgraded.
create or replace function public.chat_visitor_sync_v2(
  p_conversation_id uuid,
  p_token_hash text,
  p_snapshot pg_snapshot default null,
  p_epoch uuid default null,
  p_marker_xid xid8 default null,
  p_marker_id uuid default null,
  p_since timestamptz default null,
  p_before_at timestamptz default null,
  p_before_id uuid default null,
  p_limit integer default 100,
  p_max_bytes integer default 262144,
  p_typing_ttl_seconds integer default 8
) returns jsonb
language plpgsql
stable  -- every statement reads the caller's snapshot, the one pg_current_snapshot() names
security invoker
set search_path = ''
as $$
-- Two statements, one per index: a single query serving both ways of reading gets a
-- generic plan that scans the whole conversation. The visitor-safe fields of a message are
-- spelled out in both (the same five as chat_visitor_message; sql/tests/06 holds them to
-- it): calling that function per row cost ~50 us each, because a function with its own
-- search_path is never inlined and sets and restores the setting on every call.
declare
  reader pg_snapshot := pg_current_snapshot();
  epoch uuid;
  conversation jsonb;
  typing jsonb;
  typing_expires_in double precision;
  page jsonb;
  resync boolean;
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

  select e.id into epoch from public.chat_sync_epoch e;
  resync := p_snapshot is not null
    and ((p_epoch is not null and p_epoch is distinct from epoch)
         or pg_snapshot_xmax(p_snapshot) > pg_snapshot_xmax(reader));

  if p_snapshot is not null and not resync then
    with candidates as (
      select m.sync_xid, m.id, m.created_at,
             jsonb_build_object(
               'id', m.id,
               'senderType', m.sender_type,
               'senderName', m.sender_name,
               'text', m.message_text,
               'createdAt', m.created_at) as message,
             coalesce(m.sync_xid = p_marker_xid, false) as resumed
        from public.chat_messages m
       where m.conversation_id = p_conversation_id
         and m.sync_xid >= pg_snapshot_xmin(p_snapshot)
         and not pg_visible_in_snapshot(m.sync_xid, p_snapshot)
         and (p_marker_xid is null or m.sync_xid <> p_marker_xid or m.id > p_marker_id)
         and not coalesce(m.is_internal, false)
       order by resumed desc, m.sync_xid, m.id
       limit p_limit + 1
    ), ranked as (
      select c.*,
             row_number() over w as n,
             sum(octet_length(c.message::text)) over w as bytes,
             lead(c.sync_xid) over w as next_xid
        from candidates c
      window w as (order by c.resumed desc, c.sync_xid, c.id
                   rows between unbounded preceding and current row)
    ), kept as (
      select r.*, r.n = 1 or (r.n <= p_limit and r.bytes <= p_max_bytes) as kept from ranked r
    )
    select jsonb_build_object(
             'messages', coalesce(
               jsonb_agg(k.message order by k.created_at, k.id) filter (where k.kept), '[]'),
             'hasMore', coalesce(bool_or(not k.kept), false),
             'cut', (array_agg(jsonb_build_object(
                       'xid', k.sync_xid::text,
                       'id', k.id,
                       'complete', k.next_xid is distinct from k.sync_xid)
                     order by k.n desc) filter (where k.kept))[1])
      into page
      from kept k;
  else
    with candidates as (
      select m.id, m.created_at,
             jsonb_build_object(
               'id', m.id,
               'senderType', m.sender_type,
               'senderName', m.sender_name,
               'text', m.message_text,
               'createdAt', m.created_at) as message
        from public.chat_messages m
       where m.conversation_id = p_conversation_id
         and m.created_at >= coalesce(p_since, '-infinity')
         and (m.created_at, m.id) < (coalesce(p_before_at, 'infinity'),
                                     coalesce(p_before_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
         and not coalesce(m.is_internal, false)
       order by m.created_at desc, m.id desc
       limit p_limit + 1
    ), ranked as (
      select c.*,
             row_number() over w as n,
             sum(octet_length(c.message::text)) over w as bytes
        from candidates c
      window w as (order by c.created_at desc, c.id desc
                   rows between unbounded preceding and current row)
    ), kept as (
      select r.*, r.n = 1 or (r.n <= p_limit and r.bytes <= p_max_bytes) as kept from ranked r
    )
    select jsonb_build_object(
             'messages', coalesce(
               jsonb_agg(k.message order by k.created_at, k.id) filter (where k.kept), '[]'),
             'hasMore', coalesce(bool_or(not k.kept), false))
      into page
      from kept k;
  end if;

  select jsonb_build_object('isTyping', true, 'name', t.user_name),
         extract(epoch from t.updated_at + make_interval(secs => p_typing_ttl_seconds) - now())
    into typing, typing_expires_in
    from public.team_typing_indicators t
   where t.conversation_id = p_conversation_id
     and t.is_typing
     and t.updated_at > now() - make_interval(secs => p_typing_ttl_seconds)
   order by t.updated_at desc
   limit 1;

  return jsonb_build_object(
    'conversation', conversation,
    'messages', page -> 'messages',
    'hasMore', page -> 'hasMore',
    'typing', coalesce(typing, jsonb_build_object('isTyping', false, 'name', null)),
    'sync', jsonb_build_object(
      'snapshot', reader::text,
      'epoch', epoch,
      'resync', resync,
      'cut', page -> 'cut',
      'typingExpiresIn', typing_expires_in));
end
$$;

revoke all on function public.chat_visitor_sync_v2(
  uuid, text, pg_snapshot, uuid, xid8, uuid, timestamptz, timestamptz, uuid, integer, integer,
  integer) from public, anon, authenticated;
grant execute on function public.chat_visitor_sync_v2(
  uuid, text, pg_snapshot, uuid, xid8, uuid, timestamptz, timestamptz, uuid, integer, integer,
  integer) to service_role;
