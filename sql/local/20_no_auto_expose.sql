-- The 2026 default (`[api] auto_expose_new_tables = false`): tables created from now on
-- get no automatic grants. Applied after the baseline, because the chat tables predate
-- the change and keep the grants they were created with.
alter default privileges for role postgres in schema public
  revoke all on tables from anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  revoke all on sequences from anon, authenticated, service_role;
alter default privileges for role postgres in schema public
  revoke all on functions from anon, authenticated, service_role;
