#!/usr/bin/env bash
# `cargo xtask soak [--ci] [SCENARIO..]`: tulip's soak and scale runs (soak/, package tulip-soak),
# loopback only, bounded in time.
#
#   (default)   full scale: 10,000 keep-alive connections for 60 s, 1,000 slowloris clients,
#               shutdown under 1,000 connections, 1,000 WebSocket clients for 30 s, 1M tasks
#               and timers beside tokio. About 3 minutes plus the build.
#   --ci        1/10 scale, about 40 s plus the build.
#   SCENARIO..  keepalive, slowloris, shutdown, websocket, scale (default: all).
#
# Server and load share one process, so 10,000 connections need 20,000+ descriptors: the fd
# limit is raised here, in the command itself. Prints one report per scenario and a last
# summary line (`soak: ok ...` or `soak: FAIL ...`); exits non-zero on any failed check.
set -euo pipefail
cd "$(dirname "$0")/../.."
SCALE=1
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --ci) SCALE=0.1 ;;
    --scale) SCALE=$2; shift ;;
    -h|--help) sed -n 2,13p "$0"; exit 0 ;;
    *) ARGS+=("$1") ;;
  esac
  shift
done

# As high as allowed: 65,536 if the hard limit permits, else the hard limit.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "soak: fd limit $(ulimit -n), scale $SCALE"

cargo build -q --release -p tulip-soak
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
exec "$TARGET/release/tulip-soak" --scale "$SCALE" "${ARGS[@]}"
