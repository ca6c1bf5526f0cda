"""ngsp.quota from Lua over a cosocket: the same counters as the C quota
handler (one agency, one counter, exact counts), AUTH and SELECT, the
script sent again after SCRIPT FLUSH, and ngsp_quota_fail on Redis
errors."""

import json
import time

import jwt as pyjwt
import pytest

from harness import free_port
from lua_site import get, lua_nginx

SECRET = b"quota-lua-hmac-secret-0123456789abcdef!!"

LUA_QUOTA = """
    content_by_lua_block {
        local ngsp = require "resty.ngsp"
        local allowed, info, err = ngsp.quota(ngx.var.arg_p or "std",
                                              ngx.var.arg_key)
        ngx.say(cjson.encode({ allowed = allowed == nil and cjson.null
                                         or allowed,
                               info = info or cjson.null,
                               err = err or cjson.null }))
    }
"""


def token(agency):
    return pyjwt.encode({"client_id": agency,
                         "exp": int(time.time()) + 600}, SECRET,
                        algorithm="HS256")


def conf(tmp_path, port, redis_line, extra=""):
    (tmp_path / "hs.secret").write_bytes(SECRET)
    return f"""
        ngsp_jwt_key_file {tmp_path}/hs.secret alg=HS256;
        {redis_line}
        ngsp_quota_policy std 6r/m;
        ngsp_quota_policy two 100r/m 3r/h;
        server {{
            listen 127.0.0.1:{port};
            ngsp_jwt on;
            location /c {{
                ngsp_quota std;
                # a content handler: "return" would end before access
                content_by_lua_block {{ ngx.say("c") }}
            }}
            location /lua {{
                {LUA_QUOTA}
            }}
            {extra}
        }}"""


@pytest.fixture
def redis(redis_factory):
    return redis_factory(password="pw-lua")


@pytest.fixture
def site(nginx_factory, redis, port, tmp_path):
    line = f"ngsp_redis 127.0.0.1:{redis.port} password=pw-lua db=2;"
    return lua_nginx(nginx_factory, port, conf(tmp_path, port, line),
                     workers=2)


def lua(port, agency, **q):
    qs = "&".join(f"{k}={v}" for k, v in q.items())
    r = get(port, "/lua?" + qs, token(agency))
    assert r.status_code == 200, r.text
    return r.json()


def test_lua_and_c_share_one_counter(site, port, redis):
    tok = token("so-tu-phap")
    seen = []
    for i in range(6):
        if i % 2 == 0:
            assert get(port, "/c", tok).status_code == 200
        else:
            j = lua(port, "so-tu-phap")
            assert j["allowed"] is True, j
            w = j["info"]["windows"][0]
            assert w["unit"] == "m" and w["limit"] == 6
            seen.append(w["remaining"])
    # after C, Lua, C, Lua, C, Lua: 6 - 2, 6 - 4, 6 - 6
    assert seen == [4, 2, 0]
    j = lua(port, "so-tu-phap")
    assert j["allowed"] is False and j["info"]["retry_after"] > 0
    assert get(port, "/c", tok).status_code == 429
    # another agency has its own counter
    assert lua(port, "so-noi-vu")["info"]["windows"][0]["remaining"] == 5
    # the counters live in db 2, under the module's key layout
    import redis as pyredis
    r2 = pyredis.Redis(host="127.0.0.1", port=redis.port, password="pw-lua",
                       db=2)
    assert any(b"{so-tu-phap}" in k for k in r2.keys("*"))


def test_lua_key_and_windows(site, port):
    j = lua(port, "so-tu-phap", p="two", key="user-1")
    assert j["allowed"] is True
    assert [w["unit"] for w in j["info"]["windows"]] == ["m", "h"]
    assert j["info"]["windows"][1]["remaining"] == 2
    assert j["info"]["tightest"] == 2
    for _ in range(2):
        lua(port, "so-tu-phap", p="two", key="user-1")
    j = lua(port, "so-tu-phap", p="two", key="user-1")
    assert j["allowed"] is False
    assert lua(port, "so-tu-phap", p="two", key="user-2")["allowed"] is True


def test_lua_unknown_policy_and_no_agency(site, port):
    j = lua(port, "so-tu-phap", p="nope")
    assert j["allowed"] is None and j["err"] == "unknown policy"
    r = get(port, "/lua")
    assert r.status_code == 401


def test_lua_resends_the_script_after_flush(site, port, redis):
    assert lua(port, "so-ct")["info"]["windows"][0]["remaining"] == 5
    redis.client().script_flush()
    for want in (4, 3):
        j = lua(port, "so-ct")
        assert j["allowed"] is True, j
        assert j["info"]["windows"][0]["remaining"] == want


def test_lua_follows_the_fail_mode(nginx_factory, port, tmp_path):
    dead = free_port()
    extra = f"""
        location /open {{
            ngsp_quota_fail open;
            {LUA_QUOTA}
        }}"""
    lua_nginx(nginx_factory, port,
              conf(tmp_path, port, f"ngsp_redis 127.0.0.1:{dead};", extra))
    j = lua(port, "so-tu-phap")
    assert j["allowed"] is False and j["info"] is None
    assert "redis connection failed" in j["err"]
    r = get(port, "/open", token("so-tu-phap")).json()
    assert r["allowed"] is True and "redis" in r["err"]


def test_lua_wrong_password_fails_closed(nginx_factory, redis, port,
                                         tmp_path):
    line = f"ngsp_redis 127.0.0.1:{redis.port} password=wrong;"
    lua_nginx(nginx_factory, port, conf(tmp_path, port, line))
    j = lua(port, "so-tu-phap")
    assert j["allowed"] is False and "AUTH" in j["err"]
    assert "wrong" not in json.dumps(j)


def test_lua_uses_the_workers_sentinel_master(nginx_factory, redis_factory,
                                              port, tmp_path):
    """With sentinel=, Lua sends to the master the worker found (and ROLE
    confirmed), and follows the fail mode while it knows none."""
    from quota_site import poll
    from sentinel_site import FakeSentinel

    master = redis_factory()
    replica = redis_factory(args=("--replicaof", "127.0.0.1",
                                  str(master.port)))
    fake = FakeSentinel(answer=("127.0.0.1", replica.port)).start()
    try:
        line = f"ngsp_redis 127.0.0.1:{fake.port} sentinel=m;"
        n = lua_nginx(nginx_factory, port, conf(tmp_path, port, line))
        poll(lambda: "not \"master\"" in n.log())
        j = lua(port, "so-tu-phap")
        assert j["allowed"] is False and j["info"] is None
        assert "no redis master known" in j["err"]

        fake.answer = ("127.0.0.1", master.port)
        poll(lambda: "using master 127.0.0.1:%d" % master.port in n.log())
        j = lua(port, "so-tu-phap")
        assert j["allowed"] is True, j
        assert master.client().keys("ngsp:*:q:std")
    finally:
        fake.stop()
