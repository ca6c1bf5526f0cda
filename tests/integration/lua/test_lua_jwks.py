"""Keys fetched with ngsp_jwt_key_request, as ngsp.verify and the
variables read outside an ngsp_jwt location see them: the set the workers
share, a key removed upstream refused at once, a set past stale= dropped,
though no request passes an ngsp_jwt location to bring them up to date."""

import base64
import json
import threading
import time

import jwt as pyjwt
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from harness import Reply
from lua_site import lua_nginx
from quota_site import poll


def b64(n):
    return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(
        b"=").decode()


class Issuer:
    def __init__(self):
        self.keys = {}
        self.fail = False

    def add(self, kid):
        self.keys[kid] = ec.generate_private_key(ec.SECP256R1())

    def token(self, kid):
        return pyjwt.encode({"client_id": "so-" + kid,
                             "exp": int(time.time()) + 600},
                            self.keys[kid], algorithm="ES256",
                            headers={"kid": kid})

    def reply(self, handler):
        if self.fail:
            return Reply(b"oops\n", 500)
        keys = []
        for kid, k in self.keys.items():
            pub = k.private_numbers().public_numbers
            keys.append({"kty": "EC", "crv": "P-256", "kid": kid,
                         "alg": "ES256", "x": b64(pub.x), "y": b64(pub.y)})
        return Reply(json.dumps({"keys": keys}).encode(), 200,
                     {"Content-Type": "application/json"})


def site(nginx_factory, upstream, port, params, workers):
    issuer = Issuer()
    upstream.routes["/jwks"] = issuer.reply
    n = lua_nginx(nginx_factory, port, f"""
        ngsp_jwt_key_request /_jwks {params};
        ngsp_jwt_cache 1m;
        server {{
            listen 127.0.0.1:{port} reuseport;
            add_header X-Pid $pid always;
            location = /_jwks {{
                internal;
                proxy_pass http://127.0.0.1:{upstream.port}/jwks;
            }}
            # the access handler: where fetches start
            # (a content handler: "return" would answer before access)
            location = /gate {{
                ngsp_jwt on;
                content_by_lua_block {{ ngx.say(ngx.var.ngsp_jwt_status) }}
            }}
            # no ngsp_jwt here: the variable and Lua judge the token
            location = /var {{
                return 200 "$ngsp_jwt_status\\n";
            }}
            # judged, then the set changes while it sleeps, then /b
            location = /a {{
                ngsp_jwt on;
                content_by_lua_block {{
                    ngx.sleep(tonumber(ngx.var.arg_s))
                    ngx.exec("/b")
                }}
            }}
            location = /b {{
                ngsp_jwt on;
                content_by_lua_block {{
                    ngx.say("b ", ngx.var.ngsp_jwt_status)
                }}
            }}
            location = /lua {{
                content_by_lua_block {{
                    local ngsp = require "resty.ngsp"
                    local tok = ngx.var.http_authorization:sub(8)
                    local c, why = ngsp.verify(tok)
                    ngx.say(c and c.client_id or why)
                }}
            }}
        }}""", workers=workers)
    return n, issuer


def ask(port, path, token):
    return requests.get(f"http://127.0.0.1:{port}{path}",
                        headers={"Authorization": "Bearer " + token,
                                 "Connection": "close"},
                        timeout=10).text.strip()


def asks(port, path, token, n):
    """(texts, pids) of n requests on new connections"""
    texts, pids = set(), set()
    for _ in range(n):
        r = requests.get(f"http://127.0.0.1:{port}{path}",
                         headers={"Authorization": "Bearer " + token,
                                  "Connection": "close"}, timeout=10)
        texts.add(r.text.strip())
        pids.add(r.headers["X-Pid"])
    return texts, pids


def fetched(nginx_factory, upstream, port, params, workers):
    """The site, its issuer with key k1, a k1 token, the set fetched"""
    n, issuer = site(nginx_factory, upstream, port, params, workers)
    issuer.add("k1")
    tok = issuer.token("k1")
    poll(lambda: ask(port, "/gate", tok) == "ok", deadline=8)
    return n, issuer, tok


def rotate(issuer, port):
    """k1 withdrawn upstream, k2 added; one request with k2's kid makes
    the gateway fetch again.  A k2 token."""
    del issuer.keys["k1"]
    issuer.add("k2")
    new = issuer.token("k2")
    poll(lambda: ask(port, "/gate", new) == "ok", deadline=8)
    return new


def test_removed_key_refused_by_every_worker(nginx_factory, upstream,
                                              port):
    n, issuer, old = fetched(nginx_factory, upstream, port,
                             "valid=1h stale=1h refresh_unknown=1s", 2)
    pids = {str(p) for p in n.worker_pids()}
    # claims held and memoized in both workers (reuseport spreads these)
    assert asks(port, "/lua", old, 20) == ({"so-k1"}, pids)
    assert asks(port, "/var", old, 20)[0] == {"ok"}

    new = rotate(issuer, port)

    # every worker, whether or not it served that request, refuses k1
    assert asks(port, "/lua", old, 20) == ({"unknown_key"}, pids)
    assert asks(port, "/var", old, 20) == ({"unknown_key"}, pids)
    assert asks(port, "/lua", new, 10)[0] == {"so-k2"}


def test_set_past_stale_dropped_without_an_ngsp_jwt_location(
        nginx_factory, upstream, port):
    n, issuer, tok = fetched(nginx_factory, upstream, port,
                             "valid=1s stale=3s refresh_unknown=1s", 1)
    issuer.fail = True
    assert ask(port, "/lua", tok) == "so-k1"
    assert ask(port, "/lua", tok) == "so-k1"
    # only Lua and the variable from now on: no fetch, and past stale=
    # the keys go
    time.sleep(4.2)
    assert ask(port, "/lua", tok) == "keys_unavailable"
    assert ask(port, "/var", tok) == "keys_unavailable"
    assert "past stale=, its keys are dropped" in n.log()


def test_verdict_not_kept_across_a_key_set_change(nginx_factory, upstream,
                                                   port):
    # a request judged ok, its key withdrawn while it waits, then an
    # internal redirect to a location with the same rules: judged again
    n, issuer, old = fetched(nginx_factory, upstream, port,
                             "valid=1h stale=1h refresh_unknown=1s", 1)
    got = {}

    def slow():
        got["r"] = requests.get(f"http://127.0.0.1:{port}/a?s=4",
                                headers={"Authorization": "Bearer " + old},
                                timeout=20)

    t = threading.Thread(target=slow)
    start = time.time()
    t.start()
    new = rotate(issuer, port)
    assert time.time() - start < 3.5      # the set changed while /a slept
    t.join()
    assert got["r"].status_code == 401
    assert ask(port, "/b", new) == "b ok"
