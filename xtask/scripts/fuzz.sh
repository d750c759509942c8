#!/usr/bin/env bash
# `cargo xtask fuzz [--time SECS] [--ci] [TARGET..]`: every libFuzzer target in fuzz/, one after
# another, each for SECS seconds (default 60) starting from its committed seed corpus.
#
#   --ci        30 s a target (6 targets: about 3 min of fuzzing plus the build).
#   --time N    N seconds a target.
#   TARGET..    only these targets (default: all of `cargo fuzz list`).
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). The stable toolchain builds the
# sanitizer flags cargo-fuzz passes when RUSTC_BOOTSTRAP=1 is set, which this script does.
# Seeds in fuzz/corpus/<target>/ stay untouched: libFuzzer writes what it finds into
# $TARGET/fuzz-corpus/<target>/. A crash leaves its input in fuzz/artifacts/<target>/ and makes
# the script exit non-zero after the remaining targets ran; inputs under fuzz/regressions/<target>/
# (past crashes) are replayed before each target fuzzes. Last line: a one-line summary.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SECS=60
TARGETS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --ci) SECS=30 ;;
    --time) SECS=$2; shift ;;
    --time=*) SECS=${1#--time=} ;;
    -h|--help) sed -n 2,13p "$0"; exit 0 ;;
    -*) echo "fuzz: unknown option $1" >&2; exit 2 ;;
    *) TARGETS+=("$1") ;;
  esac
  shift
done

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is missing; install it with: cargo install cargo-fuzz --locked" >&2
  echo "fuzz: FAIL (cargo-fuzz not installed)"
  exit 1
fi

export RUSTC_BOOTSTRAP=1
# The fuzz project is a workspace of its own: give it its own target dir.
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/fuzz}
WORK=$CARGO_TARGET_DIR/fuzz-corpus
cd fuzz
if [ ${#TARGETS[@]} -eq 0 ]; then
  mapfile -t TARGETS < <(cargo fuzz list)
fi

echo "fuzz: building ${#TARGETS[@]} targets (release, ASan, debug assertions)"
cargo fuzz build --release --debug-assertions

failed=()
for t in "${TARGETS[@]}"; do
  mkdir -p "$WORK/$t" "corpus/$t" "artifacts/$t"
  # Inputs that once crashed a target are replayed first, one run each: a fixed bug stays fixed.
  if compgen -G "regressions/$t/*" >/dev/null; then
    echo "==> replay regressions/$t"
    if ! cargo fuzz run --release --debug-assertions "$t" regressions/"$t"/* -- -runs=1 \
        >"$WORK/$t.replay.log" 2>&1; then
      grep -m1 -A2 panicked "$WORK/$t.replay.log" || tail -n 20 "$WORK/$t.replay.log"
      echo "<== $t: a regression input crashes again (log in $WORK/$t.replay.log)"
      failed+=("$t(regression)")
      continue
    fi
  fi
  echo "==> fuzz $t for ${SECS}s"
  # -rss_limit_mb bounds a target's memory; -timeout flags a single input running for >10 s
  # (a hang) as a failure; libFuzzer writes new inputs into the first corpus directory only.
  if cargo fuzz run --release --debug-assertions "$t" "$WORK/$t" "corpus/$t" -- \
      -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      >"$WORK/$t.log" 2>&1; then
    grep -E '^stat::(number_of_executed_units|new_units_added)' "$WORK/$t.log" | tr '\n' ' ' || true
    echo
    echo "<== $t: ok"
  else
    tail -n 40 "$WORK/$t.log"
    echo "<== $t: FAILED (input in fuzz/artifacts/$t/, log in $WORK/$t.log)"
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -eq 0 ]; then
  echo "fuzz: ok (${#TARGETS[@]} targets, ${SECS}s each, 0 crashes)"
else
  echo "fuzz: FAIL (${#failed[@]} of ${#TARGETS[@]} targets crashed: ${failed[*]})"
  exit 1
fi
