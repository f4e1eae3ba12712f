//! `verigame keygen` and `verigame client` as users run them: key files, argument errors,
//! and a transaction sent to a fake CometBFT RPC that checks the envelope it receives.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::mpsc;

use base64::Engine as _;
use cluster::envelope::Envelope;
use serde_json::{json, Value as Json};
use stepper::Value;

mod support;

use support::verigame;

/// A fresh folder for this test and process.
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("verigame-client-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn keygen(dir: &std::path::Path) -> (String, String) {
    let key = dir.join("key.json");
    let out = verigame(&["keygen", "--out", key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (key.to_str().unwrap().to_string(), String::from_utf8(out.stdout).unwrap().trim().to_string())
}

fn fails(args: &[&str], message: &str) {
    let out = verigame(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(message), "{args:?}: {stderr}");
}

#[test]
fn keygen_writes_a_private_key_file_once() {
    let dir = folder("keygen");
    let (key, public_key) = keygen(&dir);
    let file: Json = serde_json::from_str(&std::fs::read_to_string(&key).unwrap()).unwrap();
    assert_eq!(file["public_key"], public_key.as_str());
    assert!(public_key.starts_with("0x") && public_key.len() == 66, "{public_key}");
    assert!(file["secret_key"].as_str().is_some_and(|s| s.len() == 66), "{file}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // Never overwritten.
    let before = std::fs::read(&key).unwrap();
    fails(&["keygen", "--out", &key], "exists already");
    assert_eq!(std::fs::read(&key).unwrap(), before);
    // Two keys differ.
    let other = dir.join("other.json");
    let out = verigame(&["keygen", "--out", other.to_str().unwrap()]);
    assert_ne!(String::from_utf8(out.stdout).unwrap().trim(), public_key);
    fails(&["keygen", "--out", dir.join("no/such/dir/key.json").to_str().unwrap()], "cannot create");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An address where nothing listens.
fn nowhere() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

#[test]
fn client_refuses_unusable_input_with_exit_code_2() {
    let dir = folder("errors");
    let (key, _) = keygen(&dir);
    let rpc = nowhere();
    let garbled = dir.join("garbled.json");
    std::fs::write(&garbled, "not json").unwrap();
    let missing = dir.join("missing.json");
    let (garbled, missing) = (garbled.to_str().unwrap(), missing.to_str().unwrap());
    fails(&["client", "--rpc", &rpc, "--key", missing, "inc"], "cannot read key file");
    fails(&["client", "--rpc", &rpc, "--key", garbled, "inc"], "is not a key file");
    fails(&["client", "--rpc", &rpc, "--key", &key, "inc"], "asking the node for the chain id");
    fails(&["client", "--rpc", &rpc, "--key", &key, "inc", "1.5"], "argument 1: `1.5` is not an i32");
    fails(&["client", "--rpc", &rpc, "--key", &key, "inc", "i32:1", "u8:2"], "argument 2");
    let fib = "tests/programs/fib.wasm";
    fails(&["client", "--rpc", &rpc, "--key", &key, "--module", fib, "nope"], "no exported function `nope`");
    fails(&["client", "--rpc", &rpc, "--key", &key, "--module", fib, "fib_rec"], "takes 1 argument(s) (i32), 0 given");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A fake CometBFT RPC: answers each request with `answer(path and query)` (the JSON-RPC
/// `result`, or `Err(error)`), one connection per request; sends every request's target
/// on `seen`.
fn fake_rpc(answer: fn(&str) -> Result<Json, Json>) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (seen, requests) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(8) {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let target = line.split_whitespace().nth(1).unwrap_or_default().to_string();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            // Told before answering, so the test has seen it once the client is done.
            let _ = seen.send(target.clone());
            let body = match answer(&target) {
                Ok(result) => json!({"jsonrpc": "2.0", "id": -1, "result": result}),
                Err(error) => json!({"jsonrpc": "2.0", "id": -1, "error": error}),
            }
            .to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, requests)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

const CHAIN: &str = "verigame-fake";

/// The transaction a `broadcast_tx_*?tx=0x…` target carries.
fn tx_of(target: &str) -> Vec<u8> {
    let hex = target.split("tx=0x").nth(1).expect("a tx parameter");
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

fn chain(target: &str) -> Result<Json, Json> {
    if target.starts_with("/status") {
        return Ok(json!({"node_info": {"network": CHAIN}, "sync_info": {"latest_block_height": "4"}}));
    }
    if target.starts_with("/abci_query") {
        assert!(target.contains("path=%22/session%22"), "{target}");
        // The data: 40 bytes, the key and session 9.
        let data = target.split("data=0x").nth(1).unwrap().split('&').next().unwrap();
        assert_eq!(data.len(), 80, "{target}");
        assert!(data.ends_with("0900000000000000"), "{target}");
        let value = b64(br#"{"next": 5}"#);
        return Ok(json!({"response": {"code": 0, "log": "", "value": value, "height": "4"}}));
    }
    if target.starts_with("/broadcast_tx_commit") {
        let tx = tx_of(target);
        let envelope = Envelope::open(&tx, CHAIN).expect("a valid envelope");
        let mut data = json!({"status": "returned", "results": [{"type": "i32", "slot": "42"}], "steps": 17,
                          "gas": 17, "error": null, "post_hash": format!("0x{}", "ab".repeat(32))});
        if envelope.body.export == "echo" {
            // What a contract on the bytes ABI answers: its input in capitals, a note on
            // stderr, a value emitted.
            let upper = String::from_utf8_lossy(&envelope.body.input).to_uppercase();
            data["stdout"] = json!(upper);
            data["stderr"] = json!("echoed\n");
            data["emitted"] = json!([envelope.body.input.len()]);
        }
        let code = if envelope.body.export == "fail" { 1 } else { 0 };
        return Ok(json!({
            "check_tx": {"code": 0, "data": null, "log": "", "gas_wanted": "0", "gas_used": "0"},
            "tx_result": {"code": code, "data": b64(data.to_string().as_bytes()), "log": "", "gas_used": "17"},
            "hash": "00", "height": "5"
        }));
    }
    if target.starts_with("/broadcast_tx_async") {
        Envelope::open(&tx_of(target), CHAIN).expect("a valid envelope");
        return Ok(json!({"code": 0, "data": "", "log": "", "codespace": "", "hash": "00"}));
    }
    Err(json!({"code": -32601, "message": "Method not found"}))
}

#[test]
fn client_signs_sends_and_reports_a_call() {
    let dir = folder("send");
    let (key, public_key) = keygen(&dir);
    let (rpc, seen) = fake_rpc(chain);
    let out = verigame(&[
        "client",
        "--rpc",
        &rpc,
        "--key",
        &key,
        "--session",
        "9",
        "--gas-limit",
        "5000",
        "--json",
        "add",
        "i64:-3",
        "7",
        "f64:0.5",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["chain_id"], CHAIN);
    assert_eq!(report["call"]["public_key"], public_key.as_str());
    assert_eq!((report["call"]["session"].clone(), report["call"]["counter"].clone()), (json!(9), json!(5)));
    assert_eq!(report["call"]["gas_limit"], 5000);
    assert_eq!(report["check_tx"]["code"], 0);
    assert_eq!(report["height"], 5);
    assert_eq!(report["tx_result"]["code"], 0);
    assert_eq!(report["tx_result"]["data"]["results"][0]["slot"], "42", "{report}");
    let targets: Vec<String> = seen.try_iter().collect();
    assert_eq!(targets.len(), 3, "{targets:?}");
    let tx = tx_of(&targets[2]);
    let envelope = Envelope::open(&tx, CHAIN).unwrap();
    assert_eq!(envelope.body.args, [Value::I64(-3), Value::I32(7), Value::F64(0.5f64.to_bits())]);
    assert_eq!((envelope.body.export.as_str(), envelope.body.counter), ("add", 5));
    let hash: String = cluster::envelope::tx_hash(&tx).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(report["hash"], format!("0x{hash}"));

    // With --counter the node is not asked; a call that does not return exits 1; text output.
    let (rpc, seen) = fake_rpc(chain);
    let out = verigame(&["client", "--rpc", &rpc, "--key", &key, "--counter", "77", "fail"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    for line in
        ["transaction: 0x", "session 0, counter 77", "check_tx:    accepted", "height:      5", "code:        1"]
    {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    assert!(text.contains("results:     42 (i32)"), "{text}");
    assert_eq!(seen.try_iter().filter(|t| t.starts_with("/abci_query")).count(), 0);

    // Async: only the hash comes back.
    let (rpc, _) = fake_rpc(chain);
    let out = verigame(&["client", "--rpc", &rpc, "--key", &key, "--async", "--counter", "1", "--json", "inc"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report["mode"].clone(), report["check_tx"]["code"].clone()), (json!("async"), json!(0)));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_client_sends_input_bytes_and_shows_the_output() {
    let dir = folder("input");
    let (key, _) = keygen(&dir);
    let (rpc, seen) = fake_rpc(chain);
    let out = verigame(&["client", "--rpc", &rpc, "--key", &key, "--counter", "0", "--input-text", "world", "echo"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    for line in ["input:       \"world\"", "output:      \"WORLD\"", "stderr:      \"echoed\\n\"", "emitted:     5"] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    let tx = tx_of(&seen.try_iter().find(|t| t.starts_with("/broadcast_tx_commit")).unwrap());
    assert_eq!(Envelope::open(&tx, CHAIN).unwrap().body.input, b"world");

    // Any bytes from a file; the JSON report shows them as hex when they are not UTF-8.
    let file = dir.join("input.bin");
    std::fs::write(&file, [0xFF, 0x00, b'a']).unwrap();
    let (rpc, seen) = fake_rpc(chain);
    let file = file.to_str().unwrap();
    let out = verigame(&["client", "--rpc", &rpc, "--key", &key, "--counter", "1", "--input", file, "--json", "echo"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["call"]["input"], json!({"hex": "0xff0061"}), "{report}");
    assert_eq!(report["tx_result"]["data"]["emitted"], json!([3]), "{report}");
    let tx = tx_of(&seen.try_iter().find(|t| t.starts_with("/broadcast_tx_commit")).unwrap());
    assert_eq!(Envelope::open(&tx, CHAIN).unwrap().body.input, [0xFF, 0x00, b'a']);
    // Not both.
    let out = verigame(&["client", "--rpc", &rpc, "--key", &key, "--input", file, "--input-text", "x", "echo"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_node_without_sessions_is_a_clear_error() {
    let dir = folder("sessions");
    let (key, _) = keygen(&dir);
    let (rpc, _) = fake_rpc(|target| {
        if target.starts_with("/status") {
            return chain(target);
        }
        Ok(json!({"response": {"code": 1, "log": "unknown query path /session", "height": "4"}}))
    });
    fails(&["client", "--rpc", &rpc, "--key", &key, "inc"], "give --counter");
    std::fs::remove_dir_all(&dir).unwrap();
}
