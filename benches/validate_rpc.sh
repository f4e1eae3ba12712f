#!/usr/bin/env bash
# `validate --rpc` against `validate --history` on one chain of at least 10,000 calls: a
# one-validator CometBFT v0.38 chain running the token contract, fed mints and transfers
# through the RPC (signed, by `cargo bench --bench flood`); then both validators replay it
# from genesis and report calls/s.
#
# Usage: benches/validate_rpc.sh [VERIGAME_BINARY] [CALLS]   (cometbft must be on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."

verigame=${1:-target/release/verigame}
calls=${2:-10000}
. tests/chain.sh
contract=tests/contracts/token.wat
start_scratch verigame-rpc-bench

cometbft init --home "$work/chain" >/dev/null 2>&1
configure_comet "$work/chain" 127.0.0.7 200ms
sed -i -e 's#^size = 5000#size = 60000#' "$work/chain/config/config.toml"
chain_id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chain_id"])' "$work/chain/config/genesis.json")
"$verigame" keygen --out "$work/admin.json" >/dev/null 2>&1
admin=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["public_key"])' "$work/admin.json")
# The genesis names the contract and its admin: the validators read both from the RPC.
python3 - "$work/chain/config/genesis.json" "$contract" "$admin" <<'PY'
import json, sys
path, contract, admin = sys.argv[1:4]
genesis = json.load(open(path))
genesis["app_state"] = {"module": "0x" + open(contract, "rb").read().hex(), "admin": admin}
json.dump(genesis, open(path, "w"), indent=2)
PY
"$verigame" node --home "$work/node" --abci 127.0.0.7:26658 --module "$contract" --chain-id "$chain_id" \
    --admin "$admin" >"$work/node.log" 2>&1 &
pids+=($!)
sleep 0.3
cometbft start --home "$work/chain" >"$work/cometbft.log" 2>&1 &
pids+=($!)
disown -a

# Signed mints (one per client) and transfers, all committed before the validators run.
for _ in $(seq 1 100); do
    curl -sf http://127.0.0.7:26657/status >/dev/null 2>&1 && break
    sleep 0.2
done
cargo bench -q -p cluster --bench flood -- http://127.0.0.7:26657 "$work/admin.json" "$calls" 8 >&2
sleep 1
"$verigame" validate --rpc http://127.0.0.7:26657 --json >"$work/rpc.json"
"$verigame" validate --history "$work/node" --json >"$work/history.json"
python3 - "$work/rpc.json" "$work/history.json" <<'PY'
import json, sys
rpc, history = (json.load(open(p)) for p in sys.argv[1:3])
assert rpc["valid"] and history["valid"], (rpc, history)
for name, r in (("--rpc", rpc), ("--history", history)):
    print(f"validate {name:9}: {r['blocks']} blocks, {r['calls']} calls in {r['seconds']:.2f} s, {r['calls_per_second']:.0f} calls/s")
PY
