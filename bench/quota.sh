#!/usr/bin/env bash
# Quotas, side by side in one run, wrk through one nginx against the same
# local upstream (a second nginx, so the baseline is not a slow stub):
#   plain      proxy_pass only
#   jwt        ngsp_jwt on (one repeated HS256 token: the cache is warm)
#   jwt+quota  ngsp_jwt on + ngsp_quota (2 windows, never exhausted), with
#              redis-server beside it on loopback
# Rounds interleave the three so drift hits them alike; figures are
# medians.  Then Redis's own cost: commands per quota-checked request and
# microseconds per EVALSHA from INFO commandstats.
# Last, the script alone, against its floors and its previous version,
# with decisions per second per Redis core (see the end); with
# QUOTA_BENCH_CG=1, also in redis-server's instructions per decision.
# QUOTA_BENCH_ROUNDS, QUOTA_BENCH_SECONDS, QUOTA_BENCH_CONNS tune it.
#
#   QUOTA_BENCH_INSTR=N bench/quota.sh BUILD_DIR
# instead counts instructions per request under callgrind
# (bench/quota_instr.bash).
set -euo pipefail
build=$(cd "${1:?build dir}" && pwd)
dir=$build/bench/quota
rounds=${QUOTA_BENCH_ROUNDS:-3}
secs=${QUOTA_BENCH_SECONDS:-3}
conns=${QUOTA_BENCH_CONNS:-32}
py=/usr/bin/python3

rm -rf "$dir" && mkdir -p "$dir/front/logs" "$dir/up/logs" "$dir/redis"

. "$(dirname "$0")/common.bash"
port=$(bench_free_port)
up=$(bench_free_port)
rport=$(bench_free_port)
user=""
[ "$(id -u)" = 0 ] && user="user root;"

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
        location / { return 200 '{"SoDinhDanh":"036195004321"}'; }
    }
}
EOF

head -c 48 /dev/urandom | base64 | tr -d '\n' > "$dir/hs.secret"

if [ -n "${QUOTA_BENCH_INSTR:-}" ]; then
    . "$(dirname "$0")/quota_instr.bash"
fi

cat > "$dir/front/nginx.conf" <<EOF
load_module $build/ngx_http_ngsp_module.so;
$user
worker_processes 1;
pid $dir/front/nginx.pid;
error_log $dir/front/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
$(bench_temp_paths "$dir/front")
    ngsp_jwt_key_file $dir/hs.secret alg=HS256;
    ngsp_redis 127.0.0.1:$rport;
    ngsp_redis_timeout 1s;
    ngsp_quota_policy bench 1000000r/s 1000000000r/d;
    upstream stub {
        server 127.0.0.1:$up;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$port backlog=4096;
        keepalive_requests 1000000;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location /plain/ { proxy_pass http://stub; }
        location /jwt/   { ngsp_jwt on; proxy_pass http://stub; }
        location /quota/ { ngsp_jwt on; ngsp_quota bench; proxy_pass http://stub; }
    }
}
EOF

cleanup() {
    for n in front up; do
        [ -f "$dir/$n/nginx.pid" ] && kill -QUIT "$(cat "$dir/$n/nginx.pid")" 2>/dev/null || true
    done
    redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1 || true
}
trap cleanup EXIT

bench_redis_start "$rport" "$dir/redis"
nginx -p "$dir/up" -c "$dir/up/nginx.conf"
nginx -p "$dir/front" -c "$dir/front/nginx.conf"

token=$(bench_hs256_token "$dir/hs.secret")

for i in $(seq 50); do
    curl -fs -o /dev/null "http://127.0.0.1:$port/plain/" && break
    sleep 0.1
done
# warm every location (and the worker's Redis connection)
for loc in plain jwt quota; do
    curl -fs -o /dev/null -H "Authorization: Bearer $token" \
        "http://127.0.0.1:$port/$loc/" \
        || { echo "quota bench: /$loc/ does not answer 200"; exit 1; }
done

# one wrk run: "requests/s p99_ms total_requests non2xx"
quota_wrk() {
    wrk -t2 -c"$conns" -d"${secs}s" --latency \
        -H "Authorization: Bearer $token" "http://127.0.0.1:$port/$1/" |
    awk '/Requests\/sec/ { rps = $2 }
         /^ +99%/ { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
                    ms = (u == "us") ? v / 1000 : (u == "s") ? v * 1000 : v }
         /requests in/ { n = $1 }
         /Non-2xx/ { bad = $NF }
         END { printf "%s %s %s %d\n", rps, ms, n, bad }'
}


declare -A rps p99 front_cpu redis_cpu nreq
front_pids=$(pgrep -P "$(cat "$dir/front/nginx.pid")" | tr '\n' ' ')
redis_pid=$(cat "$dir/redis/redis.pid")
quota_requests=0
quota_bad=0
redis-cli -p "$rport" config resetstat >/dev/null
for r in $(seq "$rounds"); do
    for loc in plain jwt quota; do
        f0=$(bench_ticks $front_pids)
        r0=$(bench_ticks "$redis_pid")
        read -r x y n bad < <(quota_wrk "$loc")
        front_cpu[$loc]=$(( ${front_cpu[$loc]:-0} + $(bench_ticks $front_pids) - f0 ))
        redis_cpu[$loc]=$(( ${redis_cpu[$loc]:-0} + $(bench_ticks "$redis_pid") - r0 ))
        nreq[$loc]=$(( ${nreq[$loc]:-0} + n ))
        rps[$loc]+="$x "
        p99[$loc]+="$y "
        quota_bad=$((quota_bad + bad))
        [ "$loc" = quota ] && quota_requests=$((quota_requests + n))
    done
done

stats=$(redis-cli -p "$rport" info commandstats | tr -d '\r')
calls=$(echo "$stats" | awk -F'[=,]' '/^cmdstat_/ && !/^cmdstat_(config|info):/ { c += $2 } END { print c + 0 }')
evalsha=$(echo "$stats" | awk -F'[=,]' '/^cmdstat_evalsha:/ { print $2 }')
usec=$(echo "$stats" | awk -F'[=,]' '/^cmdstat_evalsha:/ { print $6 }')

base=$(echo ${rps[plain]} | tr ' ' '\n' | bench_median)
echo "wrk -t2 -c$conns -d${secs}s, median of $rounds interleaved rounds;"
echo "front nginx: 1 worker; upstream: nginx, 1 worker; redis-server beside"
hz=$(getconf CLK_TCK)
printf "%-11s %12s %9s %10s %14s %14s\n" config "requests/s" "x plain" \
    "p99 ms" "nginx us/req" "redis us/req"
for loc in plain jwt quota; do
    m=$(echo ${rps[$loc]} | tr ' ' '\n' | bench_median)
    p=$(echo ${p99[$loc]} | tr ' ' '\n' | bench_median)
    name=$loc
    [ "$loc" = quota ] && name="jwt+quota"
    printf "%-11s %12.0f %9.2f %10.2f %14.1f %14.1f\n" "$name" "$m" \
        "$(echo "$m $base" | awk '{ print $1 / $2 }')" "$p" \
        "$(echo "${front_cpu[$loc]} $hz ${nreq[$loc]}" | awk '{ print $1 / $2 * 1e6 / $3 }')" \
        "$(echo "${redis_cpu[$loc]} $hz ${nreq[$loc]}" | awk '{ print $1 / $2 * 1e6 / $3 }')"
done
echo
echo "redis: $evalsha EVALSHA for $quota_requests quota-checked requests" \
     "($(echo "$evalsha $quota_requests" | awk '{ printf "%.3f", $1 / $2 }')" \
     "per request; the script itself runs" \
     "$(echo "$calls $evalsha" | awk '{ printf "%.1f", ($1 - $2) / $2 }')" \
     "commands inside), ${usec} us of Redis CPU per decision"
[ "$quota_bad" = 0 ] || echo "quota bench: $quota_bad responses were not 2xx"

# The script alone, pipelined on the same Redis with the command nginx
# sends (bench/quota_script.py), for the 2-window policy above and a
# 3-window one (20r/s 1000r/m 50000r/d), beside its floors: an EVALSHA of
# "return 1" (Redis's own cost of running any script) and scripts making
# the same Redis calls without the decision logic; and the previous
# version, v7 (one key per window, bench/quota-v7.lua, kept for this
# comparison only), against its own floor.  Every decision admits and
# writes: 20000 calls over 2000 agencies.
script_c=$(dirname "$0")/../ngx_module/quota/ngsp_quota_script.c
v7=$(dirname "$0")/quota-v7.lua
echo "return 1" > "$dir/floor-return1.lua"
# v8's calls: the clock, the overrides, the state, the state written back
# (a string of its size for three windows), returned
cat > "$dir/floor-v8.lua" <<'LUA'
local t = redis.call('TIME')
local o = redis.call('EXISTS', KEYS[1])
local s = redis.call('GET', KEYS[2])
s = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567'
    .. '89abcdef01234567'
redis.call('SET', KEYS[2], s, 'KEEPTTL')
return s
LUA
# v7's for s, m and d: one bucket write per GCRA window, INCR of the day
cat > "$dir/floor-v7.lua" <<'LUA'
-- ngsp quota v7 (its calls only)
local t = redis.call('TIME')
redis.call('HMGET', KEYS[1], ARGV[4], ARGV[5], ARGV[6])
redis.call('MGET', KEYS[2], KEYS[3], KEYS[4] .. ':20261201')
redis.call('SET', KEYS[2], '0123456789abcdef01234567', 'KEEPTTL')
redis.call('SET', KEYS[3], '0123456789abcdef01234567', 'KEEPTTL')
redis.call('INCR', KEYS[4] .. ':20261201')
local r = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'
return r .. r .. '0123456789abcdef'
LUA
three=s:20,m:1000,d:50000
two=s:1000000,d:1000000000
rows=("return1|$dir/floor-return1.lua|$three|EVALSHA of 'return 1'"
      "calls8|$dir/floor-v8.lua|$three|v8's Redis calls, no decision logic"
      "v8_3|$script_c|$three|v8 (ngsp_quota_script.c), $three"
      "v8_2|$script_c|$two|v8, $two"
      "calls7|$dir/floor-v7.lua|$three|v7's Redis calls, no decision logic"
      "v7_3|$v7|$three|v7 (bench/quota-v7.lua), $three"
      "v7_2|$v7|$two|v7, $two")
declare -A su
for r in $(seq "$rounds"); do
    for row in "${rows[@]}"; do
        IFS='|' read -r key file windows _ <<< "$row"
        su[$key]+="$($py "$(dirname "$0")/quota_script.py" "$rport" "$file" \
                      "$windows" usec) "
    done
done
med() { echo ${su[$1]} | tr ' ' '\n' | bench_median; }
echo
echo "the script alone (20000 EVALSHA over 2000 agencies, pipelined 64 deep," \
     "median of $rounds interleaved rounds): Redis CPU per decision," \
     "decisions per second per Redis core, and x v7 for the same policy"
for row in "${rows[@]}"; do
    IFS='|' read -r key _ windows name <<< "$row"
    m=$(med "$key")
    case $key in
        v8_3) x=$(echo "$m $(med v7_3)" | awk '{ printf "%.2f", $1 / $2 }') ;;
        v8_2) x=$(echo "$m $(med v7_2)" | awk '{ printf "%.2f", $1 / $2 }') ;;
        *) x="" ;;
    esac
    printf "  %-56s %6.2f us %9.0f /s %6s\n" "$name" "$m" \
        "$(echo "$m" | awk '{ print 1e6 / $1 }')" "$x"
done

# QUOTA_BENCH_CG=1: the same, counted in instructions of redis-server under
# callgrind (exact and repeatable where the times above swing)
if [ -n "${QUOTA_BENCH_CG:-}" ]; then
    . "$(dirname "$0")/quota_cg.bash"
fi
