"""A tiny HTTP proxy on 127.0.0.1 for the teacher tests: it forwards to a real server (or answers itself), records
every chat request it sees, and injects faults on cue (an HTTP status, a dropped connection, a hang, an echoed API
key, or being down). `SilentServer` accepts connections and never answers, or trickles an answer that never ends."""
import http.client, json, socket, threading, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlparse


class FaultyProxy:
    """Forward to `upstream`, or answer with `answer(body, headers)` as the reply text; `faults` maps a request number
    (0-based) to an action; `down` drops every request."""
    def __init__(self, upstream=None, faults=None, echo_auth=False, answer=None):
        self.upstream = urlparse(upstream) if upstream else None
        self.faults, self.echo_auth, self.down, self.answer = dict(faults or {}), echo_auth, False, answer
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

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


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
            rec = dict(i=i, path=h.path, body=body, action=action if isinstance(action, str) else action[0], t=time.time(),
                       authorization=h.headers.get('Authorization'))
            if h.command == 'POST': self.log.append(rec)
        if action == 'drop':
            h.close_connection = True
            return
        if isinstance(action, tuple) and action[0] == 'hang': # hang, then drop without an answer
            time.sleep(action[1])
            h.close_connection = True
            return
        if isinstance(action, tuple) and action[0] == 'status':
            return self._reply(h, action[1], json.dumps({'error': {'message': f"injected {action[1]}"}}).encode(),
                               extra=action[2] if len(action) > 2 else {})
        if action == 'echo_auth': # a careless server that repeats the Authorization header in its error
            msg = f"Invalid API key. Received: {h.headers.get('Authorization')}"
            return self._reply(h, 401, json.dumps({'error': {'message': msg}}).encode())
        if self.answer is not None: # a stand-in server: a chat completion whose text `answer` writes
            text = self.answer(body, h.headers)
            reply = {'id': 'x', 'object': 'chat.completion', 'created': 0, 'model': (body or {}).get('model', 'm'),
                     'choices': [{'index': 0, 'message': {'role': 'assistant', 'content': text}, 'finish_reason': 'stop'}],
                     'usage': {'prompt_tokens': 1, 'completion_tokens': 1, 'total_tokens': 2}}
            rec['status'] = 200
            return self._reply(h, 200, json.dumps(reply).encode())
        up = self.upstream
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=600)
        headers = {k: v for k, v in h.headers.items() if k.lower() in ('content-type', 'authorization', 'accept')}
        conn.request(h.command, h.path, body=raw, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        rec['status'] = resp.status
        self._reply(h, resp.status, data, ctype=resp.getheader('content-type', 'application/json'))

    @staticmethod
    def _reply(h, status, data, ctype='application/json', extra=None):
        h.send_response(status)
        h.send_header('Content-Type', ctype)
        h.send_header('Content-Length', str(len(data)))
        for k, v in (extra or {}).items(): h.send_header(k, v)
        try:
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError): pass # the client is gone (killed, or timed out)


class SilentServer:
    """A TCP server on 127.0.0.1 that reads requests and never finishes an answer: `trickle=False` sends nothing,
    `trickle=True` sends HTTP headers promising a long body and then one byte every `every` seconds, for `limit` s."""
    def __init__(self, trickle=False, every=0.1, limit=30.0):
        self.trickle, self.every, self.limit, self.connections = trickle, every, limit, 0
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(64)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self): return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopped.set()
        self.sock.close()
    def __enter__(self): return self.start()
    def __exit__(self, *a): self.stop()

    def _serve(self):
        while not self.stopped.is_set():
            try: conn, _ = self.sock.accept()
            except OSError: return
            self.connections += 1
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn):
        t0 = time.monotonic()
        try:
            conn.settimeout(self.every)
            if self.trickle:
                conn.recv(65536)
                conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n')
            while not self.stopped.is_set() and time.monotonic() - t0 < self.limit:
                if self.trickle: conn.sendall(b' ')
                try:
                    if conn.recv(65536) == b'' and not self.trickle: break # the client hung up
                except socket.timeout: pass
        except OSError: pass
        finally: conn.close()
