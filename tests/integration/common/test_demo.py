"""`make run`'s demo (tools/demo) starts, and what it prints works: masked
records, the quota override set with ngspctl, the Lua location, the
dashboard and the audit log without the citizen's number."""

import json
import os
import re
import subprocess

import pytest
import requests

from harness import SAN, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
ID = "036195004321"


@pytest.mark.skipif(bool(SAN), reason="the demo runs the stock nginx "
                    "without the sanitizer runtime; make test runs this")
def test_demo(tmp_path):
    build = os.environ.get("NGSP_BUILD", os.path.join(TOP, "build"))
    demo_build = tmp_path / "build"
    demo_build.mkdir()
    for f in ("ngx_http_ngsp_module.so", "ngsp-token", "ngspctl"):
        os.symlink(os.path.join(build, f), demo_build / f)
    port, up, rport = free_port(), free_port(), free_port()
    env = dict(os.environ, NGSP_DEMO_PORT=str(port),
               NGSP_DEMO_UPSTREAM_PORT=str(up),
               NGSP_DEMO_REDIS_PORT=str(rport))
    demo = os.path.join(TOP, "tools", "demo")
    out = subprocess.run([demo, "start", str(demo_build)], env=env,
                         capture_output=True, text=True, timeout=120)
    try:
        assert out.returncode == 0, out.stderr
        url = "http://127.0.0.1:%d" % port
        text = out.stdout
        assert "Dashboard" in text and url + "/ngsp/status" in text
        ctl = re.search(r"^\s+(\S+/ngspctl .*) usage so-noi-vu$", text, re.M)
        assert ctl, text

        d = demo_build / "demo"

        def get(path, who):
            tok = (d / ("token." + who)).read_text().strip()
            return requests.get(url + path, timeout=10, headers={
                "Authorization": "Bearer " + tok})

        r = get("/dancu/congdan/" + ID, "thai-binh")
        assert r.status_code == 200 and ID not in r.text
        assert r.json()["CongDan"]["SoDinhDanh"].endswith("4321")
        r = get("/lua/dancu/congdan/" + ID, "thai-binh")
        assert r.status_code == 200 and ID not in r.text
        assert r.headers["X-Ngsp-Mask-Profile"] == "citizen_basic"
        assert get("/lua/dancu/congdan/" + ID, "tu-phap").json()[
            "CongDan"]["SoDinhDanh"] == ID

        # 3 a minute for so-noi-vu, Lua and C drawing from one counter
        codes = [get(p + "/dancu/congdan/" + ID, "noi-vu").status_code
                 for p in ("", "/lua", "", "")]
        assert codes == [200, 200, 200, 429]

        usage = subprocess.run(ctl.group(1).split() + [
            "--json", "usage", "so-noi-vu"], capture_output=True,
            text=True, timeout=30)
        assert usage.returncode == 0, usage.stderr
        assert '"limit":3' in usage.stdout.replace(" ", "")

        doc = requests.get(url + "/ngsp/status?format=json",
                           timeout=10).json()
        q = doc["agencies"]["so-noi-vu"]["quota"]["standard"]
        # the status zone counts Lua's decision with nginx's, in one row
        assert q["allowed"] == 3 and q["rejected"] == 1
        # the issuer's key came from the stub's JWKS, not from a file
        assert [k["source"] for k in doc["keys"]] == ["jwks:/_jwks"]
        assert doc["jwks"]["generation"] >= 1
        page = requests.get(url + "/ngsp/status", timeout=10)
        assert page.headers["Content-Type"].startswith("text/html")

        audit = (d / "audit.log").read_text()
        lines = [json.loads(l) for l in audit.splitlines()]
        assert any(l["agency"] == "so-noi-vu" and l["status"] == "429"
                   for l in lines)
        assert ID not in audit
        assert ID not in (d / "error.log").read_text()
    finally:
        subprocess.run([demo, "stop", str(demo_build)], env=env,
                       capture_output=True, timeout=60)
