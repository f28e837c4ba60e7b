#!/bin/sh
# Start lienthongd on a config together with the bundled agency simulators
# (tax, land, portal), so the links in config/lienthong.yaml are live on a
# fresh machine. Used by `make run`. Ctrl-C stops everything.
#
#   scripts/run-local.sh [BUILD_DIR] [CONFIG]
#
# The simulators log every request to data/sim-<agency>.log; the tax
# simulator publishes its obligation notices back to the daemon's ingest
# socket as `tax-sim`, as the real tax authority answers days later.
set -eu
BUILD=${1:-build}
CONFIG=${2:-config/lienthong.yaml}
BIN="$BUILD/bin"
mkdir -p data

"$BIN/lienthongd" --check-config -c "$CONFIG"

pids=""
cleanup() {
    [ -n "$pids" ] && kill $pids 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT
# Ctrl-C or a kill of this script stops the daemon (cleanly, SIGTERM) and the simulators.
trap '[ -n "$pids" ] && kill -TERM $pids 2>/dev/null || true' INT TERM

# endpoints as in config/lienthong.yaml
"$BIN/lienthong-agency-sim" --agency tax --endpoint tcp://127.0.0.1:7461 \
    --ingest tcp://127.0.0.1:7450 --result-delay-ms 2000 --log data/sim-tax.log --quiet &
pids="$pids $!"
"$BIN/lienthong-agency-sim" --agency land --endpoint tcp://127.0.0.1:7462 --latency-ms 20 \
    --log data/sim-land.log --quiet &
pids="$pids $!"
"$BIN/lienthong-agency-sim" --agency portal --endpoint tcp://127.0.0.1:7463 --latency-ms 50 \
    --log data/sim-portal.log --quiet &
pids="$pids $!"
echo "run-local: simulators tax :7461, land :7462, portal :7463 (logs in data/sim-*.log)"
echo "run-local: try  $BIN/lienthongctl publish examples/land-transfer.yaml"
"$BIN/lienthongd" -c "$CONFIG" &
daemon=$!
pids="$pids $daemon"
status=0
wait "$daemon" || status=$?
# a signal interrupts wait; wait for the daemon's own exit status
while kill -0 "$daemon" 2>/dev/null; do
    status=0
    wait "$daemon" || status=$?
done
exit "$status"
