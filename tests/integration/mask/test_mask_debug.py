"""The masking filters' debug traces (nginx built --with-debug, error_log
at debug level): the decision, the bytes in and out, the hold and release
of the header, back-pressure; never the data."""

import gzip
import subprocess

import pytest

from harness import NGINX, Reply
from mask_site import fixture, keyfile, raw_get  # noqa: F401

JSON_CT = {"Content-Type": "application/json"}
IDS = [b"001099012345", b"Nguy\xe1\xbb\x85n V\xc4\x83n An"]


def with_debug():
    p = subprocess.run([NGINX, "-V"], capture_output=True, text=True)
    return "--with-debug" in p.stderr


@pytest.mark.skipif(not with_debug(), reason="nginx without --with-debug")
def test_debug_traces_decision_bytes_and_hold(nginx_factory, upstream, port,
                                              keyfile, tmp_path):
    body = fixture("citizen.json")
    assert IDS[0] in body
    upstream.routes["/c"] = Reply(body, headers=JSON_CT)
    upstream.routes["/gz"] = Reply(gzip.compress(body), headers=dict(
        JSON_CT, **{"Content-Encoding": "gzip"}))
    upstream.routes["/png"] = Reply(b"\x89PNG....",
                                    headers={"Content-Type": "image/png"})
    log = tmp_path / "debug.log"
    n = nginx_factory(f"""
        ngsp_mask_hash_key {keyfile};
        ngsp_mask_profile p {{ SoDinhDanh keep_last=4; HoVaTen initials; }}
        server {{
            listen 127.0.0.1:{port};
            error_log {log} debug;
            location / {{
                ngsp_mask p;
                ngsp_mask_pass_types image/png;
                proxy_pass http://127.0.0.1:{upstream.port};
            }}
        }}""", ports=[port])
    for path in ("/c", "/gz", "/png"):
        head, _ = raw_get(port, path, headers={"Accept-Encoding": "gzip"})
        assert " 200 " in head.split("\r\n")[0], head
    n.stop()
    text = log.read_bytes()
    for line in (b'ngsp mask: upstream asked for the whole body, unencoded',
                 b'ngsp mask: status 200, profile "p": mask',
                 b'ngsp mask: status 200, profile "p": pass',
                 b'ngsp mask: header held',
                 b'ngsp mask: in ',
                 b'ngsp mask: inflated ',
                 b'ngsp mask: header released, content length ',
                 b'ngsp mask: out '):
        assert line in text, line
    for i in IDS:
        assert i not in text, i
