-- Close the leak: visitors read only through the token-checking functions, which use
-- the service role. Dropping the policies alone is not enough while anon holds SELECT
-- (a later permissive policy would reopen it), and revoking alone leaves dead policies.
drop policy if exists chat_conversations_visitor_read on public.chat_conversations;
drop policy if exists chat_messages_visitor_read on public.chat_messages;

revoke select on table public.chat_conversations from anon;
revoke select on table public.chat_messages from anon;
