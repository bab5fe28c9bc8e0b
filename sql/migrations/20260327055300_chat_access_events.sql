-- Rollout monitoring: one row per token issue, bootstrap mint or tokenless request, so
-- that `chat-toolkit rollout status` can tell when each flag is safe to flip. Holds no
-- token material. Append-only for the service role, granted explicitly because projects
-- created since 2026 no longer expose new tables by default (and revoked first because
-- older ones grant everything).
create table if not exists public.chat_access_events (
  id bigint generated always as identity primary key,
  conversation_id uuid not null references public.chat_conversations (id) on delete cascade,
  event text not null check (event in ('token_issued', 'token_bootstrapped', 'tokenless_accepted')),
  created_at timestamptz not null default now()
);

create index if not exists idx_chat_access_events_created_at
  on public.chat_access_events (created_at);

alter table public.chat_access_events enable row level security;
revoke all on table public.chat_access_events from public, anon, authenticated, service_role;
grant select, insert on table public.chat_access_events to service_role;
