# Sourced by bench/quota.sh when QUOTA_BENCH_CG is set: redis-server's
# instructions per decision under valgrind's callgrind, for the script
# alone and its floors, policy 20r/s 1000r/m 50000r/d.  Each script runs
# on a fresh redis-server twice, 500 and then 2500 EVALSHA over 200
# agencies (so every decision admits and writes, and the 2000 counted
# ones all find their agency's state); the difference of the two totals
# over 2000 is one decision, Redis's start and the warm-up cancelled.
# Expects from quota.sh: dir, py, rows, three and common.bash's helpers.

command -v valgrind >/dev/null || { echo "ngsp: needs valgrind"; exit 1; }

cg_total() {    # cg_total FILE N: callgrind's total for N decisions
    local cport vp out=$dir/cg.out.$RANDOM
    cport=$(bench_free_port)
    valgrind --tool=callgrind --callgrind-out-file="$out" \
        redis-server --port "$cport" --bind 127.0.0.1 --save "" \
        --appendonly no >/dev/null 2>&1 &
    vp=$!
    for _ in $(seq 100); do
        redis-cli -p "$cport" ping >/dev/null 2>&1 && break
        sleep 0.2
    done
    $py "$(dirname "$0")/quota_script.py" "$cport" "$1" "$three" calls "$2" \
        200
    redis-cli -p "$cport" shutdown nosave >/dev/null 2>&1 || true
    wait "$vp" || true
    awk '/^(summary|totals):/ { print $2; exit }' "$out"
    rm -f "$out"
}

declare -A cg
echo
echo "redis-server instructions per decision under callgrind," \
     "$three (500 and 2500 EVALSHA over 200 agencies):"
for row in "${rows[@]}"; do
    IFS='|' read -r key file windows name <<< "$row"
    [ "$windows" = "$three" ] || continue
    a=$(cg_total "$file" 500)
    b=$(cg_total "$file" 2500)
    cg[$key]=$(( (b - a) / 2000 ))
done
for row in "${rows[@]}"; do
    IFS='|' read -r key _ windows name <<< "$row"
    [ "$windows" = "$three" ] || continue
    printf "  %-56s %9d %6.2f x v7\n" "$name" "${cg[$key]}" \
        "$(echo "${cg[$key]} ${cg[v7_3]}" | awk '{ print $1 / $2 }')"
done
