-- A few rows per table, two visitors apart, so that a read that leaks shows rows.
insert into public.chat_conversations (id, visitor_id, visitor_name, visitor_email, status, metadata, last_message_at)
values
  ('00000000-0000-4000-8000-00000000a001', 'seed-visitor-alice', 'Alice', 'alice@example.com', 'active', '{"utm":"seed"}', now()),
  ('00000000-0000-4000-8000-00000000b001', 'seed-visitor-bob', 'Bob', 'bob@example.com', 'escalated', '{}', now())
on conflict (id) do nothing;

insert into public.chat_messages (id, conversation_id, sender_type, sender_name, message_text, is_internal, created_at)
values
  ('00000000-0000-4000-8000-00000000a101', '00000000-0000-4000-8000-00000000a001', 'visitor', 'Alice', 'Hi, my order number is 1234.', false, now() - interval '2 minutes'),
  ('00000000-0000-4000-8000-00000000a102', '00000000-0000-4000-8000-00000000a001', 'ai', 'Assistant', 'Thanks Alice, let me look.', false, now() - interval '1 minute'),
  ('00000000-0000-4000-8000-00000000b101', '00000000-0000-4000-8000-00000000b001', 'visitor', 'Bob', 'My card was charged twice.', false, now() - interval '2 minutes'),
  ('00000000-0000-4000-8000-00000000b102', '00000000-0000-4000-8000-00000000b001', 'team', 'Dana', 'Refund approved, VIP customer.', true, now() - interval '1 minute')
on conflict (id) do nothing;

insert into public.team_typing_indicators (conversation_id, user_id, user_name, is_typing, updated_at)
values ('00000000-0000-4000-8000-00000000b001', '00000000-0000-4000-8000-0000000000d1', 'Dana', false, now())
on conflict do nothing;
