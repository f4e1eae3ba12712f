#!/usr/bin/env bash
# Signed transfers per second end to end through a 4-validator CometBFT v0.38 localnet
# (issue 16): four verigame nodes running the token contract, its admin's key in the
# genesis; `cargo bench -p cluster --bench flood` mints to CLIENTS fresh keys, then sends
# CALLS transfers signed beforehand from them at once, one client thread per key spread
# over the four validators' RPCs, and times them until every one is committed.
#
# With PROBES, one more client then measures CheckTx's latency through the RPC while the
# backlog waits in the mempools (sized to hold it all: 60,000 transactions). BLOCK_GAS (in
# the environment) sets the chain's block gas limit: a small one (each transfer reserves
# 10,000) keeps the backlog pending while the probes run.
#
# Usage: benches/localnet_tps.sh [VERIGAME_BINARY] [CALLS] [CLIENTS] [PROBES]   (cometbft on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."

verigame=${1:-target/release/verigame}
calls=${2:-20000}
clients=${3:-8}
probes=${4:-0}
. tests/chain.sh
contract=tests/contracts/token.wat
start_scratch verigame-tps-bench

cometbft testnet --v 4 --o "$work/net" --starting-ip-address 127.0.0.21 >/dev/null
chain_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chain_id"])' "$work/net/node0/config/genesis.json")
"$verigame" keygen --out "$work/admin.json" >/dev/null 2>&1
admin=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["public_key"])' "$work/admin.json")
rpcs=()
for i in 0 1 2 3; do
    home="$work/net/node$i"
    ip="127.0.0.$((21 + i))"
    python3 - "$home/config/genesis.json" "$contract" "$admin" "${BLOCK_GAS:-100000000}" <<'PY'
import json, sys
path, contract, admin, block_gas = sys.argv[1:5]
genesis = json.load(open(path))
genesis["app_state"] = {"module": "0x" + open(contract, "rb").read().hex(), "admin": admin,
                        "block_gas_limit": int(block_gas)}
json.dump(genesis, open(path, "w"), indent=2)
PY
    configure_comet "$home" "$ip" 300ms
    sed -i -e 's#^size = 5000#size = 60000#' -e 's#^max_txs_bytes = .*#max_txs_bytes = 1073741824#' "$home/config/config.toml"
    "$verigame" node --home "$work/v$i" --abci "$ip:26658" --module "$contract" --chain-id "$chain_id" \
        --admin "$admin" --block-gas-limit "${BLOCK_GAS:-100000000}" >"$work/v$i.log" 2>&1 &
    pids+=($!)
    sleep 0.3
    cometbft start --home "$home" >"$work/cometbft$i.log" 2>&1 &
    pids+=($!)
    rpcs+=("http://$ip:26657")
done
disown -a
for _ in $(seq 1 100); do
    height=$(curl -sf "${rpcs[0]}/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["sync_info"]["latest_block_height"])' 2>/dev/null || echo 0)
    [ "$height" -ge 2 ] && break
    sleep 0.3
done
rpc_list=$(IFS=,; echo "${rpcs[*]}")
cargo bench -q -p cluster --bench flood -- "$rpc_list" "$work/admin.json" "$calls" "$clients" "$probes" | tee "$work/flood.json"
echo "blocks (transactions, milliseconds) on validator 1:"
grep -o '^block [0-9]*: [0-9]* txs.* [0-9]* ms$' "$work/v0.log" | awk '$3 > 0 {print "  " $0}' | tail -n 12
