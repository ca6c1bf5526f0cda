#!/usr/bin/python3
"""Mints N distinct RS256 tokens for bench/jwt.sh, one per line, in
parallel (RSA signing costs ~0.4 ms; the cold run needs tens of thousands).

    jwt-mint.py PRIVATE_KEY_PEM N OUT
"""

import multiprocessing
import sys
import time

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_private_key


def mint(args):
    pem, first, n = args
    # parsed once: PyJWT given PEM text re-parses (and re-checks) the RSA
    # key on every call, ~50 ms
    key = load_pem_private_key(pem, None)
    now = int(time.time())
    out = []
    for i in range(first, first + n):
        out.append(jwt.encode(
            {"iss": "https://lgsp.example.gov.vn", "aud": "resident-api",
             "client_id": "ubnd-tinh-thai-binh",
             "scope": "openid dancu.read", "iat": now, "exp": now + 3600,
             "jti": "bench-%d" % i},
            key, algorithm="RS256", headers={"kid": "bench"}))
    return out


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as f:
        pem = f.read()
    n = int(sys.argv[2])
    procs = multiprocessing.cpu_count()
    step = (n + procs - 1) // procs
    jobs = [(pem, i, min(step, n - i)) for i in range(0, n, step)]
    with multiprocessing.Pool(procs) as pool, open(sys.argv[3], "w") as out:
        for part in pool.map(mint, jobs):
            out.write("\n".join(part) + "\n")
