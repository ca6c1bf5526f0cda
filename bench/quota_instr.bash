# Sourced by bench/quota.sh when QUOTA_BENCH_INSTR=N: instructions per
# request of one nginx process (no master) under valgrind's callgrind, for
# ngsp_jwt alone and ngsp_jwt + ngsp_quota, N keep-alive requests a
# location after N of warm-up, beside a real redis-server.  Exact and
# repeatable where wall-clock figures on a shared machine are not.
# Expects from quota.sh: build, dir, port, up (its upstream's port and
# configuration), rport, user, py, hs.secret and common.bash's helpers.

n=$QUOTA_BENCH_INSTR
so=$build/ngx_http_ngsp_module.so
command -v valgrind >/dev/null || { echo "ngsp: needs valgrind"; exit 1; }

cat > "$dir/front/nginx.conf" <<C
load_module $so;
$user
master_process off;
daemon off;
pid $dir/front/nginx.pid;
error_log $dir/front/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
$(bench_temp_paths "$dir/front")
    ngsp_jwt_key_file $dir/hs.secret alg=HS256;
    ngsp_redis 127.0.0.1:$rport;
    ngsp_redis_timeout 5s;
    ngsp_quota_policy bench 1000000r/s 1000000000r/d;
    upstream stub { server 127.0.0.1:$up; keepalive 64; }
    server {
        listen 127.0.0.1:$port;
        keepalive_requests 1000000;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location /jwt/ { ngsp_jwt on; proxy_pass http://stub; }
        location /quota/ { ngsp_jwt on; ngsp_quota bench; proxy_pass http://stub; }
    }
}
C

redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no \
    --daemonize yes --dir "$dir/redis" --logfile "$dir/redis/redis.log" \
    --pidfile "$dir/redis/redis.pid" > /dev/null
nginx -p "$dir/up" -c "$dir/up/nginx.conf"

token=$($py - "$dir/hs.secret" <<'P'
import sys, time, jwt
key = open(sys.argv[1], "rb").read().strip()
print(jwt.encode({"client_id": "so-tu-phap", "exp": int(time.time()) + 3600},
                 key, algorithm="HS256"))
P
)

valgrind --tool=callgrind --dump-instr=no --compress-strings=no \
    --callgrind-out-file="$dir/cg.out" \
    nginx -p "$dir/front" -c "$dir/front/nginx.conf" > "$dir/vg.log" 2>&1 &
vg=$!
trap 'kill $vg 2>/dev/null; nginx -p "$dir/up" -c "$dir/up/nginx.conf" -s stop;
      redis-cli -p "$rport" shutdown nosave > /dev/null 2>&1 || true' EXIT

for i in $(seq 120); do
    curl --noproxy '*' -sf -o /dev/null -H "Authorization: Bearer $token" \
        "http://127.0.0.1:$port/jwt/" && break
    sleep 0.5
done

echo "HS256 token, $n requests a location, one nginx process under callgrind"
for loc in jwt quota; do
    for i in $(seq "$n"); do
        echo "url = \"http://127.0.0.1:$port/$loc/\""
        echo "output = /dev/null"
    done > "$dir/urls"
    curl --noproxy '*' -s -H "Authorization: Bearer $token" -K "$dir/urls"
    callgrind_control -z $vg > /dev/null 2>&1
    codes=$(curl --noproxy '*' -s -H "Authorization: Bearer $token" \
                 -w "%{http_code}\n" -K "$dir/urls" | sort -u | tr '\n' ' ')
    callgrind_control -d "$loc" $vg > /dev/null 2>&1
    total=$(grep -h '^summary:' "$dir"/cg.out.* | tail -1 | cut -d' ' -f2)
    rm -f "$dir"/cg.out.*
    printf '  %-24s %9d instructions/request (status %s)\n' \
           "$loc" $((total / n)) "$codes"
    eval "instr_$loc=$total"
done
awk -v j="$instr_jwt" -v q="$instr_quota" 'BEGIN {
    printf "  quota added to jwt: %.0f instructions/request (x%.2f)\n",
           (q - j) / '"$n"', q / j }'
echo "  redis: $(redis-cli -p "$rport" info commandstats \
                 | grep -o 'cmdstat_evalsha:calls=[0-9]*')"
exit 0
