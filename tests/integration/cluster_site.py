"""A Redis Cluster on loopback for the tests: six redis-servers (three
masters, a replica each) formed by redis-cli --cluster create, on free
ports (the cluster bus too), stopped by the fixture."""

import os
import shutil
import subprocess

from harness import Redis, free_port
from quota_site import poll, quota_state

REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


class Cluster:
    """Six redis-servers, three masters and their replicas."""

    def __init__(self, tmp_path, password=None):
        self.tmp_path = tmp_path
        self.password = password
        self.used = set()
        self.nodes = [self.node_at(i) for i in range(6)]

    def free(self):
        """A free port, none of this cluster's (its bus ports too)."""
        while True:
            p = free_port()
            if p not in self.used:
                self.used.add(p)
                return p

    def node_at(self, i):
        d = self.tmp_path / ("rc%d" % i)
        os.makedirs(d, exist_ok=True)
        if os.path.exists(d / "nodes.conf"):
            os.unlink(d / "nodes.conf")
        # the bus port defaults to port + 10000: a free one instead
        args = ["--cluster-enabled", "yes",
                "--cluster-port", str(self.free()),
                "--cluster-config-file", str(d / "nodes.conf"),
                "--cluster-node-timeout", "1000"]
        if self.password:
            # replicas authenticate to their masters
            args += ["--masterauth", self.password]
        return Redis(d, port=self.free(), password=self.password, args=args)

    def ours(self, n):
        """n's redis-server, not another process, answers on its port."""
        try:
            pid = self.client(n.port).info("server")["process_id"]
        except Exception:
            return False
        return n.proc.poll() is None and pid == n.proc.pid

    def start(self):
        for i in range(len(self.nodes)):
            # a port taken meanwhile by another test's server: others
            for _ in range(5):
                try:
                    self.nodes[i].start()
                except RuntimeError:
                    pass
                if self.ours(self.nodes[i]):
                    break
                self.nodes[i].stop()
                self.nodes[i] = self.node_at(i)
            else:
                raise AssertionError("cannot start a cluster node")
        p = subprocess.run(
            [REDIS_CLI, "--cluster", "create"]
            + ["127.0.0.1:%d" % n.port for n in self.nodes]
            + ["--cluster-replicas", "1", "--cluster-yes"]
            + (["-a", self.password, "--no-auth-warning"]
               if self.password else []),
            capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr
        poll(self.settled, deadline=30, step=0.1)
        return self

    def stop(self):
        for n in self.nodes:
            n.stop()

    def client(self, port):
        import redis
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=5,
                           password=self.password)

    def alive(self):
        return [n for n in self.nodes
                if n.proc and n.proc.poll() is None]

    def view(self, node):
        """{port: (id, role, master id)} as node sees them."""
        out = {}
        text = self.client(node.port).execute_command("CLUSTER", "NODES")
        if isinstance(text, bytes):
            text = text.decode()
        for line in text.strip().splitlines():
            f = line.split()
            port = int(f[1].split("@")[0].rsplit(":", 1)[1])
            role = "master" if "master" in f[2] else "replica"
            out[port] = (f[0], role, f[3], "fail" in f[2])
        return out

    def settled(self):
        """Every live node says ok and agrees on the same masters, and
        every replica is in sync with its master."""
        views = []
        for n in self.alive():
            info = self.client(n.port).execute_command("CLUSTER", "INFO")
            if isinstance(info, bytes):
                info = info.decode()
            if "cluster_state:ok" not in info:
                return False
            v = self.view(n)
            # a replica that never synced would never take over
            if v[n.port][1] == "replica" and self.client(n.port).info(
                    "replication")["master_link_status"] != "up":
                return False
            views.append(sorted(p for p, x in v.items()
                                if x[1] == "master" and not x[3]))
        return views and all(v == views[0] for v in views)

    def masters(self):
        """[port] of the live masters, as the first live node sees them."""
        v = self.view(self.alive()[0])
        return sorted(p for p, x in v.items()
                      if x[1] == "master" and not x[3])

    def master_of(self, slot):
        c = self.client(self.alive()[0].port)
        for start, end, master, *_ in c.execute_command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return int(master[1])
        return None

    def replica_of(self, port):
        v = self.view(self.alive()[0])
        mid = v[port][0]
        return [p for p, x in v.items() if x[2] == mid][0]

    def node(self, port):
        return [n for n in self.nodes if n.port == port][0]

    def slot(self, agency):
        c = self.client(self.alive()[0].port)
        return c.execute_command("CLUSTER", "KEYSLOT", "{%s}" % agency)

    def counter(self, agency, policy="std", units=("d",), unit="d"):
        """What a window of agency's policy holds, read from the master
        serving it (one state key per agency and policy); 0 without one."""
        c = self.client(self.master_of(self.slot(agency)))
        raw = c.get("ngsp:{%s}:q:%s" % (agency, policy))
        if raw is None:
            return 0
        counts = quota_state(raw, list(units))["counts"]
        return round(counts[list(units).index(unit)])

    def calls(self, port, cmd):
        stats = self.client(port).info("commandstats")
        return stats.get("cmdstat_" + cmd, {}).get("calls", 0)


def agencies_per_master(cluster, per=1):
    """{master port: [agency, ...]}, per agencies on each master."""
    want = {p: [] for p in cluster.masters()}
    i = 0
    while any(len(v) < per for v in want.values()):
        a = "agency-%d" % i
        m = cluster.master_of(cluster.slot(a))
        if len(want[m]) < per:
            want[m].append(a)
        i += 1
    return want
