"""ngsp_redis with sentinel=NAME against real redis-sentinel processes:
each worker finds the master through the sentinels and follows a failover
without a reload, within the failover time plus about a second, no request
waiting past ngsp_redis_timeout, counting exact afterwards; a sentinel
down among three, a wrong master name, sentinel_password, and an answer
naming a replica (ROLE) or no numeric address (a scripted sentinel)."""

import re
import threading
import time

import jwt as pyjwt
import pytest
import requests

from harness import free_port
from quota_site import poll, quota_state
from sentinel_site import (NAME, SLACK, FakeSentinel, Group, kill)

SECRET = b"sentinel-tests-hmac-secret-0123456789abcdef"
TIMEOUT = 0.5


class Site:
    """nginx (2 workers) whose / is quota-checked (std, fail closed) and
    answered by empty_gif; /status is ngsp_status."""

    def __init__(self, nginx_factory, tmp_path, redis_line, extra=""):
        tmp_path.mkdir(parents=True, exist_ok=True)
        secret = tmp_path / "hs.secret"
        secret.write_bytes(SECRET)
        self.port = free_port()
        self.nginx = nginx_factory(f"""
            ngsp_jwt_key_file {secret} alg=HS256;
            {redis_line}
            ngsp_redis_timeout {int(TIMEOUT * 1000)}ms;
            ngsp_quota_policy std 1000000r/d;
            ngsp_status_zone ngsp 1m;
            server {{
                listen 127.0.0.1:{self.port};
                location / {{
                    ngsp_jwt on;
                    ngsp_quota std;
                    ngsp_quota_fail closed;
                    empty_gif;
                }}
                location /status {{ ngsp_status; }}
                {extra}
            }}""", ports=[self.port])

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def get(self, agency="so-tu-phap", session=None):
        return (session or requests).get(
            self.url("/"), timeout=10,
            headers={"Authorization": "Bearer " + token(agency)})

    def workers(self):
        return requests.get(self.url("/status?format=json"),
                            timeout=10).json()["redis"]["workers"]

    def on(self, port):
        """Every worker talks to the master at port, checked by ROLE."""
        w = self.workers()
        return len(w) == 2 and all(
            x["connected"] and x["address"] == "127.0.0.1:%d" % port
            for x in w)


def token(agency):
    return pyjwt.encode({"client_id": agency,
                         "exp": int(time.time()) + 3600}, SECRET,
                        algorithm="HS256")


@pytest.fixture
def group(tmp_path):
    g = Group(tmp_path / "redis")
    try:
        g.start()
        yield g
    finally:
        g.stop()


class Traffic:
    """Threads sending requests to each site without pause, each request
    on a new connection (so both workers see them), noting when it left,
    how long it took and its status."""

    def __init__(self, sites, per_site=3):
        self.sites = sites
        self.stop_ = threading.Event()
        self.seen = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(s,))
                        for s in sites for _ in range(per_site)]

    def run(self, site):
        while not self.stop_.is_set():
            t0 = time.monotonic()
            try:
                code = site.get("so-tai-chinh").status_code
            except requests.RequestException as e:
                code = repr(e)
            with self.lock:
                self.seen.append((t0, time.monotonic() - t0, code))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *a):
        self.stop_.set()
        for t in self.threads:
            t.join()


def ready(site, times=2):
    return site.nginx.log().count("using master") >= times


def sleep_master(group):
    """The master hangs (DEBUG SLEEP) until the test kills it."""
    try:
        group.master.client().execute_command("DEBUG", "SLEEP", 60)
    except Exception:
        pass


@pytest.mark.parametrize("how", ["sigkill", "debug_sleep"])
def test_failover_under_traffic(nginx_factory, group, tmp_path, how):
    """Two nginx with two workers each under steady traffic; the master is
    killed (or hangs in DEBUG SLEEP); the sentinels promote the replica:
    every worker moves to it without a reload within the failover time
    plus about a second, no request waits past ngsp_redis_timeout plus
    slack, and counting on the new master is exact."""
    sites = [Site(nginx_factory, tmp_path / ("n%d" % i), group.line())
             for i in range(2)]
    for s in sites:
        poll(lambda: s.on(group.master.port), deadline=10 + SLACK)
        assert s.get().status_code == 200

    old, new = group.master.port, group.replica.port

    with Traffic(sites) as traffic:
        poll(lambda: len(traffic.seen) > 20)
        if how == "sigkill":
            kill(group.master)
        else:
            sleeper = threading.Thread(target=sleep_master, args=(group,),
                                       daemon=True)
            sleeper.start()
        t_down = time.monotonic()

        # the sentinels' failover: the time it takes is theirs
        poll(lambda: any(s.master() == ("127.0.0.1", new)
                         for s in group.sentinels),
             deadline=30, step=0.02)
        t_promoted = time.monotonic()

        # every worker of both sites on the new master within a second
        # or so (more under a sanitizer)
        for s in sites:
            poll(lambda: s.on(new), deadline=1.0 + SLACK, step=0.02)
        t_moved = time.monotonic()

        # and decisions resume: 200s again on both sites
        for s in sites:
            poll(lambda: s.get().status_code == 200,
                 deadline=max(0.1, t_promoted + 1.0 + SLACK
                              - time.monotonic()) + 0.5,
                 step=0.02)
        mark = max(time.monotonic(), t_moved + TIMEOUT)
        poll(lambda: sum(1 for t0, _, c in traffic.seen
                         if t0 > mark and c == 200) >= 20)

    if how == "debug_sleep":
        # still asleep: no clean shutdown to wait for
        kill(group.master)
        sleeper.join()

    codes = [c for _, _, c in traffic.seen]
    assert all(c in (200, 503) for c in codes), set(map(str, codes))
    # fail closed while no master answered, never a wait past the timeout
    slow = [round(d, 3) for _, d, _ in traffic.seen if d > TIMEOUT + SLACK]
    assert not slow, slow
    assert any(c == 503 for t0, _, c in traffic.seen if t0 > t_down)
    # after the move, nothing refused for want of a master
    late = [c for t0, _, c in traffic.seen if t0 > t_moved + TIMEOUT]
    assert late and all(c == 200 for c in late), late

    # N decisions after the promotion count exactly on the new master
    rc = group.replica.client()
    n = 60
    for i in range(n):
        assert sites[i % 2].get("so-sau-chuyen").status_code == 200
    keys = [k for k in rc.keys("ngsp:*:q:std") if b"so-sau-chuyen" in k]
    assert len(keys) == 1, keys
    assert quota_state(rc.get(keys[0]), ["d"])["counts"] == [n]

    for s in sites:
        log = s.nginx.log()
        assert "+switch-master to 127.0.0.1:%d" % new in log
        assert ("master moves from 127.0.0.1:%d to 127.0.0.1:%d"
                % (old, new)) in log
        j = requests.get(s.url("/status?format=json"), timeout=10).json()
        assert j["redis"]["mode"] == "sentinel"
        assert j["redis"]["server"] == NAME
        for w in s.workers():
            assert w["master_changes"] >= 1
            assert w["sentinel"] in ["127.0.0.1:%d" % x.port
                                     for x in group.sentinels]
        prom = requests.get(s.url("/status?format=prometheus")).text
        assert "# TYPE ngsp_redis_master_changes_total counter" in prom
        assert re.search(r'ngsp_redis_node_info\{worker="0",address='
                         r'"127\.0\.0\.1:%d",sentinel="127\.0\.0\.1:\d+"\} 1'
                         % new, prom), prom


def test_one_sentinel_down_of_three(nginx_factory, group, tmp_path):
    """The first sentinel listed is down from the start: the workers find
    the master through the others, listen to one that is up, and still
    follow a failover."""
    group.sentinels[0].stop()
    site = Site(nginx_factory, tmp_path / "n", group.line())
    poll(lambda: site.on(group.master.port), deadline=10 + SLACK)
    assert site.get().status_code == 200
    down = "127.0.0.1:%d" % group.sentinels[0].port
    # a worker that started on the one down listens to the next
    poll(lambda: all(w["sentinel"] for w in site.workers()))
    assert all(w["sentinel"] != down for w in site.workers())
    assert "cannot connect: Connection refused" in site.nginx.log()

    kill(group.master)
    new = group.replica.port
    poll(lambda: group.sentinels[1].master() == ("127.0.0.1", new),
         deadline=30, step=0.02)
    poll(lambda: site.on(new), deadline=1.0 + SLACK, step=0.02)
    poll(lambda: site.get().status_code == 200, deadline=1.0 + SLACK)


def test_wrong_master_name_fails_closed_with_a_clear_line(
        nginx_factory, group, tmp_path):
    line = group.line().replace("sentinel=%s" % NAME, "sentinel=nope")
    site = Site(nginx_factory, tmp_path / "n", line)
    poll(lambda: 'does not know a master named "nope"' in site.nginx.log())
    t0 = time.monotonic()
    assert site.get().status_code == 503
    assert time.monotonic() - t0 < TIMEOUT + SLACK
    assert ('no sentinel named the master; requests follow '
            'ngsp_quota_fail' in site.nginx.log())
    for w in site.workers():
        assert not w["connected"] and w["address"] == ""


def test_sentinel_password(nginx_factory, tmp_path):
    g = Group(tmp_path / "redis", password="s3ntinel-pw")
    try:
        g.start()
        good = Site(nginx_factory, tmp_path / "good",
                    g.line(" sentinel_password=s3ntinel-pw"))
        poll(lambda: good.on(g.master.port), deadline=10 + SLACK)
        assert good.get().status_code == 200
        assert all(w["sentinel"] for w in good.workers())

        bad = Site(nginx_factory, tmp_path / "bad",
                   g.line(" sentinel_password=not-the-pw"))
        poll(lambda: "AUTH refused" in bad.nginx.log())
        assert bad.get().status_code == 503
        for s in (good, bad):
            log = s.nginx.log()
            assert "s3ntinel-pw" not in log and "not-the-pw" not in log
    finally:
        g.stop()


def test_a_replica_named_is_not_used(nginx_factory, redis_factory, tmp_path):
    """A stale answer names the replica: ROLE says so, the worker drops it
    and asks again; when the answer names the master, it is used."""
    master = redis_factory()
    replica = redis_factory(args=("--replicaof", "127.0.0.1",
                                  str(master.port)))
    fake = FakeSentinel(answer=("127.0.0.1", replica.port)).start()
    try:
        site = Site(nginx_factory, tmp_path / "n",
                    "ngsp_redis 127.0.0.1:%d sentinel=%s;"
                    % (fake.port, NAME))
        poll(lambda: 'answers ROLE with "slave", not "master"'
             in site.nginx.log())
        asked = fake.asked
        poll(lambda: fake.asked > asked)       # asked again, with backoff
        assert site.get().status_code == 503
        assert not any(w["connected"] for w in site.workers())
        assert replica.client().keys("ngsp:*") == []

        fake.answer = ("127.0.0.1", master.port)
        poll(lambda: site.on(master.port), deadline=5 + SLACK)
        assert site.get().status_code == 200
        assert master.client().keys("ngsp:*:q:std")
    finally:
        fake.stop()


def test_switch_message_moves_every_worker(nginx_factory, redis_factory,
                                           tmp_path):
    """A +switch-master for the name moves the workers at once; one for
    another name, or naming no numeric address, is not followed."""
    a, b = redis_factory(), redis_factory()
    fake = FakeSentinel(answer=("127.0.0.1", a.port)).start()
    try:
        site = Site(nginx_factory, tmp_path / "n",
                    "ngsp_redis 127.0.0.1:%d sentinel=%s;"
                    % (fake.port, NAME))
        poll(lambda: site.on(a.port) and len(fake.subscribers) == 2)
        fake.publish("other 127.0.0.1 %d 127.0.0.1 %d" % (a.port, b.port))
        fake.publish("%s 127.0.0.1 %d redis.example 6379" % (NAME, a.port))
        poll(lambda: "not a numeric unicast address" in site.nginx.log())
        assert site.on(a.port)

        fake.answer = ("127.0.0.1", b.port)
        fake.publish("%s 127.0.0.1 %d 127.0.0.1 %d"
                     % (NAME, a.port, b.port))
        poll(lambda: site.on(b.port), deadline=1.0 + SLACK, step=0.02)
        assert site.get().status_code == 200
        assert b.client().keys("ngsp:*:q:std")
        assert all(w["master_changes"] == 1 for w in site.workers())
    finally:
        fake.stop()


def test_an_answer_older_than_a_switch_is_dropped(nginx_factory,
                                                  redis_factory, tmp_path):
    """A sentinel asked before a +switch-master answers after it with the
    old master: the workers stay on the new one."""
    a, b = redis_factory(), redis_factory()
    fake = FakeSentinel(answer=("127.0.0.1", a.port)).start()
    try:
        site = Site(nginx_factory, tmp_path / "n",
                    "ngsp_redis 127.0.0.1:%d sentinel=%s "
                    "connect_timeout=5s;" % (fake.port, NAME))
        poll(lambda: site.on(a.port) and len(fake.subscribers) == 2)

        # subscribing again asks again: those answers come late, naming a
        fake.delay = 1.5
        asked = fake.asked
        fake.drop_subscribers()
        poll(lambda: fake.asked >= asked + 2 and len(fake.subscribers) == 2)
        fake.answer = ("127.0.0.1", b.port)
        fake.publish("%s 127.0.0.1 %d 127.0.0.1 %d"
                     % (NAME, a.port, b.port))
        poll(lambda: site.nginx.log().count(
            "answered after a +switch-master: the answer is dropped") == 2,
            deadline=5 + SLACK)
        assert site.on(b.port)
        assert site.get().status_code == 200
        assert b.client().keys("ngsp:*:q:std")
        assert a.client().keys("ngsp:*") == []
    finally:
        fake.delay = 0
        fake.stop()


@pytest.mark.parametrize("host", ["redis.example", "0.0.0.0", "224.0.0.1",
                                  "255.255.255.255", "::", "ff02::1"])
def test_hostname_answer_is_refused(nginx_factory, tmp_path, host):
    """A sentinel that names a host (resolve-hostnames yes) is not
    followed: a worker never waits on DNS; nor one naming an address no
    master lives at (unspecified, multicast, broadcast)."""
    fake = FakeSentinel(answer=(host, 6379)).start()
    try:
        site = Site(nginx_factory, tmp_path / "n",
                    "ngsp_redis 127.0.0.1:%d sentinel=%s;"
                    % (fake.port, NAME))
        poll(lambda: ('"%s" port "6379": not a numeric unicast address'
                      % host) in site.nginx.log())
        assert site.get().status_code == 503
        assert not any(w["connected"] for w in site.workers())
    finally:
        fake.stop()


def test_a_sentinel_that_does_not_answer_is_passed_over(
        nginx_factory, redis_factory, tmp_path):
    """A sentinel that takes the question and never answers holds a worker
    for connect_timeout, then the next one is asked."""
    master = redis_factory()
    mute = FakeSentinel(answer="hang").start()
    good = FakeSentinel(answer=("127.0.0.1", master.port)).start()
    try:
        site = Site(nginx_factory, tmp_path / "n",
                    "ngsp_redis 127.0.0.1:%d 127.0.0.1:%d sentinel=%s "
                    "connect_timeout=300ms;" % (mute.port, good.port, NAME))
        poll(lambda: site.on(master.port), deadline=5 + SLACK)
        assert mute.asked >= 1
        assert ('ngsp: redis sentinel "127.0.0.1:%d": no answer in 300ms'
                % mute.port) in site.nginx.log()
        assert site.get().status_code == 200
    finally:
        mute.stop()
        good.stop()
