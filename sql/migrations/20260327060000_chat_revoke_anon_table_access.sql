-- Defence in depth after the cutover: visitors reach chat data only through the functions
-- (service role), so anon needs no privilege on the chat tables at all. RLS already refuses
-- anon writes, but a grant left behind is one permissive policy away from a new leak, and
-- TRUNCATE is not governed by RLS. team_typing_indicators had no anon policy, so its reads
-- answered an empty 200; now they are refused like the others.
revoke all on table public.chat_conversations from anon;
revoke all on table public.chat_messages from anon;
revoke all on table public.team_typing_indicators from anon;
