"""Rebuilding the module while an nginx serves from the built file: the
build installs the shared object by a rename and only when it changed, so
the running nginx keeps the file it mapped and keeps answering."""

import os
import shutil
import subprocess
import threading
import time

import requests

import harness
from harness import Reply

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__),
                                   "..", "..", ".."))


def serve(nginx_factory, upstream, port):
    upstream.routes["/x"] = Reply(b'{"a":1}', headers={
        "Content-Type": "application/json"})
    return nginx_factory(f"""
        server {{
            listen 127.0.0.1:{port};
            location / {{ proxy_pass http://127.0.0.1:{upstream.port}; }}
        }}""", ports=[port])


def keep_asking(port, stop, failures):
    s = requests.Session()
    while not stop.is_set():
        try:
            if s.get(f"http://127.0.0.1:{port}/x", timeout=5).status_code \
                    != 200:
                failures.append("status")
        except requests.RequestException as e:
            failures.append(str(e))
            s = requests.Session()
        time.sleep(0.01)


def under_load(port, action):
    stop, failures = threading.Event(), []
    t = threading.Thread(target=keep_asking, args=(port, stop, failures))
    t.start()
    try:
        time.sleep(0.3)
        action()
        time.sleep(0.5)
    finally:
        stop.set()
        t.join()
    return failures


def test_make_leaves_an_unchanged_module_alone(nginx_factory, upstream,
                                                port):
    ngx = serve(nginx_factory, upstream, port)
    before = os.stat(harness.MODULE)
    build = os.path.dirname(harness.MODULE)

    def make():
        p = subprocess.run(
            ["make", "-s", "-C", TOP, "module", "BUILD=" + build,
             "SAN=" + ("1" if harness.SAN else "")],
            capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr

    assert under_load(port, make) == []
    after = os.stat(harness.MODULE)
    assert (after.st_ino, after.st_mtime_ns) == \
        (before.st_ino, before.st_mtime_ns)
    assert requests.get(f"http://127.0.0.1:{port}/x").status_code == 200
    assert ngx.problems() == []


def test_a_changed_module_is_renamed_into_place(nginx_factory, upstream,
                                                port, tmp_path,
                                                monkeypatch):
    # nginx loads a copy that stands for the build's output; the new build
    # differs from it (trailing bytes do not change what the loader maps)
    built = tmp_path / "ngx_http_ngsp_module.so"
    shutil.copy(harness.MODULE, built)
    monkeypatch.setattr(harness, "MODULE", str(built))
    ngx = serve(nginx_factory, upstream, port)
    fresh = tmp_path / "objs.so"
    shutil.copy(harness.MODULE, fresh)
    with open(fresh, "ab") as f:
        f.write(b"\0" * 4096)
    before = os.stat(built)

    def install():
        subprocess.run([os.path.join(TOP, "tools", "install-module"),
                        str(fresh), str(built)], check=True)

    assert under_load(port, install) == []
    after = os.stat(built)
    assert after.st_ino != before.st_ino
    assert after.st_size == before.st_size + 4096
    assert sorted(os.listdir(tmp_path)).count("ngx_http_ngsp_module.so") == 1
    assert not [n for n in os.listdir(tmp_path) if ".tmp." in n]

    # a reload after the install serves (the master keeps the module it
    # loaded under that name; a restart runs the new build)
    ngx.reload()
    assert requests.get(f"http://127.0.0.1:{port}/x").status_code == 200
    assert ngx.problems() == []
