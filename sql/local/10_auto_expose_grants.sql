-- Supabase's classic default grants: every new table, sequence and function in
-- `public` is fully granted to the API roles, so RLS is the only gate. Skipped by
-- `stack up --no-auto-expose`, which models the 2026 default instead.
grant all on all tables in schema public to anon, authenticated, service_role;
grant all on all sequences in schema public to anon, authenticated, service_role;
grant all on all functions in schema public to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on tables to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on sequences to anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  grant all on functions to anon, authenticated, service_role;
