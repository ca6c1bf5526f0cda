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
