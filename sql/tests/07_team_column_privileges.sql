-- authenticated and access_token_hash (20260327061000): no privilege on the column at
-- all, while the other columns stay reachable for the team; no TRUNCATE, which RLS ignores.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(10);

select column_privs_are(
  'public', 'chat_conversations', 'access_token_hash', 'authenticated', array[]::text[],
  'authenticated holds no privilege on chat_conversations.access_token_hash'
);
select ok(
  not has_table_privilege('authenticated', 'public.chat_conversations', 'select'),
  'authenticated has no table-level SELECT on chat_conversations (it would cover the hash)'
);
select ok(
  not has_table_privilege('authenticated', 'public.chat_conversations', 'insert, update'),
  'authenticated has no table-level INSERT or UPDATE on chat_conversations'
);
select column_privs_are(
  'public', 'chat_conversations', 'visitor_email', 'authenticated',
  array['INSERT', 'SELECT', 'UPDATE'],
  'authenticated may read and write the other columns (RLS decides which rows)'
);
select is_empty(
  $$ select attname from pg_attribute
     where attrelid = 'public.chat_conversations'::regclass and attnum > 0
       and not attisdropped and attname <> 'access_token_hash'
       and not has_column_privilege('authenticated', attrelid, attnum, 'SELECT') $$,
  'every column but access_token_hash is readable by authenticated'
);
select table_privs_are(
  'public', 'chat_conversations', 'authenticated', array['DELETE'],
  'on chat_conversations authenticated holds only DELETE at table level'
);
select table_privs_are(
  'public', 'chat_messages', 'authenticated', array['DELETE', 'INSERT', 'SELECT', 'UPDATE'],
  'authenticated holds SELECT, INSERT, UPDATE, DELETE on chat_messages, no TRUNCATE'
);
select table_privs_are(
  'public', 'team_typing_indicators', 'authenticated',
  array['DELETE', 'INSERT', 'SELECT', 'UPDATE'],
  'authenticated holds SELECT, INSERT, UPDATE, DELETE on team_typing_indicators, no TRUNCATE'
);
select ok(
  not has_function_privilege(
    'authenticated', 'public.chat_visitor_sync(uuid, text, xid8, timestamptz, integer)', 'execute'
  ),
  'authenticated cannot execute chat_visitor_sync (it checks a token hash)'
);
select ok(
  has_column_privilege('service_role', 'public.chat_conversations', 'access_token_hash', 'update'),
  'service_role still writes access_token_hash (the functions mint tokens)'
);

select * from finish();
rollback;
