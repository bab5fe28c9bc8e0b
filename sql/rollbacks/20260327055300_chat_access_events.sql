-- Rollback: the rollout report loses its history.
drop table if exists public.chat_access_events;
