-- Table privileges per API role after the migrations. Only what holds on every Supabase
-- project is asserted exactly: the chat tables predate the migrations and carry whatever
-- the project's default grants gave them, so there each privilege is checked on its own.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(15);

-- The leak was anon SELECT (20260327055000); since 20260327060000 anon holds nothing at
-- all on the chat tables, in both grant worlds.
select table_privs_are(
  'public', 'chat_conversations', 'anon', array[]::text[],
  'anon has no privilege on chat_conversations'
);
select table_privs_are(
  'public', 'chat_messages', 'anon', array[]::text[],
  'anon has no privilege on chat_messages'
);
select table_privs_are(
  'public', 'team_typing_indicators', 'anon', array[]::text[],
  'anon has no privilege on team_typing_indicators'
);
select ok(
  not has_table_privilege('anon', 'public.chat_conversations', 'select'),
  'anon has no SELECT on chat_conversations'
);
select ok(
  not has_table_privilege('anon', 'public.chat_messages', 'select'),
  'anon has no SELECT on chat_messages'
);

-- The functions work with the service role, so it must keep reading and writing.
select ok(
  has_table_privilege('service_role', 'public.chat_conversations', 'select'),
  'service_role has SELECT on chat_conversations'
);
select ok(
  has_table_privilege('service_role', 'public.chat_conversations', 'insert'),
  'service_role has INSERT on chat_conversations'
);
select ok(
  has_table_privilege('service_role', 'public.chat_conversations', 'update'),
  'service_role has UPDATE on chat_conversations'
);
select ok(
  has_table_privilege('service_role', 'public.chat_messages', 'select'),
  'service_role has SELECT on chat_messages'
);
select ok(
  has_table_privilege('service_role', 'public.chat_messages', 'insert'),
  'service_role has INSERT on chat_messages'
);
select ok(
  has_table_privilege('service_role', 'public.chat_messages', 'update'),
  'service_role has UPDATE on chat_messages'
);

-- The access-event log revokes everything from the client roles in both worlds.
select table_privs_are(
  'public', 'chat_access_events', 'anon', array[]::text[],
  'anon has no privilege on chat_access_events'
);
select table_privs_are(
  'public', 'chat_access_events', 'authenticated', array[]::text[],
  'authenticated has no privilege on chat_access_events'
);
select ok(
  not has_table_privilege('public', 'public.chat_access_events', 'select'),
  'PUBLIC has no SELECT on chat_access_events'
);
-- Append-only for the functions, in both the classic and the 2026 grant worlds.
select table_privs_are(
  'public', 'chat_access_events', 'service_role', array['SELECT', 'INSERT'],
  'service_role may only read and append chat_access_events'
);

select * from finish();
rollback;
