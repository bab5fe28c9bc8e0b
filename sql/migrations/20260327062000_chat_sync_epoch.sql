-- Which database a sync cursor came from (issue 14). A cursor carries a snapshot of this
-- database's transaction ids; presented to another database, or to this one after a
-- restore, those ids mean something else and a delta sync could skip messages. The
-- functions put this id in every cursor they seal and answer any cursor whose id differs
-- with a full resync. One row, made once; after restoring a backup, give it a new value
-- (`update public.chat_sync_epoch set id = gen_random_uuid()`) so that every cursor issued
-- before is answered with a resync. Service role only; nothing in it is secret, but no
-- visitor needs it.
create table if not exists public.chat_sync_epoch (
  singleton boolean primary key default true check (singleton),
  id uuid not null default gen_random_uuid()
);

insert into public.chat_sync_epoch (singleton) values (true) on conflict do nothing;

alter table public.chat_sync_epoch enable row level security;
revoke all on table public.chat_sync_epoch from public, anon, authenticated, service_role;
grant select on table public.chat_sync_epoch to service_role;
