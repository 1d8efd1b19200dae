"""A Lambda Runtime API on 127.0.0.1, so the real function binary runs as it does in Lambda.

The test calls ``invoke(payload)``; the function's runtime client long-polls ``/next``, gets the event with
its request id and deadline, and posts ``/response`` or ``/error``.
"""

import json
import queue
import select
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


class Invocation:
    def __init__(self, payload, timeout):
        self.id = str(uuid.uuid4())
        self.payload = payload
        self.deadline_ms = int((time.time() + timeout) * 1000)
        self.done = threading.Event()
        self.kind = None  # "response" | "error"
        self.body = None
        self.delivered_at = None


class RuntimeApi:
    def __init__(self):
        self.pending = queue.Queue()
        self.invocations = {}
        self.lock = threading.Lock()
        self.init_errors = []
        self.first_next_at = None
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _reply(self, status, body=b"", headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path != f"{PREFIX}/invocation/next":
                    return self._reply(404)
                with api.lock:
                    if api.first_next_at is None:
                        api.first_next_at = time.perf_counter()
                inv = api.pending.get()
                if self._client_gone():
                    # The function process that asked for this event died while it waited (a test stopped it):
                    # the event goes to the next process that asks, as Lambda would deliver it.
                    api.pending.put(inv)
                    return
                inv.delivered_at = time.perf_counter()
                body = json.dumps(inv.payload).encode()
                self._reply(200, body, [
                    ("Lambda-Runtime-Aws-Request-Id", inv.id),
                    ("Lambda-Runtime-Deadline-Ms", str(inv.deadline_ms)),
                    ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:ecs-deployer"),
                    ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0"),
                    ("Content-Type", "application/json"),
                ])

            def _client_gone(self):
                readable, _, _ = select.select([self.connection], [], [], 0)
                if not readable:
                    return False
                try:
                    return self.connection.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    return True

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.path == f"{PREFIX}/init/error":
                    api.init_errors.append(body)
                    return self._reply(202, b"{}")
                parts = self.path[len(PREFIX) + 1:].split("/")
                if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    with api.lock:
                        inv = api.invocations.get(parts[1])
                    if inv is None:
                        return self._reply(400, b'{"errorType":"InvalidRequestID"}')
                    inv.kind, inv.body = parts[2], body
                    inv.done.set()
                    return self._reply(202, b"{}")
                return self._reply(404)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return f"127.0.0.1:{self.server.server_port}"

    def invoke(self, payload, timeout=60.0, wait=None):
        """Delivers one event; returns (kind, parsed body or text). Raises TimeoutError when nothing comes back."""
        inv = Invocation(payload, timeout)
        with self.lock:
            self.invocations[inv.id] = inv
        self.pending.put(inv)
        if not inv.done.wait(wait if wait is not None else timeout + 5):
            raise TimeoutError(f"no answer to invocation {inv.id} within {timeout} s")
        try:
            return inv.kind, json.loads(inv.body)
        except ValueError:
            return inv.kind, inv.body.decode(errors="replace")

    def close(self):
        self.server.shutdown()
        self.server.server_close()
