# Shell helpers for scripts that run CometBFT chains (tests/cluster.sh, benches/*.sh).

configure_comet() { # configure_comet HOME IP TIMEOUT_COMMIT: CometBFT in HOME on IP (RPC :26657, P2P :26656), its app on IP:26658
    sed -i \
        -e "s#^proxy_app = .*#proxy_app = \"tcp://$2:26658\"#" \
        -e "s#^laddr = \"tcp://127.0.0.1:26657\"#laddr = \"tcp://$2:26657\"#" \
        -e "s#^laddr = \"tcp://0.0.0.0:26656\"#laddr = \"tcp://$2:26656\"#" \
        -e "s#^timeout_commit = .*#timeout_commit = \"$3\"#" \
        -e 's#^addr_book_strict = .*#addr_book_strict = false#' \
        -e 's#^allow_duplicate_ip = .*#allow_duplicate_ip = true#' \
        "$1/config/config.toml"
}

start_scratch() { # start_scratch NAME: a scratch folder in $work; the processes in $pids are killed and $work removed on exit (kept if keep=1)
    work=$(mktemp -d "/tmp/$1.XXXXXX")
    pids=()
    trap cleanup EXIT
}

cleanup() {
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "${keep:-}" != 1 ]; then rm -rf "$work"; fi
}
