#!/usr/bin/env bash
# Smoke test of `verigame tui` in a real terminal: tmux runs the binary, the script types
# keys and reads the screen back. One step, a run to a step breakpoint, a run to a
# function breakpoint, a step back, then quit: the terminal must come back as it was.
# VERIGAME names the binary (default: the release build).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${VERIGAME:-target/release/verigame}
session="verigame-tui-smoke-$$"

screen() { tmux capture-pane -p -t "$session"; }
cleanup() { tmux kill-session -t "$session" 2>/dev/null || true; }
trap cleanup EXIT

# Waits up to 20 seconds for `text` on the screen.
wait_for() {
    for _ in $(seq 200); do
        if screen | grep -qF -- "$1"; then
            return 0
        fi
        sleep 0.1
    done
    echo "tui smoke test: timed out waiting for \"$1\"; the screen was:"
    screen
    exit 1
}

keys() { tmux send-keys -t "$session" "$@"; }

# After the TUI exits, the shell reports its exit code and whether the terminal is
# back in canonical mode (raw mode turns it off).
tmux new-session -d -s "$session" -x 160 -y 45 \
    "$bin tui tests/programs/fib.wasm --invoke fib_rec 25; echo \"tui exited with \$?\"; stty -a | grep -q ' icanon' && echo 'terminal restored'; sleep 60"

wait_for "step 0 │ gas 0 │ running"
wait_for "Code: fib_rec (function 1)"
keys l
wait_for "step 1 │ gas 1 │ running"

keys b
wait_for "breakpoint: ▏"
keys -l "step 1000000"
keys Enter
wait_for "Breakpoints: 1"
keys c
wait_for "step 1000000 │ gas 1000000 │ running"
wait_for "breakpoint: step 1000000"

keys b
wait_for "breakpoint: ▏"
keys -l "func 2"
keys Enter
wait_for "Breakpoints: 2"
keys c
wait_for "step 1000035 │"
wait_for "breakpoint: func 2"
wait_for "Code: func[2] (function 2)"

keys h
wait_for "step 1000034 │ gas 1000034 │ running"

keys q
wait_for "tui exited with 0"
wait_for "terminal restored"
echo "tui smoke test: 1 passed, 0 failed"
