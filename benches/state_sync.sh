#!/usr/bin/env bash
# A new node joining a chain of BLOCKS blocks: by block sync (every block run from genesis)
# against state sync (the validator's latest snapshot restored, then the blocks after it).
# A one-validator CometBFT v0.38 chain (timeout_commit 50ms, a snapshot every 100 blocks)
# runs the token contract, fed signed mints and transfers through the RPC (`cargo bench
# --bench flood`, CALLS of them at the start) while it grows; at
# BLOCKS, a fresh full node (verigame node with an empty home, and its CometBFT) joins by
# state sync and is timed until it reaches that height; then another fresh one by block
# sync. State sync goes first: the chain keeps growing, and the snapshot it restores should
# be the one at BLOCKS. Not run by CI; run it under `flock /tmp/cluster.lock` (its addresses, 127.0.0.8 and
# 127.0.0.9, are free in tests/cluster.sh but not across other benches).
#
# Usage: benches/state_sync.sh [VERIGAME_BINARY] [BLOCKS] [CALLS]   (cometbft must be on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."

verigame=${1:-target/release/verigame}
blocks=${2:-1000}
calls=${3:-4000}
. tests/chain.sh
contract=tests/contracts/token.wat
start_scratch verigame-sync-bench

height() { # height IP -> the latest block height of the CometBFT whose RPC is on IP, or 0
    curl -sf --max-time 5 "http://$1:26657/status" 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["sync_info"]["latest_block_height"])' 2>/dev/null || echo 0
}

start() { # start NAME IP [FLAGS...]: a verigame node in $work/vNAME and the CometBFT in $work/NAME
    local name=$1 ip=$2; shift 2
    "$verigame" node --home "$work/v$name" --abci "$ip:26658" --module "$contract" --chain-id "$chain_id" \
        --admin "$admin" "$@" >"$work/v$name.log" 2>&1 &
    pids+=($!)
    sleep 0.3
    cometbft start --home "$work/$name" >"$work/$name.log" 2>&1 &
    pids+=($!)
    disown -a
}

cometbft init --home "$work/chain" >/dev/null 2>&1
configure_comet "$work/chain" 127.0.0.8 50ms
chain_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chain_id"])' "$work/chain/config/genesis.json")
"$verigame" keygen --out "$work/admin.json" >/dev/null 2>&1
admin=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["public_key"])' "$work/admin.json")
start chain 127.0.0.8 --snapshot-interval 100
validator="$(cometbft show-node-id --home "$work/chain")@127.0.0.8:26656"

# Signed mints and transfers, then empty blocks until the chain has BLOCKS blocks.
for _ in $(seq 1 100); do [ "$(height 127.0.0.8)" -ge 1 ] && break; sleep 0.2; done
cargo bench -q -p cluster --bench flood -- http://127.0.0.8:26657 "$work/admin.json" "$calls" 8 >&2
while [ "$(height 127.0.0.8)" -lt "$blocks" ]; do sleep 1; done
target=$(height 127.0.0.8)

join() { # join NAME [STATESYNC]: a fresh full node on 127.0.0.9, timed until it reaches $target
    local name=$1
    cometbft init --home "$work/$name" >/dev/null 2>&1
    cp "$work/chain/config/genesis.json" "$work/$name/config/genesis.json"
    configure_comet "$work/$name" 127.0.0.9 50ms
    sed -i -e "s#^persistent_peers = .*#persistent_peers = \"$validator\"#" "$work/$name/config/config.toml"
    if [ "${2:-}" = statesync ]; then
        local trust trust_hash
        trust=$(height 127.0.0.8)
        trust_hash=$(curl -sf "http://127.0.0.8:26657/block?height=$trust" | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["block_id"]["hash"])')
        python3 - "$work/$name/config/config.toml" "$trust" "$trust_hash" <<'PY'
import re, sys
path, height, block_hash = sys.argv[1:4]
head, tail = open(path).read().split("[statesync]", 1)
for key, value in [("enable", "true"), ("rpc_servers", '"http://127.0.0.8:26657,http://127.0.0.8:26657"'),
                   ("trust_height", height), ("trust_hash", f'"{block_hash}"'),
                   ("discovery_time", '"5s"'), ("chunk_request_timeout", '"5s"')]:
    tail = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", tail, count=1)
open(path, "w").write(head + "[statesync]" + tail)
PY
    fi
    local started
    started=$(date +%s.%N)
    start "$name" 127.0.0.9
    until [ "$(height 127.0.0.9)" -ge "$target" ]; do sleep 0.2; done
    python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.1f}")' "$started" "$(date +%s.%N)"
    local n=${#pids[@]}
    kill -9 "${pids[$((n - 2))]}" "${pids[$((n - 1))]}"
    sleep 1
}

state_sync=$(join statesync statesync)
restored=$(sed -n 's/^state sync: restored block \([0-9]*\),.*/\1/p' "$work/vstatesync.log")
[ -n "$restored" ] || { echo "the state sync node restored no snapshot" >&2; exit 1; }
synced=$(grep -c '^block ' "$work/vstatesync.log")
snapshot=$(python3 - "$work/vstatesync/snapshots/$(printf '%020d' "$restored").meta" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print(f"{m['size']} bytes in {len(m['chunks'])} chunk(s) of {m['chunk_size']}")
PY
)
block_sync=$(join blocksync)
echo "target height $target, calls $(grep -o '[0-9]* txs' "$work/vchain.log" | awk '{n += $1} END {print n}') by the end"
echo "state sync: $state_sync s (restored block $restored: $snapshot; then ran $synced blocks; CometBFT's discovery_time is 5 s of it)"
echo "block sync: $block_sync s (ran blocks 1 to $target)"
