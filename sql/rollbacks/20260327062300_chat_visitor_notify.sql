-- Rollback: long-polling syncs are no longer woken; they answer at the end of their wait.
drop trigger if exists chat_messages_notify_visitor on public.chat_messages;
drop trigger if exists chat_conversations_notify_visitor on public.chat_conversations;
drop trigger if exists team_typing_indicators_notify_insert on public.team_typing_indicators;
drop trigger if exists team_typing_indicators_notify_update on public.team_typing_indicators;
drop trigger if exists team_typing_indicators_notify_delete on public.team_typing_indicators;
drop function if exists public.chat_visitor_notify();
