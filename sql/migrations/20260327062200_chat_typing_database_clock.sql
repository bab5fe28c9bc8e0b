-- "Team is typing" is a row whose updated_at lies within the last few seconds, so that
-- time must come from one clock: the database's. A team machine whose clock runs fast
-- wrote a future updated_at and showed "typing" long after the team member stopped
-- (issue 14). Every insert and update is stamped with now(), whatever the writer sent.
create or replace function public.team_typing_indicators_stamp() returns trigger
language plpgsql
security invoker
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

-- Called only as a trigger (EXECUTE is checked when a trigger is created, not when it fires).
revoke all on function public.team_typing_indicators_stamp() from public, anon, authenticated;

drop trigger if exists team_typing_indicators_stamp on public.team_typing_indicators;
create trigger team_typing_indicators_stamp
  before insert or update on public.team_typing_indicators
  for each row execute function public.team_typing_indicators_stamp();
