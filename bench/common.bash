# Helpers shared by the bench/*.sh scripts (sourced, not run: bench/run
# runs only *.sh).

# a free loopback TCP port
bench_free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# nginx's temp paths under $1, one directive a line, for an http{} block
bench_temp_paths() {
    local t
    for t in client_body proxy fastcgi uwsgi scgi; do
        echo "    ${t}_temp_path $1/$t;"
    done
}

# CPU ticks (user + system) of the given processes, summed
bench_ticks() {
    local t=0 p
    for p in "$@"; do
        t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$t"
}

# the median of the numbers on stdin, one a line
bench_median() {
    sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# a throwaway redis-server on 127.0.0.1:$1, its files under $2 (no
# persistence; stopped with: redis-cli -p PORT shutdown nosave)
bench_redis_start() {
    mkdir -p "$2"
    redis-server --port "$1" --bind 127.0.0.1 --save "" --appendonly no \
        --daemonize yes --dir "$2" --logfile "$2/redis.log" \
        --pidfile "$2/redis.pid" >/dev/null
}

# an HS256 token for agency so-tu-phap, valid an hour, signed with the
# secret in file $1
bench_hs256_token() {
    /usr/bin/python3 - "$1" <<'EOF'
import sys, time, jwt
key = open(sys.argv[1], "rb").read().strip()
print(jwt.encode({"client_id": "so-tu-phap", "exp": int(time.time()) + 3600},
                 key, algorithm="HS256"))
EOF
}
