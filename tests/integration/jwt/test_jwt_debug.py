"""The JWT path's debug traces (nginx --with-debug, error_log debug): what
was found and decided, never the token or a claim value.
"""

import re
import subprocess
import time

import jwt as pyjwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness import NGINX

AGENCY = "so-tu-phap-debug"


def with_debug():
    p = subprocess.run([NGINX, "-V"], capture_output=True, text=True)
    return "--with-debug" in p.stdout + p.stderr


pytestmark = pytest.mark.skipif(not with_debug(),
                                reason="nginx built without --with-debug")


@pytest.fixture
def site(nginx_factory, tmp_path, port):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "pub.pem"
    pem.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo))
    debug_log = tmp_path / "debug.log"
    http = f"""
        error_log {debug_log} debug;
        ngsp_jwt_key_file {pem};
        server {{
            listen 127.0.0.1:{port};
            set $early $ngsp_jwt_status;
            location / {{
                ngsp_jwt on;
                try_files /none =204;
            }}
            location /agency/ {{
                ngsp_jwt on;
                ngsp_agency_claim agency_code client_id;
                try_files /none =204;
            }}
        }}"""
    n = nginx_factory(http, workers=1, ports=[port])
    now = int(time.time())
    token = pyjwt.encode({"client_id": AGENCY, "sub": "079123456789",
                          "iat": now, "exp": now + 600}, key,
                         algorithm="RS256")

    def get(path, tok=None):
        h = {"Authorization": f"Bearer {tok}"} if tok else {}
        return requests.get(f"http://127.0.0.1:{port}{path}", headers=h)

    def traces():
        time.sleep(0.3)
        return [l for l in debug_log.read_text().splitlines()
                if " ngsp " in l or "ngsp:" in l]

    return get, token, traces


def test_traces_name_each_step_never_the_token(site):
    get, token, traces = site

    assert get("/").status_code == 401
    assert get("/", token).status_code == 204
    assert get("/", token).status_code == 204
    assert get("/agency/", token).status_code == 204

    lines = traces()
    text = "\n".join(lines)
    assert "ngsp jwt access handler" in text
    assert "ngsp jwt token: missing, 0 bytes" in text
    assert re.search(r"ngsp jwt token: found, %d bytes" % len(token), text)
    assert "ngsp jwt cache miss, signature: ok" in text
    assert "ngsp jwt memo hit" in text
    assert "ngsp jwt verified: ok, judged: ok" in text
    assert "ngsp jwt verified: missing, judged: missing" in text
    # read at server level, then judged under the location's own claims
    assert "ngsp jwt judged again under a new location's settings" in text

    for secret in (token, token.split(".")[2], token.split(".")[1], AGENCY,
                   "079123456789"):
        assert secret not in text, secret
