#!/usr/bin/env bash
# The cluster on real CometBFT v0.38: four validators on 127.0.0.1..4, each with its own
# `verigame node`, agree on app hashes while transactions go through CometBFT's RPC; a
# validator killed with -9 restarts and catches up; `verigame validate --rpc` checks the chain;
# a new full node joins by state sync from the validators' snapshots and agrees with them;
# a full node started with a fault computes a wrong app hash, and `verigame validate
# --challenge` plays the game against it over TCP; then a one-validator chain whose validator
# computes wrong is caught through its RPC alone; a long block does not hold up queries; the
# C token (tests/contracts/token.c) runs on the bytes ABI.
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

start_node() { # start_node INDEX [FLAGS...]: a verigame node of the 4-validator chain and its CometBFT
    local i=$1; shift
    "$verigame" node --home "$work/vnode$i" --abci "127.0.0.$i:26658" --chain-id "$chain_id" --admin "$admin" "$@" \
        >>"$work/vnode$i.log" 2>&1 &
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
chain_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chain_id"])' "$1"; }
chain_id=$(chain_of "$work/net/node0/config/genesis.json")

# Clients' keys: the admin, who alone mints, and users u1 to u9.
mkdir -p "$work/keys"
for k in admin u1 u2 u3 u4 u5 u6 u7 u8 u9; do "$verigame" keygen --out "$work/keys/$k.json" >/dev/null 2>&1; done
public_key() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["public_key"])' "$work/keys/$1.json"; }
account() { # account KEY -> its token account: the first 8 bytes of its public key, little-endian
    python3 -c 'import sys; k = bytes.fromhex(sys.argv[1][2:]); print(int.from_bytes(k[:8], "little", signed=True))' "$(public_key "$1")"
}
admin=$(public_key admin)
client() { # client NODE KEY [FLAGS...] EXPORT ARGS...: a signed call through NODE's RPC, as JSON
    local node=$1 key=$2; shift 2
    "$verigame" client --rpc "http://127.0.0.$node:26657" --key "$work/keys/$key.json" --module "$contract" --json "$@"
}
tx_result() { # tx_result < JSON -> "CHECK_CODE TX_CODE" of a client's answer
    python3 -c 'import json,sys; r = json.load(sys.stdin); print(r["check_tx"]["code"], (r.get("tx_result") or {}).get("code"))'
}

with_contract() { # with_contract GENESIS: the genesis names the contract its nodes run and its admin
    python3 - "$1" "$contract" "$admin" <<'EOF'
import json, sys
path, contract, admin = sys.argv[1:4]
genesis = json.load(open(path))
genesis["app_state"] = {"module": "0x" + open(contract, "rb").read().hex(), "admin": admin}
json.dump(genesis, open(path, "w"), indent=2)
EOF
}
for i in 0 1 2 3 4 6; do with_contract "$work/net/node$i/config/genesis.json"; done
for i in 1 2 3 4 5 7; do
    configure_comet "$work/net/node$((i - 1))" "127.0.0.$i" 300ms
    sed -i -e "s#@127.0.0.6:26656#@127.0.0.7:26656#g" "$work/net/node$((i - 1))/config/config.toml"
done
# Validator 3's mempool cache remembers 4 transactions: it forgets the first ones early.
sed -i -e 's#^cache_size = .*#cache_size = 4#' "$work/net/node2/config/config.toml"

for i in 1 2 3 4; do
    start_node "$i" --module "$contract" --snapshot-interval 5
done
for i in 1 2 3 4; do wait_height "$i" 2; done
echo "four validators running"

# The admin mints to u1..u6, then each transfers 10 of its own tokens to the next.
for n in $(seq 1 12); do
    node=$(( (n - 1) % 4 + 1 ))
    if [ "$n" -le 6 ]; then
        answer=$(client "$node" admin mint "$(account "u$n")" $((1000 * n))) || fail "mint $n: $answer"
    else
        answer=$(client "$node" "u$((n - 6))" transfer "$(account "u$((n - 5))")" 10) || fail "transfer $n: $answer"
    fi
    [ "$(printf '%s' "$answer" | tx_result)" = "0 0" ] || fail "transaction $n: $answer"
    if [ "$n" = 1 ]; then first_mint=$(printf '%s' "$answer" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hash"][2:])'); fi
done
# A transaction that is not a signed envelope is refused by CheckTx with a reason.
answer=$(rpc 1 "broadcast_tx_sync?tx=%22not%20json%22")
printf '%s' "$answer" | grep -q 'not a verigame envelope' || fail "CheckTx accepted an unsigned transaction: $answer"
# The first mint's exact bytes, with one bit of its signature flipped: refused.
tx_hex=$(rpc 1 "abci_query?path=%22/tx%22&data=0x$first_mint" |
    python3 -c 'import base64,json,sys; print(json.loads(base64.b64decode(json.load(sys.stdin)["result"]["response"]["value"]))["tx_hex"][2:])')
forged=$(python3 -c 'import sys; b = bytearray.fromhex(sys.argv[1]); b[-1] ^= 1; print(b.hex())' "$tx_hex")
answer=$(rpc 1 "broadcast_tx_sync?tx=0x$forged")
printf '%s' "$answer" | grep -q 'signature does not verify' || fail "CheckTx accepted a wrongly signed transaction: $answer"
# The admin alone mints; a transfer moves only the caller's own tokens, a positive amount
# within its balance. Each such call is committed as failed and changes nothing.
expect_abort() { # expect_abort CODE JSON: a call committed as failed, aborted with CODE
    printf '%s' "$2" | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["check_tx"]["code"] == 0 and r["tx_result"]["code"] == 1, r
assert f"aborted by the program with code {sys.argv[1]}" in r["tx_result"]["log"], r' "$1"
}
expect_abort 3 "$(client 1 u1 mint "$(account u1)" 1000000)" || fail "a user minted"
expect_abort 1 "$(client 2 u9 transfer "$(account u9)" 500)" || fail "an account without tokens paid"
expect_abort 4 "$(client 3 u1 transfer "$(account u2)" -- -1000)" || fail "a negative transfer went through"
expect_abort 1 "$(client 4 u1 transfer "$(account u2)" 1000000)" || fail "an overdrawn transfer went through"
# The balance of u2 as the contract's storage holds it: 2000 + 10 - 10.
key=$(printf 'bal:' | od -An -tx1 | tr -d ' \n')$(public_key u2 | cut -c3-18)
value=$(rpc 3 "abci_query?path=%22/storage%22&data=0x$key" |
    python3 -c 'import base64,json,sys; print(json.loads(base64.b64decode(json.load(sys.stdin)["result"]["response"]["value"]))["value"])')
[ "$value" = "0xd007000000000000" ] || fail "u2's stored balance is $value, not 2000"
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
ask /tx "$first_mint" >"$work/ask.out" 2>&1 && grep -q '"status":"returned"' "$work/ask.out" &&
    grep -q '^proven at height' "$work/ask.out" || fail "a proven transaction query: $(cat "$work/ask.out")"
ask /call "{\"call\": \"balance\", \"args\": [$(account u2)]}" >"$work/ask.out" 2>&1 && grep -q '"slot":"2000"' "$work/ask.out" &&
    grep -q '^proven at height' "$work/ask.out" || fail "a proven read-only call: $(cat "$work/ask.out")"
ask /state >"$work/ask.out" 2>&1 && grep -q '^proven at height' "$work/ask.out" || fail "a proven state query: $(cat "$work/ask.out")"
echo "16 signed transactions committed (4 failing as they must), unsigned and forged ones refused, answers proven"

# Kill a validator's node and its CometBFT at once, restart both: nothing committed is lost.
target=$(height 2)
kill -9 "${pids[2]}" "${pids[3]}"
sleep 0.5
# The same command as the first start reopens the history.
start_node 2 --module "$contract" --snapshot-interval 5
wait_height 2 $((target + 3))
grep -q "^block $((target + 1)): " "$work/vnode2.log" || fail "node 2 logged no line for block $((target + 1))"
echo "validator 2 restarted after kill -9 with its first command and caught up"
# Replays of the first mint's exact bytes: to node 2, whose CometBFT restarted with an empty
# mempool cache, and to node 3, whose cache holds 4 transactions and forgot it long ago.
# CheckTx refuses both by the session's counter: nothing runs twice.
for node in 2 3; do
    answer=$(rpc "$node" "broadcast_tx_sync?tx=0x$tx_hex")
    printf '%s' "$answer" | grep -q "counter 0 of session 0: the session's next is" ||
        fail "a replay to node $node was not refused by its counter: $answer"
done
# A counter ahead of the session's next is refused too (sent again in order, it runs).
answer=$(client 1 u3 --counter 99 transfer "$(account u4)" 1 || true)
printf '%s' "$answer" | grep -q "counter 99 of session 0: the session's next is 1" ||
    fail "a counter out of order was not refused: $answer"
echo "replays after a restart and after the mempool cache forgot them, and a counter out of order, are refused"

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
assert report["calls"] == 16, report  # 12 mints and transfers, 4 failing calls
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
solo_chain=$(chain_of "$work/solo/config/genesis.json")
start_solo() { # the solo chain's only validator, computing wrong, and its CometBFT
    "$verigame" node --home "$work/vsolo" --abci 127.0.0.6:26658 --module "$contract" --fault memory@0 \
        --chain-id "$solo_chain" --admin "$admin" --dispute-listen 127.0.0.6:26700 >>"$work/vsolo.log" 2>&1 &
    pids+=($!)
    sleep 0.3
    cometbft start --home "$work/solo" >>"$work/cometbft-solo.log" 2>&1 &
    pids+=($!)
    disown -a
}
start_solo
wait_height 6 2
# Each call's first memory store is where the fault lies: a call may fail there (exit 1).
client 6 admin mint "$(account u1)" 500 >/dev/null || [ $? = 1 ] || fail "a mint on the solo chain"
client 6 u1 transfer "$(account u2)" 10 >/dev/null || [ $? = 1 ] || fail "a transfer on the solo chain"
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
start_single() { # start_single NAME IP [NODE FLAGS...]: a one-validator chain in $work/NAME, its node in $work/vNAME
    local name=$1 ip=$2; shift 2
    cometbft init --home "$work/$name" >/dev/null 2>&1
    configure_comet "$work/$name" "$ip" 300ms
    "$verigame" node --home "$work/v$name" --abci "$ip:26658" --chain-id "$(chain_of "$work/$name/config/genesis.json")" \
        "$@" >>"$work/v$name.log" 2>&1 &
    pids+=($!)
    sleep 0.3
    cometbft start --home "$work/$name" >>"$work/cometbft-$name.log" 2>&1 &
    pids+=($!)
    disown -a
}
start_single long 127.0.0.8 --module "$counter" --gas-limit 2000000000 --block-gas-limit 2000000000
wait_height 8 2
"$verigame" client --rpc http://127.0.0.8:26657 --key "$work/keys/u1.json" --async --gas-limit 2000000000 spin \
    >/dev/null || fail "broadcast of a spin"
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

# A block gas budget: 40 looping calls of 10,000,000 gas each, sent at once by one client
# (counters 0 to 39), to a chain whose blocks may reserve 100,000,000 gas: no block holds
# more than 10 of them, and none takes much more than half a second.
start_single budget 127.0.0.9 --module "$counter"
wait_height 9 2
for n in $(seq 0 39); do
    "$verigame" client --rpc http://127.0.0.9:26657 --key "$work/keys/u2.json" --async --counter "$n" \
        --gas-limit 10000000 spin >/dev/null || fail "broadcast of spin $n"
done
spun=0
for _ in $(seq 1 300); do
    spun=$(sed -n 's/^block [0-9]*: \([0-9]*\) txs.*/\1/p' "$work/vbudget.log" | awk '{n += $1} END {print n + 0}')
    [ "$spun" -ge 40 ] && break
    sleep 0.2
done
[ "$spun" = 40 ] || fail "the budget chain ran $spun of the 40 spins: $(tail -n 5 "$work/vbudget.log")"
python3 - "$work/vbudget.log" <<'EOF' || fail "a block passed its gas budget: $(grep '^block' "$work/vbudget.log")"
import re, sys
blocks = [(int(txs), int(failed), int(ms)) for txs, failed, ms in
          re.findall(r"^block \d+: (\d+) txs \((\d+) failed\), app hash \S+, (\d+) ms$", open(sys.argv[1]).read(), re.M)]
assert all(txs <= 10 for txs, _, _ in blocks), blocks
# Each spin runs out of its 10,000,000 gas: about 0.05 s each here.
assert sum(failed for _, failed, _ in blocks) == 40, blocks
assert all(ms <= 1500 for _, _, ms in blocks), blocks
used = [b for b in blocks if b[0]]
print(f"40 looping calls ran in {len(used)} blocks of at most 10; the slowest block took {max(ms for _, _, ms in used)} ms")
EOF
# The C token (tests/contracts/token.c on sdk/c/verigame.h, the bytes ABI) on its own
# one-validator chain: a mint, a transfer and the balances; echo's input bytes reach its
# standard input and its output, emitted value and (failing) stderr reach the client and /tx.
ctoken=tests/contracts/token.wasm
start_single ctoken 127.0.0.10 --module "$ctoken" --admin "$admin"
wait_height 10 2
cclient() { # cclient KEY [FLAGS...] EXPORT ARGS...: a call of the C token, as JSON
    local key=$1; shift
    "$verigame" client --rpc http://127.0.0.10:26657 --key "$work/keys/$key.json" --module "$ctoken" --json "$@"
}
result_of() { # result_of FIELD < JSON -> the field of the client's committed result data, as JSON
    python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["tx_result"]["data"][sys.argv[1]], sort_keys=True))' "$1"
}
answer=$(cclient admin mint "$(account u1)" 500) && [ "$(printf '%s' "$answer" | tx_result)" = "0 0" ] ||
    fail "the C token's mint: $answer"
answer=$(cclient u1 transfer "$(account u2)" 120) && [ "$(printf '%s' "$answer" | tx_result)" = "0 0" ] ||
    fail "the C token's transfer: $answer"
[ "$(printf '%s' "$answer" | result_of results)" = '[{"slot": "380", "type": "i64"}]' ] ||
    fail "the C token's transfer left u1 $(printf '%s' "$answer" | result_of results), not 380"
"$verigame" ask --rpc http://127.0.0.10:26657 /call "{\"call\": \"balance\", \"args\": [$(account u2)]}" \
    >"$work/ask.out" 2>&1 && grep -q '"slot":"120"' "$work/ask.out" || fail "u2's C token balance: $(cat "$work/ask.out")"
answer=$(cclient u2 --input-text "cluster" echo) && [ "$(printf '%s' "$answer" | tx_result)" = "0 0" ] ||
    fail "the C token's echo: $answer"
[ "$(printf '%s' "$answer" | result_of stdout)" = '"HELLO, CLUSTER"' ] &&
    [ "$(printf '%s' "$answer" | result_of emitted)" = '[14]' ] || fail "echo's output: $answer"
echo_hash=$(printf '%s' "$answer" | python3 -c 'import json,sys; print(json.load(sys.stdin)["hash"][2:])')
rpc 10 "abci_query?path=%22/tx%22&data=0x$echo_hash" | python3 -c '
import base64, json, sys
r = json.loads(base64.b64decode(json.load(sys.stdin)["result"]["response"]["value"]))
assert r["outcome"]["stdout"] == "HELLO, CLUSTER" and r["outcome"]["emitted"] == [14], r
assert r["call"]["input"] == "cluster", r' || fail "/tx of the echo: $(rpc 10 "abci_query?path=%22/tx%22&data=0x$echo_hash")"
# Without input, echo writes to stderr and exits with 7: the call fails, the client shows why.
set +e
"$verigame" client --rpc http://127.0.0.10:26657 --key "$work/keys/u2.json" echo >"$work/echo.out" 2>&1
status=$?
set -e
[ "$status" = 1 ] && grep -q '^exit code:   7$' "$work/echo.out" && grep -qF 'stderr:      "echo: no input\n"' "$work/echo.out" ||
    fail "a failing echo (exit $status): $(cat "$work/echo.out")"
echo "the C token minted, transferred and echoed bytes on CometBFT: output, emitted values and stderr in its outcomes"
echo "cluster test passed"
