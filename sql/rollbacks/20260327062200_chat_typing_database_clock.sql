-- Rollback: typing rows keep the writer's clock again (a fast clock shows "typing" too long).
drop trigger if exists team_typing_indicators_stamp on public.team_typing_indicators;
drop function if exists public.team_typing_indicators_stamp();
