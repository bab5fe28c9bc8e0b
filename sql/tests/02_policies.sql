-- Row-level security after the cutover: RLS stays on for every chat table, and no policy
-- lets the anon role read chat rows any more.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(6);

-- A policy for PUBLIC applies to anon too, so it counts as an anon policy here.
select is_empty(
  $$ select policyname from pg_policies
     where schemaname = 'public' and tablename = 'chat_conversations'
       and roles && array['anon', 'public']::name[] $$,
  'no policy lets anon read chat_conversations'
);
select is_empty(
  $$ select policyname from pg_policies
     where schemaname = 'public' and tablename = 'chat_messages'
       and roles && array['anon', 'public']::name[] $$,
  'no policy lets anon read chat_messages'
);

select is(
  (select relrowsecurity from pg_class where oid = 'public.chat_conversations'::regclass),
  true,
  'RLS is enabled on chat_conversations'
);
select is(
  (select relrowsecurity from pg_class where oid = 'public.chat_messages'::regclass),
  true,
  'RLS is enabled on chat_messages'
);
select is(
  (select relrowsecurity from pg_class where oid = 'public.team_typing_indicators'::regclass),
  true,
  'RLS is enabled on team_typing_indicators'
);
select is(
  (select relrowsecurity from pg_class where oid = 'public.chat_access_events'::regclass),
  true,
  'RLS is enabled on chat_access_events'
);

select * from finish();
rollback;
