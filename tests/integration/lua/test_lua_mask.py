"""ngsp.mask from Lua: the same bytes as the C body filter for the same
record and profile (tests/fixtures, JSON and XML), and its refusals."""

import pytest

from harness import Reply
from lua_site import lua_nginx, post
from mask_site import fixture, keyfile  # noqa: F401

PROFILE = """
    ngsp_mask_profile citizen_basic {
        SoDinhDanh                    keep_last=4;
        HoVaTen                       initials;
        NgayThangNamSinh              year;
        DanToc                        remove;
        TonGiao                       remove;
        SoCMND                        redact;
        Cha.SoDinhDanh                hash;
        ChiTiet                       keep_first=3;
        default                       pass;
    }
"""

# more profiles than a worker keeps rewriters for (NGSP_LUA_KEPT)
MANY = "".join(f"""
    ngsp_mask_profile p{i} {{
        SoDinhDanh keep_last={i % 6 + 1};
        HoVaTen initials;
    }}""" for i in range(12))

CASES = [("citizen.json", "application/json"),
         ("citizens.json", "application/json"),
         ("citizen.soap.xml", "text/xml; charset=utf-8")]


@pytest.fixture
def site(nginx_factory, upstream, port, keyfile):  # noqa: F811
    for name, ct in CASES:
        upstream.routes["/" + name] = Reply(fixture(name),
                                            headers={"Content-Type": ct})
    http = f"""
        ngsp_mask_hash_key {keyfile};
        {PROFILE}
        {MANY}
        client_body_buffer_size 1m;
        server {{
            listen 127.0.0.1:{port};
            location /c/ {{
                ngsp_mask citizen_basic;
                proxy_pass http://127.0.0.1:{upstream.port}/;
            }}
            location /lua {{
                content_by_lua_block {{
                    local ngsp = require "resty.ngsp"
                    ngx.req.read_body()
                    local body = ngx.req.get_body_data() or ""
                    local ct = ngx.var.http_x_type
                    local out, why = ngsp.mask(body,
                                               ngx.var.arg_p or "citizen_basic",
                                               ct)
                    if not out then
                        ngx.status = 422
                        ngx.print(why)
                        return
                    end
                    ngx.print(out)
                }}
            }}
            location /reuse {{
                # one worker's kept rewriters, reset between calls: after
                # refusals, across syntaxes and types, past their number
                content_by_lua_block {{
                    local ngsp = require "resty.ngsp"
                    ngx.req.read_body()
                    local both = ngx.req.get_body_data()
                    local at = both:find("\\0--\\0", 1, true)
                    local json = both:sub(1, at - 1)
                    local xml = both:sub(at + 4)
                    local res = {{}}
                    local function put(k, out, why)
                        res[#res + 1] = k .. "=" .. tostring(out or why)
                    end
                    for round = 1, 3 do
                        put("json", ngsp.mask(json, "citizen_basic",
                                              "application/json"))
                        put("cut", ngsp.mask(json:sub(1, 100),
                                             "citizen_basic",
                                             "application/json"))
                        put("html", ngsp.mask(json, "citizen_basic",
                                              "text/html"))
                        put("xml", ngsp.mask(xml, "citizen_basic",
                                             "text/xml; charset=utf-8"))
                        put("bad", ngsp.mask("<a>", "citizen_basic",
                                             "text/xml; charset=utf-8"))
                        put("sniff", ngsp.mask(xml, "citizen_basic"))
                        for i = 0, 11 do
                            put("p" .. i, ngsp.mask(json, "p" .. i,
                                                    "application/json"))
                        end
                    end
                    ngx.print(table.concat(res, "\\0"))
                }}
            }}
        }}"""
    return lua_nginx(nginx_factory, port, http)


@pytest.mark.parametrize("name,ct", CASES)
def test_lua_mask_equals_the_filter(site, port, name, ct):
    import requests
    c = requests.get(f"http://127.0.0.1:{port}/c/{name}", timeout=10)
    assert c.status_code == 200
    assert c.content != fixture(name)
    for t in (ct, None):
        h = {"X-Type": t} if t else {}
        lua = post(port, "/lua", fixture(name), h)
        assert lua.status_code == 200, lua.text
        assert lua.content == c.content


def test_lua_mask_refusals(site, port):
    xml_ct = {"X-Type": "text/xml"}
    json_ct = {"X-Type": "application/json"}
    for body, h, p, why in (
            (b'{"SoDinhDanh": "0010', json_ct, None, "truncated"),
            (b'{"a":1}', json_ct, "nope", "unknown profile"),
            (b'<a>', xml_ct, None, ""),
            (b'{"a":1}', {"X-Type": "text/html"}, None, "neither JSON"),
            (b'{"a":1}', {"X-Type": "application/json; charset=latin1"},
             None, "charset"),
            (b'{"a":1}', {"X-Type": "application/json, text/xml"}, None,
             ""),
            (b'hello', {}, None, ""),
            (b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', xml_ct, None,
             "")):
        path = "/lua" + ("?p=" + p if p else "")
        r = post(port, path, body, h)
        assert r.status_code == 422, (body, r.text)
        assert why in r.text, (body, r.text)
        assert b"0010" not in r.content


def test_lua_mask_large_body_grows_the_buffer(site, port):
    one = b'{"SoDinhDanh":"001099012345","HoVaTen":"Nguyen Van A"}'
    body = b"[" + b",".join([one] * 5000) + b"]"
    r = post(port, "/lua", body, {"X-Type": "application/json"})
    assert r.status_code == 200
    assert r.content.count(b'"********2345"') == 5000
    assert b"001099012345" not in r.content


def test_lua_mask_kept_rewriters_start_clean(site, port):
    import requests
    want = {}
    for name in ("citizen.json", "citizen.soap.xml"):
        c = requests.get(f"http://127.0.0.1:{port}/c/{name}", timeout=10)
        assert c.status_code == 200
        want[name] = c.content
    r = post(port, "/reuse", fixture("citizen.json") + b"\0--\0"
             + fixture("citizen.soap.xml"), {})
    assert r.status_code == 200, r.text
    items = r.content.split(b"\0")
    assert len(items) == 3 * 18
    rounds = [items[i * 18:(i + 1) * 18] for i in range(3)]
    # every round gives the same bytes: nothing of a call reaches the next
    assert rounds[0] == rounds[1] == rounds[2]
    got = dict(i.split(b"=", 1) for i in rounds[0])
    assert got[b"json"] == want["citizen.json"]
    assert got[b"xml"] == got[b"sniff"] == want["citizen.soap.xml"]
    assert got[b"cut"].startswith(b"truncated")
    assert b"neither JSON" in got[b"html"]
    assert got[b"bad"] != b"" and b"<a>" not in got[b"bad"]
    for i in range(12):
        k = f"p{i}".encode()
        assert b"001099012345" not in got[k]
        assert b"*" * (12 - (i % 6 + 1)) in got[k]
