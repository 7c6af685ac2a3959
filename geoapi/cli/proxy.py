"""The buffering front of ``geoapi serve``: nginx, in front of gunicorn on a private socket.

Why: a gunicorn thread serves one connection from its first byte to its last, so 40 clients
that trickle their headers, send their bodies slowly or never read an export can take every
thread (and the export's database connection). nginx reads each request whole before it
reaches gunicorn (headers within 10 s, bodies within 30 s of silence, buffered to disk) and
takes each response as fast as gunicorn writes it, spooling to disk for a slow reader, so a
worker thread is only ever busy computing. Its own error answers (405, 413, 414, 431, 502...)
are problem+json like the app's; the 405 it gives TRACE (which nginx never forwards) carries the
``Allow`` of the app's route, as the app's own 405s do.
"""

from __future__ import annotations

import getpass
import json
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# nginx's own answers, as problem+json: its code -> (status sent, title, detail). 494 is
# nginx's "request header too large"; gunicorn unreachable or slow is a 503 to retry.
ERRORS = {
    400: (400, "Bad Request", "the request is malformed"),
    404: (404, "Not Found", "there is nothing here"),
    405: (405, "Method Not Allowed", "the method is not allowed for this resource"),
    408: (408, "Request Timeout", "the request was not received in time"),
    413: (413, "Content Too Large", "the request body is larger than the limit of {limit} bytes"),
    414: (414, "URI Too Long", "the request line is longer than {line} bytes"),
    494: (431, "Request Header Fields Too Large", "a request header is longer than {line} bytes"),
    502: (503, "Service Unavailable", "the application is restarting; retry shortly"),
    504: (503, "Service Unavailable", "the application did not answer in time; retry shortly"),
}
HEADER_BUFFER = 16 * 1024  # the longest request line or header line accepted


def nginx_binary() -> str | None:
    """nginx on this machine (``.ci/setup`` installs Debian's nginx-light), or None."""
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(path).exists()),
        None,
    )


@dataclass(frozen=True)
class Front:
    """Where nginx listens, where gunicorn listens behind it, the request size limit, and the
    methods of each route (``allow_methods``) for the 405s nginx gives itself."""

    host: str
    port: int
    upstream: str  # a unix socket path
    directory: Path
    max_body_bytes: int
    allow: tuple[tuple[str, str], ...] = ()  # (nginx regex of a path, "GET, HEAD, OPTIONS")


def allow_methods(rules: Iterable[tuple[str, Iterable[str]]]) -> tuple[tuple[str, str], ...]:
    """Werkzeug rules (``/a/<id>``, ``/s/<path:f>``) and their methods → nginx ``map`` regexes
    with the ``Allow`` value of each path; the most literal paths first (the map takes the
    first regex that matches)."""
    methods: dict[str, set[str]] = {}
    weight: dict[str, tuple[int, int]] = {}
    for rule, rule_methods in rules:
        parts = re.split(r"(<[^>]+>)", rule)
        regex = "".join(
            (".+" if part.startswith("<path:") else "[^/]+")
            if part.startswith("<")
            else re.escape(part)
            for part in parts
        )
        regex = f"^{regex}(?:\\?|$)"  # matched on $request_uri: the query string follows
        methods.setdefault(regex, set()).update(rule_methods)
        weight[regex] = (sum(part.startswith("<") for part in parts), -len(rule))
    return tuple(
        (regex, ", ".join(sorted(methods[regex])))
        for regex in sorted(methods, key=lambda regex: weight[regex])
    )


def _problem(status: int, title: str, detail: str) -> str:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return json.dumps(body).replace("'", "\\'")


def nginx_config(front: Front) -> str:
    """The whole nginx.conf of one front (temporary paths in ``front.directory``)."""
    limits = {"limit": front.max_body_bytes, "line": HEADER_BUFFER}
    pages, locations = [], []
    for code, (status, title, detail) in ERRORS.items():
        retry = "        add_header Retry-After 5 always;\n" if status == 503 else ""
        if status == 405:
            retry = "        add_header Allow $geoapi_allow always;\n"
        # A path, not a named location: nginx can redirect to it even before it has read
        # the request line (a named location needs the request's URI).
        pages.append(f"        error_page {code} ={status} /_geoapi_problem/{code};")
        body = _problem(status, title, detail.format(**limits))
        locations.append(
            f"    location = /_geoapi_problem/{code} {{\n"
            f"        internal;\n"
            f"        default_type application/problem+json;\n{retry}"
            f"        return {status} '{body}';\n    }}"
        )
    allow = "".join(f'        "~{regex}" "{value}";\n' for regex, value in front.allow)
    directory = front.directory
    listen = f"[{front.host}]:{front.port}" if ":" in front.host else f"{front.host}:{front.port}"
    return f"""\
daemon off;
worker_processes 1;
user {getpass.getuser()};
pid {directory}/nginx.pid;
error_log stderr warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;  # gunicorn logs every request (with secrets scrubbed)
    server_tokens off;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    client_header_timeout 10s;
    client_body_timeout 30s;
    send_timeout 60s;
    keepalive_timeout 15s;
    client_header_buffer_size 4k;
    large_client_header_buffers 8 {HEADER_BUFFER // 1024}k;
    client_max_body_size {front.max_body_bytes};
    client_body_buffer_size 1m;
    proxy_http_version 1.1;
    proxy_request_buffering on;
    proxy_buffering on;
    proxy_buffers 64 16k;
    proxy_busy_buffers_size 64k;
    proxy_max_temp_file_size 4096m;
    proxy_read_timeout 120s;
    map $request_uri $geoapi_allow {{
        default "";
{allow}    }}
    upstream geoapi {{
        server unix:{front.upstream};
        keepalive 16;
    }}
    server {{
        listen {listen} backlog=1024;
{chr(10).join(pages)}
        location / {{
            proxy_pass http://geoapi;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Connection "";
        }}
{chr(10).join(locations)}
    }}
}}
"""


def start_nginx(binary: str, front: Front) -> subprocess.Popen[bytes]:
    """Write the config and start nginx in the foreground (as a child: it dies with us)."""
    config = front.directory / "nginx.conf"
    config.write_text(nginx_config(front), encoding="utf-8")
    check = subprocess.run(
        [binary, "-t", "-q", "-c", str(config)], capture_output=True, check=False
    )
    if check.returncode != 0:
        raise RuntimeError(f"nginx refused its configuration: {check.stderr.decode()[:500]}")
    return subprocess.Popen([binary, "-c", str(config)])
