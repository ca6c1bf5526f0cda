"""ngsp.quota from Lua on a Redis Cluster: each decision reaches the
master serving its agency's slot (a master the worker talks to, then its
MOVED followed once and remembered), draws from the same counter as the C
handler, and costs one command on that master."""

import re
import time

import jwt as pyjwt

from cluster_site import agencies_per_master
from lua_site import get, lua_nginx
from quota_site import poll

SECRET = b"quota-lua-cluster-hmac-secret-0123456789"


def token(agency):
    return pyjwt.encode({"client_id": agency,
                         "exp": int(time.time()) + 600}, SECRET,
                        algorithm="HS256")


def test_lua_reaches_the_master_of_each_slot(nginx_factory, cluster, port,
                                             tmp_path):
    per = agencies_per_master(cluster)
    agencies = [per[m][0] for m in sorted(per)]
    (tmp_path / "hs.secret").write_bytes(SECRET)
    seeds = " ".join("127.0.0.1:%d" % m for m in sorted(per))
    n = lua_nginx(nginx_factory, port, f"""
        ngsp_jwt_key_file {tmp_path}/hs.secret alg=HS256;
        ngsp_redis {seeds} cluster;
        ngsp_quota_policy std 6r/d;
        server {{
            listen 127.0.0.1:{port};
            ngsp_jwt on;
            location /c {{
                ngsp_quota std;
                content_by_lua_block {{ ngx.say("c") }}
            }}
            location /lua {{
                content_by_lua_block {{
                    local ngsp = require "resty.ngsp"
                    local allowed, info, err = ngsp.quota("std")
                    ngx.say(cjson.encode({{ allowed = allowed,
                                           err = err or cjson.null }}))
                }}
            }}
        }}""", workers=1)
    poll(lambda: "ngsp: redis cluster: map read from" in n.log())
    for m in sorted(per):
        cluster.client(m).config_resetstat()

    for a in agencies:
        tok = token(a)
        # C and Lua, alternately, on one counter: 6 allowed, then refused
        for i in range(6):
            if i % 2:
                assert get(port, "/c", tok).status_code == 200
            else:
                j = get(port, "/lua", tok).json()
                assert j == {"allowed": True, "err": None}, j
        j = get(port, "/lua", tok).json()
        assert j == {"allowed": False, "err": None}, j
        assert get(port, "/c", tok).status_code == 429
        assert cluster.counter(a) == 6

    def rejected(m):
        return cluster.client(m).info("commandstats")[
            "cmdstat_evalsha"].get("rejected_calls", 0)

    # each decision ran once, on its agency's master; a MOVED at most once
    # per agency, the first time Lua meets it
    for m in sorted(per):
        assert cluster.calls(m, "evalsha") == 8
    assert sum(rejected(m) for m in sorted(per)) <= len(agencies)

    # then straight to the right master: one command, no MOVED
    for m in sorted(per):
        cluster.client(m).config_resetstat()
    for a in agencies:
        j = get(port, "/lua", token(a)).json()
        assert j == {"allowed": False, "err": None}, j
    for m in sorted(per):
        assert cluster.calls(m, "evalsha") == 1
        assert rejected(m) == 0
    assert not re.search(r"ngsp: quota: redis|ngsp: redis cluster: cannot",
                         n.log())
