"""A tiny HTTP proxy on 127.0.0.1 for the teacher tests: it forwards to a real server, records every chat request
it sees, and injects faults on cue (an HTTP status, a dropped connection, a hang, an echoed API key, or being down)."""
import http.client, json, threading, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlparse


class FaultyProxy:
    "Forward to `upstream`; `faults` maps a request number (0-based) to an action; `down` drops every request."
    def __init__(self, upstream=None, faults=None, echo_auth=False):
        self.upstream = urlparse(upstream) if upstream else None
        self.faults, self.echo_auth, self.down = dict(faults or {}), echo_auth, False
        self.log, self._lock = [], threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a): pass
            def do_GET(self): proxy._handle(self, None)
            def do_POST(self): proxy._handle(self, self.rfile.read(int(self.headers.get('content-length') or 0)))

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self): return self.httpd.server_address[1]
    @property
    def base_url(self): return f"http://127.0.0.1:{self.port}/v1"

    def start(self): self.thread.start(); return self
    def stop(self): self.httpd.shutdown(); self.httpd.server_close()
    def __enter__(self): return self.start()
    def __exit__(self, *a): self.stop()

    def chat_bodies(self, start=0):
        "The decoded chat-completion request bodies seen, from request number `start` on."
        return [r['body'] for r in self.log[start:] if r['body'] is not None]

    def _handle(self, h, raw):
        body = None
        if raw:
            try: body = json.loads(raw)
            except ValueError: body = None
        with self._lock:
            i = len(self.log)
            action = 'drop' if self.down else self.faults.get(i, 'echo_auth' if self.echo_auth else 'pass')
            rec = dict(i=i, path=h.path, body=body, action=action if isinstance(action, str) else action[0], t=time.time())
            if h.command == 'POST': self.log.append(rec)
        if action == 'drop': h.close_connection = True; return
        if isinstance(action, tuple) and action[0] == 'hang': # hang, then drop without an answer
            time.sleep(action[1]); h.close_connection = True; return
        if isinstance(action, tuple) and action[0] == 'status':
            return self._reply(h, action[1], json.dumps({'error': {'message': f"injected {action[1]}"}}).encode(),
                               extra=action[2] if len(action) > 2 else {})
        if action == 'echo_auth': # a careless server that repeats the Authorization header in its error
            msg = f"Invalid API key. Received: {h.headers.get('Authorization')}"
            return self._reply(h, 401, json.dumps({'error': {'message': msg}}).encode())
        up = self.upstream
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=600)
        headers = {k: v for k, v in h.headers.items() if k.lower() in ('content-type', 'authorization', 'accept')}
        conn.request(h.command, h.path, body=raw, headers=headers)
        resp = conn.getresponse(); data = resp.read(); conn.close()
        rec['status'] = resp.status
        self._reply(h, resp.status, data, ctype=resp.getheader('content-type', 'application/json'))

    @staticmethod
    def _reply(h, status, data, ctype='application/json', extra=None):
        h.send_response(status)
        h.send_header('Content-Type', ctype); h.send_header('Content-Length', str(len(data)))
        for k, v in (extra or {}).items(): h.send_header(k, v)
        try: h.end_headers(); h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError): pass # the client is gone (killed, or timed out)
