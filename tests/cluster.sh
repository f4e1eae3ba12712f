#!/usr/bin/env bash
# The cluster on real CometBFT v0.38: four validators on 127.0.0.1..4, each with its own
# `verigame node`, agree on app hashes while transactions go through CometBFT's RPC; a
# validator killed with -9 restarts and catches up; `verigame validate --rpc` checks the chain;
# a new full node joins by state sync from the validators' snapshots and agrees with them;
# a full node started with a fault computes a wrong app hash, and `verigame validate
# --challenge` plays the game against it over TCP; then a one-validator chain whose validator
# computes wrong is caught through its RPC alone; a long block does not hold up queries.
#
# Usage: tests/cluster.sh [VERIGAME_BINARY]   (cometbft must be on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."

verigame=${1:-target/release/verigame}
. tests/chain.sh
contract=tests/contracts/token.wat
start_scratch verigame-cluster

fail() {
    echo "cluster test FAILED: $*" >&2
    for f in "$work"/*.log; do echo "== $f (tail)"; tail -n 15 "$f"; done >&2
    keep=1
    exit 1
}

rpc() { # rpc NODE PATH -> the JSON answer of node NODE's CometBFT RPC
    curl -sf --max-time 20 "http://127.0.0.$1:26657/$2"
}

height() { # height NODE -> its latest block height, or 0
    rpc "$1" status 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["sync_info"]["latest_block_height"])' 2>/dev/null || echo 0
}

wait_height() { # wait_height NODE HEIGHT
    for _ in $(seq 1 120); do
        if [ "$(height "$1")" -ge "$2" ]; then return 0; fi
        sleep 0.5
    done
    fail "node $1 did not reach height $2"
}

app_hash_at() { # app_hash_at NODE HEIGHT -> the app hash the verigame node reports for HEIGHT
    local data
    data=$(printf '%s' "$2" | od -An -tx1 | tr -d ' \n')
    rpc "$1" "abci_query?path=%22/state%22&data=0x$data" |
        python3 -c 'import base64,json,sys; print(json.loads(base64.b64decode(json.load(sys.stdin)["result"]["response"]["value"]))["app_hash"])'
}

start_node() { # start_node INDEX [FLAGS...]: a verigame node and its CometBFT
    local i=$1; shift
    "$verigame" node --home "$work/vnode$i" --abci "127.0.0.$i:26658" "$@" >>"$work/vnode$i.log" 2>&1 &
    pids+=($!)
    sleep 0.3
    cometbft start --home "$work/net/node$((i - 1))" >>"$work/cometbft$i.log" 2>&1 &
    pids+=($!)
    # Killed on purpose later: no job-control notices.
    disown -a
}

# Validators 1 to 4 (net/node0..3), the faulty full node 5 (net/node4) and the full node 7
# that joins by state sync (net/node6; 127.0.0.6 is the solo chain's, later).
cometbft testnet --v 4 --n 2 --o "$work/net" --starting-ip-address 127.0.0.1 >/dev/null
mv "$work/net/node5" "$work/net/node6"

with_contract() { # with_contract GENESIS: the genesis names the contract its nodes run
    python3 - "$1" "$contract" <<'EOF'
import json, sys
path, contract = sys.argv[1:3]
genesis = json.load(open(path))
genesis["app_state"] = {"module": "0x" + open(contract, "rb").read().hex()}
json.dump(genesis, open(path, "w"), indent=2)
EOF
}
for i in 0 1 2 3 4 6; do with_contract "$work/net/node$i/config/genesis.json"; done
for i in 1 2 3 4 5 7; do
    configure_comet "$work/net/node$((i - 1))" "127.0.0.$i" 300ms
    sed -i -e "s#@127.0.0.6:26656#@127.0.0.7:26656#g" "$work/net/node$((i - 1))/config/config.toml"
done

for i in 1 2 3 4; do
    start_node "$i" --module "$contract" --snapshot-interval 5
done
for i in 1 2 3 4; do wait_height "$i" 2; done
echo "four validators running"

# Mints to accounts 1 to 6, then transfers between them (each within its balance).
for n in $(seq 1 12); do
    node=$(( (n - 1) % 4 + 1 ))
    tx=$(python3 -c '
import json, sys, urllib.parse
n = int(sys.argv[1])
call = {"call": "mint", "args": [n, 1000 * n]} if n <= 6 else {"call": "transfer", "args": [n - 6, n - 5, 10]}
print(urllib.parse.quote(json.dumps(json.dumps(call))))' "$n")
    answer=$(rpc "$node" "broadcast_tx_commit?tx=$tx") || fail "broadcast_tx_commit to node $node"
    code=$(printf '%s' "$answer" | python3 -c 'import json,sys; r=json.load(sys.stdin)["result"]; print(r["check_tx"]["code"], r["tx_result"]["code"])')
    [ "$code" = "0 0" ] || fail "transaction $n: codes $code: $answer"
done
# A malformed transaction is refused by CheckTx with a reason.
answer=$(rpc 1 "broadcast_tx_sync?tx=%22not%20json%22")
printf '%s' "$answer" | grep -q 'not JSON' || fail "CheckTx accepted a malformed transaction: $answer"
# An overdrawn transfer is committed as failed, and changes nothing.
answer=$(rpc 1 "broadcast_tx_commit?tx=$(python3 -c 'import json,urllib.parse; print(urllib.parse.quote(json.dumps(json.dumps({"call": "transfer", "args": [1, 2, 1000000]}))))')")
printf '%s' "$answer" | python3 -c 'import json,sys; r=json.load(sys.stdin)["result"]; assert r["tx_result"]["code"] == 1, r' ||
    fail "an overdrawn transfer was not refused: $answer"
# The balance of account 2 as the contract's storage holds it: 2000 + 10 - 10.
key=$(printf 'bal:\x02\x00\x00\x00' | od -An -tx1 | tr -d ' \n')
value=$(rpc 3 "abci_query?path=%22/storage%22&data=0x$key" |
    python3 -c 'import base64,json,sys; print(json.loads(base64.b64decode(json.load(sys.stdin)["result"]["response"]["value"]))["value"])')
[ "$value" = "0xd007000000000000" ] || fail "account 2's stored balance is $value, not 2000"
# As of block 1, before any mint, the account holds nothing.
answer=$(rpc 3 "abci_query?path=%22/storage%22&data=0x$key&height=1")
printf '%s' "$answer" | python3 -c '
import base64, json, sys
r = json.load(sys.stdin)["result"]["response"]
assert r["height"] == "1" and json.loads(base64.b64decode(r["value"]))["value"] is None, r' ||
    fail "a storage query at height 1: $answer"
# Proven answers, checked against the app hash in the next header: storage now and as of
# block 1, the first mint's outcome, a read-only call and the state.
ask() { "$verigame" ask --rpc http://127.0.0.3:26657 --prove "$@"; }
ask /storage --hex "0x$key" >"$work/ask.out" 2>&1 && grep -q '"value":"0xd007000000000000"' "$work/ask.out" &&
    grep -q '^proven at height' "$work/ask.out" || fail "a proven storage query: $(cat "$work/ask.out")"
ask /storage --hex "0x$key" --height 1 >"$work/ask.out" 2>&1 && grep -q '"value":null' "$work/ask.out" &&
    grep -q '^proven at height 1 ' "$work/ask.out" || fail "a proven storage query at height 1: $(cat "$work/ask.out")"
mint=$(python3 -c 'import hashlib,json; print(hashlib.sha256(json.dumps({"call": "mint", "args": [1, 1000]}).encode()).hexdigest())')
ask /tx "$mint" >"$work/ask.out" 2>&1 && grep -q '"status":"returned"' "$work/ask.out" &&
    grep -q '^proven at height' "$work/ask.out" || fail "a proven transaction query: $(cat "$work/ask.out")"
ask /call '{"call": "balance", "args": [2]}' >"$work/ask.out" 2>&1 && grep -q '"slot":"2000"' "$work/ask.out" &&
    grep -q '^proven at height' "$work/ask.out" || fail "a proven read-only call: $(cat "$work/ask.out")"
ask /state >"$work/ask.out" 2>&1 && grep -q '^proven at height' "$work/ask.out" || fail "a proven state query: $(cat "$work/ask.out")"
echo "13 transactions committed, storage queried now and as of block 1, answers proven against headers"

# Kill a validator's node and its CometBFT at once, restart both: nothing committed is lost.
target=$(height 2)
kill -9 "${pids[2]}" "${pids[3]}"
sleep 0.5
# The same command as the first start reopens the history.
start_node 2 --module "$contract" --snapshot-interval 5
wait_height 2 $((target + 3))
grep -q "^block $((target + 1)): " "$work/vnode2.log" || fail "node 2 logged no line for block $((target + 1))"
echo "validator 2 restarted after kill -9 with its first command and caught up"

common=$(( $(height 1) - 1 ))
for i in 1 2 3 4; do wait_height "$i" "$common"; done
reference=$(app_hash_at 1 "$common")
for i in 2 3 4; do
    [ "$(app_hash_at "$i" "$common")" = "$reference" ] || fail "validator $i disagrees on the app hash at height $common"
done
echo "all four agree on the app hash at height $common: $reference"

# A validator that reads only CometBFT's RPC: every call's result and every app hash right.
# The contract comes from the chain's genesis: no --module.
"$verigame" validate --rpc "http://127.0.0.1:26657" --to "$common" --json \
    >"$work/rpc.json" 2>"$work/rpc.log" || fail "validate --rpc: $(cat "$work/rpc.json" "$work/rpc.log")"
python3 - "$work/rpc.json" <<'EOF' || fail "validate --rpc: $(cat "$work/rpc.json")"
import json, sys
report = json.load(open(sys.argv[1]))
assert report["valid"] and report["wrong"] is None, report
assert report["calls"] == 13, report  # 12 mints and transfers, 1 overdrawn transfer
print(f"validate --rpc checked {report['blocks']} blocks and {report['calls']} calls from genesis: every one right")
EOF
# From a snapshot fetched through the RPC (checked against its header) instead of genesis.
"$verigame" validate --rpc "http://127.0.0.2:26657" --from $((common - 1)) --to "$common" --json \
    >"$work/rpc.json" 2>"$work/rpc.log" || fail "validate --rpc --from: $(cat "$work/rpc.json" "$work/rpc.log")"
python3 - "$work/rpc.json" "$common" <<'EOF' || fail "validate --rpc --from: $(cat "$work/rpc.json")"
import json, sys
report, common = json.load(open(sys.argv[1])), int(sys.argv[2])
assert report["valid"] and 0 < report["snapshot"] < common - 1 and report["snapshot"] % 5 == 0, report
print(f"validate --rpc --from {common - 1} started from the snapshot of block {report['snapshot']}: every block right")
EOF

# A new full node joins by state sync: its light client verifies the app hash through two
# validators' RPC, its verigame node (an empty home) restores a snapshot the validators
# offer, checked chunk by chunk, and goes on from the block after it.
trust=$(height 1)
trust_hash=$(rpc 1 "block?height=$trust" | python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["block_id"]["hash"])')
python3 - "$work/net/node6/config/config.toml" "$trust" "$trust_hash" <<'EOF'
import re, sys
path, height, block_hash = sys.argv[1:4]
text = open(path).read()
head, tail = text.split("[statesync]", 1)
for key, value in [("enable", "true"), ("rpc_servers", '"http://127.0.0.1:26657,http://127.0.0.2:26657"'),
                   ("trust_height", height), ("trust_hash", f'"{block_hash}"'),
                   ("discovery_time", '"5s"'), ("chunk_request_timeout", '"5s"')]:
    tail = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", tail, count=1)
open(path, "w").write(head + "[statesync]" + tail)
EOF
start_node 7 --module "$contract" --snapshot-interval 5
wait_height 7 $(( $(height 1) + 2 ))
base=$(sed -n 's/^state sync: restored block \([0-9]*\),.*/\1/p' "$work/vnode7.log" | head -n 1)
[ -n "$base" ] || fail "node 7 did not restore a snapshot"
first=$(sed -n 's/^block \([0-9]*\): .*/\1/p' "$work/vnode7.log" | head -n 1)
[ "$first" = $((base + 1)) ] || fail "node 7 restored block $base but the first block it ran is $first"
common=$(( $(height 7) - 1 ))
wait_height 1 "$common"
[ "$(app_hash_at 7 "$common")" = "$(app_hash_at 1 "$common")" ] || fail "node 7 disagrees on the app hash at height $common"
rpc 7 "abci_query?path=%22/state%22&data=0x$(printf '%s' $((base - 1)) | od -An -tx1 | tr -d ' \n')" |
    grep -q 'below this node' || fail "node 7 did not refuse a query below its base"
echo "node 7 joined by state sync at block $base, ran blocks from $first on, and agrees at height $common"

# The faulty full node writes a wrong byte in every call; its CometBFT stops at the first
# block whose app hash the network does not share.
start_node 5 --module "$contract" --fault memory@0 --dispute-listen 127.0.0.5:26700
for _ in $(seq 1 120); do
    if grep -q "wrong Block.Header.AppHash\|CONSENSUS FAILURE\|AppHash" "$work/cometbft5.log" 2>/dev/null && [ -s "$work/vnode5/blocks.log" ]; then break; fi
    sleep 0.5
done
[ -s "$work/vnode5/blocks.log" ] || fail "the faulty node committed no block"
set +e
"$verigame" validate --history "$work/vnode5" --json >"$work/validate.json" 2>"$work/validate.log"
status=$?
set -e
[ "$status" = 1 ] || fail "validate exited $status on the faulty history: $(cat "$work/validate.json" "$work/validate.log")"
python3 - "$work/validate.json" <<'EOF' || fail "validate's verdict: $(cat "$work/validate.json")"
import json, sys
report = json.load(open(sys.argv[1]))
wrong = report["wrong"]
assert wrong is not None, report
# A history says what the node committed, not how it computed: the game needs the node.
assert wrong["game"] is None and "--challenge" in wrong["no_game"], wrong
print(f"validate found block {wrong['height']} transaction {wrong['tx_index']} wrong from the history alone")
EOF
# The same wrong transaction, played against the node itself over TCP: the validator holds
# the referee, the node defends from its own history, the judge rules.
set +e
"$verigame" validate --history "$work/vnode5" --challenge 127.0.0.5:26700 --timeout 20 --json \
    --proof-out "$work/proof.json" >"$work/challenge.json" 2>"$work/challenge.log"
status=$?
set -e
[ "$status" = 1 ] || fail "validate --challenge exited $status: $(cat "$work/challenge.json" "$work/challenge.log")"
python3 - "$work/challenge.json" "$work/validate.json" <<'EOF' || fail "the challenge's verdict: $(cat "$work/challenge.json")"
import json, sys
report, local = (json.load(open(path))["wrong"] for path in sys.argv[1:3])
game = report["game"]
assert game["winner"] == "challenger", report
assert (report["height"], report["tx_index"]) == (local["height"], local["tx_index"]), (report, local)
print(f"the node defended block {report['height']} transaction {report['tx_index']} over TCP and lost: {game['verdict']}; proof of step {game['diverged_step']} ({game['instruction']}), {game['proof_bytes']} bytes")
EOF
grep -q "dispute from" "$work/vnode5.log" || fail "the node logged no dispute"
grep -q fault "$work/vnode5/node.json" && fail "the faulty node's home records its fault"
# A third party re-checks the written proof from the state both sides agreed on.
agreed=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pre_hash"])' "$work/proof.json")
"$verigame" judge "$contract" "$work/proof.json" --pre-hash "$agreed" --json >"$work/judge.json" ||
    fail "judge refused the validator's proof: $(cat "$work/judge.json")"
echo "verigame judge --pre-hash accepts the written proof"

# Cluster takeover: a one-validator chain whose only validator computes wrong commits wrong
# app hashes. A validator reading the chain's RPC finds the first wrong call, challenges
# the node over TCP and wins; the node's home holds no trace of its fault.
cometbft init --home "$work/solo" >/dev/null 2>&1
with_contract "$work/solo/config/genesis.json"
configure_comet "$work/solo" 127.0.0.6 300ms
start_solo() { # the solo chain's only validator, computing wrong, and its CometBFT
    "$verigame" node --home "$work/vsolo" --abci 127.0.0.6:26658 --module "$contract" --fault memory@0 \
        --dispute-listen 127.0.0.6:26700 >>"$work/vsolo.log" 2>&1 &
    pids+=($!)
    sleep 0.3
    cometbft start --home "$work/solo" >>"$work/cometbft-solo.log" 2>&1 &
    pids+=($!)
    disown -a
}
start_solo
wait_height 6 2
# A mint writes storage only; the transfer's first memory store is where the fault lies.
for call in '{"call": "mint", "args": [1, 500]}' '{"call": "transfer", "args": [1, 2, 10]}'; do
    tx=$(python3 -c 'import json,sys,urllib.parse; print(urllib.parse.quote(json.dumps(sys.argv[1])))' "$call")
    rpc 6 "broadcast_tx_commit?tx=$tx" >/dev/null || fail "broadcast_tx_commit to the solo chain: $call"
done
wait_height 6 $(( $(height 6) + 2 ))
set +e
"$verigame" validate --rpc "http://127.0.0.6:26657" --module "$contract" --challenge 127.0.0.6:26700 \
    --timeout 20 --proof-out "$work/takeover-proof.json" --transcript "$work/takeover-transcript.json" --json \
    >"$work/takeover.json" 2>"$work/takeover.log"
status=$?
set -e
[ "$status" = 1 ] || fail "validate --rpc --challenge exited $status: $(cat "$work/takeover.json" "$work/takeover.log")"
python3 - "$work/takeover.json" <<'EOF' || fail "the takeover's verdict: $(cat "$work/takeover.json")"
import json, sys
wrong = json.load(open(sys.argv[1]))["wrong"]
game = wrong["game"]
assert game["winner"] == "challenger", wrong
print(f"takeover: validate --rpc caught block {wrong['height']} transaction {wrong['tx_index']}, challenged the node and won: {game['verdict']}")
EOF
grep -q fault "$work/vsolo/node.json" && fail "the solo node's home records its fault"
agreed=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pre_hash"])' "$work/takeover-proof.json")
"$verigame" judge "$contract" "$work/takeover-proof.json" --pre-hash "$agreed" --json >"$work/takeover-judge.json" ||
    fail "judge refused the takeover proof: $(cat "$work/takeover-judge.json")"
python3 -c 'import json,sys; t = json.load(open(sys.argv[1])); assert t["rounds"] and t["ruling"], t' \
    "$work/takeover-transcript.json" || fail "the takeover's transcript: $(head -c 600 "$work/takeover-transcript.json")"
echo "takeover: verigame judge --pre-hash accepts the written proof; the transcript is written"

# The solo node killed with -9 after its dispute (CometBFT with it), restarted with its first
# command: it follows the chain again and answers a new dispute. (A game here lasts well
# under a second, so a kill in the middle of one cannot be timed reliably from a script.)
n=${#pids[@]}
kill -9 "${pids[$((n - 2))]}" "${pids[$((n - 1))]}"
start_solo
wait_height 6 $(( $(height 6) + 2 ))
set +e
"$verigame" validate --rpc "http://127.0.0.6:26657" --challenge 127.0.0.6:26700 --timeout 20 --json \
    >"$work/after-restart.json" 2>"$work/after-restart.log"
status=$?
set -e
[ "$status" = 1 ] || fail "validate --challenge after the restart exited $status: $(cat "$work/after-restart.json" "$work/after-restart.log")"
python3 -c 'import json,sys; g = json.load(open(sys.argv[1]))["wrong"]["game"]; assert g["winner"] == "challenger", g' \
    "$work/after-restart.json" || fail "the game after the restart: $(cat "$work/after-restart.json")"
echo "takeover: the node killed with -9 restarted and lost a new dispute"
# A long block on real CometBFT: a call that spins to a gas limit of 2 billion steps
# (seconds of work) while the node answers queries, each within a second.
counter=tests/contracts/counter.wat
cometbft init --home "$work/long" >/dev/null 2>&1
configure_comet "$work/long" 127.0.0.8 300ms
"$verigame" node --home "$work/vlong" --abci 127.0.0.8:26658 --module "$counter" --gas-limit 2000000000 \
    >>"$work/vlong.log" 2>&1 &
pids+=($!)
sleep 0.3
cometbft start --home "$work/long" >>"$work/cometbft-long.log" 2>&1 &
pids+=($!)
disown -a
wait_height 8 2
rpc 8 "broadcast_tx_async?tx=%22%7B%5C%22call%5C%22%3A%5C%22spin%5C%22%7D%22" >/dev/null || fail "broadcast of a spin"
answered=0
for _ in $(seq 1 300); do
    if grep -q ': 1 txs (1 failed)' "$work/vlong.log"; then break; fi
    curl -sf --max-time 1 "http://127.0.0.8:26657/abci_query?path=%22/state%22" >/dev/null ||
        fail "a query during the long block took more than a second or failed"
    answered=$((answered + 1))
    sleep 0.05
done
took=$(sed -n 's/^block [0-9]*: 1 txs (1 failed), app hash .*, \([0-9]*\) ms$/\1/p' "$work/vlong.log" | head -n 1)
[ -n "$took" ] || fail "the spin's block never ended"
[ "$took" -ge 1000 ] && [ "$answered" -ge 5 ] ||
    fail "the spin's block took $took ms and $answered queries were answered meanwhile"
echo "a block of $took ms: $answered queries answered meanwhile, each within a second"
echo "cluster test passed"
