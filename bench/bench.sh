#!/usr/bin/env bash
# make bench: afxdp, the same coredns on the kernel path, and Knot DNS in XDP
# mode, side by side in one run on one testbed:
#
#   client (CPU 0: kxdpgun, dnsload) --veth-- server (CPU 1) --veth-- upstream (CPU 0)
#
# For each system and workload: replies/s at saturation (a kxdpgun ramp),
# then, at 50 % of the kernel path's saturation, CPU µs per answered query on
# the server core (process, softirq and NAPI thread: everything on CPU 1) and
# latency percentiles (dnsload). Every load is bounded in time; the whole run
# takes a few minutes. Results: $OUT/ (results.tsv, summary.md, *.png) and
# BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-results}
STEP=${STEP:-2}        # seconds per ramp step
FIXED=${FIXED:-5}      # seconds of the fixed-rate run
WORKLOADS=${WORKLOADS:-"hit4 hit6 miss4 miss6"}
SYSTEMS=${SYSTEMS:-"stock afxdp knot reflector"}
P=afxdp-bench
CLI=$P-cli SRV=$P-srv UPS=$P-ups
WORK=$(mktemp -d /tmp/afxdp-bench.XXXXXX)
PIDS=()

[ "$(id -u)" = 0 ] || { echo "make bench needs root (namespaces, XDP)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "make bench needs 2 CPUs: server on CPU 1, load on CPU 0" >&2; exit 1; }

need=""
for t in kxdpgun:knot-dnsutils knotd:knot gnuplot:gnuplot-nox nft:nftables ethtool:ethtool dig:bind9-dnsutils; do
	command -v "${t%%:*}" >/dev/null || need="$need ${t##*:}"
done
if [ -n "$need" ]; then
	echo "== installing:$need"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
fi

stop_all() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	PIDS=()
}
cleanup() {
	set +e
	stop_all
	[ -n "${PIDS_KEEP:-}" ] && kill "$PIDS_KEEP" 2>/dev/null
	[ -n "${UPSTREAM:-}" ] && kill "$UPSTREAM" 2>/dev/null
	testnet_down
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
nsx() { ip netns exec "$@"; }
. run/testnet.sh

echo "== building"
go build -o coredns ./build
go build -o "$WORK/dnsload" ./bench/dnsload
go build -o "$WORK/reflector" ./bench/reflector
mkdir -p "$OUT"
: >"$OUT/results.tsv"

echo "== testbed"
# One queue: the server is one core.
testnet_up 1
# veth does a frame's receive work in the sender's context unless NAPI is
# threaded: then the server's receive work runs on the server's core, as a
# NIC interrupt would.
nsx $CLI sh -c 'echo 1 > /sys/class/net/veth-c/threaded'
nsx $SRV sh -c 'echo 1 > /sys/class/net/veth-s/threaded'
# kxdpgun takes the server's MAC from the neighbour table.
mac=$(nsx $SRV cat /sys/class/net/veth-s/address)
nsx $CLI ip neigh replace 198.18.0.1 lladdr "$mac" dev veth-c nud permanent
nsx $CLI ip neigh replace fd00::1 lladdr "$mac" dev veth-c nud permanent

# knotd pins its XDP threads itself (to the CPU of the queue's number):
# move every thread of the server back to CPU 1.
pin_napi() {
	for t in $(pgrep '^napi/veth-s' || true); do taskset -pc 1 "$t" >/dev/null; done
	for t in $(pgrep '^napi/veth-c' || true); do taskset -pc 0 "$t" >/dev/null; done
	for p in $(pgrep -x knotd || true); do taskset -apc 1 "$p" >/dev/null 2>&1 || true; done
}

# kxdpgun and the XDP programs of the systems may bring new NAPI threads:
# keep pinning them while the bench runs.
(while :; do pin_napi; sleep 0.5; done) &
PIDS_KEEP=$!

ZONE=$PWD/run/example.org.zone
cat >"$WORK/upstream.Corefile" <<EOF
example.org:53 {
    bind 198.18.1.2
    file $ZONE
}
EOF
ip netns exec $UPS taskset -c 0 ./coredns -conf "$WORK/upstream.Corefile" >"$WORK/upstream.log" 2>&1 &
UPSTREAM=$!

for i in $(seq 0 999); do echo "h$i.example.org A"; done >"$WORK/hits.q"
# Unique names the upstream answers (a wildcard); a new set for every run.
misses() { awk -v p="$1" -v n="$2" 'BEGIN { for (i = 0; i < n; i++) printf "%s%d.miss.example.org A\n", p, i }' >"$WORK/miss.q"; }

start_system() {
	local sys=$1
	case $sys in
	stock | afxdp)
		local line=""
		[ "$sys" = afxdp ] && line="afxdp veth-s"
		cat >"$WORK/$sys.Corefile" <<EOF
.:53 {
    $line
    cache 3600 {
        success 200000
    }
    forward . 198.18.1.2
}
EOF
		GOMAXPROCS=1 ip netns exec $SRV taskset -c 1 ./coredns -conf "$WORK/$sys.Corefile" >"$WORK/$sys.log" 2>&1 &
		PIDS+=($!)
		;;
	reflector)
		GOMAXPROCS=1 ip netns exec $SRV taskset -c 1 "$WORK/reflector" -i veth-s >"$WORK/reflector.log" 2>&1 &
		PIDS+=($!)
		;;
	knot)
		mkdir -p "$WORK/knot"
		cat >"$WORK/knot.conf" <<EOF
server:
    rundir: "$WORK/knot"
    user: root:root
    listen: [ 198.18.0.1@53, fd00::1@53 ]
    background-workers: 1
xdp:
    listen: veth-s
    udp: on
database:
    storage: "$WORK/knot"
zone:
  - domain: example.org
    file: "$ZONE"
log:
  - target: stderr
    any: warning
EOF
		ip netns exec $SRV taskset -c 1 knotd -c "$WORK/knot.conf" >"$WORK/knot.log" 2>&1 &
		PIDS+=($!)
		;;
	esac
	SERVER=${PIDS[-1]}
	for _ in $(seq 50); do
		nsx $CLI dig +time=1 +tries=1 +short @198.18.0.1 www.example.org A >/dev/null 2>&1 && break
		sleep 0.2
	done
	pin_napi
}

# kxdp RATE DST FILE SECONDS: replies/s kxdpgun got back. Its AF_XDP
# socket cannot bind the queue again for a moment after the last run
# (EBUSY): retry a few times.
kxdp() {
	local out try
	for try in 1 2 3 4 5 6; do
		out=$(nsx $CLI kxdpgun -t "$4" -Q "$1" -F 0 -i "$3" -I veth-c "$2" 2>&1 || true)
		if grep -q 'total replies:' <<<"$out"; then
			awk '/total replies:/ { gsub(/[()]/, "", $4); print $4 }' <<<"$out"
			return
		fi
		sleep 0.5
	done
	echo "kxdpgun failed: $out" >&2
	echo 0
}

dst_of() { case $1 in *4) echo 198.18.0.1 ;; *6) echo fd00::1 ;; esac; }

# ramp SYS WORKLOAD: raise the offered rate by half while at least 90 % is
# answered; after the first rate that falls short, bisect between it and
# the last good one (three more steps). The best replies/s seen is the
# saturation.
ramp() {
	local sys=$1 wl=$2 dst best=0 rate=50000 got step=0 file good=0 bad=0 left=3
	[ "${wl#miss}" != "$wl" ] && rate=10000
	dst=$(dst_of "$wl")
	while [ $rate -le 1500000 ] && [ $left -gt 0 ]; do
		file=$WORK/hits.q
		if [ "${wl#miss}" != "$wl" ]; then misses "r$sys$wl$step." $((rate * STEP + 1000)); file=$WORK/miss.q; fi
		got=$(kxdp $rate "$dst" "$file" "$STEP")
		echo "   $sys $wl offered $rate -> $got replies/s" >&2
		[ "$got" -gt "$best" ] && best=$got
		step=$((step + 1))
		if [ $((got * 10)) -ge $((rate * 9)) ]; then good=$rate; else bad=$rate; fi
		if [ $bad -eq 0 ]; then
			rate=$((rate * 3 / 2))
		else
			left=$((left - 1))
			rate=$(((good + bad) / 2))
		fi
	done
	echo "$best"
}

# The server core's work: run time (ns, from schedstat, exact where the
# tick-sampled /proc/stat is not) of every thread of the server process and
# of the server interface's NAPI thread, which does the receive work.
SERVER=""
server_ns() {
	local f s=0
	for f in /proc/$SERVER/task/*/schedstat $(for t in $(pgrep '^napi/veth-s'); do echo "/proc/$t/schedstat"; done); do
		s=$((s + $(cut -d' ' -f1 "$f" 2>/dev/null || echo 0)))
	done
	echo $s
}

# fixed SYS WORKLOAD RATE: dnsload at RATE, with the server core's busy time.
fixed() {
	local sys=$1 wl=$2 rate=$3 file=$WORK/hits.q b a
	if [ "${wl#miss}" != "$wl" ]; then misses "f$sys$wl." $((rate * FIXED + 1000)); file=$WORK/miss.q; fi
	local dst
	dst=$(dst_of "$wl")
	[ "${dst#*:}" != "$dst" ] && dst="[$dst]"
	b=$(server_ns)
	nsx $CLI taskset -c 0 "$WORK/dnsload" -s "$dst:53" -r "$rate" -d "${FIXED}s" -f "$file" >"$WORK/fixed.json"
	a=$(server_ns)
	local ans
	ans=$(sed 's/.*"answered":\([0-9]*\).*/\1/' "$WORK/fixed.json")
	awk -v ns=$((a - b)) -v n="$ans" 'BEGIN { printf "%.2f", (n > 0 ? ns / 1000 / n : 0) }'
}

declare -A SAT
for sys in $SYSTEMS; do
	echo "== $sys"
	start_system "$sys"
	for wl in $WORKLOADS; do
		# Knot is authoritative and the reflector answers everything at once:
		# neither has misses.
		if [ "$sys" = knot ] || [ "$sys" = reflector ]; then [ "${wl#miss}" != "$wl" ] && continue; fi
		if [ "${wl#hit}" != "$wl" ]; then   # warm the cache
			kxdp 20000 "$(dst_of "$wl")" "$WORK/hits.q" 1 >/dev/null
		fi
		sat=$(ramp "$sys" "$wl")
		SAT[$sys.$wl]=$sat
		base=${SAT[stock.$wl]:-$sat}
		rate=$((base / 2))
		cpu=$(fixed "$sys" "$wl" "$rate")
		cp "$WORK/fixed.json" "$OUT/latency-$sys-$wl.json"
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$sys" "$wl" "$sat" "$rate" "$cpu" "$(tr -d '\n' <"$WORK/fixed.json")" >>"$OUT/results.tsv"
		echo "   $sys $wl: saturation $sat/s; at $rate/s: $cpu µs CPU per answer"
	done
	stop_all
	nsx $SRV ip link set veth-s xdp off 2>/dev/null || true
	nsx $CLI ip link set veth-c xdp off 2>/dev/null || true # kxdpgun leaves its program
done
kill $UPSTREAM 2>/dev/null || true

echo "== report"
go run ./bench/report -in "$OUT/results.tsv" -out "$OUT" -md BENCHMARKS.md -cmd "make bench"
(cd "$OUT" && gnuplot plots.gp)
cat "$OUT/summary.md"
