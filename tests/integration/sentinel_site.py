"""Redis Sentinel on loopback for the tests: one master, one replica and
three redis-sentinel processes (quorum 2, down after 1 s), all on free
ports under the test's own directory, all stopped by the fixture; and a
scripted stand-in sentinel whose answers a test chooses."""

import os
import shutil
import signal
import socket
import socketserver
import subprocess
import threading
import time

from harness import SAN, Redis, free_port, wait_port
from quota_site import poll

SENTINEL = shutil.which("redis-sentinel") or "/usr/bin/redis-sentinel"
NAME = "ngsp-master"
# a sanitizer build is slower everywhere: deadlines grow, never sleeps
SLACK = 3.0 if SAN else 1.0


class Sentinel:
    def __init__(self, prefix, master_port, password=None, down_ms=1000):
        self.prefix = str(prefix)
        self.port = free_port()
        self.password = password
        self.master_port = master_port
        self.down_ms = down_ms
        self.proc = None
        os.makedirs(self.prefix, exist_ok=True)

    def start(self):
        conf = os.path.join(self.prefix, "sentinel.conf")
        lines = [
            "port %d" % self.port,
            "bind 127.0.0.1",
            "daemonize no",
            "protected-mode no",
            "dir %s" % self.prefix,
            "logfile %s" % os.path.join(self.prefix, "sentinel.log"),
            "sentinel resolve-hostnames no",
            "sentinel monitor %s 127.0.0.1 %d 2" % (NAME, self.master_port),
            "sentinel down-after-milliseconds %s %d" % (NAME, self.down_ms),
            "sentinel failover-timeout %s 3000" % NAME,
            "sentinel parallel-syncs %s 1" % NAME,
        ]
        if self.password:
            lines += ["requirepass %s" % self.password,
                      "sentinel sentinel-pass %s" % self.password]
        # sentinel rewrites its file: each run writes it afresh
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = subprocess.Popen([SENTINEL, conf],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port)
        return self

    def client(self):
        import redis
        return redis.Redis(host="127.0.0.1", port=self.port,
                           password=self.password, socket_timeout=1)

    def master(self):
        """(host, port) this sentinel names now, or None."""
        try:
            a = self.client().execute_command(
                "SENTINEL", "get-master-addr-by-name", NAME)
        except Exception:
            return None
        return (a[0].decode(), int(a[1])) if a else None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Group:
    """A master, its replica and three sentinels that agree on them."""

    def __init__(self, tmp_path, password=None):
        self.tmp = tmp_path
        self.password = password
        self.master = Redis(tmp_path / "master",
                            args=("--enable-debug-command", "yes"))
        self.replica = None
        self.sentinels = []

    def start(self):
        self.master.start()
        self.replica = Redis(self.tmp / "replica", args=(
            "--replicaof", "127.0.0.1", str(self.master.port),
            "--enable-debug-command", "yes")).start()
        poll(lambda: self.master.client().info("replication")
             .get("connected_slaves") == 1
             and self.replica.client().info("replication")
             .get("master_link_status") == "up", deadline=20)
        self.sentinels = [Sentinel(self.tmp / ("sentinel%d" % i),
                                   self.master.port, self.password).start()
                          for i in range(3)]
        self.wait_agreed(self.master.port)
        return self

    def wait_agreed(self, port, deadline=30):
        """Every running sentinel names port's Redis as the master and
        knows the replica and the other running sentinels (a failover
        needs them)."""
        alive = [s for s in self.sentinels if s.proc]

        def agreed():
            for s in alive:
                try:
                    m = s.client().execute_command(
                        "SENTINEL", "master", NAME)
                except Exception:
                    return False
                m = dict(zip(m[::2], m[1::2]))
                if (int(m[b"port"]) != port
                        or int(m[b"num-slaves"]) < 1
                        or int(m[b"num-other-sentinels"]) < len(alive) - 1
                        or b"s_down" in m[b"flags"]):
                    return False
            return True
        poll(agreed, deadline=deadline, step=0.1)

    def line(self, extra=""):
        return "ngsp_redis %s sentinel=%s%s;" % (
            " ".join("127.0.0.1:%d" % s.port for s in self.sentinels),
            NAME, extra)

    def stop(self):
        for s in self.sentinels:
            s.stop()
        for r in (self.replica, self.master):
            if r:
                r.stop()


def kill(redis):
    redis.proc.send_signal(signal.SIGKILL)
    redis.proc.wait()
    redis.proc = None


class FakeSentinel:
    """Speaks just enough of Sentinel's protocol: AUTH, PING,
    get-master-addr-by-name answers what self.answer says (a (host, port)
    pair, None for a nil, "hang" for no answer), SUBSCRIBE confirms and publish() sends a
    +switch-master message to every subscriber."""

    def __init__(self, answer=None, password=None):
        self.answer = answer
        self.password = password
        self.delay = 0          # seconds before answering a question
        self.asked = 0
        self.subscribers = []
        self.lock = threading.Lock()
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                fake.serve(self.request)

        class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            for s in self.subscribers:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def publish(self, text):
        msg = resp_array([b"message", b"+switch-master", text.encode()])
        with self.lock:
            for s in self.subscribers:
                try:
                    s.sendall(msg)
                except OSError:
                    pass

    def drop_subscribers(self):
        """Closes every subscription: the workers subscribe again."""
        with self.lock:
            subs, self.subscribers = self.subscribers, []
        for s in subs:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def serve(self, sock):
        f = sock.makefile("rb")
        authed = self.password is None
        while True:
            try:
                cmd = read_command(f)
            except (OSError, ValueError):
                return
            if cmd is None:
                return
            name = cmd[0].upper()
            if name == b"AUTH":
                authed = cmd[-1].decode() == self.password
                sock.sendall(b"+OK\r\n" if authed else
                             b"-WRONGPASS invalid username-password pair\r\n")
            elif not authed:
                sock.sendall(b"-NOAUTH Authentication required.\r\n")
            elif name == b"SENTINEL":
                self.asked += 1
                a = self.answer
                if self.delay:
                    time.sleep(self.delay)
                if a == "hang":
                    continue
                if a is None:
                    sock.sendall(b"*-1\r\n")
                else:
                    sock.sendall(resp_array([a[0].encode(),
                                             str(a[1]).encode()]))
            elif name == b"SUBSCRIBE":
                sock.sendall(resp_array([b"subscribe", cmd[1]], count=1))
                with self.lock:
                    self.subscribers.append(sock)
            else:
                sock.sendall(b"+PONG\r\n")


def resp_array(items, count=None):
    out = b"*%d\r\n" % (len(items) + (count is not None))
    for i in items:
        out += b"$%d\r\n%s\r\n" % (len(i), i)
    if count is not None:
        out += b":%d\r\n" % count
    return out


def read_command(f):
    line = f.readline()
    if not line:
        return None
    if not line.startswith(b"*"):
        return line.split()
    args = []
    for _ in range(int(line[1:])):
        n = int(f.readline()[1:])
        args.append(f.read(n + 2)[:-2])
    return args
