-- The app's chat schema as it stood before the cutover (CONTRACT §2). Modelled for
-- local and test stacks only: a live project already has these tables.
create table if not exists public.chat_conversations (
  id uuid primary key default gen_random_uuid(),
  visitor_id text not null,
  visitor_name text,
  visitor_email text,
  status text not null default 'active'
    check (status in ('active', 'escalated', 'resolved', 'closed')),
  ai_handled boolean default true,
  escalated_at timestamptz,
  escalation_reason text,
  assigned_to uuid,
  metadata jsonb default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  last_message_at timestamptz
);
create index if not exists idx_chat_conversations_visitor_id
  on public.chat_conversations (visitor_id);

create table if not exists public.chat_messages (
  id uuid primary key default gen_random_uuid(),
  conversation_id uuid not null references public.chat_conversations (id) on delete cascade,
  sender_type text not null check (sender_type in ('visitor', 'ai', 'team', 'system')),
  sender_name text,
  message_text text not null,
  is_internal boolean default false,
  metadata jsonb default '{}'::jsonb,
  created_at timestamptz not null default now()
);
create index if not exists idx_chat_messages_conversation_id
  on public.chat_messages (conversation_id);

create table if not exists public.team_typing_indicators (
  conversation_id uuid not null references public.chat_conversations (id) on delete cascade,
  user_id uuid not null,
  user_name text,
  is_typing boolean not null default false,
  updated_at timestamptz not null default now(),
  primary key (conversation_id, user_id)
);

alter table public.chat_conversations enable row level security;
alter table public.chat_messages enable row level security;
alter table public.team_typing_indicators enable row level security;

-- The team works signed in; these policies are untouched by the cutover.
drop policy if exists chat_conversations_team_all on public.chat_conversations;
create policy chat_conversations_team_all on public.chat_conversations
  for all to authenticated using (true) with check (true);
drop policy if exists chat_messages_team_all on public.chat_messages;
create policy chat_messages_team_all on public.chat_messages
  for all to authenticated using (true) with check (true);
drop policy if exists team_typing_indicators_team_all on public.team_typing_indicators;
create policy team_typing_indicators_team_all on public.team_typing_indicators
  for all to authenticated using (true) with check (true);

-- The leak: the widget read with the public anon key, and a visitor_id is no secret,
-- so these let anyone holding the anon key read every visitor's chat.
drop policy if exists chat_conversations_visitor_read on public.chat_conversations;
create policy chat_conversations_visitor_read on public.chat_conversations
  for select to anon using (visitor_id is not null);
drop policy if exists chat_messages_visitor_read on public.chat_messages;
create policy chat_messages_visitor_read on public.chat_messages
  for select to anon using (
    not coalesce(is_internal, false)
    and exists (select 1 from public.chat_conversations c where c.id = conversation_id)
  );
