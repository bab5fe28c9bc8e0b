-- Issue 14 in the database: chat_visitor_sync_v2 (bounded pages, the snapshot cursor,
-- resync), chat_sync_epoch, the typing clock and the long-poll notifications.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(25);

select is(
  (select proconfig from pg_proc where oid = 'public.chat_visitor_sync_v2(uuid, text,
     pg_snapshot, uuid, xid8, uuid, timestamptz, timestamptz, uuid, integer, integer,
     integer)'::regprocedure),
  array['search_path=""'],
  'chat_visitor_sync_v2 pins search_path to empty'
);
select ok(
  not (select prosecdef from pg_proc where proname = 'chat_visitor_sync_v2'),
  'chat_visitor_sync_v2 is not SECURITY DEFINER'
);
select ok(
  (select provolatile = 's' from pg_proc where proname = 'chat_visitor_sync_v2'),
  'chat_visitor_sync_v2 is STABLE: its statements read the snapshot it reports'
);
select ok(
  not has_function_privilege('public', 'public.chat_visitor_sync_v2(uuid, text, pg_snapshot,
     uuid, xid8, uuid, timestamptz, timestamptz, uuid, integer, integer, integer)', 'execute')
  and not has_function_privilege('anon', 'public.chat_visitor_sync_v2(uuid, text, pg_snapshot,
     uuid, xid8, uuid, timestamptz, timestamptz, uuid, integer, integer, integer)', 'execute')
  and not has_function_privilege('authenticated', 'public.chat_visitor_sync_v2(uuid, text,
     pg_snapshot, uuid, xid8, uuid, timestamptz, timestamptz, uuid, integer, integer,
     integer)', 'execute'),
  'PUBLIC, anon and authenticated cannot execute chat_visitor_sync_v2'
);
select ok(
  has_function_privilege('service_role', 'public.chat_visitor_sync_v2(uuid, text, pg_snapshot,
     uuid, xid8, uuid, timestamptz, timestamptz, uuid, integer, integer, integer)', 'execute'),
  'service_role can execute chat_visitor_sync_v2'
);

select table_privs_are(
  'public', 'chat_sync_epoch', 'anon', array[]::text[], 'anon has no privilege on chat_sync_epoch'
);
select table_privs_are(
  'public', 'chat_sync_epoch', 'service_role', array['SELECT'],
  'service_role may only read chat_sync_epoch'
);
select is((select count(*) from public.chat_sync_epoch), 1::bigint, 'chat_sync_epoch has one row');
select ok(
  (select relrowsecurity from pg_class where oid = 'public.chat_sync_epoch'::regclass),
  'chat_sync_epoch has RLS on'
);

insert into public.chat_conversations (id, visitor_id, access_token_hash)
values ('00000000-0000-4000-8000-0000000fb001', 'pgtap-pages-visitor', repeat('e', 64));
insert into public.chat_messages (conversation_id, sender_type, message_text, is_internal)
select '00000000-0000-4000-8000-0000000fb001', 'team', 'page ' || g, g = 3
  from generate_series(1, 5) g;

select is(
  public.chat_visitor_sync_v2('00000000-0000-4000-8000-0000000fb001', repeat('f', 64)),
  null,
  'a wrong token hash gives null'
);
select is(
  jsonb_array_length(public.chat_visitor_sync_v2(
    '00000000-0000-4000-8000-0000000fb001', repeat('e', 64), p_limit => 2) -> 'messages'),
  2,
  'p_limit bounds the page'
);
select is(
  public.chat_visitor_sync_v2(
    '00000000-0000-4000-8000-0000000fb001', repeat('e', 64), p_limit => 2) -> 'hasMore',
  'true'::jsonb,
  'a page cut short says hasMore'
);
select is(
  jsonb_array_length(public.chat_visitor_sync_v2(
    '00000000-0000-4000-8000-0000000fb001', repeat('e', 64), p_max_bytes => 1) -> 'messages'),
  1,
  'p_max_bytes bounds the page, but one message always comes'
);
select is(
  (select array_agg(k order by k) from jsonb_object_keys(public.chat_visitor_sync_v2(
     '00000000-0000-4000-8000-0000000fb001', repeat('e', 64)) #> '{messages,0}') k),
  array['createdAt', 'id', 'senderName', 'senderType', 'text'],
  'a page exposes exactly the visitor-safe fields of a message'
);
select is(
  (select array_agg(k order by k) from jsonb_object_keys(public.chat_visitor_sync_v2(
     '00000000-0000-4000-8000-0000000fb001', repeat('e', 64),
     p_snapshot => pg_current_snapshot()) #> '{messages,0}') k),
  array['createdAt', 'id', 'senderName', 'senderType', 'text'],
  'an incremental answer exposes exactly the visitor-safe fields of a message'
);
select is(
  array(select m ->> 'text' from jsonb_array_elements(public.chat_visitor_sync_v2(
    '00000000-0000-4000-8000-0000000fb001', repeat('e', 64)) -> 'messages') m order by 1),
  array['page 1', 'page 2', 'page 4', 'page 5'],
  'an uncut page holds every visible message and no internal note'
);
select is(
  jsonb_array_length(public.chat_visitor_sync_v2(
    '00000000-0000-4000-8000-0000000fb001', repeat('e', 64),
    p_snapshot => pg_current_snapshot()) -> 'messages'),
  4,
  'a snapshot taken while the writing transaction runs gets its messages'
);
update public.chat_messages set sync_xid = '3'
 where conversation_id = '00000000-0000-4000-8000-0000000fb001';
select is(
  jsonb_array_length(public.chat_visitor_sync_v2(
    '00000000-0000-4000-8000-0000000fb001', repeat('e', 64),
    p_snapshot => pg_current_snapshot()) -> 'messages'),
  0,
  'a snapshot that saw the writing transaction end gets nothing new'
);
select is(
  public.chat_visitor_sync_v2(
    '00000000-0000-4000-8000-0000000fb001', repeat('e', 64),
    p_snapshot => pg_current_snapshot(), p_epoch => gen_random_uuid()) #> '{sync,resync}',
  'true'::jsonb,
  'a cursor from another database (epoch) is answered with a resync'
);
select is(
  public.chat_visitor_sync_v2(
    '00000000-0000-4000-8000-0000000fb001', repeat('e', 64),
    p_snapshot => '9223372036854775000:9223372036854775000:') #> '{sync,resync}',
  'true'::jsonb,
  'a cursor from beyond the transaction counter (a restore) is answered with a resync'
);
select is(
  jsonb_array_length(public.chat_visitor_sync_v2(
    '00000000-0000-4000-8000-0000000fb001', repeat('e', 64),
    p_snapshot => '9223372036854775000:9223372036854775000:') -> 'messages'),
  4,
  'a resync answers the newest page'
);

insert into public.team_typing_indicators (conversation_id, user_id, user_name, is_typing, updated_at)
values ('00000000-0000-4000-8000-0000000fb001', gen_random_uuid(), 'Dana', true,
        now() + interval '1 hour');
select is(
  (select updated_at from public.team_typing_indicators
    where conversation_id = '00000000-0000-4000-8000-0000000fb001'),
  now(),
  'a typing row written with a future time is stored with the database''s time'
);
update public.team_typing_indicators set updated_at = now() + interval '1 day'
 where conversation_id = '00000000-0000-4000-8000-0000000fb001';
select is(
  (select updated_at from public.team_typing_indicators
    where conversation_id = '00000000-0000-4000-8000-0000000fb001'),
  now(),
  'an update is stamped with the database''s time too'
);

select is(
  (select proconfig from pg_proc where proname = 'chat_visitor_notify'),
  array['search_path=""'],
  'chat_visitor_notify pins search_path to empty'
);
select is(
  (select count(*)::int from pg_trigger
    where tgfoid = 'public.chat_visitor_notify()'::regprocedure and not tgisinternal),
  5,
  'messages, conversations and typing rows (insert, update, delete) notify'
);

select * from finish();
rollback;
