-- Rollback: sync cursors can no longer name their database (chat_visitor_sync_v2 needs it).
drop table if exists public.chat_sync_epoch;
