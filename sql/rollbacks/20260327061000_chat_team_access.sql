-- Rollback: back to the baseline's team policies and grants. Every signed-in user of the
-- project reads and writes every chat again, access_token_hash included; only for an
-- emergency revert of the team dashboard. Team membership rows are lost.
drop policy if exists chat_conversations_team_members on public.chat_conversations;
drop policy if exists chat_messages_team_members on public.chat_messages;
drop policy if exists team_typing_indicators_team_members on public.team_typing_indicators;

drop policy if exists chat_conversations_team_all on public.chat_conversations;
create policy chat_conversations_team_all on public.chat_conversations
  for all to authenticated using (true) with check (true);
drop policy if exists chat_messages_team_all on public.chat_messages;
create policy chat_messages_team_all on public.chat_messages
  for all to authenticated using (true) with check (true);
drop policy if exists team_typing_indicators_team_all on public.team_typing_indicators;
create policy team_typing_indicators_team_all on public.team_typing_indicators
  for all to authenticated using (true) with check (true);

grant all on table public.chat_conversations, public.chat_messages,
  public.team_typing_indicators to authenticated;

drop function if exists chat_private.is_chat_team_member();
drop schema if exists chat_private;
drop table if exists public.chat_team_members;
