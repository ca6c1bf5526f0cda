"""Shared set-up of the lua-compat tests: nginx with Debian's
lua-nginx-module loaded before ngsp, lua_package_path on lua-compat/, and
Lua locations that answer JSON (cjson) for the tests to read."""

import os

import requests

from harness import LUA_PRELOAD

HERE = os.path.dirname(os.path.abspath(__file__))
COMPAT = os.path.abspath(os.path.join(HERE, "..", "..", "lua-compat"))

LUA_HTTP = f"""
    lua_package_path "{COMPAT}/?.lua;/usr/share/lua/5.1/?.lua;;";
    lua_package_cpath "/usr/lib/x86_64-linux-gnu/lua/5.1/?.so;;";
    init_by_lua_block {{
        require "resty.ngsp"
        require "resty.ngsp.quota"
        require "resty.ngsp.compat.jwt"
        cjson = require "cjson.safe"
    }}
"""


def lua_nginx(nginx_factory, port, http, workers=1):
    """nginx with the Lua modules and ngsp; http: inside http {} after the
    Lua settings (servers listen on port)."""
    return nginx_factory(LUA_HTTP + http, workers=workers, ports=[port],
                         preload=LUA_PRELOAD)


def get(port, path, token=None, headers=None, **kw):
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = "Bearer " + token
    return requests.get(f"http://127.0.0.1:{port}{path}", headers=h,
                        timeout=10, **kw)


def post(port, path, body, headers=None):
    return requests.post(f"http://127.0.0.1:{port}{path}", data=body,
                         headers=headers or {}, timeout=10)
