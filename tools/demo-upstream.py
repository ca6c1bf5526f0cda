#!/usr/bin/python3
"""A stub resident-data API for the demo: invented records, JSON and SOAP;
and the token issuer's JWKS, made from its public key.

    demo-upstream.py PORT DATA_DIR PUBLIC_KEY_PEM
"""

import base64
import http.server
import json
import os
import sys

from cryptography.hazmat.primitives.serialization import load_pem_public_key


def jwks(pem_path):
    with open(pem_path, "rb") as f:
        nums = load_pem_public_key(f.read()).public_numbers()

    def b64(n):
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return json.dumps({"keys": [{"kty": "RSA", "kid": "lgsp-demo",
                                 "alg": "RS256", "use": "sig",
                                 "n": b64(nums.n), "e": b64(nums.e)}]})


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        data = self.server.data_dir
        if self.path == "/.well-known/jwks.json":
            body = self.server.jwks.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path.startswith("/dancu/congdan"):
            name, ctype = "congdan.json", "application/json; charset=utf-8"
        elif self.path.startswith("/dancu/soap"):
            name, ctype = "congdan.soap.xml", "text/xml; charset=utf-8"
        else:
            body = b'{"MaKetQua":"404"}'
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        with open(os.path.join(data, name), "rb") as f:
            body = f.read()
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    srv = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    srv.data_dir = sys.argv[2]
    srv.jwks = jwks(sys.argv[3])
    srv.serve_forever()
