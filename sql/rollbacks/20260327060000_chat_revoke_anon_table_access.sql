-- Rollback: Supabase's classic default grants for anon, without the SELECT that
-- 20260327055000 revoked on the two chat tables. RLS is again the only gate for writes.
grant insert, update, delete, truncate, references, trigger
  on table public.chat_conversations, public.chat_messages to anon;
grant all on table public.team_typing_indicators to anon;
