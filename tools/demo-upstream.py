#!/usr/bin/python3
"""A stub resident-data API for the demo: invented records, JSON and SOAP.

    demo-upstream.py PORT DATA_DIR
"""

import http.server
import os
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        data = self.server.data_dir
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
    srv.serve_forever()
