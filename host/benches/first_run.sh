#!/usr/bin/env bash
# How long a newcomer waits: from a fresh clone with an empty target directory
# to the first applied migration, running the README's first command
# (`cargo run -p wasmig -- up` on the sample project).
#
# Crates are downloaded before the clock starts (the network is not what this
# measures). Each output line is stamped with the seconds since the start, so
# the report shows where the time went: the host build, the guest builds and
# the first applied migration.
#
#   bash host/benches/first_run.sh            # clones HEAD of this repository
#   bash host/benches/first_run.sh --keep     # keeps the clone and prints where
set -euo pipefail

repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
keep=false
[ "${1:-}" = "--keep" ] && keep=true

work=$(mktemp -d)
$keep || trap 'rm -rf "$work"' EXIT
git clone -q "$repo" "$work/wasmig"
cd "$work/wasmig"
export CARGO_TARGET_DIR="$work/wasmig/target"
rustup target add wasm32-wasip2 >/dev/null 2>&1
cargo fetch -q
cargo fetch -q --manifest-path migrations/Cargo.toml --target wasm32-wasip2

log="$work/first-run.log"
start=$(date +%s.%N)
{ cargo run -p wasmig -- up 2>&1; echo "exit status $?"; } | while IFS= read -r line; do
  now=$(date +%s.%N)
  printf '%8.1f  %s\n' "$(echo "$now - $start" | bc)" "$line"
done >"$log"

stamp() { grep -m1 -E "$1" "$log" | awk '{print $1}'; }
host=$(stamp 'Finished `dev` profile')
first=$(stamp '  ok [0-9]+ ')
total=$(tail -n1 "$log" | awk '{print $1}')
tail -n 12 "$log"
echo
echo "commit:               $(git rev-parse --short HEAD)"
echo "machine:              $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "host built after:     ${host:-?} s"
echo "first migration at:   ${first:-?} s"
echo "command finished at:  ${total:-?} s"
if $keep; then echo "clone kept in $work/wasmig"; fi
grep -q 'exit status 0' "$log"
