-- Error monitoring for rollout step 2 ("watch errors"): each functions worker adds up its
-- answers per function and status code and appends them here in batches (one row per
-- function, status and batch), so `chat-toolkit rollout status` can report requests and
-- 4xx/5xx by code over its window. Holds no ids, tokens or text. Service role only, granted
-- explicitly (new projects no longer expose new tables by default).
create table if not exists public.chat_function_requests (
  id bigint generated always as identity primary key,
  recorded_at timestamptz not null default now(),
  function text not null,
  status smallint not null,
  requests integer not null check (requests > 0)
);

create index if not exists idx_chat_function_requests_recorded_at
  on public.chat_function_requests (recorded_at);

alter table public.chat_function_requests enable row level security;
revoke all on table public.chat_function_requests from public, anon, authenticated, service_role;
grant select, insert on table public.chat_function_requests to service_role;
