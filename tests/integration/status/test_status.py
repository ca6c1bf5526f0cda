"""ngsp_status_zone and ngsp_status: counters of what the test sent,
across 2 workers, read back through Prometheus' own text parser and the
JSON form."""

import collections
import json
import time

import pytest
import requests

from harness import Reply
from status_site import SECRET, Site, fixture, token

JSON_CT = {"Content-Type": "application/json; charset=utf-8"}


@pytest.fixture
def citizen_upstream(upstream):
    upstream.routes["*"] = Reply(fixture("citizen.json"), headers=JSON_CT)
    return upstream


def test_smoke(nginx_factory, tmp_path, citizen_upstream, redis_factory):
    s = Site(nginx_factory, tmp_path, citizen_upstream, redis_factory())
    r = s.get("/api/x", token("so-tu-phap"))
    assert r.status_code == 200
    print(s.status("json").text)
    print(s.status("prometheus").text)
