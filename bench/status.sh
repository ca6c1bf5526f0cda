#!/usr/bin/env bash
# The status zone's cost, side by side in one run: two front nginx with
# the same JWT + quota + mask location, one with ngsp_status_zone (every
# request counted in the log phase), one without; wrk through each in
# turn against the same upstream (a third nginx serving the citizen JSON
# fixture) and one redis-server.  Rounds interleave the two so drift hits
# them alike; figures are medians.
# STATUS_BENCH_ROUNDS, STATUS_BENCH_SECONDS, STATUS_BENCH_CONNS tune it.
#
#   STATUS_BENCH_INSTR=N bench/status.sh BUILD_DIR
# instead counts instructions per request of each front nginx under
# callgrind (bench/status_instr.bash).
set -euo pipefail
build=$(cd "${1:?build dir}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
dir=$build/bench/status
rounds=${STATUS_BENCH_ROUNDS:-5}
secs=${STATUS_BENCH_SECONDS:-3}
conns=${STATUS_BENCH_CONNS:-32}
py=/usr/bin/python3

rm -rf "$dir" && mkdir -p "$dir/on/logs" "$dir/off/logs" "$dir/up/logs" \
    "$dir/redis"

. "$here/common.bash"
up=$(bench_free_port)
rport=$(bench_free_port)
declare -A port=([on]=$(bench_free_port) [off]=$(bench_free_port))
user=""
[ "$(id -u)" = 0 ] && user="user root;"
front=$user
[ -n "${STATUS_BENCH_INSTR:-}" ] && front="$user
master_process off;
daemon off;"

cp "$here/../tests/fixtures/citizen.json" "$dir/up/citizen.json"
cat > "$dir/up/nginx.conf" <<EOF
$user
worker_processes 1;
pid $dir/up/nginx.pid;
error_log $dir/up/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
$(bench_temp_paths "$dir/up")
    server {
        listen 127.0.0.1:$up backlog=4096;
        keepalive_requests 1000000;
        location / {
            root $dir/up;
            default_type application/json;
            try_files /citizen.json =404;
        }
    }
}
EOF

head -c 48 /dev/urandom | base64 | tr -d '\n' > "$dir/hs.secret"
head -c 40 /dev/urandom | base64 | tr -d '\n' > "$dir/mask.key"

for side in on off; do
    zone=
    [ "$side" = on ] && zone="ngsp_status_zone ngsp 4m;"
    cat > "$dir/$side/nginx.conf" <<EOF
load_module $build/ngx_http_ngsp_module.so;
$front
worker_processes 1;
pid $dir/$side/nginx.pid;
error_log $dir/$side/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
$(bench_temp_paths "$dir/$side")
    ngsp_jwt_key_file $dir/hs.secret alg=HS256;
    ngsp_redis 127.0.0.1:$rport;
    ngsp_redis_timeout 1s;
    ngsp_quota_policy bench 1000000r/s 1000000000r/d;
    ngsp_mask_hash_key $dir/mask.key;
    ngsp_mask_profile citizen {
        SoDinhDanh        keep_last=4;
        HoVaTen           initials;
        DanToc            remove;
        TonGiao           remove;
        SoCMND            redact;
        default           pass;
    }
    $zone
    upstream stub {
        server 127.0.0.1:$up;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:${port[$side]} backlog=4096;
        keepalive_requests 1000000;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location /api/ {
            ngsp_jwt on;
            ngsp_quota bench;
            ngsp_mask citizen;
            proxy_pass http://stub/;
        }
        location = /status { ngsp_status; allow 127.0.0.1; deny all; }
    }
}
EOF
done
# the same locations on both sides: only the zone differs
sed -i 's|location = /status { ngsp_status;|location = /status { return 404;|' \
    "$dir/off/nginx.conf"

cleanup() {
    for n in on off up; do
        [ -f "$dir/$n/nginx.pid" ] && kill -QUIT "$(cat "$dir/$n/nginx.pid")" 2>/dev/null || true
    done
    redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1 || true
}
trap cleanup EXIT

bench_redis_start "$rport" "$dir/redis"
nginx -p "$dir/up" -c "$dir/up/nginx.conf"

token=$(bench_hs256_token "$dir/hs.secret")

if [ -n "${STATUS_BENCH_INSTR:-}" ]; then
    . "$here/status_instr.bash"
fi

nginx -p "$dir/on" -c "$dir/on/nginx.conf"
nginx -p "$dir/off" -c "$dir/off/nginx.conf"

for side in on off; do
    for i in $(seq 50); do
        curl -fs -o /dev/null -H "Authorization: Bearer $token" \
            "http://127.0.0.1:${port[$side]}/api/" && break
        sleep 0.1
    done
    curl -fs -o /dev/null -H "Authorization: Bearer $token" \
        "http://127.0.0.1:${port[$side]}/api/" \
        || { echo "status bench: /api/ ($side) does not answer 200"; exit 1; }
done

declare -A pids
for side in on off; do
    pids[$side]=$(pgrep -P "$(cat "$dir/$side/nginx.pid")" | tr '\n' ' ')
done

# one wrk run: "requests/s p99_ms total_requests non2xx"
status_wrk() {
    wrk -t2 -c"$conns" -d"${secs}s" --latency \
        -H "Authorization: Bearer $token" "http://127.0.0.1:$1/api/" |
    awk '/Requests\/sec/ { rps = $2 }
         /^ +99%/ { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
                    ms = (u == "us") ? v / 1000 : (u == "s") ? v * 1000 : v }
         /requests in/ { n = $1 }
         /Non-2xx/ { bad = $NF }
         END { printf "%s %s %s %d\n", rps, ms, n, bad }'
}

declare -A rps p99 cpu nreq
nbad=0
ratios=""
for r in $(seq "$rounds"); do
    # the order alternates, so neither side always runs second
    order="off on"
    [ $((r % 2)) = 0 ] && order="on off"
    for side in $order; do
        t0=$(bench_ticks ${pids[$side]})
        read -r x y n bad < <(status_wrk "${port[$side]}")
        cpu[$side]=$(( ${cpu[$side]:-0} + $(bench_ticks ${pids[$side]}) - t0 ))
        nreq[$side]=$(( ${nreq[$side]:-0} + n ))
        rps[$side]+="$x "
        p99[$side]+="$y "
        nbad=$((nbad + bad))
        eval "last_$side=$x"
    done
    ratios+="$(echo "$last_on $last_off" | awk '{ print $1 / $2 }') "
done

counted=$(curl -fs "http://127.0.0.1:${port[on]}/status?format=json" |
    $py -c 'import json, sys; print(json.load(sys.stdin)["agencies"]["so-tu-phap"]["requests"])')

echo "wrk -t2 -c$conns -d${secs}s, median of $rounds interleaved rounds;"
echo "each front nginx: 1 worker; JWT (HS256) + quota (Redis) + masking of"
echo "tests/fixtures/citizen.json; upstream: nginx, 1 worker"
hz=$(getconf CLK_TCK)
printf "%-12s %12s %10s %14s\n" "status zone" "requests/s" "p99 ms" \
    "nginx us/req"
for side in off on; do
    printf "%-12s %12.0f %10.2f %14.1f\n" "$side" \
        "$(echo ${rps[$side]} | tr ' ' '\n' | bench_median)" \
        "$(echo ${p99[$side]} | tr ' ' '\n' | bench_median)" \
        "$(echo "${cpu[$side]} $hz ${nreq[$side]}" | awk '{ print $1 / $2 * 1e6 / $3 }')"
done
echo "on/off: $(echo $ratios | tr ' ' '\n' | bench_median) (median of the rounds' ratios: $ratios)"
echo "requests the zone counted for the agency: $counted"
[ "$nbad" = 0 ] || echo "status bench: $nbad responses were not 2xx"
