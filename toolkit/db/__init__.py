"""Database plumbing shared by the operator tools and the stack.

connect     one autocommit connection from SUPABASE_DB_URL, with a one-line error
migrations  the runner: sql/migrations applied and recorded as the Supabase CLI does
sqltext     splitting a SQL file into statements (dollar quotes, comments)
"""
