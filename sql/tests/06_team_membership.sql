-- Team membership (20260327061000): who may manage it, the definer function the policies
-- call, and policies for authenticated that check membership instead of `using (true)`.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(14);

select has_table('public', 'chat_team_members', 'chat_team_members exists');
select col_is_pk('public', 'chat_team_members', 'user_id', 'chat_team_members is keyed by user_id');
select is(
  (select relrowsecurity from pg_class where oid = 'public.chat_team_members'::regclass),
  true,
  'RLS is enabled on chat_team_members'
);
-- Only the service role manages the team: a member cannot add anyone, not even read it.
select table_privs_are(
  'public', 'chat_team_members', 'authenticated', array[]::text[],
  'authenticated has no privilege on chat_team_members'
);
select table_privs_are(
  'public', 'chat_team_members', 'anon', array[]::text[],
  'anon has no privilege on chat_team_members'
);
select table_privs_are(
  'public', 'chat_team_members', 'service_role', array['DELETE', 'INSERT', 'SELECT', 'UPDATE'],
  'service_role manages chat_team_members'
);

select is_definer(
  'chat_private', 'is_chat_team_member', array[]::name[],
  'is_chat_team_member is SECURITY DEFINER (authenticated needs no privilege on the table)'
);
select is(
  (select proconfig from pg_proc
   where oid = 'chat_private.is_chat_team_member()'::regprocedure),
  array['search_path=""'],
  'is_chat_team_member pins search_path to empty'
);
select ok(
  not has_function_privilege('public', 'chat_private.is_chat_team_member()', 'execute'),
  'PUBLIC cannot execute is_chat_team_member'
);
select ok(
  not has_function_privilege('anon', 'chat_private.is_chat_team_member()', 'execute'),
  'anon cannot execute is_chat_team_member'
);
select ok(
  has_function_privilege('authenticated', 'chat_private.is_chat_team_member()', 'execute'),
  'authenticated can execute is_chat_team_member (the policies call it)'
);
-- PostgREST serves /rpc only from db-schemas (public, graphql_public on Supabase).
select isnt(
  (select pronamespace::regnamespace::text from pg_proc
   where oid = 'chat_private.is_chat_team_member()'::regprocedure),
  'public',
  'is_chat_team_member is not in an exposed schema, so it is no RPC endpoint'
);

-- Security Advisor's rls_policy_always_true, for every role but service_role.
select is_empty(
  $$ select policyname from pg_policies
     where schemaname = 'public'
       and tablename in ('chat_conversations', 'chat_messages', 'team_typing_indicators',
                         'chat_access_events', 'chat_team_members')
       and roles <> array['service_role']::name[]
       and (qual = 'true' or with_check = 'true') $$,
  'no always-true policy for a role other than service_role on a chat table'
);
select set_eq(
  $$ select tablename::text from pg_policies
     where schemaname = 'public' and roles = array['authenticated']::name[]
       and qual like '%is_chat_team_member()%' $$,
  array['chat_conversations', 'chat_messages', 'team_typing_indicators'],
  'authenticated reaches the three chat tables only through the membership test'
);

select * from finish();
rollback;
