-- Supabase's classic default grants: every new table, sequence and function in
-- `public` is fully granted to the API roles, so RLS is the only gate. Always applied
-- before the baseline (the chat tables predate 2026); `stack up --no-auto-expose` then
-- applies 20_no_auto_expose.sql to model the 2026 default for later tables.
grant all on all tables in schema public to anon, authenticated, service_role;
grant all on all sequences in schema public to anon, authenticated, service_role;
grant all on all functions in schema public to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on sequences to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on functions to anon, authenticated, service_role;
