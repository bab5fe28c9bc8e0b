-- Team access (CONTRACT §10). The baseline's team policies were `for all to authenticated
-- using (true)`, so any signed-in user of the project (public sign-ups are on by default)
-- read and wrote every chat, access_token_hash included. From here on `authenticated`
-- reaches chat rows only when the database knows the user as a team member, and never
-- reads or writes access_token_hash, not even then. The functions (service_role) bypass RLS
-- and are unaffected; chat_access_events stays service-role only (20260327055300).

-- Membership, keyed by auth.uid(). Managed only with the service role (dashboard, SQL
-- editor): no API role but service_role holds any privilege on it.
create table if not exists public.chat_team_members (
  user_id uuid primary key,
  display_name text,
  created_at timestamptz not null default now()
);
alter table public.chat_team_members enable row level security;
revoke all on table public.chat_team_members from public, anon, authenticated, service_role;
grant select, insert, update, delete on table public.chat_team_members to service_role;

-- On a Supabase project a membership ends with its account; the embedded stack has no
-- auth.users, so the reference is added only where the table exists.
do $$
begin
  if to_regclass('auth.users') is not null and not exists (
    select from pg_constraint
    where conrelid = 'public.chat_team_members'::regclass
      and conname = 'chat_team_members_user_id_fkey'
  ) then
    alter table public.chat_team_members
      add constraint chat_team_members_user_id_fkey
      foreign key (user_id) references auth.users (id) on delete cascade;
  end if;
end
$$;

-- The membership test the policies call. SECURITY DEFINER so that `authenticated` needs no
-- privilege on chat_team_members; kept out of the schemas PostgREST exposes, so it is no
-- /rest/v1/rpc endpoint (Supabase's guidance for definer functions); search_path pinned.
create schema if not exists chat_private;
revoke all on schema chat_private from public;
grant usage on schema chat_private to authenticated, service_role;

create or replace function chat_private.is_chat_team_member() returns boolean
language sql
stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from public.chat_team_members m where m.user_id = (select auth.uid())
  )
$$;

revoke all on function chat_private.is_chat_team_member() from public, anon;
grant execute on function chat_private.is_chat_team_member() to authenticated, service_role;

-- Policies: the membership test wrapped in a select, so Postgres evaluates it once per
-- statement instead of once per row (Supabase's RLS performance guidance).
drop policy if exists chat_conversations_team_all on public.chat_conversations;
drop policy if exists chat_conversations_team_members on public.chat_conversations;
create policy chat_conversations_team_members on public.chat_conversations
  for all to authenticated
  using ((select chat_private.is_chat_team_member()))
  with check ((select chat_private.is_chat_team_member()));

drop policy if exists chat_messages_team_all on public.chat_messages;
drop policy if exists chat_messages_team_members on public.chat_messages;
create policy chat_messages_team_members on public.chat_messages
  for all to authenticated
  using ((select chat_private.is_chat_team_member()))
  with check ((select chat_private.is_chat_team_member()));

-- A member shows only their own typing, never someone else's.
drop policy if exists team_typing_indicators_team_all on public.team_typing_indicators;
drop policy if exists team_typing_indicators_team_members on public.team_typing_indicators;
create policy team_typing_indicators_team_members on public.team_typing_indicators
  for all to authenticated
  using ((select chat_private.is_chat_team_member()))
  with check ((select chat_private.is_chat_team_member()) and user_id = (select auth.uid()));

-- Privileges of `authenticated`, stated whole: SELECT, INSERT and UPDATE on
-- chat_conversations by column, every column but access_token_hash (read from the catalog,
-- so a project's own extra columns stay reachable); DELETE on it; SELECT, INSERT, UPDATE,
-- DELETE on the two other tables. Nothing else: TRUNCATE ignores RLS, and a table-level
-- grant would reach access_token_hash. Revoking the table privilege drops the column
-- grants too, so a second run starts from the same point.
revoke all on table public.chat_conversations from authenticated;
revoke all on table public.chat_messages from authenticated;
revoke all on table public.team_typing_indicators from authenticated;
do $$
declare
  columns text;
begin
  select string_agg(quote_ident(attname), ', ' order by attnum) into columns
  from pg_attribute
  where attrelid = 'public.chat_conversations'::regclass
    and attnum > 0 and not attisdropped and attname <> 'access_token_hash';
  execute format(
    'grant select (%1$s), insert (%1$s), update (%1$s) on table public.chat_conversations '
    'to authenticated',
    columns);
end
$$;
grant delete on table public.chat_conversations to authenticated;
grant select, insert, update, delete on table public.chat_messages to authenticated;
grant select, insert, update, delete on table public.team_typing_indicators to authenticated;
