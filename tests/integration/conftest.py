import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from harness import Nginx, Redis, Upstream, free_port  # noqa: E402


@pytest.fixture
def nginx_factory(tmp_path):
    """make(http, main="", workers=2, ports=(), preload="") -> started Nginx.

    Every instance is stopped at teardown, and the test fails if its
    error.log shows an [alert], [emerg], crash or sanitizer report.
    """
    made = []

    def make(http, main="", workers=2, ports=(), start=True, events="",
             preload=""):
        n = Nginx(tmp_path / ("nginx%d" % len(made)), http, main=main,
                  workers=workers, events=events, preload=preload)
        made.append(n)
        if start:
            n.start(ports)
        return n

    yield make
    problems = []
    for n in made:
        n.stop()
        problems += n.problems()
    assert not problems, "error.log problems:\n" + "\n".join(problems)


@pytest.fixture
def redis_factory(tmp_path):
    made = []

    def make(password=None, port=None, args=()):
        r = Redis(tmp_path / ("redis%d" % len(made)), password=password,
                  port=port, args=args)
        made.append(r)
        return r.start()

    yield make
    for r in made:
        r.stop()


@pytest.fixture
def upstream():
    u = Upstream().start()
    yield u
    u.stop()


@pytest.fixture
def port():
    return free_port()


@pytest.fixture
def cluster(tmp_path):
    """A started Redis Cluster (cluster_site.Cluster), stopped after."""
    from cluster_site import Cluster
    c = Cluster(tmp_path)
    try:
        yield c.start()
    finally:
        c.stop()
