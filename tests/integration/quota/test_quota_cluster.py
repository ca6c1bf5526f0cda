"""Quotas on a Redis Cluster: three masters with a replica each, formed by
redis-cli --cluster create on loopback.  Decisions stay exact with the
agencies spread over every master, one command each; a slot moved under
traffic (ASK, then MOVED) loses and doubles no decision; a master failed
over, or killed, is followed without a reload."""

import concurrent.futures
import os
import re
import signal
import subprocess
import threading

import pytest
import requests

from cluster_site import REDIS_CLI, agencies_per_master
from harness import Reply, free_port, wait_port
from quota_site import Site, poll, token

@pytest.fixture
def ok_upstream(upstream):
    upstream.routes["*"] = Reply(b'{"ok":true}')
    return upstream


def site(nginx_factory, cluster, upstream, tmp_path, policy, timeout="2s",
         extra="", params="", mapped=True):
    seeds = " ".join("127.0.0.1:%d" % p for p in cluster.masters())
    s = Site(nginx_factory, None, upstream, tmp_path,
             {"/": "ngsp_jwt on; ngsp_quota std;"}, policies=[policy],
             redis_line="ngsp_redis %s cluster%s;" % (seeds, params),
             timeout=timeout, http_extra=extra)
    # every worker has read the map
    if mapped:
        poll(lambda: len(re.findall(r"ngsp: redis cluster: map read from",
                                    s.nginx.log())) >= 2)
    return s


class Traffic:
    """Requests for one agency, a few at a time, until stopped."""

    def __init__(self, s, agency, threads=4):
        self.s = s
        self.tok = token(agency)
        self.codes = []
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.threads = [threading.Thread(target=self.run)
                        for _ in range(threads)]

    def run(self):
        sess = requests.Session()
        while not self.stopped.is_set():
            try:
                code = sess.get(self.s.url("/a"), timeout=30, headers={
                    "Authorization": "Bearer " + self.tok}).status_code
            except requests.RequestException:
                code = None
            with self.lock:
                self.codes.append(code)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        for t in self.threads:
            t.join(60)

    def count(self, code):
        with self.lock:
            return self.codes.count(code)

    def wait_more(self, code, n, deadline=20):
        """Waits until n more answers with code than now."""
        base = self.count(code)
        poll(lambda: self.count(code) >= base + n, deadline=deadline)


def test_cluster_exact_spread_over_three_masters(
        nginx_factory, cluster, ok_upstream, tmp_path):
    """2 nginx x 2 workers, 400 requests for each of 3 agencies (one per
    master) against a limit of 200: exactly 200 each pass, one EVALSHA per
    decision on the master of its slot, nothing redirected."""
    per = agencies_per_master(cluster)
    agencies = [a for m in sorted(per) for a in per[m]]
    sites = [site(nginx_factory, cluster, ok_upstream, tmp_path / str(i),
                  "std 200r/d", timeout="5s") for i in range(2)]
    for n in cluster.nodes:
        cluster.client(n.port).config_resetstat()
    toks = [token(a) for a in agencies]
    local = threading.local()

    def one(i):
        if not hasattr(local, "s"):
            local.s = requests.Session()
        s = sites[i % 2]
        a = (i // 2) % 3
        code = local.s.get(s.url("/a"), timeout=30, headers={
            "Authorization": "Bearer " + toks[a]}).status_code
        return a, code

    with concurrent.futures.ThreadPoolExecutor(30) as ex:
        got = list(ex.map(one, range(1200)))
    for a, agency in enumerate(agencies):
        codes = [c for x, c in got if x == a]
        assert len(codes) == 400
        assert codes.count(200) == 200, (agency, codes)
        assert codes.count(429) == 200, (agency, codes)
        assert cluster.counter(agency) == 200
    for m in sorted(per):
        stats = cluster.client(m).info("commandstats")
        assert stats["cmdstat_evalsha"]["calls"] == 400, m
        # not one MOVED: each went to its master the first time
        assert stats["cmdstat_evalsha"].get("rejected_calls", 0) == 0
        assert "cmdstat_eval" not in stats
        assert "cmdstat_asking" not in stats
    for n in cluster.nodes:
        if n.port not in per:
            assert cluster.calls(n.port, "evalsha") == 0


def test_cluster_status_shows_each_workers_masters(
        nginx_factory, cluster, ok_upstream, tmp_path):
    """The status endpoint names the masters each worker talks to: those
    its requests needed, and no seed or replica."""
    per = agencies_per_master(cluster)
    sport = free_port()
    s = site(nginx_factory, cluster, ok_upstream, tmp_path, "std 1000r/d",
             extra="ngsp_status_zone ngsp 1m; server { listen 127.0.0.1:%d; "
                   "location = /st { ngsp_status; } }" % sport)
    wait_port(sport)
    st = "http://127.0.0.1:%d/st?format=" % sport
    want = ["127.0.0.1:%d" % m for m in sorted(per)]

    def every_master_named():
        for m in sorted(per):
            # a new connection each: either worker may take it
            assert s.get("/a", per[m][0], session=requests).status_code \
                == 200
        ws = requests.get(st + "json", timeout=10).json()["redis"]["workers"]
        got = {w["worker"]: sorted(w["nodes"]) for w in ws}
        union = sorted(set(n for g in got.values() for n in g))
        return got if len(got) == 2 and union == want else None

    got = poll(every_master_named, deadline=20)
    # a worker names the masters it holds connections to, and only them
    for nodes in got.values():
        assert set(nodes) <= set(want)
    prom = requests.get(st + "prometheus", timeout=10).text
    for w, nodes in got.items():
        for n in nodes:
            assert ('ngsp_redis_node{worker="%d",node="%s"} 1' % (w, n)) \
                in prom, prom


def test_cluster_script_flushed_is_sent_again(
        nginx_factory, cluster, ok_upstream, tmp_path):
    """SCRIPT FLUSH on every master: the next decision on each sends the
    script itself once (EVAL), then EVALSHA again."""
    per = agencies_per_master(cluster)
    s = site(nginx_factory, cluster, ok_upstream, tmp_path, "std 1000r/d")
    for m in sorted(per):
        assert s.get("/a", per[m][0]).status_code == 200
    for m in sorted(per):
        cluster.client(m).script_flush()
        cluster.client(m).config_resetstat()
    for m in sorted(per):
        for _ in range(3):
            assert s.get("/a", per[m][0]).status_code == 200
    for m in sorted(per):
        assert cluster.calls(m, "eval") == 1
        assert cluster.calls(m, "evalsha") == 3     # one said NOSCRIPT
        assert cluster.counter(per[m][0]) == 4


def test_cluster_slot_moved_under_traffic(
        nginx_factory, cluster, ok_upstream, tmp_path):
    """An agency's slot moves to another master while requests flow: ASK
    is followed during the migration, MOVED after it, and every request
    let through is counted once on the master that holds the slot."""
    per = agencies_per_master(cluster)
    src = sorted(per)[0]
    dst = sorted(per)[1]
    agency = per[src][0]
    slot = cluster.slot(agency)
    s = site(nginx_factory, cluster, ok_upstream, tmp_path, "std 100000r/d")
    pids = s.nginx.worker_pids()
    ids = {p: x[0] for p, x in cluster.view(cluster.nodes[0]).items()}
    sc, dc = cluster.client(src), cluster.client(dst)

    with Traffic(s, agency) as t:
        t.wait_more(200, 20)
        dc.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[src])
        sc.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[dst])
        # a few requests while the slot is migrating, before the keys move:
        # the state key is here and the limits hash nowhere, so the source
        # answers TRYAGAIN (some of the command's keys here, not all)
        poll(lambda: "redis said: TRYAGAIN" in s.nginx.log())
        keys = sc.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100)
        assert keys
        sc.execute_command("MIGRATE", "127.0.0.1", dst, "", 0, 5000,
                           "KEYS", *keys)
        # none left on the source: ASK, and ASKING on the importing master
        poll(lambda: cluster.calls(dst, "asking") > 0)
        # the new owner first, as redis-cli --cluster does
        for m in [dst] + [m for m in cluster.masters() if m != dst]:
            cluster.client(m).execute_command(
                "CLUSTER", "SETSLOT", slot, "NODE", ids[dst])
        t.wait_more(200, 50)

    assert cluster.master_of(slot) == dst
    allowed = t.count(200)
    assert allowed >= 70
    # a request failed by the policy (TRYAGAIN while the slot migrates) is
    # not counted; every one let through is, once
    assert set(t.codes) <= {200, 503}, set(t.codes)
    assert cluster.counter(agency) == allowed
    assert not sc.keys("ngsp:{%s}:*" % agency)
    assert s.nginx.worker_pids() == pids
    log = s.nginx.log()
    assert "ngsp: quota: redis said: TRYAGAIN" in log \
        or t.count(503) == 0, log[-3000:]


def failover_test(nginx_factory, cluster, upstream, tmp_path, kill):
    per = agencies_per_master(cluster)
    victim = sorted(per)[0]
    agency = per[victim][0]
    other = per[sorted(per)[1]][0]
    replica = cluster.replica_of(victim)
    # longer than a manual failover's pause of the old master's clients
    s = site(nginx_factory, cluster, upstream, tmp_path, "std 100000r/d",
             timeout="5s")
    pids = s.nginx.worker_pids()

    with Traffic(s, agency) as t:
        t.wait_more(200, 20)
        if kill:
            os.kill(cluster.node(victim).proc.pid, signal.SIGKILL)
            cluster.node(victim).proc.wait(10)
        else:
            cluster.client(replica).execute_command("CLUSTER", "FAILOVER")
        poll(lambda: replica in cluster.masters()
             and victim not in cluster.masters(), deadline=30, step=0.1)
        # decisions resume on the promoted replica, without a reload
        t.wait_more(200, 30, deadline=20)

    assert cluster.master_of(cluster.slot(agency)) == replica
    assert s.nginx.worker_pids() == pids
    assert set(t.codes) <= {200, 503}, set(t.codes)
    diff = cluster.counter(agency) - t.count(200)
    if kill:
        # exact to within what was in flight when the master died
        assert abs(diff) <= len(t.threads), diff
    else:
        # a manual failover waits for the replica: nothing is lost
        assert diff == 0
    # the other masters answer
    assert s.get("/a", other).status_code == 200
    return s, t


def test_cluster_failover_followed(nginx_factory, cluster, ok_upstream,
                                   tmp_path):
    """CLUSTER FAILOVER on a master's replica: MOVED from the old master,
    the map read again, decisions go on on the new one."""
    failover_test(nginx_factory, cluster, ok_upstream, tmp_path, kill=False)


def test_cluster_killed_master_followed(nginx_factory, cluster, ok_upstream,
                                       tmp_path):
    """A master killed: its requests fail by the policy until its replica
    is promoted, then go to the new master, without a reload."""
    s, t = failover_test(nginx_factory, cluster, ok_upstream, tmp_path,
                         kill=True)
    # failed by the policy while no master served the slot
    assert t.count(503) > 0
    assert "ngsp: quota: redis" in s.nginx.log()


@pytest.mark.parametrize("line, message", [
    ("ngsp_redis 127.0.0.1:7000 127.0.0.1:7001;",
     "ngsp: ngsp_redis lists 2 addresses: add \"sentinel=NAME\" (the "
     "addresses are sentinels) or \"cluster\" (they are cluster nodes)"),
    ("ngsp_redis 127.0.0.1:7000 cluster db=1;",
     "ngsp: \"db=\" with \"cluster\" (Redis Cluster has only database 0"),
    ("ngsp_redis cluster 127.0.0.1:7000 db=0;",
     "ngsp: \"db=\" with \"cluster\" (Redis Cluster has only database 0"),
    ("ngsp_redis cluster;", "ngsp: ngsp_redis needs an address"),
    # a misspelt mode word is one more address: the fix is named
    ("ngsp_redis 127.0.0.1:7000 clustered;",
     "ngsp: ngsp_redis lists 2 addresses: add \"sentinel=NAME\""),
])
def test_cluster_config_refused(nginx_factory, ok_upstream, tmp_path, line,
                                message):
    s = Site(nginx_factory, None, ok_upstream, tmp_path,
             {"/": "ngsp_jwt on; ngsp_quota std;"}, redis_line=line,
             start=False)
    ok, out = s.nginx.check()
    assert not ok and message in out, out


def test_cluster_ipv6_node_address_read_without_a_crash(
        nginx_factory, cluster, ok_upstream, tmp_path):
    """A master announced by an IPv6 address (cluster-announce-ip ::1,
    while it listens on 127.0.0.1 only) is read from the map as a numeric
    address: its agencies fail by the policy (nothing answers there), the
    others pass, and no worker dies."""
    per = agencies_per_master(cluster)
    m6 = sorted(per)[0]
    cluster.client(m6).config_set("cluster-announce-ip", "::1")

    def announced():
        for p in cluster.masters():
            out = subprocess.run([REDIS_CLI, "-p", str(p), "cluster",
                                  "slots"], capture_output=True, text=True,
                                 timeout=10).stdout
            if "::1\n%d\n" % m6 not in out:
                return False
        return True

    poll(announced, deadline=20)
    s = site(nginx_factory, cluster, ok_upstream, tmp_path, "std 1000r/d",
             timeout="300ms")
    for m in sorted(per):
        want = 503 if m == m6 else 200
        for _ in range(4):
            assert s.get("/a", per[m][0]).status_code == want, m
    assert "exited on signal" not in s.nginx.log()


def test_cluster_password(nginx_factory, ok_upstream, tmp_path):
    """password= reaches every master (AUTH on each connection); a wrong
    one fails by the policy, and neither password reaches the log."""
    from cluster_site import Cluster
    c = Cluster(tmp_path / "pw", password="cl-s3cret-pw").start()
    try:
        per = agencies_per_master(c)
        agencies = [a for m in sorted(per) for a in per[m]]
        s = site(nginx_factory, c, ok_upstream, tmp_path / "ok",
                 "std 3r/d", params=" password=cl-s3cret-pw")
        sess = requests.Session()
        for a in agencies:
            codes = [sess.get(s.url("/a"), timeout=10, headers={
                "Authorization": "Bearer " + token(a)}).status_code
                for _ in range(4)]
            assert codes == [200, 200, 200, 429], (a, codes)
            assert c.counter(a) == 3
        bad = site(nginx_factory, c, ok_upstream, tmp_path / "bad",
                   "std 3r/d", params=" password=wrong-pw-42",
                   mapped=False)
        r = sess.get(bad.url("/a"), timeout=10, headers={
            "Authorization": "Bearer " + token(agencies[0])})
        assert r.status_code == 503
        assert c.counter(agencies[0]) == 3
        for n in (s, bad):
            log = n.nginx.log()
            assert "cl-s3cret-pw" not in log and "wrong-pw-42" not in log
    finally:
        c.stop()
