"""What a masked location does with each kind of response: by status
(interim 1xx), Content-Type (listed, passed on purpose, malformed,
repeated, charset, NDJSON) and, for any other type, by the body's first
bytes.  Fail closed: a body the masker cannot read is refused with 502
and nothing of it reaches the client.

Leak checks read the raw bytes (HTTP/1.0, so no chunk framing can split
a value) and look for the fixture's identifiers and name in clear.
"""

import gzip
import json
import re
import socket
import threading
import time
import zlib

import pytest
import requests

from harness import Reply, free_port
from mask_site import fixture, keyfile, raw_get  # noqa: F401

PROFILES = """
    ngsp_mask_profile citizen_basic {
        SoDinhDanh        keep_last=4;
        HoVaTen           initials;
        SoCMND            redact;
        SoDienThoai       keep_last=3;
        NgayThangNamSinh  year;
        DanToc            remove;
        TonGiao           remove;
        default           pass;
    }
"""

RECORD = fixture("citizen.json")
SOAP = fixture("citizen.soap.xml")
CLEAR = [b"001099012345", b"012345678", "Nguyễn Văn An".encode(),
         b"0010990"]


def assert_nothing_clear(data):
    for v in CLEAR:
        assert v not in data, (v, data[:300])
    assert not re.search(rb"\d{9,}", data), data[:300]


def status_of(head):
    return int(head.split("\r\n")[0].split()[1])


class RawUpstream:
    """An upstream that answers each path with fixed bytes, then closes:
    what an HTTP library will not send (interim responses before the
    answer, a header line twice)."""

    def __init__(self):
        self.port = free_port()
        self.routes = {}
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(64)
        self.stopped = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,),
                             daemon=True).start()

    def serve(self, c):
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                d = c.recv(65536)
                if not d:
                    return
                data += d
            path = data.split(b" ")[1].decode().split("?")[0]
            for part in self.routes.get(path, [b"HTTP/1.1 404 Nope\r\n"
                                               b"Content-Length: 0\r\n\r\n"]):
                c.sendall(part)
                time.sleep(0.05)
        except OSError:
            pass
        finally:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def stop(self):
        # shutdown wakes the blocked accept: a socket only closed would
        # keep listening for it, and answer the next test's nginx
        self.stopped = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def raw_upstream():
    u = RawUpstream()
    yield u
    u.stop()


PASS = """
            location /pass/ {{
                ngsp_mask citizen_basic;
                ngsp_mask_pass_types application/pdf image/*
                                     application/*;
                proxy_pass http://127.0.0.1:{up};
            }}"""


def conf(port, up, raw, keyfile, missing, extra=""):
    return f"""
        ngsp_mask_hash_key {keyfile};
        {PROFILES}
        server {{
            listen 127.0.0.1:{port};
            add_header X-Mask-Status $ngsp_mask_status always;
            location / {{
                ngsp_mask citizen_basic;
                proxy_pass http://127.0.0.1:{up};
            }}
            location /raw/ {{
                ngsp_mask citizen_basic;
                proxy_pass http://127.0.0.1:{raw};
            }}
            location /rawoff/ {{
                proxy_pass http://127.0.0.1:{raw}/raw/;
            }}
{extra}
            location /nobuf/ {{
                ngsp_mask citizen_basic;
                proxy_buffering off;
                proxy_pass http://127.0.0.1:{up};
            }}
            location /listed/ {{
                ngsp_mask citizen_basic;
                ngsp_mask_types application/json text/plain;
                proxy_pass http://127.0.0.1:{up};
            }}
            location /down/ {{
                ngsp_mask citizen_basic;
                proxy_pass http://127.0.0.1:{missing};
            }}
            location /static/ {{
                ngsp_mask citizen_basic;
                root {keyfile.parent};
            }}
        }}"""


def make_site(nginx_factory, upstream, raw_upstream, port, keyfile,
              extra=""):
    n = nginx_factory(conf(port, upstream.port, raw_upstream.port, keyfile,
                           free_port(), extra.format(up=upstream.port)),
                      ports=[port])

    def get(path, **kw):
        return requests.get(f"http://127.0.0.1:{port}{path}", **kw)

    get.nginx = n
    get.port = port
    return get


@pytest.fixture
def site(nginx_factory, upstream, raw_upstream, port, keyfile):
    return make_site(nginx_factory, upstream, raw_upstream, port, keyfile)


def refused(site, path, why, headers=None):
    """The client gets nginx's 502 page and nothing of the body; the error
    log names why, never the value."""
    mark = len(site.nginx.log())
    head, data = raw_get(site.port, path, headers=headers)
    assert status_of(head) == 502, head
    assert b"502 Bad Gateway" in data
    assert_nothing_clear(head.encode("latin1") + data)
    time.sleep(0.1)
    log = site.nginx.log()[mark:]
    assert why in log, log
    assert "[error]" in log
    for v in CLEAR:
        assert v.decode() not in log
    return log


# --- 3. interim responses ------------------------------------------------


def answer(ctype=b"application/json", body=RECORD):
    return (b"HTTP/1.1 200 OK\r\nContent-Type: " + ctype
            + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)


@pytest.mark.parametrize("interim,client", [
    (b"HTTP/1.1 100 Continue\r\n\r\n", None),
    (b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
     None),
    (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
     b"Connection: Upgrade\r\n\r\n", None),
    # the client asked to switch: nginx would tunnel the rest unfiltered
    (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
     b"Connection: Upgrade\r\n\r\n",
     [("Upgrade", "websocket"), ("Connection", "Upgrade")]),
], ids=["100", "103", "101", "101-upgrade"])
def test_interim_response_refused(site, raw_upstream, interim, client):
    code = interim.split(b" ")[1].decode()
    # the interim response and the answer in one write, or apart
    raw_upstream.routes["/raw/one"] = [interim + answer()]
    raw_upstream.routes["/raw/two"] = [interim, answer()]
    for path in ("/raw/one", "/raw/two"):
        log = refused(site, path, f"interim response (status {code})",
                      headers=client)
        assert "response refused" in log


def test_interim_response_unmasked_location_untouched(site, raw_upstream):
    # masking off: nginx's own behaviour, whatever it is, is kept
    raw_upstream.routes["/raw/x"] = [b"HTTP/1.1 103 Early Hints\r\n\r\n"
                                     + answer(body=b'{"a":1}')]
    head, data = raw_get(site.port, "/rawoff/x")
    assert status_of(head) == 103


# --- 5. media types and charsets -----------------------------------------

NDJSON = (b'{"SoDinhDanh":"001099012345"}\n'
          b'{"SoDinhDanh":"001099012345","HoVaTen":"Nguy\xe1\xbb\x85n '
          b'V\xc4\x83n An"}\n')
FORM = "SoDinhDanh=001099012345&HoVaTen=Nguyễn Văn An".encode()
HTML = (b"<!DOCTYPE html><html><body><p>001099012345</p><br>"
        b"<p>Nguy\xe1\xbb\x85n V\xc4\x83n An</p></body></html>")
MULTIPART = (b"--MIMEBoundary\r\nContent-Type: application/xop+xml; "
             b"charset=UTF-8\r\n\r\n" + SOAP + b"\r\n--MIMEBoundary--\r\n")
# UTF-7: "SoDinhDanh" as "So+AEQ-inhDanh" slips past a key match
UTF7 = b'{"So+AEQ-inhDanh":"001099012345","HoVaTen":"Nguy+HsU-n V+AQM-n An"}'
UTF16 = RECORD.decode().encode("utf-16")


@pytest.mark.parametrize("ctype,body,why", [
    # any other type: read by its first bytes
    ("text/plain", FORM, "body is neither JSON nor XML"),
    ("application/octet-stream", FORM, "body is neither JSON nor XML"),
    ("text/html", HTML, "masking failed"),
    ("multipart/related; boundary=MIMEBoundary; "
     'type="application/xop+xml"', MULTIPART,
     "body is neither JSON nor XML"),
    ("text/plain", UTF16, "body is neither JSON nor XML"),
    (None, FORM, "body is neither JSON nor XML"),
    # a stream of JSON texts
    ("application/x-ndjson", NDJSON, "a stream of JSON texts"),
    ("application/jsonl", NDJSON, "a stream of JSON texts"),
    ("application/json-seq", NDJSON, "a stream of JSON texts"),
    # malformed Content-Type
    ("application/json, text/plain", RECORD, "a list of media types"),
    ('"application/json"', RECORD, "a quoted media type"),
    ("application", RECORD, 'no "/" in the media type'),
    ("application/js{on}", RECORD, "a character a media type cannot hold"),
    ("application/json; charset", RECORD, "a parameter without a value"),
    ('application/json; charset="utf-8', RECORD, "an unbalanced quote"),
    ("application/json; charset=utf-8; charset=utf-7", UTF7,
     "two charset parameters"),
    # a charset that a lenient client reads (Python's requests, email)
    ('application/json; charset=UTF-8; x="; charset=utf-7"', UTF7,
     '"charset" outside the charset parameter'),
    ("application/json; charset*=UTF-7", UTF7,
     '"charset" outside the charset parameter'),
    # a charset the masker does not decode
    ("application/json; charset=utf-7", UTF7, 'charset "utf-7"'),
    ('application/json; charset="UTF-7"', UTF7, 'charset "UTF-7"'),
    ("text/json; charset=utf-7", UTF7, 'charset "utf-7"'),
    ("application/json; charset=utf-16", UTF16, 'charset "utf-16"'),
    ("text/xml; charset=iso-8859-1", SOAP, 'charset "iso-8859-1"'),
    ("text/plain; charset=windows-1258", RECORD, 'charset "windows-1258"'),
], ids=lambda v: v[:40].decode("latin1") if isinstance(v, bytes) else v)
def test_unreadable_bodies_refused(site, upstream, ctype, body, why):
    upstream.routes["/u"] = Reply(body, headers={"Content-Type": ctype}
                                  if ctype else {})
    refused(site, "/u", why)


@pytest.mark.parametrize("ctype", [
    "text/plain", "application/octet-stream", "text/html", "text/json",
    "application/x-www-form-urlencoded", None,
    'application/json; charset="UTF-8"', "application/json; charset=US-ASCII",
    "application/json;", "text/plain; charset=utf-8",
])
def test_other_types_that_look_like_json_are_masked(site, upstream, ctype):
    upstream.routes["/j"] = Reply(RECORD, headers={"Content-Type": ctype}
                                  if ctype else {})
    head, data = raw_get(site.port, "/j")
    assert status_of(head) == 200, head
    assert_nothing_clear(data)
    doc = json.loads(data)
    assert doc["CongDan"]["SoDinhDanh"] == "********2345"
    assert doc["CongDan"]["HoVaTen"] == "N. V. A."


def test_other_types_that_look_like_xml_are_masked(site, upstream):
    upstream.routes["/x"] = Reply(SOAP, headers={
        "Content-Type": "application/octet-stream"})
    head, data = raw_get(site.port, "/x")
    assert status_of(head) == 200, head
    assert b"********2345" in data
    assert_nothing_clear(data)


@pytest.mark.parametrize("enc", ["gzip", "deflate"])
def test_compressed_other_types_are_read_inflated(site, upstream, enc):
    def z(data):
        if enc == "gzip":
            return gzip.compress(data)
        return zlib.compress(data)
    upstream.routes["/z"] = Reply(z(b"\n" + RECORD), headers={
        "Content-Type": "text/plain", "Content-Encoding": enc})
    head, data = raw_get(site.port, "/z")
    assert status_of(head) == 200, head
    assert "content-encoding" not in head.lower()
    assert json.loads(data)["CongDan"]["SoDinhDanh"] == "********2345"
    assert_nothing_clear(data)
    upstream.routes["/zf"] = Reply(z(FORM), headers={
        "Content-Type": "text/plain", "Content-Encoding": enc})
    refused(site, "/zf", "body is neither JSON nor XML")


def test_repeated_content_type_refused(site, raw_upstream):
    for name, cts in [("two", [b"text/plain", b"application/json"]),
                      ("same", [b"application/json", b"application/json"]),
                      ("other", [b"application/json", b"text/plain"])]:
        raw_upstream.routes[f"/raw/{name}"] = [
            b"HTTP/1.1 200 OK\r\n"
            + b"".join(b"Content-Type: " + c + b"\r\n" for c in cts)
            + b"Content-Length: %d\r\n\r\n" % len(RECORD) + RECORD]
        refused(site, f"/raw/{name}", "the upstream sent Content-Type twice")


def test_sniffing_waits_for_the_first_bytes_that_are_not_blank(site,
                                                               upstream):
    # blank chunks first, each flushed by the upstream
    upstream.routes["/b"] = Reply([b"  ", b"\r\n", b"\t"] + [RECORD],
                                  pause=0.05,
                                  headers={"Content-Type": "text/plain"})
    head, data = raw_get(site.port, "/b")
    assert status_of(head) == 200, head
    assert data.startswith(b"  \r\n\t{")
    assert json.loads(data)["CongDan"]["SoDinhDanh"] == "********2345"
    assert_nothing_clear(data)
    # a body with a UTF-8 BOM is read after it
    upstream.routes["/bom"] = Reply([b"\xef\xbb", b"\xbf" + SOAP],
                                    headers={"Content-Type": "text/plain"})
    head, data = raw_get(site.port, "/bom")
    assert status_of(head) == 200, head
    assert data.startswith(b"\xef\xbb\xbf<?xml")
    assert_nothing_clear(data)
    # without proxy buffering every upstream buffer comes flushed
    for loc in ("/", "/nobuf/"):
        upstream.routes[loc + "b1"] = Reply(
            [b"\n"] * 3 + [RECORD], pause=0.05,
            headers={"Content-Type": "text/plain"})
        head, data = raw_get(site.port, loc + "b1")
        assert status_of(head) == 200, head
        assert_nothing_clear(data)
        upstream.routes[loc + "b2"] = Reply(
            [b"\n"] * 3 + [b"abc " + FORM], pause=0.05,
            headers={"Content-Type": "text/plain"})
        refused(site, loc + "b2", "body is neither JSON nor XML")


def test_blank_and_empty_bodies_pass(site, upstream):
    for ctype in ("text/plain", "application/json", "text/xml", None):
        h = {"Content-Type": ctype} if ctype else {}
        upstream.routes["/e"] = Reply(b"", headers=h)
        head, data = raw_get(site.port, "/e")
        assert status_of(head) == 200, (ctype, head)
        assert data == b""
        upstream.routes["/e2"] = Reply([b""], headers=h)    # chunked
        r = site("/e2")
        assert r.status_code == 200 and r.content == b"", ctype
    # nothing but blanks: no data, passed as it came
    upstream.routes["/w"] = Reply([b" \r\n", b"\t \n"],
                                  headers={"Content-Type": "text/plain"})
    head, data = raw_get(site.port, "/w")
    assert status_of(head) == 200, head
    assert data == b" \r\n\t \n"
    # but only so many blanks are held before the data
    upstream.routes["/w2"] = Reply([b" " * 3000, b" " * 3000, RECORD],
                                   headers={"Content-Type": "text/plain"})
    refused(site, "/w2", "only blanks in the first 4096 bytes")


def test_head_204_304_of_other_types(site, upstream):
    upstream.routes["/h"] = Reply(FORM, headers={"Content-Type":
                                                 "text/plain"})
    r = requests.head(f"http://127.0.0.1:{site.port}/h")
    assert r.status_code == 200 and r.content == b""
    for st in (204, 304):
        upstream.routes[f"/{st}"] = Reply(b"", status=st, headers={
            "Content-Type": "text/plain", "ETag": '"e1"'})
        r = site(f"/{st}")
        assert r.status_code == st and r.content == b""
        assert r.headers["X-Mask-Status"] == "off"
    # a malformed type is refused for HEAD as for GET
    upstream.routes["/hm"] = Reply(RECORD, headers={"Content-Type":
                                                    '"application/json"'})
    r = requests.head(f"http://127.0.0.1:{site.port}/hm")
    assert r.status_code == 502


def test_pass_types(nginx_factory, upstream, raw_upstream, port, keyfile):
    site = make_site(nginx_factory, upstream, raw_upstream, port, keyfile,
                     PASS)
    pdf = b"%PDF-1.7\n001099012345 Nguy\xe1\xbb\x85n V\xc4\x83n An\n%%EOF\n"
    upstream.routes["/pass/a.pdf"] = Reply(pdf, headers={
        "Content-Type": "application/pdf", "ETag": '"p1"'})
    r = site("/pass/a.pdf")
    assert r.status_code == 200
    assert r.content == pdf
    assert r.headers["Content-Length"] == str(len(pdf))
    assert r.headers["ETag"] == '"p1"'
    assert r.headers["X-Mask-Status"] == "pass"
    upstream.routes["/pass/i"] = Reply(b"\x89PNG001099012345", headers={
        "Content-Type": "image/png"})
    assert site("/pass/i").content == b"\x89PNG001099012345"
    # ngsp_mask_types wins over a pass type that also names it
    upstream.routes["/pass/j"] = Reply(RECORD, headers={
        "Content-Type": "application/json"})
    r = site("/pass/j")
    assert r.json()["CongDan"]["SoDinhDanh"] == "********2345"
    # a pass type does not excuse a malformed or repeated header
    upstream.routes["/pass/m"] = Reply(RECORD, headers={
        "Content-Type": "application/pdf, application/json"})
    refused(site, "/pass/m", "a list of media types")
    # elsewhere (no pass types) the same PDF is refused
    upstream.routes["/a.pdf"] = Reply(pdf, headers={
        "Content-Type": "application/pdf"})
    refused(site, "/a.pdf", "body is neither JSON nor XML")


def test_listed_type_of_no_syntax_is_read_by_its_first_bytes(site, upstream):
    upstream.routes["/listed/x"] = Reply(SOAP, headers={
        "Content-Type": "text/plain"})
    head, data = raw_get(site.port, "/listed/x")
    assert status_of(head) == 200
    assert b"********2345" in data
    assert_nothing_clear(data)
    upstream.routes["/listed/f"] = Reply(FORM, headers={
        "Content-Type": "text/plain"})
    refused(site, "/listed/f", "body is neither JSON nor XML")


def test_nginx_own_error_pages_pass(site, keyfile):
    # upstream down: nginx's 502 page, no masking failure logged
    mark = len(site.nginx.log())
    head, data = raw_get(site.port, "/down/x")
    assert status_of(head) == 502
    assert b"502 Bad Gateway" in data
    # a missing static file: nginx's 404 page, not a 502
    head, data = raw_get(site.port, "/static/nothing.json")
    assert status_of(head) == 404, head
    assert "masking failed" not in site.nginx.log()[mark:]
    # a static file in a masked location is read like any other body
    (keyfile.parent / "static").mkdir()
    (keyfile.parent / "static" / "c.txt").write_bytes(RECORD)
    head, data = raw_get(site.port, "/static/c.txt")
    assert status_of(head) == 200
    assert_nothing_clear(data)


@pytest.mark.parametrize("http,msg", [
    ("server { location / { ngsp_mask_pass_types pdf; } }",
     '"ngsp_mask_pass_types" takes media types such as "application/pdf"'),
    ("server { location / { ngsp_mask_pass_types * ; } }",
     'not "*"'),
    ("server { location / { ngsp_mask_pass_types image/*/*; } }",
     'at most one "*"'),
    ("server { location / { ngsp_mask_pass_types a/b; "
     "ngsp_mask_pass_types c/d; } }", "is duplicate"),
])
def test_pass_types_config_errors(nginx_factory, http, msg):
    n = nginx_factory(http, start=False)
    ok, out = n.check()
    assert not ok
    assert msg in out, out


def test_pass_types_inherited(nginx_factory, upstream, port, keyfile):
    up = f"http://127.0.0.1:{upstream.port}"
    nginx_factory(f"""
        {PROFILES}
        ngsp_mask_pass_types application/pdf;
        server {{
            listen 127.0.0.1:{port};
            ngsp_mask citizen_basic;
            location / {{ proxy_pass {up}; }}
            location /own/ {{
                ngsp_mask_pass_types image/png;
                proxy_pass {up};
            }}
        }}""", ports=[port])
    upstream.routes["/a"] = Reply(b"%PDF-1", headers={
        "Content-Type": "application/pdf"})
    upstream.routes["/own/a"] = Reply(b"%PDF-1", headers={
        "Content-Type": "application/pdf"})
    assert requests.get(f"http://127.0.0.1:{port}/a").content == b"%PDF-1"
    # a list of its own replaces the inherited one
    assert requests.get(f"http://127.0.0.1:{port}/own/a").status_code == 502


class MemcachedStub:
    """Answers every get with one value (memcached's text protocol)."""

    def __init__(self, value):
        self.value = value
        self.port = free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(8)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                data = b""
                while b"\r\n" not in data:
                    d = c.recv(1024)
                    if not d:
                        break
                    data += d
                c.sendall(b"VALUE k 0 %d\r\n%s\r\nEND\r\n"
                          % (len(self.value), self.value))

    def stop(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(5)
        self.sock.close()


def test_error_page_answered_by_an_upstream_without_content_type(
        nginx_factory, upstream, port, keyfile):
    """An error_page answered by memcached (whose type is default_type,
    not a header of the upstream's) is the upstream's body: masked, as
    the same location answers directly, never passed as nginx's own.  A
    static page after an intercepted upstream error still passes."""
    memc = MemcachedStub(RECORD)
    upstream.routes["*"] = Reply(RECORD, 404, headers={
        "Content-Type": "application/json"})
    (keyfile.parent / "pages").mkdir()
    (keyfile.parent / "pages" / "404.txt").write_bytes(b"not here\n")
    try:
        nginx_factory(f"""
            ngsp_mask_hash_key {keyfile};
            {PROFILES}
            server {{
                listen 127.0.0.1:{port};
                location /direct/ {{
                    ngsp_mask citizen_basic;
                    set $memcached_key k;
                    memcached_pass 127.0.0.1:{memc.port};
                }}
                location /missing/ {{
                    ngsp_mask citizen_basic;
                    error_page 404 @memc;
                    return 404;
                }}
                location @memc {{
                    ngsp_mask citizen_basic;
                    set $memcached_key k;
                    memcached_pass 127.0.0.1:{memc.port};
                }}
                location /pages/ {{
                    ngsp_mask citizen_basic;
                    types {{ }}
                    default_type text/plain;
                    root {keyfile.parent};
                    proxy_intercept_errors on;
                    error_page 404 /pages/404.txt;
                    location /pages/api/ {{
                        proxy_pass http://127.0.0.1:{upstream.port};
                    }}
                }}
            }}""", ports=[port])
        for path, status in (("/direct/a", 200), ("/missing/a", 404)):
            head, data = raw_get(port, path)
            assert status_of(head) == status, head
            assert b'"SoDinhDanh": "********2345"' in data, data[:200]
            assert_nothing_clear(data)
        head, data = raw_get(port, "/pages/api/x")
        assert status_of(head) == 404, head
        assert data == b"not here\n"
    finally:
        memc.stop()
