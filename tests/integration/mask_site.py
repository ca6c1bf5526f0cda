"""Shared helpers of the masking tests (JSON and XML): sample records, the
HMAC key file, chunking, a raw HTTP/1.0 request, a worker's peak RSS."""

import os
import socket

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("NGSP_FIXTURES") or os.path.join(
    HERE, "..", "fixtures")
DEMO = os.path.join(HERE, "..", "..", "conf", "demo")
KEY = b"k" * 40


def fixture(name):
    """A sample record: the demo's own (conf/demo) or tests/fixtures."""
    path = os.path.join(DEMO, name)
    if not os.path.exists(path):
        path = os.path.join(SHARED, name)
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture
def keyfile(tmp_path):
    p = tmp_path / "pseudonym.key"
    p.write_bytes(KEY + b"\n")
    return p


def chunks(data, n):
    return [data[i:i + n] for i in range(0, len(data), n)]


def raw_get(port, path, headers=None, method="GET", timeout=30):
    """HTTP/1.0 request; returns (status line and headers, body bytes).

    headers: a dict, or a list of (name, value) to repeat a name."""
    if isinstance(headers, dict):
        headers = headers.items()
    h = "".join("%s: %s\r\n" % kv for kv in (headers or ()))
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(("%s %s HTTP/1.0\r\nHost: x\r\n%s\r\n" % (method, path, h))
              .encode())
    data = b""
    while True:
        try:
            d = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not d:
            break
        data += d
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode("latin1"), body


def hwm(pid):
    """Peak resident memory of a process, in kB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0
