"""The stack's gateway: nginx with Supabase's URL layout and API-key rules on the `api` port.

    /rest/v1/       → PostgREST (503 JSON while it is down)
    /functions/v1/  → the functions server (503 JSON while it is down, 413 JSON over 1 MB)
    /auth/v1/.well-known/jwks.json → the public keys of the stack's JWT signing key
    /widget/        → the repository's widget/ folder (static files, no key check)
    anything else   → 404 JSON, as Kong answers

API keys, as Supabase's own gateway treats them (its Kong config; SUPABASE_FACTS.md):

    /rest/v1/       `apikey` must be a key of the stack's mode (publishable, secret, and the
                    legacy anon / service_role JWTs where active), else 401 JSON ("No API
                    key found in request" / "Invalid API key"). PostgREST then gets the
                    client's own Authorization unless it is `Bearer sb_...`; else the
                    service_role JWT for the secret key, the anon JWT for the publishable key,
                    or the apikey itself (a legacy JWT key). The role JWTs are ES256, signed
                    with the stack's signing key. CORS preflights pass unchecked.
    /functions/v1/  no key check (the functions check callers); a publishable / secret key in
                    `apikey` becomes its role JWT in an `sb-api-key` header, and a client's
                    own `sb-api-key` is always dropped.
    both            a secret key sent with a browser's User-Agent (`Mozilla/`) is 401, as
                    Supabase answers it.

Keys are matched exactly (case-sensitive regular expressions: nginx matches plain map
strings without regard to case). Errors nginx makes itself (malformed requests, headers or
URI too long, unknown methods and transfer codings) are JSON too: PostgREST's shape under
/rest/v1/, the functions' elsewhere.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from toolkit.keys import mint_key
from toolkit.paths import WIDGET_DIR
from toolkit.protocol import JWKS_PATH, SB_API_KEY
from toolkit.stack.parts import Record
from toolkit.stack.processes import launch, wait_ready
from toolkit.stack.state import StackState, write_private

__all__ = ["nginx_conf", "start_gateway"]

_NO_KEY = (
    '{"message":"No API key found in request","hint":"Send the project publishable key '
    '(or a legacy anon key) in the apikey header."}'
)
_INVALID_KEY = (
    '{"message":"Invalid API key","hint":"The apikey header holds no active key of this '
    'project: check it, or it was deactivated."}'
)
_SECRET_IN_BROWSER = (
    '{"message":"Forbidden use of secret API key in browser","hint":"Secret keys bypass Row '
    'Level Security and stay on servers; a browser uses the publishable key."}'
)
_SECRET_IN_BROWSER_FUNCTIONS = (
    '{"error":"a secret API key is refused from a browser; use the publishable key",'
    '"code":"unauthorized"}'
)


def start_gateway(state: StackState, nginx: Path, record: Record) -> None:
    """Write <dir>/nginx.conf and start nginx from it; return once /rest/v1/ answers."""
    directory = Path(state.directory)
    conf = directory / "nginx.conf"
    write_private(conf, nginx_conf(state))  # it holds the keys and the role JWTs
    log = directory / "logs" / "nginx.log"
    argv = [str(nginx), "-p", str(directory), "-c", str(conf), "-e", str(log)]
    started = launch("nginx", argv, log, lambda pid: record("nginx", pid))
    wait_ready(started, f"{state.api_url}{JWKS_PATH}", (state.ports["api"],))


def nginx_conf(state: StackState) -> str:
    """The whole nginx configuration of a stack (paths quoted: the folder may hold spaces)."""
    directory = Path(state.directory)
    temp = _quoted(directory / "nginx")
    # Answers the gateway makes itself still carry Supabase's function CORS headers, so a
    # browser widget can read them.
    cors = (
        "add_header Access-Control-Allow-Origin * always; "
        'add_header Access-Control-Allow-Headers "authorization, x-client-info, apikey, '
        'content-type" always;'
    )
    user = "user root root;" if os.geteuid() == 0 else ""
    # Every functions instance (`functions`, `functions-2`, ...), round-robin. max_fails=0:
    # a refused connection costs nothing on loopback, and nginx's default (1 failure marks a
    # server down for 10 s) would still shun a restarted instance while the next one
    # restarts, leaving no live upstream at all.
    functions = " ".join(
        f"server 127.0.0.1:{port} max_fails=0;"
        for name, port in sorted(state.ports.items())
        if name.partition("-")[0] == "functions"
    )
    # proxy_set_header in a location replaces the inherited ones: each location repeats them.
    forwarded = (
        'proxy_set_header Connection ""; proxy_set_header Host $http_host; '
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"
    )
    return f"""# chat-toolkit gateway: Supabase's URL layout and API-key rules ({state.keys} keys).
{user}
worker_processes 1;
daemon off;
pid {_quoted(directory / "nginx" / "nginx.pid")};
error_log {_quoted(directory / "logs" / "nginx.log")} warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  log_format rest '$request_method $uri $status';
  client_body_temp_path {temp};
  proxy_temp_path {temp};
  fastcgi_temp_path {temp};
  uwsgi_temp_path {temp};
  scgi_temp_path {temp};
  client_max_body_size 1m;
  proxy_http_version 1.1;
{_key_maps(state)}
  # Errors nginx makes itself are JSON too (CONTRACT §6): PostgREST's shape under /rest/v1/,
  # the functions' shape elsewhere. A URI, not a named location, so that errors met while
  # reading the request line (414, garbage) get it too; without `=` the status is kept.
  map $status $gateway_code {{
    400 invalid_request; 404 not_found; 405 method_not_allowed; 408 request_timeout;
    411 invalid_request; 413 payload_too_large; 414 invalid_request; 431 invalid_request;
    494 invalid_request; 501 invalid_request; 502 upstream_unavailable;
    503 upstream_unavailable; 504 upstream_unavailable; default gateway_error;
  }}
  map $status $gateway_message {{
    400 "malformed request or request headers too large"; 404 "no route matched";
    405 "method not allowed"; 408 "request timed out"; 411 "length required";
    413 "body is larger than the gateway accepts"; 414 "request URI is too long";
    494 "request headers are too large"; 501 "not implemented";
    502 "upstream unavailable"; 503 "upstream unavailable"; 504 "upstream timed out";
    default "gateway error";
  }}
  upstream postgrest {{ server 127.0.0.1:{state.ports["rest"]}; keepalive 64; }}
  upstream functions {{ {functions} keepalive 64; }}
  server {{
    listen 127.0.0.1:{state.ports["api"]};
    error_page 400 404 405 408 411 413 414 494 500 501 502 503 504 505 /__gateway_error;
    location /rest/v1/ {{
      access_log {_quoted(directory / "logs" / "rest_access.log")} rest;
      error_page 418 = @key_refused;
      if ($key_refusal) {{ return 418; }}
      {forwarded}
      proxy_set_header Authorization $rest_authorization;
      proxy_pass http://postgrest/;
      error_page 502 504 = @rest_down;
      error_page 400 405 413 414 500 /__gateway_error;
    }}
    location /functions/v1/ {{
      error_page 418 = @secret_in_browser;
      if ($secret_in_browser) {{ return 418; }}
      {forwarded}
      proxy_set_header {SB_API_KEY} $sb_api_key;
      proxy_pass http://functions;
      # Rolling restarts: a server that stopped accepting (or closed an idle keep-alive
      # connection as it stopped) is skipped for the next one. Only connection errors, not
      # timeouts: a stopping server finishes what it accepted, so a request it refused was
      # never handled, and POSTs may be passed on (a retried first message or message is
      # idempotent by its clientMessageId anyway).
      proxy_next_upstream error non_idempotent;
      proxy_read_timeout 150s;
      error_page 502 504 = @functions_down;
      error_page 413 = @too_large;
      error_page 400 405 414 500 /__gateway_error;
    }}
    location = {JWKS_PATH} {{
      default_type application/json; {cors}
      alias {_quoted(directory / "jwks.json")};
    }}
    location @key_refused {{
      default_type application/json; {cors}
      return 401 $key_refusal;
    }}
    location @secret_in_browser {{
      default_type application/json; {cors}
      return 401 '{_SECRET_IN_BROWSER_FUNCTIONS}';
    }}
    location = /__gateway_error {{
      internal;
      default_type application/json; {cors}
      if ($request_uri ~ ^/rest/v1/) {{
        return 200 '{{"code":"$gateway_code","details":null,"hint":null,
          "message":"$gateway_message"}}';
      }}
      return 200 '{{"error":"$gateway_message","code":"$gateway_code"}}';
    }}
    location @functions_down {{
      default_type application/json; {cors}
      return 503 '{{"error":"the functions server is not running","code":"upstream_unavailable"}}';
    }}
    location @too_large {{
      default_type application/json; {cors}
      return 413 '{{"error":"body is larger than the gateway accepts","code":"payload_too_large"}}';
    }}
    location /widget/ {{
      # The reference chat widget, for local development; module scripts need a JS type.
      alias {_quoted(f"{WIDGET_DIR}/")};
      types {{ text/html html; text/javascript js; image/png png; }}
      add_header Cache-Control no-cache;
    }}
    location @rest_down {{
      default_type application/json;
      return 503
        '{{"message":"the REST API (PostgREST) is not running","code":"upstream_unavailable"}}';
    }}
    location / {{
      default_type application/json;
      return 404 '{{"message":"no route matched with those values"}}';
    }}
  }}
}}
"""


def _key_maps(state: StackState) -> str:
    """The nginx maps behind the key rules of the module docstring, for this stack's keys."""
    kinds = []
    anon_jwt = service_jwt = ""
    if state.new:
        kinds += [(state.publishable_key, "publishable"), (state.secret_key, "secret")]
        signing = state.signing_key()
        anon_jwt = signing.mint_role_key("anon")
        service_jwt = signing.mint_role_key("service_role")
    if state.legacy:
        kinds += [(mint_key(state.jwt_secret, role), role) for role in ("anon", "service_role")]
    known = "".join(f'    "~^{re.escape(key)}$" {kind};\n' for key, kind in kinds)
    return f"""  # Which of the project's keys `apikey` holds ("" for none or an unknown one).
  map $http_apikey $api_key_kind {{
    default "";
{known}  }}
  map $api_key_kind $key_authorization {{
    publishable "Bearer {anon_jwt}";
    secret "Bearer {service_jwt}";
    default "Bearer $http_apikey";
  }}
  # The client's Authorization passes unless it is an sb_ key (no JWT): then the key's role.
  map $http_authorization $rest_authorization {{
    "" $key_authorization;
    "~*^bearer\\s+sb_" $key_authorization;
    default $http_authorization;
  }}
  map $api_key_kind $sb_api_key {{
    publishable "{anon_jwt}";
    secret "{service_jwt}";
    default "";
  }}
  map "$http_user_agent|$http_apikey|$http_authorization" $secret_in_browser {{
    default "";
    "~^[^|]*Mozilla/.*sb_secret_" 1;
  }}
  # Why /rest/v1/ refuses a request before PostgREST sees it ("" lets it through).
  map "$request_method:$secret_in_browser:$api_key_kind:$http_apikey" $key_refusal {{
    default "";
    "~^OPTIONS:" "";
    "~^[^:]*:1:" '{_SECRET_IN_BROWSER}';
    "~^[^:]*:::$" '{_NO_KEY}';
    "~^[^:]*:::" '{_INVALID_KEY}';
  }}
"""


def _quoted(path: Path | str) -> str:
    """A path as an nginx string: double-quoted, with `\\` and `"` escaped."""
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'
