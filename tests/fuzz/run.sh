#!/usr/bin/env bash
# Builds and runs the libFuzzer targets under ASan + UBSan.
#   tests/fuzz/run.sh [SECONDS]   (run from the repo root; default 60 in total)
# The time is split evenly across the targets. Each target fuzzes a scratch
# copy of its checked-in corpus, so the corpus in git never grows. Exits
# non-zero if any target crashes, leaks, times out or fails to build; the
# input that did it is printed. FUZZ_CXXFLAGS adds compiler flags, e.g.
# -fno-sanitize=float-cast-overflow to look past a known finding.
set -euo pipefail
export LC_ALL=C

total=${1:-60}
[[ $total =~ ^[0-9]+$ && $total -ge 2 ]] || { echo "usage: $0 [SECONDS>=2]" >&2; exit 2; }
[[ -f include/keelan/protocol.h ]] || { echo "$0: run me from the repository root" >&2; exit 2; }

targets=(fuzz_request fuzz_ship_file)  # corpus of fuzz_X: tests/fuzz/corpus/X
sources=(src/protocol.cc src/requests.cc src/ship.cc src/resource_limits.cc src/exit_status.cc src/time_util.cc src/log_rotation.cc src/fs_trust.cc)
per=$((total / ${#targets[@]}))
out=build/fuzz

# Toolchain: Debian 12's clang 14 with its compiler-rt (libFuzzer, sanitizers).
need=()
if ! command -v clang++ >/dev/null; then
  need+=(clang libclang-rt-14-dev)
elif [[ ! -e $(clang++ -print-resource-dir)/lib/linux/libclang_rt.fuzzer-$(uname -m).a ]]; then
  need+=(libclang-rt-14-dev)
fi
[[ -f /usr/include/nlohmann/json.hpp ]] || need+=(nlohmann-json3-dev)
if ((${#need[@]})); then
  echo "installing ${need[*]}"
  sudo=; ((EUID == 0)) || sudo=sudo
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

rm -rf "$out"
mkdir -p "$out/obj" "$out/generated/keelan"
version=$(sed -n 's/^project(keelan VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
sed "s/@PROJECT_VERSION@/${version:-0.0.0}/" include/keelan/version.h.in >"$out/generated/keelan/version.h"

san=(-fsanitize=address,undefined ${FUZZ_CXXFLAGS:-})  # last, so FUZZ_CXXFLAGS can override
flags=(-std=c++20 -g -O1 -fno-omit-frame-pointer -fno-sanitize-recover=all -Wall -Wextra
       -I include -I "$out/generated")
echo "building in $out"
objs=()
for src in "${sources[@]}"; do
  obj=$out/obj/$(basename "${src%.cc}").o
  clang++ "${flags[@]}" -fsanitize=fuzzer-no-link "${san[@]}" -c "$src" -o "$obj" &
  objs+=("$obj")
done
for t in "${targets[@]}"; do
  clang++ "${flags[@]}" -fsanitize=fuzzer-no-link "${san[@]}" -c "tests/fuzz/$t.cc" -o "$out/obj/$t.o" &
done
for job in $(jobs -p); do wait "$job" || { echo "build failed" >&2; exit 1; }; done
for t in "${targets[@]}"; do
  clang++ "${flags[@]}" -fsanitize=fuzzer "${san[@]}" "$out/obj/$t.o" "${objs[@]}" -o "$out/$t"
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
summary=()
for t in "${targets[@]}"; do
  work=$out/$t.work
  mkdir -p "$work/corpus" "$work/artifacts"
  cp tests/fuzz/corpus/"${t#fuzz_}"/* "$work/corpus/"
  echo "== $t: ${per}s"
  start=$EPOCHREALTIME
  rc=0
  "$out/$t" "$work/corpus" -dict=tests/fuzz/json.dict -max_total_time="$per" -max_len=4096 \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    >"$work/log" 2>&1 || rc=$?
  secs=$(awk "BEGIN { printf \"%.1f\", $EPOCHREALTIME - $start }")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  summary+=("$t: ${execs:-?} execs in $secs s")
  if ((rc != 0)); then
    failed=1
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$work/log" | head -5 || true
    echo "$t FAILED (exit $rc); log: $work/log"
    for f in "$work"/artifacts/*; do [[ -e $f ]] && echo "  input: $f"; done
  fi
done

echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
