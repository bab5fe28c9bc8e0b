"""The server side: the two edge functions, served at /functions/v1/<name>.

app                  Starlette app: routing, CORS, body limit, caller check, one error renderer
callers              who may call (FUNCTIONS_AUTH): publishable / secret keys, JWTs (JWKS, HS256)
server               `chat-toolkit serve`: uvicorn with N workers on the parent's settings
handle_chat_message  POST /functions/v1/handle-chat-message (CONTRACT §4)
chat_visitor_sync    POST /functions/v1/chat-visitor-sync (CONTRACT §5)
bodies               request bodies parsed and validated (400 invalid_request)
cursor               the sync cursor (`since`), encoded and decoded
store                every PostgREST call, translated to errors at one boundary
responders           the reply: rules, an OpenAI-compatible API, or none
ratelimit            token buckets per conversation and per client address
redis_buckets        the same buckets in Redis, shared by processes (CHAT_RATE_LIMIT_REDIS_URL)
request_stats        answers per function and status, appended in batches (rollout status)
openapi              the OpenAPI document served at /functions/v1/openapi.json
"""
