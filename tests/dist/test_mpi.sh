#!/usr/bin/env bash
# Training over MPI ranks on this machine (mpirun --oversubscribe over the loopback): the weights
# are bitwise those of one process for 1, 2 and 3 ranks (NHITS with dropout, a GRU), a resumed run
# on another number of ranks continues exactly, a rank that dies or hangs ends the job within a
# bounded time with a message naming it, and misuse is a clear error.
# Usage: test_mpi.sh path/to/ntneural   (skipped, with a message, only when mpirun is missing)
source "$(dirname "$0")/../cli/lib.sh" "$1"
root=$(cd "$(dirname "$0")/../.." && pwd)
sp="$root/data/sp500_2000_2020_daily.csv"
digest="$root/tests/dist/weights_digest.py"

if ! command -v mpirun > /dev/null; then
  echo "SKIPPED: mpirun is missing (scripts/setup.sh installs openmpi-bin)"
  exit 0
fi
if ! "$bin" info --json | grep -q '"mpi":true'; then
  echo "FAIL this ntneural was built without MPI although mpirun is installed"
  exit 1
fi
# As root (CI), in containers (no ptrace between ranks: no single-copy), no leak report from
# MPI's own allocations in a sanitizer build.
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
mpi=(mpirun --allow-run-as-root --oversubscribe --bind-to none)

same() {  # same FILE...: every artifact holds the weights of the first, bit for bit
  local first; first=$(python3 "$digest" "$1" | cut -d' ' -f1) || return 1
  shift
  for f in "$@"; do [ "$(python3 "$digest" "$f" | cut -d' ' -f1)" = "$first" ] || return 1; done
}

# ---- bitwise equal on 1, 2 and 3 ranks (and without mpirun) ---------------------------------
nhits0=(train --data "$sp" --target close --model nhits --input-size 30 --horizon 5 --mlp-units 64x64 --dropout 0.1
        --max-steps 30 --batch 48 --val-every 10 --threads 1 --quiet)
nhits=("${nhits0[@]}" --micro-batches 6)
gru=(train --data "$sp" --target close --model gru --input-size 20 --horizon 5 --max-steps 12 --batch 24
     --micro-batches 6 --val-every 6 --threads 1 --quiet)
for m in nhits gru; do
  declare -n args=$m
  check ${m}_plain "$bin" "${args[@]}" --out "$dir/$m.plain.ntn"
  for np in 1 2 3; do
    check ${m}_ranks_$np "${mpi[@]}" -np $np "$bin" "${args[@]}" --out "$dir/$m.np$np.ntn"
  done
  check ${m}_bitwise_equal_1_2_3_ranks same "$dir/$m.plain.ntn" "$dir/$m.np1.ntn" "$dir/$m.np2.ntn" "$dir/$m.np3.ntn"
  unset -n args
done
# Ranks on one machine exchange through shared memory; across machines (or NTN_DIST_SHM=0) by
# messages: the same bits both ways, and each way is the one taken.
msg=(env NTN_DIST_SHM=0 "${mpi[@]}" -x NTN_DIST_SHM)
for np in 2 3; do check messages_ranks_$np "${msg[@]}" -np $np "$bin" "${nhits[@]}" --out "$dir/nhits.msg$np.ntn"; done
check messages_bitwise_equal_2_3_ranks same "$dir/nhits.plain.ntn" "$dir/nhits.msg2.ntn" "$dir/nhits.msg3.ntn"
exchange_of() {  # the exchange a 2-rank bench train reports
  "$@" -np 2 "$bin" bench train --model nhits --hidden 32 --batch 16 --micro-batches 2 --threads 1 --reps 3 --json |
    tail -1 | python3 -c "import json, sys; print(json.load(sys.stdin)['exchange'])"
}
check exchange_shared_memory_on_one_machine test "$(exchange_of "${mpi[@]}")" = shared-memory
check exchange_messages_when_asked test "$(exchange_of "${msg[@]}")" = messages
# Shared memory lives in MPI's backing directory (tmpfs): when it lacks the space, the ranks say so
# and exchange messages, with the same bits (needs a tmpfs of our own: root, as in CI).
if mkdir -p "$dir/tinyshm" && mount -t tmpfs -o size=4m tmpfs "$dir/tinyshm" 2> /dev/null; then
  check shm_short_runs sh -c '"$0" "$@" 2> "'"$dir"'/tiny.log"' env OMPI_MCA_osc_sm_backing_directory="$dir/tinyshm" \
    "${mpi[@]}" -x OMPI_MCA_osc_sm_backing_directory -np 2 "$bin" "${nhits[@]}" --out "$dir/tiny.ntn"
  check shm_short_says_messages grep -q "the ranks exchange messages instead" "$dir/tiny.log"
  check shm_short_same_bits same "$dir/nhits.plain.ntn" "$dir/tiny.ntn"
  umount "$dir/tinyshm"
else
  echo "NOTE: no tmpfs can be mounted here (not root?): the short-shared-memory fallback is not run"
fi
# Over messages, bigger slabs travel in several buckets, sent while the backward still runs (NHITS
# reports each block's gradients as it finishes them; an ensemble shifts its members' reports):
# still the bits of one process, as through shared memory.
big=(train --data "$sp" --target close --model nhits --input-size 60 --horizon 5 --mlp-units 256x256 --max-steps 8
     --batch 48 --micro-batches 6 --val-every 4 --threads 1 --quiet)
check buckets_plain "$bin" "${big[@]}" --out "$dir/big.plain.ntn"
for np in 2 3; do check buckets_ranks_$np "${msg[@]}" -np $np "$bin" "${big[@]}" --out "$dir/big.np$np.ntn"; done
check buckets_bitwise_equal_2_3_ranks same "$dir/big.plain.ntn" "$dir/big.np2.ntn" "$dir/big.np3.ntn"
check buckets_slab_is_several_buckets python3 -c "
import json, struct, sys
f = open('$dir/big.plain.ntn', 'rb'); n = struct.unpack('<Q', f.read(8))[0]; h = json.loads(f.read(n))
sys.exit(0 if sum(v['data_offsets'][1] - v['data_offsets'][0] for k, v in h.items() if k != '__metadata__') / 4 > 3 * 2 * 16384 else 1)"
ens=(train --data "$sp" --target close --model nhits --input-size 10 --horizon 5 --mlp-units 32x32 --max-steps 10
     --batch 32 --micro-batches 2 --threads 1 --quiet --ensemble 2)
check ensemble_plain "$bin" "${ens[@]}" --out "$dir/ens.plain.ntn"
check ensemble_ranks_2 "${mpi[@]}" -np 2 "$bin" "${ens[@]}" --out "$dir/ens.np2.ntn"
check ensemble_bitwise_equal_2_ranks same "$dir/ens.plain.ntn" "$dir/ens.np2.ntn"
# With clipping every rank updates every parameter (the norm needs the whole gradient); without,
# each updates its slice (above): both paths give one process's bits.
check clip_plain "$bin" "${nhits[@]}" --clip 0.05 --out "$dir/clip.plain.ntn"
check clip_ranks_2 "${mpi[@]}" -np 2 "$bin" "${nhits[@]}" --clip 0.05 --out "$dir/clip.np2.ntn"
check clip_bitwise_equal_2_ranks same "$dir/clip.plain.ntn" "$dir/clip.np2.ntn"
if same "$dir/nhits.plain.ntn" "$dir/clip.plain.ntn"; then echo "FAIL clip_changes_weights"; fails=$((fails + 1))
else passes=$((passes + 1)); fi
# The comparison can fail: another seed gives other weights.
check seed_changes_weights "$bin" "${nhits[@]}" --seed 2 --out "$dir/seed2.ntn"
if same "$dir/nhits.plain.ntn" "$dir/seed2.ntn"; then echo "FAIL digest_sees_a_difference"; fails=$((fails + 1))
else passes=$((passes + 1)); fi
check artifact_records_ranks python3 -c "
import json, struct, sys
f = open('$dir/nhits.np3.ntn', 'rb'); n = struct.unpack('<Q', f.read(8))[0]; h = json.loads(f.read(n))
sys.exit(0 if json.loads(h['__metadata__']['training'])['ranks'] == 3 else 1)"
check only_rank0_prints test "$("${mpi[@]}" -np 3 "$bin" "${nhits[@]}" --json --out "$dir/p.ntn" | grep -c '"test"')" -eq 1

# ---- resume on another number of ranks continues exactly --------------------------------------
run=(train --data "$sp" --target close --model nhits --input-size 30 --horizon 5 --mlp-units 64x64 --batch 48
     --micro-batches 6 --schedule constant --val-every 10 --threads 1 --quiet)
check resume_first_half_2_ranks "${mpi[@]}" -np 2 "$bin" "${run[@]}" --max-steps 20 --checkpoint "$dir/ck" \
  --checkpoint-every 10 --out "$dir/half.ntn"
check resume_second_half_3_ranks "${mpi[@]}" -np 3 "$bin" "${run[@]}" --max-steps 40 --checkpoint "$dir/ck" \
  --checkpoint-every 10 --resume --out "$dir/resumed.ntn"
check resume_reference_1_process "$bin" "${run[@]}" --max-steps 40 --out "$dir/whole.ntn"
check resumed_equals_whole same "$dir/whole.ntn" "$dir/resumed.ntn"

# ---- one model per series over ranks: the same bits as one process, every series on rank 0 -------
ps=(train --data "$sp" --per-series --input-size 30 --horizon 5 --mlp-units 32x32 --max-steps 20 --batch 32 --threads 1 --quiet)
check per_series_1_process "$bin" "${ps[@]}" --out "$dir/ps1"
check per_series_3_ranks "${mpi[@]}" -np 3 "$bin" "${ps[@]}" --out "$dir/ps3"
for f in "$dir"/ps1/*.ntn; do
  check per_series_ranks_equal_$(basename "$f" .ntn) same "$f" "$dir/ps3/$(basename "$f")"
done
check per_series_ranks_recorded python3 -c "
import json, sys; d = json.load(open('$dir/ps3/summary.json'))
sys.exit(0 if d['ranks'] == 3 and [e['rank'] for e in d['per_series']] == [i % 3 for i in range(6)] else 1)"
# Ranks that do not all see --out (here a relative path from other working directories, as on
# machines without a shared file system) send their models to rank 0, which writes them all.
mkdir -p "$dir/wd0" "$dir/wd1"
abs_bin=$(realpath "$bin")
check per_series_unshared_out "${mpi[@]}" -np 1 --wdir "$dir/wd0" "$abs_bin" "${ps[@]}" --out psx : \
  -np 1 --wdir "$dir/wd1" "$abs_bin" "${ps[@]}" --out psx
for f in "$dir"/ps1/*.ntn; do
  check per_series_unshared_equal_$(basename "$f" .ntn) same "$f" "$dir/wd0/psx/$(basename "$f")"
done
check per_series_unshared_other_rank_writes_nothing test ! -e "$dir/wd1/psx"
check per_series_no_probe_left test -z "$(ls -A "$dir/wd0/psx" | grep -v -e '\.ntn$' -e '^summary\.json$')"

# ---- search candidates and backtest refits over ranks: one process's results, rank 0 reports ----
srch=(search --data "$sp" --columns close --model nhits --input-size 10 --horizon 5 --origins 20 --max-steps 10
      --batch 16 --threads 1 --grid 'mlp_units=[[16,16]]|[[32,32]]; lr=0.001|0.003' --json)
check search_1_process sh -c '"$0" "$@" > "'"$dir"'/s1.json"' "$bin" "${srch[@]}" --csv "$dir/s1.csv"
for np in 2 3; do
  check search_ranks_$np sh -c '"$0" "$@" > "'"$dir"'/s'$np'.json"' "${mpi[@]}" -np $np "$bin" "${srch[@]}" --csv "$dir/s$np.csv"
done
check search_ranks_same_ranking python3 -c "
import json, sys
r = [json.load(open('$dir/s%d.json' % i)) for i in (1, 2, 3)]
key = lambda j: [(c['rank'], c['model'], c['train'], c['mae'], c['smape']) for c in j['candidates']]
sys.exit(0 if len(r[0]['candidates']) == 4 and key(r[0]) == key(r[1]) == key(r[2]) else 1)"
check search_ranks_one_table test "$(cut -d, -f1-4 "$dir/s1.csv")" = "$(cut -d, -f1-4 "$dir/s3.csv")"
bt=(backtest --model "$dir/nhits.plain.ntn" --data "$sp" --columns close --origins 40 --refit-every 10 --threads 1 --json)
check backtest_refit_1_process sh -c '"$0" "$@" > "'"$dir"'/b1.json"' "$bin" "${bt[@]}"
for np in 2 3; do
  check backtest_refit_ranks_$np sh -c '"$0" "$@" > "'"$dir"'/b'$np'.json"' "${mpi[@]}" -np $np "$bin" "${bt[@]}"
done
check backtest_refit_ranks_same python3 -c "
import json, sys
r = [json.load(open('$dir/b%d.json' % i)) for i in (1, 2, 3)]
for j in r:
    for k in ('forecast_seconds', 'refit_seconds', 'total_seconds'): j.pop(k)
sys.exit(0 if r[0]['refits'] == 4 and len(r[0]['per_origin']) == 40 and r[0] == r[1] == r[2] else 1)"

# ---- misuse -----------------------------------------------------------------------------------
fails_with() {  # fails_with NAME FRAGMENT CMD...: a non-zero exit and the fragment in the output
  local name="$1" frag="$2"; shift 2
  if "$@" > "$dir/$name.log" 2>&1; then echo "FAIL $name: exit 0"; fails=$((fails + 1))
  elif grep -qF -- "$frag" "$dir/$name.log"; then passes=$((passes + 1))
  else echo "FAIL $name: $(head -c 800 "$dir/$name.log")"; fails=$((fails + 1)); fi
}
fails_with fewer_micro_batches_than_ranks "micro-batches (2) must be at least the ranks (3)" \
  "${mpi[@]}" -np 3 "$bin" "${nhits0[@]}" --micro-batches 2 --out "$dir/x.ntn"
check fewer_micro_batches_writes_nothing test ! -e "$dir/x.ntn"
fails_with backtest_without_refit_refuses_ranks "backtest runs over MPI ranks only with --refit-every" \
  "${mpi[@]}" -np 2 "$bin" backtest --model "$dir/nhits.plain.ntn" --data "$sp" --columns close --origins 40
fails_with other_commands_refuse_ranks "only train, bench train, search and backtest --refit-every run over MPI ranks" \
  "${mpi[@]}" -np 2 "$bin" predict --model "$dir/nhits.plain.ntn" --data "$sp"
fails_with exchange_env_checked "NTN_DIST_SHM is 'yes'" \
  env NTN_DIST_SHM=yes "${mpi[@]}" -x NTN_DIST_SHM -np 2 "$bin" "${nhits[@]}" --out "$dir/shm.ntn"
check exchange_env_writes_nothing test ! -e "$dir/shm.ntn"
expect_error dist_timeout_negative "--dist-timeout" "$bin" "${nhits[@]}" --dist-timeout -1 --out "$dir/y.ntn"
expect_error dist_timeout_huge "--dist-timeout" "$bin" "${nhits[@]}" --dist-timeout 1e30 --out "$dir/y.ntn"
expect_error dist_timeout_nan "--dist-timeout" "$bin" "${nhits[@]}" --dist-timeout nan --out "$dir/y.ntn"

# ---- a rank that dies, a rank that hangs: the job ends naming it --------------------------------
long=(train --data "$sp" --target close --model nhits --input-size 30 --horizon 5 --mlp-units 64x64 --max-steps 100000000
      --batch 48 --micro-batches 6 --val-every 0 --threads 1 --quiet)
rank_pid() {  # rank_pid MARKER RANK: the pid of that rank of the job whose --out is MARKER
  local p
  for p in $(pgrep -f -- "$1"); do
    tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && { echo $p; return; }
  done
}
fault() {  # fault NAME SIGNAL FRAGMENT: signal rank 1 mid-training; the job must end within 60 s
  local name="$1" sig="$2" frag="$3" out="$dir/$1.ntn" pid="" t
  # A checkpoint every step: once it exists, both ranks are past MPI's start-up (which has no
  # timeout of ours) and have exchanged gradients. A loaded machine (a sanitizer build beside
  # other tests) can take many seconds to get there.
  "${mpi[@]}" -np 2 "$bin" "${long[@]}" --dist-timeout 3 --checkpoint "$dir/$name.ck" --checkpoint-every 1 \
    --out "$out" > "$dir/$name.log" 2>&1 &
  local job=$!
  for t in $(seq 1200); do [ -e "$dir/$name.ck" ] && break; sleep 0.1; done
  pid=$(rank_pid "$out" 1)
  if [ -z "$pid" ]; then
    echo "FAIL $name: rank 1 never started training: $(head -c 800 "$dir/$name.log")"; fails=$((fails + 1))
    pkill -9 -f -- "$out"; kill -9 $job 2>/dev/null; wait $job 2>/dev/null
    return 0
  fi
  kill -$sig $pid
  for t in $(seq 600); do kill -0 $job 2>/dev/null || break; sleep 0.1; done
  if kill -0 $job 2>/dev/null; then
    echo "FAIL $name: the job still runs 60 s after rank 1 got SIG$sig"; fails=$((fails + 1))
    pkill -9 -f -- "$out"; kill -9 $job
  else
    wait $job; local rc=$?
    if [ $rc -ne 0 ] && grep -q -- "$frag" "$dir/$name.log" && [ ! -e "$out" ]; then passes=$((passes + 1))
    else echo "FAIL $name: rc=$rc, log: $(head -c 800 "$dir/$name.log")"; fails=$((fails + 1)); fi
  fi
  pkill -CONT -f -- "$out"; pkill -9 -f -- "$out"
  return 0
}
fault rank_dies KILL "rank 1"
fault rank_hangs STOP "no answer from rank 1"
mpi=("${msg[@]}")  # and over messages
fault rank_hangs_messages STOP "no answer from rank 1"

finish
