import requests

from harness import Reply


def test_module_loads_and_proxies(nginx_factory, upstream, port):
    upstream.routes["/x"] = Reply(b'{"a":1}', headers={
        "Content-Type": "application/json"})
    nginx_factory(f"""
        server {{
            listen 127.0.0.1:{port};
            location / {{ proxy_pass http://127.0.0.1:{upstream.port}; }}
        }}""", ports=[port])
    r = requests.get(f"http://127.0.0.1:{port}/x")
    assert r.status_code == 200
    assert r.json() == {"a": 1}


def test_redis_harness(redis_factory):
    r = redis_factory()
    c = r.client()
    assert c.ping()
