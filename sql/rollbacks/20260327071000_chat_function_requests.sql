-- Rollback: `rollout status` reports no function errors; the functions log that they
-- cannot record them and keep answering.
drop table if exists public.chat_function_requests;
