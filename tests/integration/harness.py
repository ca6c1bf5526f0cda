"""Start real nginx, redis-server and a stub upstream on free loopback ports.

Every server a test starts is stopped by the fixture that made it.  An
nginx instance fails its test when error.log shows [alert], [emerg], a
worker that exited on a signal, or a sanitizer report.
"""

import glob
import http.server
import os
import re
import shutil
import signal
import socket
import socketserver
import subprocess
import threading
import time

MODULE = os.environ.get("NGSP_MODULE") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "build",
                 "ngx_http_ngsp_module.so"))
BUILD = os.environ.get("NGSP_BUILD") or os.path.dirname(MODULE)
SAN = bool(os.environ.get("NGSP_SAN"))
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"

BAD_LOG = re.compile(r"\[alert\]|\[emerg\]|exited on signal|"
                     r"AddressSanitizer|runtime error:|LeakSanitizer")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("nothing listens on port %d" % port)


def sanitizer_env():
    if not SAN:
        return {}
    lib = subprocess.run(["gcc", "-print-file-name=libasan.so"],
                         capture_output=True, text=True).stdout.strip()
    return {"LD_PRELOAD": os.path.realpath(lib)}


class Nginx:
    """One nginx master with the module loaded.

    http: text placed inside http {}; servers usually live there too.
    main: text placed at the top level (after load_module).
    preload: text placed before the module's load_module (other modules
    that must load first, such as lua-nginx-module: LUA_PRELOAD).
    """

    def __init__(self, prefix, http, main="", workers=2, events="",
                 preload=""):
        self.prefix = str(prefix)
        self.http = http
        self.main = main
        self.preload = preload
        self.workers = workers
        self.events = events
        self.proc = None
        # error.log lines a test caused on purpose (a worker it killed)
        self.expected = []
        os.makedirs(os.path.join(self.prefix, "logs"), exist_ok=True)
        self.conf = os.path.join(self.prefix, "nginx.conf")
        self.error_log = os.path.join(self.prefix, "logs", "error.log")
        self.write(http)

    def write(self, http, main=None):
        if main is not None:
            self.main = main
        self.http = http
        user = "user root;" if os.geteuid() == 0 else ""
        text = f"""
{self.preload}
load_module {MODULE};
{user}
worker_processes {self.workers};
pid {self.prefix}/nginx.pid;
error_log {self.error_log} info;
{self.main}
events {{ worker_connections 1024; {self.events} }}
http {{
    access_log off;
    client_body_temp_path {self.prefix}/body;
    proxy_temp_path {self.prefix}/proxy;
    fastcgi_temp_path {self.prefix}/fastcgi;
    uwsgi_temp_path {self.prefix}/uwsgi;
    scgi_temp_path {self.prefix}/scgi;
    {http}
}}
"""
        with open(self.conf, "w") as f:
            f.write(text)

    def env(self):
        e = dict(os.environ)
        e.update(sanitizer_env())
        if SAN:
            e["ASAN_OPTIONS"] = ("detect_leaks=0:log_path=%s/logs/asan"
                                 % self.prefix)
            e["UBSAN_OPTIONS"] = ("print_stacktrace=1:log_path=%s/logs/ubsan"
                                  % self.prefix)
        return e

    def check(self):
        """nginx -t on the current file: (ok, output)."""
        p = subprocess.run([NGINX, "-t", "-p", self.prefix, "-c", self.conf],
                           capture_output=True, text=True, env=self.env())
        return p.returncode == 0, p.stdout + p.stderr

    def start(self, ports=()):
        ok, out = self.check()
        if not ok:
            raise RuntimeError("nginx -t failed:\n" + out)
        self.proc = subprocess.Popen(
            [NGINX, "-p", self.prefix, "-c", self.conf, "-g", "daemon off;"],
            env=self.env(), stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        for p in ports:
            wait_port(p)
        return self

    def reload(self, settle=1.0):
        mark = len(self.log())
        self.proc.send_signal(signal.SIGHUP)
        end = time.time() + 10
        while time.time() < end:
            if "reconfiguring" in self.log()[mark:]:
                break
            time.sleep(0.05)
        time.sleep(settle)

    def log(self):
        try:
            with open(self.error_log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def worker_pids(self):
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)],
                             capture_output=True, text=True).stdout
        return [int(x) for x in out.split()]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def problems(self):
        bad = [l for l in self.log().splitlines() if BAD_LOG.search(l)
               and not any(re.search(e, l) for e in self.expected)]
        for path in glob.glob(os.path.join(self.prefix, "logs", "*san*")):
            with open(path, errors="replace") as f:
                bad.append(path + ":\n" + f.read())
        return bad


# Debian's lua-nginx-module (libnginx-mod-http-lua, libnginx-mod-http-ndk,
# lua-resty-core): loaded before ngsp, as a portal's nginx would
LUA_PRELOAD = """
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
"""


class Redis:
    def __init__(self, prefix, password=None, port=None, args=()):
        self.prefix = str(prefix)
        self.port = port or free_port()
        self.password = password
        self.args = list(args)
        self.proc = None
        os.makedirs(self.prefix, exist_ok=True)

    def start(self):
        args = [REDIS, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", self.prefix,
                "--daemonize", "no", "--loglevel", "warning",
                "--logfile", os.path.join(self.prefix, "redis.log")]
        if self.password:
            args += ["--requirepass", self.password]
        args += self.args
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return self

    def client(self):
        import redis
        return redis.Redis(host="127.0.0.1", port=self.port,
                           password=self.password)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Reply:
    """What the stub upstream sends for one path.

    body: bytes, or a list of byte chunks sent with `pause` seconds between
    them (chunked transfer encoding unless length is set).
    """

    def __init__(self, body=b"", status=200, headers=None, pause=0.0,
                 chunked=None, abort_after=None):
        self.body = body
        self.status = status
        self.headers = headers or {}
        self.pause = pause
        self.chunked = chunked
        self.abort_after = abort_after


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _serve(self, head=False):
        srv = self.server
        srv.requests.append((self.command, self.path, dict(self.headers)))
        reply = srv.routes.get(self.path.split("?")[0])
        if reply is None:
            reply = srv.routes.get("*")
        if callable(reply):
            reply = reply(self)
        if reply is None:
            reply = Reply(b"not found\n", 404)
        chunks = reply.body if isinstance(reply.body, list) else [reply.body]
        chunked = reply.chunked
        if chunked is None:
            chunked = isinstance(reply.body, list)
        self.send_response(reply.status)
        for k, v in reply.headers.items():
            self.send_header(k, v)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif "Content-Length" not in reply.headers:
            self.send_header("Content-Length", str(sum(map(len, chunks))))
        self.end_headers()
        if head or reply.status in (204, 304):
            return
        sent = 0
        for i, c in enumerate(chunks):
            if i and reply.pause:
                time.sleep(reply.pause)
            if reply.abort_after is not None and sent >= reply.abort_after:
                break
            if chunked:
                if c:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(c), c))
            else:
                self.wfile.write(c)
            self.wfile.flush()
            sent += len(c)
        if reply.abort_after is not None:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def do_GET(self):
        self._serve()

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        self._serve()

    def do_HEAD(self):
        self._serve(head=True)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Upstream:
    """A threaded stub HTTP server; routes maps a path to a Reply."""

    def __init__(self, routes=None):
        self.port = free_port()
        self.srv = _Server(("127.0.0.1", self.port), _Handler)
        self.srv.routes = routes if routes is not None else {}
        self.srv.requests = []
        self.thread = threading.Thread(target=self.srv.serve_forever,
                                       daemon=True)

    @property
    def routes(self):
        return self.srv.routes

    @property
    def requests(self):
        return self.srv.requests

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()
