-- public.chat_visitor_sync: pinned search_path, invoker rights, callable by the service
-- role only, and it answers only for the right id and token hash, without internal notes.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(17);

-- chat_visitor_message decides which fields of a message leave the database.
select is(
  (select proconfig from pg_proc
   where oid = 'public.chat_visitor_message(public.chat_messages)'::regprocedure),
  array['search_path=""'],
  'chat_visitor_message pins search_path to empty'
);
select ok(
  not has_function_privilege('anon', 'public.chat_visitor_message(public.chat_messages)', 'execute'),
  'anon cannot execute chat_visitor_message'
);
select ok(
  not has_function_privilege('public', 'public.chat_visitor_message(public.chat_messages)', 'execute'),
  'PUBLIC cannot execute chat_visitor_message'
);
select is(
  (select array_agg(k order by k) from jsonb_object_keys(public.chat_visitor_message(
     row(gen_random_uuid(), gen_random_uuid(), 'team', 'Dana', 'hi', true, '{"x":1}', now(),
         '1'::xid8, 'client-1')::public.chat_messages)) k),
  array['createdAt', 'id', 'senderName', 'senderType', 'text'],
  'chat_visitor_message exposes exactly the visitor-safe fields'
);

select is(
  (select proconfig from pg_proc
   where oid = 'public.chat_visitor_sync(uuid, text, xid8, timestamptz, integer)'::regprocedure),
  array['search_path=""'],
  'chat_visitor_sync pins search_path to empty'
);
select isnt_definer(
  'public', 'chat_visitor_sync',
  array['uuid', 'text', 'xid8', 'timestamp with time zone', 'integer'],
  'chat_visitor_sync is not SECURITY DEFINER'
);
select ok(
  not has_function_privilege(
    'public', 'public.chat_visitor_sync(uuid, text, xid8, timestamptz, integer)', 'execute'
  ),
  'PUBLIC cannot execute chat_visitor_sync'
);
select ok(
  not has_function_privilege(
    'anon', 'public.chat_visitor_sync(uuid, text, xid8, timestamptz, integer)', 'execute'
  ),
  'anon cannot execute chat_visitor_sync'
);
select ok(
  not has_function_privilege(
    'authenticated', 'public.chat_visitor_sync(uuid, text, xid8, timestamptz, integer)', 'execute'
  ),
  'authenticated cannot execute chat_visitor_sync'
);
select ok(
  has_function_privilege(
    'service_role', 'public.chat_visitor_sync(uuid, text, xid8, timestamptz, integer)', 'execute'
  ),
  'service_role can execute chat_visitor_sync'
);

insert into public.chat_conversations (id, visitor_id, access_token_hash)
values ('00000000-0000-4000-8000-0000000fa001', 'pgtap-sync-visitor', repeat('c', 64));
insert into public.chat_messages (conversation_id, sender_type, message_text, is_internal)
values
  ('00000000-0000-4000-8000-0000000fa001', 'visitor', 'pgtap visible', false),
  ('00000000-0000-4000-8000-0000000fa001', 'team', 'pgtap internal note', true);

select is(
  public.chat_visitor_sync(gen_random_uuid(), repeat('c', 64)),
  null,
  'an unknown conversation id gives null'
);
select is(
  public.chat_visitor_sync('00000000-0000-4000-8000-0000000fa001', repeat('d', 64)),
  null,
  'a wrong token hash gives null'
);
select is(
  jsonb_typeof(public.chat_visitor_sync('00000000-0000-4000-8000-0000000fa001', repeat('c', 64))),
  'object',
  'the right id and hash give a jsonb object'
);
select is(
  array(
    select jsonb_object_keys(
      public.chat_visitor_sync('00000000-0000-4000-8000-0000000fa001', repeat('c', 64))
    ) order by 1
  ),
  array['conversation', 'cursor', 'messages', 'typing'],
  'the answer has exactly the keys conversation, cursor, messages, typing'
);
select is(
  public.chat_visitor_sync('00000000-0000-4000-8000-0000000fa001', repeat('c', 64))
    #>> '{conversation,id}',
  '00000000-0000-4000-8000-0000000fa001',
  'the answer is about the requested conversation'
);
select is(
  array(
    select m ->> 'text'
    from jsonb_array_elements(
      public.chat_visitor_sync('00000000-0000-4000-8000-0000000fa001', repeat('c', 64))
        -> 'messages'
    ) as m
  ),
  array['pgtap visible'],
  'messages hold the visitor-visible message and not the internal note'
);
select is(
  public.chat_visitor_sync('00000000-0000-4000-8000-0000000fa001', repeat('c', 64))
    -> 'typing',
  '{"isTyping": false, "name": null}'::jsonb,
  'nobody is typing'
);

select * from finish();
rollback;
