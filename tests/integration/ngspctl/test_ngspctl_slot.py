"""ngspctl slot: the Redis Cluster slot the quota engine computes for an
agency's keys (CRC16 of the hash tag), held against CLUSTER KEYSLOT of a
real redis-server started with --cluster-enabled yes (it answers KEYSLOT
without a formed cluster), for plain and hostile agencies."""

import hashlib
import json
import os
import re
import subprocess

import pytest

from harness import BUILD

NGSPCTL = os.path.join(BUILD, "ngspctl")

PLAIN = ["so-tu-phap", "A.b_c-9", "x", "z" * 64, "123456789"]
HOSTILE = [b"{", b"}", b"{}", b"a}b{c", b"{so-tu-phap}", b"so tu phap",
           b"\r\nEVAL", b"\xff\xfe", "S\u1edf T\u01b0 ph\u00e1p".encode(),
           b"~abc", b"z" * 65, b"{" * 10000, b"a*b?c[d]\\"]


@pytest.fixture(scope="module")
def cluster_redis(tmp_path_factory):
    from harness import Redis, free_port
    d = tmp_path_factory.mktemp("keyslot")
    # the bus port defaults to port + 10000, which may be out of range or
    # taken: give it a free one
    r = Redis(d / "redis", args=["--cluster-enabled", "yes",
                                 "--cluster-port", str(free_port()),
                                 "--cluster-config-file",
                                 str(d / "nodes.conf")]).start()
    yield r.client()
    r.stop()


def tag(agency):
    if re.fullmatch(rb"[A-Za-z0-9._-]{1,64}", agency):
        return agency.decode()
    return "~" + hashlib.sha256(agency).hexdigest()


def slot(agency):
    p = subprocess.run([NGSPCTL, "--json", "slot", agency],
                       capture_output=True, timeout=30)
    assert p.returncode == 0 and p.stderr == b"", p.stderr
    return json.loads(p.stdout)


@pytest.mark.parametrize("agency", [a.encode() for a in PLAIN] + HOSTILE)
def test_slot_is_cluster_keyslot(cluster_redis, agency):
    j = slot(agency)
    t = tag(agency)
    assert j["tag"] == t
    assert 0 <= j["slot"] < 16384
    # every key of the agency is in that slot, whatever follows the tag
    for key in ["ngsp:{%s}:limits" % t, "ngsp:{%s}:q:std" % t,
                "ngsp:{%s}:q:std:s" % t,
                "ngsp:{%s}:q:std:d:20261202" % t]:
        assert cluster_redis.execute_command("CLUSTER", "KEYSLOT", key) \
            == j["slot"], key


def test_slots_spread(cluster_redis):
    """Agencies land on many slots (so over every master of a cluster)."""
    got = {slot(("so-%d" % i).encode())["slot"] for i in range(64)}
    want = {cluster_redis.execute_command("CLUSTER", "KEYSLOT",
                                          "ngsp:{so-%d}:limits" % i)
            for i in range(64)}
    assert got == want and len(got) > 50


def test_slot_text_and_bad_command_lines():
    p = subprocess.run([NGSPCTL, "slot", "so-tu-phap"], capture_output=True,
                       timeout=30)
    assert p.returncode == 0
    assert p.stdout == b'agency "so-tu-phap": tag so-tu-phap, slot 16372\n'
    for args, msg in [(["slot", ""], b"an empty agency"),
                      (["slot"], b"usage: ngspctl slot AGENCY"),
                      (["slot", "a", "b"], b"usage: ngspctl slot AGENCY")]:
        p = subprocess.run([NGSPCTL] + args, capture_output=True, timeout=30)
        assert p.returncode == 2 and p.stdout == b""
        assert p.stderr.startswith(b"ngspctl: ") and msg in p.stderr
