-- Wake-ups for long-polling syncs (issue 14). A held chat-visitor-sync waits for news about
-- its conversation; these triggers say "conversation <id> changed" on the channel
-- `chat_visitor` whenever something a visitor sees may have changed: a visible message, a
-- typing row, the conversation's status fields, or its token (a revoked token must end the
-- syncs held under it: woken, they read again and are refused). The payload is the
-- conversation id only, never content: any session may LISTEN. The data itself is still
-- read through the sync RPC. Statement-level, so a bulk insert notifies once per
-- conversation, and Postgres folds identical notifications within a transaction.
create or replace function public.chat_visitor_notify() returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  if tg_table_name = 'chat_messages' then
    perform pg_notify('chat_visitor', c::text)
       from (select distinct r.conversation_id as c from new_rows r
              where not coalesce(r.is_internal, false)) changed;
  elsif tg_table_name = 'chat_conversations' then
    perform pg_notify('chat_visitor', c::text)
       from (select distinct n.id as c
               from new_rows n join old_rows o on o.id = n.id
              where (n.status, n.escalated_at, n.escalation_reason, n.updated_at,
                     n.access_token_hash)
                    is distinct from (o.status, o.escalated_at, o.escalation_reason, o.updated_at,
                                      o.access_token_hash)
            ) changed;
  elsif tg_op = 'DELETE' then
    perform pg_notify('chat_visitor', c::text)
       from (select distinct r.conversation_id as c from old_rows r) changed;
  else
    perform pg_notify('chat_visitor', c::text)
       from (select distinct r.conversation_id as c from new_rows r) changed;
  end if;
  return null;
end
$$;

-- Called only as a trigger (EXECUTE is checked when a trigger is created, not when it fires).
revoke all on function public.chat_visitor_notify() from public, anon, authenticated;

drop trigger if exists chat_messages_notify_visitor on public.chat_messages;
create trigger chat_messages_notify_visitor
  after insert on public.chat_messages
  referencing new table as new_rows
  for each statement execute function public.chat_visitor_notify();

drop trigger if exists chat_conversations_notify_visitor on public.chat_conversations;
create trigger chat_conversations_notify_visitor
  after update on public.chat_conversations
  referencing old table as old_rows new table as new_rows
  for each statement execute function public.chat_visitor_notify();

drop trigger if exists team_typing_indicators_notify_insert on public.team_typing_indicators;
create trigger team_typing_indicators_notify_insert
  after insert on public.team_typing_indicators
  referencing new table as new_rows
  for each statement execute function public.chat_visitor_notify();

drop trigger if exists team_typing_indicators_notify_update on public.team_typing_indicators;
create trigger team_typing_indicators_notify_update
  after update on public.team_typing_indicators
  referencing new table as new_rows
  for each statement execute function public.chat_visitor_notify();

drop trigger if exists team_typing_indicators_notify_delete on public.team_typing_indicators;
create trigger team_typing_indicators_notify_delete
  after delete on public.team_typing_indicators
  referencing old table as old_rows
  for each statement execute function public.chat_visitor_notify();
