"""Masked responses, the gateway's disk and a slow client's memory.

A masked response is read unbuffered: no proxy temp file ever holds the
upstream's records, however slowly the client reads; a cache or a store
in a masked location is refused by nginx -t; a gzip upstream costs a
stalled client about what an unencoded body costs.
"""

import gzip
import json
import os
import re
import socket
import time

import pytest

from harness import SAN, Reply, free_port
from mask_site import fixture, keyfile  # noqa: F401
from mask_site import hwm

JSON_CT = {"Content-Type": "application/json; charset=utf-8"}

PROFILE = """
    ngsp_mask_profile citizen_basic {
        SoDinhDanh        keep_last=4;
        HoVaTen           initials;
        DanToc            remove;
        TonGiao           remove;
        SoCMND            redact;
        default           pass;
    }
"""

# what a record of the fixture holds in clear, as the upstream sends it
CLEAR = re.compile(rb'"(SoDinhDanh|SoCMND)": "\d{9,12}"|"DanToc"|"TonGiao"')


def records(n):
    """A list response of n citizens, the fixture's records with their
    identifiers numbered (as the resident database answers a query)."""
    base = json.loads(fixture("citizens.json"))
    recs = base["DanhSachCongDan"]
    parts = []
    for i in range(n):
        r = dict(recs[i % len(recs)])
        r["SoDinhDanh"] = "%012d" % (1099000000 + i)
        r["SoCMND"] = "%09d" % (100000000 + i)
        parts.append(json.dumps(r, ensure_ascii=False).encode())
    return (b'{"MaYeuCau": "%s", "MaKetQua": "0", "SoCongDan": %d, '
            b'"DanhSachCongDan": [' % (base["MaYeuCau"].encode(), n)
            + b", ".join(parts) + b"]}")


def check_records(data, n):
    """The masked list a client got: complete, nothing in clear."""
    doc = json.loads(data)
    got = doc["DanhSachCongDan"]
    assert len(got) == n
    for i in (0, 1, n // 2, n - 1):
        assert got[i]["SoDinhDanh"] == "********%04d" % ((1099000000 + i)
                                                       % 10000)
        assert got[i]["SoCMND"] == "***"
        assert "DanToc" not in got[i] and "TonGiao" not in got[i]
    assert not CLEAR.search(data)


def conf(port, upstream, keyfile, tmp, extra_loc="", http_extra=""):
    """tmp/ptemp: the proxy temp path; tmp/www: pages with includes."""
    return f"""
        ngsp_mask_hash_key {keyfile};
        {PROFILE}
        {http_extra}
        server {{
            listen 127.0.0.1:{port};
            proxy_temp_path {tmp}/ptemp;
            location / {{
                ngsp_mask citizen_basic;
                {extra_loc}
                proxy_pass http://127.0.0.1:{upstream.port};
            }}
            location /wide/ {{
                ngsp_mask citizen_basic;
                proxy_buffer_size 64k;
                proxy_buffers 16 64k;
                proxy_busy_buffers_size 128k;
                proxy_pass http://127.0.0.1:{upstream.port};
            }}
            location /ssi/ {{
                alias {tmp}/www/;
                default_type text/html;
                ssi on;
            }}
        }}"""


def temp_files(pid, temp):
    """Every file under the temp path: those in the directory and those a
    worker holds open (nginx unlinks a buffering temp file at once)."""
    found = {}
    for root, _, files in os.walk(temp):
        for f in files:
            p = os.path.join(root, f)
            try:
                with open(p, "rb") as fh:
                    found[p] = fh.read()
            except OSError:
                pass
    fds = "/proc/%d/fd" % pid
    for fd in os.listdir(fds):
        try:
            target = os.readlink(os.path.join(fds, fd))
            if target.startswith(str(temp)):
                with open(os.path.join(fds, fd), "rb") as fh:
                    found[target] = fh.read()
        except OSError:
            pass
    return found


def stalled_get(port, path):
    """A client that sends its request, reads the first bytes and stops
    (a small receive buffer: nginx soon cannot write more)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(("GET %s HTTP/1.0\r\nHost: x\r\n\r\n" % path).encode())
    first = s.recv(4096)
    assert b" 200 " in first.split(b"\r\n")[0], first[:200]
    return s, first


def read_all(s, first):
    data = [first]
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        data.append(d)
    s.close()
    head, _, body = b"".join(data).partition(b"\r\n\r\n")
    return head, body


# --- unmasked records never rest on the gateway's disk ---------------------


def test_slow_client_never_spills_records_to_a_temp_file(
        nginx_factory, upstream, port, keyfile, tmp_path):
    """With nginx's default proxy buffering, a response the client does
    not take goes to a temp file before the body filter masks it."""
    temp = tmp_path / "ptemp"
    n = nginx_factory(conf(port, upstream, keyfile, tmp_path), workers=1,
                      ports=[port])
    body = records(8000)                      # about 10 MB
    assert len(body) > 8 * 1024 * 1024
    upstream.routes["/dancu/list"] = Reply(
        [body[i:i + 65536] for i in range(0, len(body), 65536)],
        headers=JSON_CT)
    pid = n.worker_pids()[0]

    s, first = stalled_get(port, "/dancu/list")
    seen = {}
    end = time.time() + 3                     # the upstream sends it all
    while time.time() < end:
        for path, data in temp_files(pid, temp).items():
            seen[path] = seen.get(path, False) or bool(CLEAR.search(data))
        time.sleep(0.05)
    head, data = read_all(s, first)

    assert not [p for p, clear in seen.items() if clear], seen
    assert seen == {}, "a masked response reached a temp file"
    assert "buffered to a temporary file" not in n.log()
    check_records(data, 8000)


@pytest.mark.parametrize("http,loc,directive", [
    ("proxy_cache_path {tmp}/c keys_zone=c:1m;",
     "proxy_cache c; proxy_cache_valid 200 1m;", "proxy_cache"),
    ("proxy_cache_path {tmp}/c keys_zone=c:1m; proxy_cache c;",
     "", "proxy_cache"),                     # inherited from http{}
    ("proxy_cache_path {tmp}/c keys_zone=c:1m;",
     "proxy_cache $arg_z;", "proxy_cache"),
    ("", "proxy_store on;", "proxy_store"),
    ("", "proxy_store {tmp}/store$uri;", "proxy_store"),
    ("fastcgi_cache_path {tmp}/f keys_zone=f:1m;", "fastcgi_cache f;",
     "fastcgi_cache"),
    ("", "uwsgi_store on;", "uwsgi_store"),
    ("scgi_cache_path {tmp}/s keys_zone=s:1m;", "scgi_cache s;",
     "scgi_cache"),
])
def test_cache_or_store_in_masked_location_refused(
        nginx_factory, upstream, keyfile, tmp_path, http, loc, directive):
    n = nginx_factory(conf(8, upstream, keyfile, tmp_path,
                           extra_loc=loc.replace("{tmp}", str(tmp_path)),
                           http_extra=http.replace("{tmp}", str(tmp_path))),
                      start=False)
    ok, out = n.check()
    assert not ok, out
    assert ('ngsp: "%s" applies to the masked location "/" in %s:'
            % (directive, n.conf)) in out, out
    assert "unmasked records on disk" in out
    assert '"%s off" there' % directive in out


def test_cache_off_in_masked_location_accepted(
        nginx_factory, upstream, port, keyfile, tmp_path):
    """A cache for the whole server is fine once the masked locations say
    "proxy_cache off": nothing masked ever reaches the cache directory,
    while an unmasked location caches as before."""
    p2 = free_port()
    http = f"""
        proxy_cache_path {tmp_path}/cache keys_zone=c:1m;
        proxy_cache c;
        proxy_cache_valid 200 1m;
        server {{
            listen 127.0.0.1:{p2};
            location /public/ {{
                proxy_pass http://127.0.0.1:{upstream.port};
            }}
        }}"""
    n = nginx_factory(conf(port, upstream, keyfile, tmp_path,
                           http_extra=http)
                      .replace("ngsp_mask citizen_basic;",
                               "ngsp_mask citizen_basic; proxy_cache off;"),
                      ports=[port, p2])
    body = records(50)
    upstream.routes["/dancu/x"] = Reply(body, headers=JSON_CT)
    upstream.routes["/public/y"] = Reply(b'{"ok": 1}', headers=JSON_CT)
    for _ in range(2):
        _, data = read_all(*stalled_get(port, "/dancu/x"))
        check_records(data, 50)
        _, data = read_all(*stalled_get(p2, "/public/y"))
    # the masked location asked the upstream twice: nothing cached
    assert [r[1] for r in upstream.requests].count("/dancu/x") == 2
    assert [r[1] for r in upstream.requests].count("/public/y") == 1
    cached = 0
    for root, _, files in os.walk(tmp_path / "cache"):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                data = fh.read()
            assert b"DanhSachCongDan" not in data
            assert not CLEAR.search(data)
            cached += 1
    assert cached == 1                  # /public/y
    assert "ngsp:" not in n.log()


# --- a gzip upstream and slow clients ---------------------------------------


@pytest.mark.parametrize("enc", ["identity", "gzip"])
def test_stalled_clients_hold_little_gzip_or_not(
        nginx_factory, upstream, port, keyfile, tmp_path, enc):
    """Four clients stop reading a 20 MB masked list: with a gzip upstream
    the worker holds about what it holds for an unencoded one (the
    inflated output waits for the client instead of piling up)."""
    n = nginx_factory(conf(port, upstream, keyfile, tmp_path),
                      workers=1, ports=[port])
    count = 16000
    body = records(count)
    assert len(body) > 19 * 1024 * 1024
    headers = dict(JSON_CT)
    if enc == "gzip":
        body = gzip.compress(body, 6)
        headers["Content-Encoding"] = "gzip"
        assert len(body) < 1024 * 1024       # compresses well
    upstream.routes["/wide/big"] = Reply(
        [body[i:i + 65536] for i in range(0, len(body), 65536)],
        headers=headers)
    small = records(300)
    upstream.routes["/wide/warm"] = Reply(
        gzip.compress(small) if enc == "gzip" else small, headers=headers)
    read_all(*stalled_get(port, "/wide/warm"))   # sizes the pools
    pid = n.worker_pids()[0]
    before = hwm(pid)

    clients = [stalled_get(port, "/wide/big") for _ in range(4)]
    time.sleep(3)                    # the upstream could send it all now
    stalled = hwm(pid)
    for s, first in clients:
        head, data = read_all(s, first)
        assert b"content-encoding" not in head.lower()
        check_records(data, count)
    print("%s: worker peak RSS before %d kB, stalled %d kB"
          % (enc, before, stalled))
    # not under ASan: its quarantine keeps every freed block for a while
    if not SAN:
        assert stalled - before < 8 * 1024, (before, stalled)


def test_ssi_page_of_compressed_lists(nginx_factory, upstream, port, keyfile,
                                      tmp_path):
    """Two gzip lists included in one page: the second waits (its output
    held by nginx until the first is done) and goes on when its turn
    comes; both arrive whole and masked."""
    www = tmp_path / "www"
    www.mkdir()
    (www / "page.html").write_bytes(
        b'<p>a</p><!--# include virtual="/wide/l1" -->'
        b'<p>b</p><!--# include virtual="/wide/l2" --><p>c</p>')
    nginx_factory(conf(port, upstream, keyfile, tmp_path),
                  workers=1, ports=[port])
    lists = {}
    for name, n in (("l1", 3000), ("l2", 2000)):
        lists[name] = n
        upstream.routes["/wide/" + name] = Reply(
            gzip.compress(records(n)), headers=dict(
                JSON_CT, **{"Content-Encoding": "gzip"}))
    s, first = stalled_get(port, "/ssi/page.html")
    time.sleep(2)
    head, data = read_all(s, first)
    assert data.startswith(b"<p>a</p>") and data.endswith(b"<p>c</p>")
    one, two = data[len(b"<p>a</p>"):-len(b"<p>c</p>")].split(b"<p>b</p>")
    check_records(one, 3000)
    check_records(two, 2000)
