#!/usr/bin/env bash
# `validate --rpc` against `validate --history` on one chain of at least 10,000 calls: a
# one-validator CometBFT v0.38 chain running the token contract, fed mints and transfers
# through the RPC; then both validators replay it from genesis and report calls/s.
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
sed -i -e 's#^size = 5000#size = 20000#' "$work/chain/config/config.toml"
"$verigame" node --home "$work/node" --abci 127.0.0.7:26658 --module "$contract" >"$work/node.log" 2>&1 &
pids+=($!)
sleep 0.3
cometbft start --home "$work/chain" >"$work/cometbft.log" 2>&1 &
pids+=($!)
disown -a

# Feeds the calls asynchronously over one keep-alive connection, in batches the mempool
# holds, and waits until every one is committed.
python3 - "$calls" <<'PY'
import http.client, json, sys, time, urllib.parse
calls = int(sys.argv[1])
def get(conn, path):
    conn.request("GET", path)
    return json.loads(conn.getresponse().read())
conn = None
for _ in range(100):
    try:
        conn = http.client.HTTPConnection("127.0.0.7", 26657, timeout=30)
        if int(get(conn, "/status")["result"]["sync_info"]["latest_block_height"]) >= 1:
            break
    except OSError:
        time.sleep(0.2)
txs = [{"call": "mint", "args": [n, 1000]} for n in range(1, calls // 2 + 1)]
txs += [{"call": "transfer", "args": [n, n + 1, 1]} for n in range(1, calls - len(txs) + 1)]
for start in range(0, len(txs), 2000):
    for tx in txs[start:start + 2000]:
        quoted = urllib.parse.quote(json.dumps(json.dumps(tx)))
        answer = get(conn, f"/broadcast_tx_async?tx={quoted}")
        assert "error" not in answer, answer
    while int(get(conn, "/num_unconfirmed_txs")["result"]["total"]) > 0:
        time.sleep(0.2)
print(f"{len(txs)} calls committed, height {get(conn, '/status')['result']['sync_info']['latest_block_height']}", file=sys.stderr)
PY
sleep 1
"$verigame" validate --rpc http://127.0.0.7:26657 --module "$contract" --json >"$work/rpc.json"
"$verigame" validate --history "$work/node" --json >"$work/history.json"
python3 - "$work/rpc.json" "$work/history.json" <<'PY'
import json, sys
rpc, history = (json.load(open(p)) for p in sys.argv[1:3])
assert rpc["valid"] and history["valid"], (rpc, history)
for name, r in (("--rpc", rpc), ("--history", history)):
    print(f"validate {name:9}: {r['blocks']} blocks, {r['calls']} calls in {r['seconds']:.2f} s, {r['calls_per_second']:.0f} calls/s")
PY
