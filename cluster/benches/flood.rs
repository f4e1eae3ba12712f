//! Signed transfers through a running chain as fast as a few clients send them: the
//! figure of end-to-end throughput (issue 16). The chain's admin mints to `CLIENTS` fresh
//! keys; then each client, on its own thread and its own RPC (round robin over the ones
//! given), sends its share of `CALLS` transfers of 1 token to the next client, signed
//! beforehand, each with `broadcast_tx_async` (again while the mempool is full), and the
//! run ends when every client's session counter shows all of them committed (one lost
//! would leave its session's later ones uncommitted: the run would fail). With `PROBES`,
//! one more client then sends that many transfers with `broadcast_tx_sync` while the others'
//! backlog waits in the mempool, and CheckTx's latency through the RPC is reported. Prints
//! one JSON line: calls, seconds, calls per second, and the probes' figures.
//!
//! `cargo bench -p cluster --bench flood -- RPC[,RPC...] ADMIN_KEY_FILE CALLS [CLIENTS
//! [PROBES]]` (the key file as `verigame keygen` writes it); benches/localnet_tps.sh runs
//! it on a 4-validator localnet.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use cluster::envelope::{Session, SigningKey};
use cluster::rpc::Rpc;
use stepper::Value;

/// Gas a transfer reserves: a few hundred used, with room.
const TRANSFER_GAS: u64 = 10_000;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let [rpcs, admin, calls, rest @ ..] = args.as_slice() else {
        bail!("usage: flood RPC[,RPC...] ADMIN_KEY_FILE CALLS [CLIENTS]");
    };
    let rpcs: Vec<String> = rpcs.split(',').map(str::to_string).collect();
    let calls: u64 = calls.parse().context("CALLS")?;
    let clients: u64 = rest.first().map_or(Ok(8), |c| c.parse()).context("CLIENTS")?;
    let probes: u64 = rest.get(1).map_or(Ok(0), |p| p.parse()).context("PROBES")?;
    let rpc = Rpc::new(&rpcs[0]);
    let chain_id = rpc.chain_id()?;
    let admin = cluster::keys::read_key(std::path::Path::new(admin))?;

    // Fresh keys, from seeds no one else uses, and their token accounts.
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() as u64;
    // The last one probes.
    let mut senders: Vec<Session> = (0..=clients)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&started.to_le_bytes());
            seed[8..16].copy_from_slice(&i.to_le_bytes());
            Session::new(SigningKey::from_bytes(&seed), &chain_id, 0, 0)
        })
        .collect();
    let accounts: Vec<i64> =
        senders.iter().map(|s| i64::from_le_bytes(s.public_key()[..8].try_into().expect("8 bytes"))).collect();

    let mut admin = Session::new(admin, &chain_id, 0, 0);
    admin.next = rpc.next_counter(&admin.public_key(), 0)?;
    let minted = admin.next + clients + 1;
    for &account in &accounts {
        let tx = admin.sign("mint", vec![Value::I64(account), Value::I64(1 << 40)], TRANSFER_GAS)?.encode()?;
        send(&rpc, &tx)?;
    }
    wait_for(&rpc, &admin.public_key(), minted, Duration::from_secs(60))?;

    let per_client = calls / clients;
    let signed: Vec<Vec<Vec<u8>>> = senders
        .iter_mut()
        .zip(accounts.iter().cycle().skip(1))
        .enumerate()
        .map(|(i, (s, &to))| {
            let count = if i as u64 == clients { probes } else { per_client };
            (0..count)
                .map(|_| Ok(s.sign("transfer", vec![Value::I64(to), Value::I64(1)], TRANSFER_GAS)?.encode()?))
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<_>>()?;

    let (signed, probe) = signed.split_at(clients as usize);
    let start = Instant::now();
    std::thread::scope(|scope| -> Result<()> {
        let threads: Vec<_> = signed
            .iter()
            .enumerate()
            .map(|(i, txs)| {
                let url = rpcs[i % rpcs.len()].clone();
                scope.spawn(move || -> Result<()> {
                    let rpc = Rpc::new(&url);
                    txs.iter().try_for_each(|tx| send(&rpc, tx))
                })
            })
            .collect();
        threads.into_iter().try_for_each(|t| t.join().expect("a client thread panicked"))
    })?;
    let sent = start.elapsed();
    let probed = probe_check_tx(&rpc, &probe[0])?;
    for s in &senders[..clients as usize] {
        wait_for(&rpc, &s.public_key(), per_client, Duration::from_secs(600))?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let total = per_client * clients;
    println!(
        "{}",
        serde_json::json!({
            "calls": total, "clients": clients, "rpcs": rpcs.len(), "sent_seconds": sent.as_secs_f64(),
            "seconds": seconds, "calls_per_second": total as f64 / seconds, "check_tx": probed,
        })
    );
    Ok(())
}

/// Sends `txs` with `broadcast_tx_sync` one by one, while the mempool holds the others'
/// backlog: the pending count when it starts, and CheckTx's latency through the RPC.
fn probe_check_tx(rpc: &Rpc, txs: &[Vec<u8>]) -> Result<serde_json::Value> {
    if txs.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    let pending = rpc.pending_txs()?;
    let mut latencies: Vec<Duration> = Vec::with_capacity(txs.len());
    for tx in txs {
        let start = Instant::now();
        let answer = rpc.broadcast_tx_sync(tx)?;
        latencies.push(start.elapsed());
        if answer.code != 0 {
            bail!("CheckTx refused a probe: {}", answer.log);
        }
    }
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
    Ok(serde_json::json!({
        "pending_at_start": pending, "probes": txs.len(),
        "p50_ms": at(0.5), "p95_ms": at(0.95), "p99_ms": at(0.99), "max_ms": at(1.0),
    }))
}

/// Sends `tx` with `broadcast_tx_sync`, again while the mempool is full; CheckTx must
/// accept it.
fn send(rpc: &Rpc, tx: &[u8]) -> Result<()> {
    loop {
        match rpc.broadcast_tx_async(tx) {
            Ok(answer) if answer.code == 0 => return Ok(()),
            Ok(answer) => bail!("CheckTx refused a transaction: {}", answer.log),
            Err(e) if format!("{e:#}").contains("mempool is full") => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e),
        }
    }
}

/// Waits until session 0 of `public_key` has committed counters up to `next`.
fn wait_for(rpc: &Rpc, public_key: &[u8; 32], next: u64, limit: Duration) -> Result<()> {
    let start = Instant::now();
    while rpc.next_counter(public_key, 0)? < next {
        if start.elapsed() > limit {
            bail!("the chain did not commit counter {} of a client within {limit:?}", next - 1);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
