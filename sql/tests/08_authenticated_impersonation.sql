-- Impersonating `authenticated` exactly as PostgREST does (role plus request.jwt.claims):
-- a signed-in user who is not on the team reaches no chat row; a team member reads and
-- writes chat rows but never access_token_hash. The rows are this transaction's own.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(22);

insert into public.chat_conversations (id, visitor_id, visitor_email, access_token_hash)
values ('00000000-0000-4000-8000-0000000fb001', 'pgtap-team-visitor', 'v@example.com',
        repeat('e', 64));
insert into public.chat_messages (conversation_id, sender_type, message_text)
values ('00000000-0000-4000-8000-0000000fb001', 'visitor', 'pgtap team probe');
insert into public.chat_team_members (user_id, display_name)
values ('00000000-0000-4000-8000-0000000fb0aa', 'pgtap member');

-- A signed-in user of the project who is not on the team.
set local role authenticated;
select set_config('request.jwt.claims',
  '{"role":"authenticated","sub":"00000000-0000-4000-8000-0000000fb0bb"}', true);

select is(
  (select count(*)::int from public.chat_conversations),
  0,
  'a non-member sees no conversation'
);
select is(
  (select count(*)::int from public.chat_messages),
  0,
  'a non-member sees no message'
);
select is(
  (select count(*)::int from public.team_typing_indicators),
  0,
  'a non-member sees no typing row'
);
select throws_ok(
  'select access_token_hash from public.chat_conversations',
  '42501',
  'permission denied for table chat_conversations',
  'a non-member cannot select access_token_hash'
);
select throws_ok(
  $$ insert into public.chat_messages (conversation_id, sender_type, message_text)
     values ('00000000-0000-4000-8000-0000000fb001', 'team', 'fake team reply') $$,
  '42501',
  'new row violates row-level security policy for table "chat_messages"',
  'a non-member cannot post as the team'
);
select throws_ok(
  $$ insert into public.team_typing_indicators (conversation_id, user_id, user_name, is_typing)
     values ('00000000-0000-4000-8000-0000000fb001', '00000000-0000-4000-8000-0000000fb0bb',
             'Mallory', true) $$,
  '42501',
  'new row violates row-level security policy for table "team_typing_indicators"',
  'a non-member cannot fake typing'
);
select throws_ok(
  $$ update public.chat_conversations set access_token_hash = repeat('f', 64) $$,
  '42501',
  'permission denied for table chat_conversations',
  'a non-member cannot overwrite access_token_hash'
);
select is_empty(
  $$ update public.chat_conversations set status = 'closed' returning id $$,
  'a non-member updates no conversation'
);
select is_empty(
  $$ delete from public.chat_messages returning id $$,
  'a non-member deletes no message'
);
select throws_ok(
  'select * from public.chat_access_events',
  '42501',
  'permission denied for table chat_access_events',
  'a non-member cannot read chat_access_events'
);
select throws_ok(
  'select * from public.chat_team_members',
  '42501',
  'permission denied for table chat_team_members',
  'a non-member cannot read the team list'
);
select is(
  chat_private.is_chat_team_member(),
  false,
  'is_chat_team_member is false for a non-member'
);

-- A team member.
select set_config('request.jwt.claims',
  '{"role":"authenticated","sub":"00000000-0000-4000-8000-0000000fb0aa"}', true);

select is(
  (select visitor_email from public.chat_conversations
   where id = '00000000-0000-4000-8000-0000000fb001'),
  'v@example.com',
  'a member reads the conversation'
);
select is(
  (select message_text from public.chat_messages
   where conversation_id = '00000000-0000-4000-8000-0000000fb001'),
  'pgtap team probe',
  'a member reads its messages'
);
select lives_ok(
  $$ insert into public.chat_messages (conversation_id, sender_type, sender_name, message_text)
     values ('00000000-0000-4000-8000-0000000fb001', 'team', 'pgtap member', 'team reply') $$,
  'a member posts a team reply'
);
select lives_ok(
  $$ insert into public.team_typing_indicators (conversation_id, user_id, user_name, is_typing)
     values ('00000000-0000-4000-8000-0000000fb001', '00000000-0000-4000-8000-0000000fb0aa',
             'pgtap member', true) $$,
  'a member shows their own typing'
);
select throws_ok(
  $$ insert into public.team_typing_indicators (conversation_id, user_id, user_name, is_typing)
     values ('00000000-0000-4000-8000-0000000fb001', '00000000-0000-4000-8000-0000000fb0cc',
             'someone else', true) $$,
  '42501',
  'new row violates row-level security policy for table "team_typing_indicators"',
  'a member cannot show someone else typing'
);
select isnt_empty(
  $$ update public.chat_conversations set status = 'escalated'
     where id = '00000000-0000-4000-8000-0000000fb001' returning id $$,
  'a member updates a conversation'
);
select throws_ok(
  'select access_token_hash from public.chat_conversations',
  '42501',
  'permission denied for table chat_conversations',
  'a member cannot select access_token_hash either'
);
select throws_ok(
  $$ update public.chat_conversations set access_token_hash = null
     where id = '00000000-0000-4000-8000-0000000fb001' $$,
  '42501',
  'permission denied for table chat_conversations',
  'a member cannot clear or replace access_token_hash'
);
select throws_ok(
  'select * from public.chat_team_members',
  '42501',
  'permission denied for table chat_team_members',
  'a member cannot read or change the team list'
);

reset role;
select is(
  (select access_token_hash from public.chat_conversations
   where id = '00000000-0000-4000-8000-0000000fb001'),
  repeat('e', 64),
  'the token hash is unchanged after both users tried'
);

select * from finish();
rollback;
