#!/usr/bin/env bash
# JWT validation, side by side in one run:
#   1. C micro-benchmark: one cold RS256 / ES256 verification, ngsp against
#      bare OpenSSL EVP_DigestVerify and libjwt jwt_decode
#   2. wrk through nginx against the same local upstream: plain proxy_pass;
#      ngsp_jwt on with one repeated token (cache warm); ngsp_jwt on with a
#      different token on every request (cache cold)
# Rounds interleave the three locations so drift hits them alike; figures
# are medians.  BENCH_ROUNDS, BENCH_SECONDS, BENCH_CONNS tune it.
set -euo pipefail
build=$(cd "${1:?build dir}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
dir=$build/bench/jwt
rounds=${BENCH_ROUNDS:-5}
secs=${BENCH_SECONDS:-2}
cold_secs=${BENCH_COLD_SECONDS:-1}
conns=${BENCH_CONNS:-16}

rm -rf "$dir" && mkdir -p "$dir/front/logs" "$dir/up/logs"

# --- 1. micro-benchmark ---------------------------------------------------
gcc -std=gnu99 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE \
    $(printf -- '-I%s ' "$top"/ngx_module/*) -I"$top/tests/unit/jwt" \
    "$here/jwt_verify.c" "$top/tests/unit/jwt/jwt_sign.c" \
    "$build"/engine/*/ngsp_*.o -o "$dir/jwt_verify" \
    -ljwt -lcrypto -ljansson -lhiredis -lz
"$dir/jwt_verify" | tee "$dir/micro"
echo

# --- 2. wrk through nginx -------------------------------------------------
. "$here/common.bash"
port=$(bench_free_port)
up=$(bench_free_port)
user=""
[ "$(id -u)" = 0 ] && user="user root;"

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$dir/key.pem" 2>/dev/null
openssl pkey -in "$dir/key.pem" -pubout -out "$dir/pub.pem"

# the upstream: a second nginx, so the baseline is not a slow stub
cat > "$dir/up/nginx.conf" <<EOF
$user
worker_processes 1;
pid $dir/up/nginx.pid;
error_log $dir/up/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
$(bench_temp_paths "$dir/up")
    server {
        listen 127.0.0.1:$up;
        keepalive_requests 100000;
        location / { return 200 '{"MaKetQua":"00"}'; }
    }
}
EOF

cat > "$dir/front/nginx.conf" <<EOF
load_module $build/ngx_http_ngsp_module.so;
$user
worker_processes 1;
pid $dir/front/nginx.pid;
error_log $dir/front/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
$(bench_temp_paths "$dir/front")
    ngsp_jwt_key_file $dir/pub.pem alg=RS256 kid=bench;
    upstream api { server 127.0.0.1:$up; keepalive 32; }
    server {
        listen 127.0.0.1:$port;
        keepalive_requests 100000;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location /plain/ { proxy_pass http://api; }
        location / {
            ngsp_jwt on;
            ngsp_jwt_issuer https://lgsp.example.gov.vn;
            ngsp_jwt_audience resident-api;
            ngsp_jwt_require scope contains dancu.read;
            # a location's proxy_set_header replaces the server's list
            proxy_set_header Connection "";
            proxy_set_header X-Agency \$ngsp_agency;
            proxy_pass http://api;
        }
    }
}
EOF

stop() {
    for n in front up; do
        [ -f "$dir/$n/nginx.pid" ] && kill -QUIT "$(cat "$dir/$n/nginx.pid")" \
            2>/dev/null || true
    done
}
trap stop EXIT

nginx -q -p "$dir/up" -c "$dir/up/nginx.conf"
nginx -q -p "$dir/front" -c "$dir/front/nginx.conf"
sleep 0.5

url=http://127.0.0.1:$port
worker=$(pgrep -P "$(cat "$dir/front/nginx.pid")")
hz=$(getconf CLK_TCK)
rps() {
    # wrk's requests/s, request count, and the front worker's CPU
    # microseconds per request (what throughput would be on a core of its
    # own, less sensitive to the other processes on this machine):
    # "RPS COUNT CPU_US"
    local t0 t1 d=${DURATION:-$secs}
    t0=$(bench_ticks "$worker")
    wrk -t1 -c"$conns" -d"${d}s" "$@" > "$dir/wrk.out"
    t1=$(bench_ticks "$worker")
    awk -v t="$((t1 - t0))" -v hz="$hz" '
        /requests in/ { n = $1 } /^Requests\/sec/ { r = $2 }
        END { print r, n, t / hz * 1e6 / n }' "$dir/wrk.out"
}

# Enough distinct tokens for every cold round, sized from the micro-
# benchmark: one worker cannot verify more than 1e6 / (ngsp's RS256 us)
# tokens a second (a probe by wrk proved too noisy).  A round that would
# run out of them is refused below.
us=$(awk '/^RS256/ { for (i = 1; i < NF; i++) if ($i == "ngsp") print $(i + 1) }' \
    "$dir/micro")
per=$(awk -v us="$us" -v s="$cold_secs" 'BEGIN { print int(1e6 / us * s * 1.2) + 1000 }')
need=$(( per * rounds + 1 ))
echo "minting $need RS256 tokens for the cold runs"
/usr/bin/python3 "$here/jwt-mint.py" "$dir/key.pem" "$need" "$dir/tokens"
warm=$(head -1 "$dir/tokens")
pre=1

: > "$dir/runs"
for r in $(seq "$rounds"); do
    read -r p _ pc < <(rps "$url/plain/")
    read -r h _ hc < <(rps -H "Authorization: Bearer $warm" "$url/plain/")
    read -r w _ wc < <(rps -H "Authorization: Bearer $warm" "$url/warm/")
    first=$(( pre + (r - 1) * per ))
    read -r c n cc < <(DURATION=$cold_secs rps -s "$here/jwt-cold.lua" \
        "$url/cold/" -- "$dir/tokens" "$first" "$per")
    if [ "$n" -gt "$per" ]; then
        echo "ngsp: cold round $r sent $n requests for $per tokens" >&2
        exit 1
    fi
    echo "$p $h $w $c $pc $hc $wc $cc" >> "$dir/runs"
    printf 'round %d: plain %6.0f  plain+header %6.0f  warm %6.0f  cold %6.0f req/s\n' \
        "$r" "$p" "$h" "$w" "$c"
done

# medians of each column, and of the per-round ratios to plain
col() {
    awk -v c="$1" '{ print $c }' "$dir/runs" | bench_median
}
ratio() {
    awk -v c="$1" -v b="$2" '{ print $c / $b }' "$dir/runs" | bench_median
}
printf '\nwrk -t1 -c%d, %d rounds of %ds (cold: %ds), 1 nginx worker; medians.  x plain: median of the\n' \
    "$conns" "$rounds" "$secs" "$cold_secs"
printf 'per-round ratios of req/s; by CPU: plain'"'"'s worker CPU per request over this one'"'"'s\n'
printf '  %-44s %7s  %7s  %12s  %6s\n' "" "req/s" "x plain" "CPU us/req" "by CPU"
line() {
    printf '  %-44s %7.0f  %7.2f  %12.1f  %6.2f\n' "$1" "$(col "$2")" \
        "$(ratio "$2" 1)" "$(col "$3")" "$(ratio 5 "$3")"
}
line "plain proxy_pass" 1 5
line "plain, same Authorization header" 2 6
line "ngsp_jwt on, one repeated token (warm)" 3 7
line "ngsp_jwt on, a fresh RS256 token each (cold)" 4 8

if grep -E '\[(alert|emerg)\]' "$dir"/*/logs/error.log; then
    echo "ngsp: errors in the benchmark's nginx logs" >&2
    exit 1
fi
