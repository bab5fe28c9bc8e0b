"""The stack's gateway: an nginx with Supabase's URL layout on the `api` port.

    /rest/v1/       → PostgREST (503 JSON while it is down)
    /functions/v1/  → the functions server (503 JSON while it is down, 413 JSON over 1 MB)
    anything else   → 404 JSON, as Kong answers

Errors nginx makes itself (malformed requests, headers or URI too long, unknown methods and
transfer codings) are JSON too: PostgREST's shape under /rest/v1/, the functions' elsewhere.

Like the Supabase CLI's Kong, it checks no `apikey`.
"""

from __future__ import annotations

import os
from pathlib import Path

from toolkit.paths import WIDGET_DIR
from toolkit.stack.parts import Record
from toolkit.stack.processes import launch, wait_ready
from toolkit.stack.state import StackState

__all__ = ["nginx_conf", "start_gateway"]


def start_gateway(state: StackState, nginx: Path, record: Record) -> None:
    """Write <dir>/nginx.conf and start nginx from it; return once /rest/v1/ answers."""
    directory = Path(state.directory)
    conf = directory / "nginx.conf"
    conf.write_text(nginx_conf(state))
    log = directory / "logs" / "nginx.log"
    argv = [str(nginx), "-p", str(directory), "-c", str(conf), "-e", str(log)]
    started = launch("nginx", argv, log, lambda pid: record("nginx", pid))
    wait_ready(started, f"{state.api_url}/rest/v1/", (state.ports["api"],))


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
    return f"""# chat-toolkit gateway: Supabase's URL layout; no apikey check, as the CLI's Kong.
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
  proxy_set_header Connection "";
  proxy_set_header Host $http_host;
  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
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
  upstream functions {{ server 127.0.0.1:{state.ports["functions"]}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{state.ports["api"]};
    error_page 400 404 405 408 411 413 414 494 500 501 502 503 504 505 /__gateway_error;
    location /rest/v1/ {{
      access_log {_quoted(directory / "logs" / "rest_access.log")} rest;
      proxy_pass http://postgrest/;
      error_page 502 504 = @rest_down;
      error_page 400 405 413 414 500 /__gateway_error;
    }}
    location /functions/v1/ {{
      proxy_pass http://functions;
      proxy_read_timeout 150s;
      error_page 502 504 = @functions_down;
      error_page 413 = @too_large;
      error_page 400 405 414 500 /__gateway_error;
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


def _quoted(path: Path | str) -> str:
    """A path as an nginx string: double-quoted, with `\\` and `"` escaped."""
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'
