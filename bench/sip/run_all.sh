#!/bin/sh
# The measurement series behind docs/adr/0002-media-stack.md. Every run is bounded (see run_bench.py);
# the whole series takes about 12 minutes on the 2-core node. Results: bench/sip/results/*.json
set -eu
cd "$(dirname "$0")/../.."
OUT=bench/sip/results
mkdir -p "$OUT" /tmp/media-bench-src
SRC=/tmp/media-bench-src/speech.wav
if [ ! -f "$SRC" ]; then
  espeak-ng -w /tmp/media-bench-src/raw.wav "Welcome to Callvault bank. Please enter your account number \
followed by the hash key. Your call may be recorded for quality and training purposes."
  # 8 kHz, 16-bit mono, padded to whole 20 ms packets so SIPp's loop has no seam.
  n=$(soxi -s /tmp/media-bench-src/raw.wav); sox /tmp/media-bench-src/raw.wav -r 8000 -c 1 -b 16 "$SRC"
  n=$(soxi -s "$SRC"); pad=$(( (160 - n % 160) % 160 ))
  sox "$SRC" /tmp/media-bench-src/p.wav pad 0 "${pad}s" && mv /tmp/media-bench-src/p.wav "$SRC"
fi
B="uv run python bench/sip/run_bench.py"
$B refusal --calls 8 --max-calls 16 --hold 5 --source "$SRC" > "$OUT/pjsua2-refusal.json"
for i in 1 2 3; do
  $B pjsua2 --calls 40 --hold 25 --window 10 --source "$SRC" > "$OUT/pjsua2-40-$i.json"
  $B baresip --calls 40 --hold 25 --window 10 --max-calls 1000 --source "$SRC" > "$OUT/baresip-40-$i.json"
done
for i in 1 2; do
  $B pjsua2 --calls 100 --hold 25 --window 10 --source "$SRC" > "$OUT/pjsua2-100-$i.json"
  $B baresip --calls 100 --hold 25 --window 10 --max-calls 1000 --source "$SRC" > "$OUT/baresip-100-$i.json"
done
# Quality without collisions of baresip's per-second recording names: 1 call per second.
$B baresip --calls 10 --hold 15 --window 5 --rate 0.9 --max-calls 1000 --source "$SRC" > "$OUT/baresip-quality.json"
# Per-process ceiling of baresip 1.0.0 without the fd shim.
$B baresip --calls 260 --hold 20 --window 5 --rate 20 --max-calls 1000 --source "$SRC" > "$OUT/baresip-260.json"
echo done
