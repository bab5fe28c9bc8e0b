-- Impersonating the anon role exactly as PostgREST does: every direct read of the chat
-- tables and the sync function is refused with 42501, not merely answered with no rows.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(5);

set local role anon;
select set_config('request.jwt.claims', '{"role":"anon"}', true);

select throws_ok(
  'select * from public.chat_messages',
  '42501',
  'permission denied for table chat_messages',
  'anon cannot select chat_messages'
);
select throws_ok(
  'select * from public.chat_conversations',
  '42501',
  'permission denied for table chat_conversations',
  'anon cannot select chat_conversations'
);
select throws_ok(
  $$ select public.chat_visitor_sync(gen_random_uuid(), 'x') $$,
  '42501',
  'permission denied for function chat_visitor_sync',
  'anon cannot execute chat_visitor_sync'
);

reset role;
set local role service_role;
select set_config('request.jwt.claims', '{"role":"service_role"}', true);

select lives_ok(
  'select * from public.chat_messages',
  'service_role can select chat_messages'
);
select lives_ok(
  'select * from public.chat_conversations',
  'service_role can select chat_conversations'
);

reset role;
select * from finish();
rollback;
