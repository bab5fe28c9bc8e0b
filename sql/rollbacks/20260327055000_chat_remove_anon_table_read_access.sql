-- Rollback: reopens the pre-cutover anon reads. Only for an emergency revert of the
-- widget; every visitor's chat is readable with the anon key again afterwards.
grant select on table public.chat_conversations to anon;
grant select on table public.chat_messages to anon;

drop policy if exists chat_conversations_visitor_read on public.chat_conversations;
create policy chat_conversations_visitor_read on public.chat_conversations
  for select to anon using (visitor_id is not null);
drop policy if exists chat_messages_visitor_read on public.chat_messages;
create policy chat_messages_visitor_read on public.chat_messages
  for select to anon using (
    not coalesce(is_internal, false)
    and exists (select 1 from public.chat_conversations c where c.id = conversation_id)
  );
