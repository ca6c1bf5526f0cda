# Sourced by bench/status.sh when STATUS_BENCH_INSTR=N: instructions per
# request of each front nginx (one process, no master) under valgrind's
# callgrind, the status zone on and off, with the same JWT + quota + mask
# location, N keep-alive requests after N of warm-up, beside the same
# upstream and redis-server.  Exact and repeatable where wall-clock figures
# on a shared machine are not.  The dumps stay in $dir/cg.<side>.* for
# callgrind_annotate.
# Expects from status.sh: dir, port, token and cleanup.

n=$STATUS_BENCH_INSTR
command -v valgrind >/dev/null || { echo "ngsp: needs valgrind"; exit 1; }

declare -A vg instr
for side in on off; do
    valgrind --tool=callgrind --dump-instr=no --compress-strings=no \
        --callgrind-out-file="$dir/cg.$side" \
        nginx -p "$dir/$side" -c "$dir/$side/nginx.conf" \
        > "$dir/vg.$side.log" 2>&1 &
    vg[$side]=$!
done
# valgrind writes its last dump as it exits: wait for it
trap 'kill ${vg[on]} ${vg[off]} 2>/dev/null; wait ${vg[on]} ${vg[off]};
      cleanup' EXIT

echo "JWT (HS256) + quota + masking of tests/fixtures/citizen.json, $n"
echo "keep-alive requests a side, each front nginx one process under callgrind"
for side in off on; do
    for i in $(seq 240); do
        curl --noproxy '*' -sf -o /dev/null \
            -H "Authorization: Bearer $token" \
            "http://127.0.0.1:${port[$side]}/api/" && break
        sleep 0.5
    done
    for i in $(seq "$n"); do
        echo "url = \"http://127.0.0.1:${port[$side]}/api/\""
        echo "output = /dev/null"
    done > "$dir/urls.$side"
    curl --noproxy '*' -s -H "Authorization: Bearer $token" \
        -K "$dir/urls.$side"
    callgrind_control -z "${vg[$side]}" > /dev/null 2>&1
    codes=$(curl --noproxy '*' -s -H "Authorization: Bearer $token" \
                 -w "%{http_code}\n" -K "$dir/urls.$side" | sort -u \
            | tr '\n' ' ')
    callgrind_control -d "$side" "${vg[$side]}" > /dev/null 2>&1
    instr[$side]=$(grep -h '^summary:' "$dir"/cg."$side".* | tail -1 \
                   | cut -d' ' -f2)
    printf '  status zone %-4s %9d instructions/request (status %s)\n' \
           "$side" $((instr[$side] / n)) "$codes"
done
awk -v on="${instr[on]}" -v off="${instr[off]}" -v n="$n" 'BEGIN {
    printf "  the zone adds %.0f instructions/request: on/off %.4f\n",
           (on - off) / n, on / off }'
exit 0
