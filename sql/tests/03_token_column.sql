-- The per-conversation token hash: a text column with a unique partial index, so one hash
-- opens at most one conversation while legacy conversations may have none.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(9);

select has_column('public', 'chat_conversations', 'access_token_hash', 'access_token_hash exists');
select col_type_is(
  'public', 'chat_conversations', 'access_token_hash', 'text', 'access_token_hash is text'
);
select has_index(
  'public', 'chat_conversations', 'idx_chat_conversations_access_token_hash_unique',
  'the token hash index exists'
);
select index_is_unique(
  'public', 'chat_conversations', 'idx_chat_conversations_access_token_hash_unique',
  'the token hash index is unique'
);
select is(
  (select pg_get_expr(indpred, indrelid) from pg_index
   where indexrelid = 'public.idx_chat_conversations_access_token_hash_unique'::regclass),
  '(access_token_hash IS NOT NULL)',
  'the token hash index is partial: where access_token_hash is not null'
);

select lives_ok(
  $$ insert into public.chat_conversations (visitor_id, access_token_hash)
     values ('pgtap-token-a', repeat('a', 64)) $$,
  'a conversation with a new hash is stored'
);
select throws_ok(
  $$ insert into public.chat_conversations (visitor_id, access_token_hash)
     values ('pgtap-token-b', repeat('a', 64)) $$,
  '23505',
  null,
  'a second conversation with the same hash is a unique violation'
);
select lives_ok(
  $$ insert into public.chat_conversations (visitor_id, access_token_hash)
     values ('pgtap-legacy-1', null), ('pgtap-legacy-2', null) $$,
  'two conversations without a hash are both stored'
);
select is(
  (select count(*)::int from public.chat_conversations
   where visitor_id in ('pgtap-legacy-1', 'pgtap-legacy-2') and access_token_hash is null),
  2,
  'both hashless conversations are there'
);

select * from finish();
rollback;
