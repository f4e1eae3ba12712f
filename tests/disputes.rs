//! A `verigame node` killed (SIGKILL) in the middle of a dispute: the validator's game
//! ends with the node forfeiting, and the node restarted on the same home defends again.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use cluster::disputes::{Answer, Request};
use cluster::envelope::{Session, SigningKey};
use cluster::history::{Chain, NodeSetup};
use cluster::node::Node;
use merkle_memory::Hash;
use traces::game::{LocalParty, Party};
use traces::wire::{self, Log, Rules};
use traces::{Claim, Fault, Limits, Role, Trace};

mod support;

/// Anything that has not happened this long after it should have has hung.
const PATIENCE: Duration = Duration::from_secs(60);
const FAULT: Fault = Fault::Memory(0);

/// A home whose block 2's second call a node computing with [`FAULT`] got wrong.
fn faulty_home() -> PathBuf {
    let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join("disputes-kill");
    let _ = std::fs::remove_dir_all(&home);
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/contracts/counter.wat")).unwrap();
    let module = stepper::Module::new(&bytes).unwrap();
    let config = stepper::Config { gas_limit: 100_000, ..stepper::Config::default() };
    let chain = Chain::named("disputes-chain");
    let setup = NodeSetup { module_bytes: Arc::new(bytes), module, config, snapshot_interval: 1, chain };
    let node = Node::create(&home, setup, Some(FAULT)).unwrap();
    let mut client = Session::new(SigningKey::from_bytes(&[1; 32]), "disputes-chain", 0, 0);
    let mut sign =
        |export: &str, args: Vec<stepper::Value>| client.sign(export, args, 100_000).unwrap().encode().unwrap();
    let blocks = [vec![sign("get", vec![])], vec![sign("get", vec![]), sign("add", vec![stepper::Value::I32(3)])]];
    for (height, txs) in (1..).zip(&blocks) {
        let block = node.finalize(height, &txs.iter().map(Vec::as_slice).collect::<Vec<_>>()).unwrap();
        assert!(block.txs.iter().all(|t| t.outcome.status == cluster::history::TxStatus::Returned));
        assert_eq!(node.commit_pending().unwrap(), height);
    }
    home
}

/// A `verigame node` process answering disputes, killed when dropped.
struct NodeProcess {
    child: Child,
    disputes: String,
}

impl NodeProcess {
    /// Starts the node on `home` (no CometBFT: its ABCI server only listens) and waits until
    /// it answers disputes.
    fn start(home: &Path) -> NodeProcess {
        let mut child = support::command()
            .args(["node", "--home", home.to_str().unwrap(), "--abci", "127.0.0.1:0"])
            .args(["--dispute-listen", "127.0.0.1:0", "--fault", "memory@0"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        // Read to the end, so the node never blocks on a full pipe.
        std::thread::spawn(move || stderr.lines().map_while(Result::ok).for_each(|l| drop(tx.send(l))));
        let mut node = NodeProcess { child, disputes: String::new() };
        let prefix = "verigame node: answering disputes on ";
        let deadline = Instant::now() + PATIENCE;
        while node.disputes.is_empty() {
            match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => node.disputes = line.strip_prefix(prefix).unwrap_or_default().trim().to_string(),
                Err(e) => panic!("the node does not answer disputes ({e}): {:?}", node.child.try_wait()),
            }
        }
        node
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The honest challenger, who says when it is first asked (the game is under way) and
/// then waits for the word to answer.
struct Stalling {
    honest: LocalParty,
    asked: Option<mpsc::Sender<()>>,
    go: mpsc::Receiver<()>,
}

impl Party for Stalling {
    fn claim(&mut self) -> Result<Claim, String> {
        if let Some(asked) = self.asked.take() {
            asked.send(()).unwrap();
            self.go.recv_timeout(PATIENCE).map_err(|_| "no word to answer".to_string())?;
        }
        self.honest.claim()
    }

    fn hashes(&mut self, round: u32, range: (u64, u64), points: &[u64]) -> Result<Vec<Hash>, String> {
        self.honest.hashes(round, range, points)
    }

    fn prove(&mut self, step: u64) -> Result<judge::Proof, String> {
        self.honest.prove(step)
    }
}

#[test]
fn a_node_killed_mid_game_forfeits_and_defends_again_after_a_restart() {
    let home = faulty_home();
    let node = NodeProcess::start(&home);

    // The validator's side, played by hand: a referee for the honest call and a
    // challenger that holds the game up while the node is killed.
    let call = cluster::disputes::committed_call(&home, 2, 1, None).unwrap();
    let honest = Trace::record(call.clone(), None, Limits::default(), &mut |_| {}).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let referee = listener.local_addr().unwrap().to_string();
    let rules = Rules { degree: 2, timeout: Duration::from_secs(20), call: Some(call.clone()), ..Rules::default() };
    let quiet: Log = Arc::new(|_: &str| {});
    let hosted = std::thread::spawn(move || wire::host(&listener, &rules, &quiet).map(|h| h.outcome));

    let request = Request { version: cluster::disputes::VERSION, height: 2, index: 1, referee: referee.clone() };
    let mut asking = TcpStream::connect(&node.disputes).unwrap();
    asking.write_all(format!("{}\n", serde_json::to_string(&request).unwrap()).as_bytes()).unwrap();
    asking.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut answers = BufReader::new(asking);
    let mut first = String::new();
    answers.read_line(&mut first).unwrap();
    assert!(matches!(serde_json::from_str(&first), Ok(Answer::Accepted { .. })), "{first}");

    let ((asked, on_asked), (go, on_go)) = (mpsc::channel(), mpsc::channel());
    let mut challenger = Stalling { honest: LocalParty { trace: honest }, asked: Some(asked), go: on_go };
    let connection = TcpStream::connect(&referee).unwrap();
    let (verdict, verdicts) = mpsc::channel();
    std::thread::spawn(move || {
        verdict.send(wire::join(connection, Role::Challenger, &call, &mut challenger, &|_| {})).unwrap()
    });
    on_asked.recv_timeout(PATIENCE).expect("the game never started");

    // Both are seated and the game is under way: the node dies.
    node.kill();
    go.send(()).unwrap();
    let verdict = verdicts.recv_timeout(PATIENCE).expect("the challenger's game hung").unwrap();
    assert_eq!(verdict.winner, Role::Challenger, "{}", verdict.reason);
    assert!(verdict.reason.contains("the defender forfeits"), "{}", verdict.reason);
    let outcome = hosted.join().unwrap().unwrap();
    assert_eq!(outcome.winner, Role::Challenger);
    // The request's connection ends without a result.
    let mut last = String::new();
    assert!(answers.read_line(&mut last).map_or(true, |n| n == 0), "{last}");

    // The same command on the same home: the node is back, with its history, and a new
    // dispute over the same transaction is played to the judge's ruling.
    let started = Instant::now();
    let node = NodeProcess::start(&home);
    let rules = Rules { timeout: Duration::from_secs(20), ..Rules::default() };
    let challenge =
        cluster::validate::Challenge { node: node.disputes.clone(), referee_listen: "127.0.0.1:0".into(), rules };
    let options = cluster::validate::Options {
        from: None,
        to: None,
        degree: 2,
        limits: Limits::default(),
        challenge: Some(challenge),
    };
    let report = cluster::validate::validate(&home, &options, &|_, _| {}).unwrap();
    let wrong = report.wrong.as_ref().expect("block 2 is wrong");
    assert_eq!((wrong.height, wrong.index), (2, 1));
    let game = wrong.game.as_ref().unwrap_or_else(|| panic!("no game: {:?}", wrong.no_game));
    assert_eq!(game.winner, Role::Challenger, "{}", game.reason);
    let ruling = game.transcript.ruling.as_ref().expect("the judge ruled");
    assert!(ruling.proof.is_some() && ruling.judged_after == Some(ruling.claimed_after[1]), "{}", game.reason);
    assert!(started.elapsed() < PATIENCE, "the second dispute took {:?}", started.elapsed());
    node.kill();

    // Killed twice, the home still opens with every committed block.
    let reopened = Node::open(&home, Some(FAULT)).unwrap();
    assert_eq!(reopened.committed().0, 2);
}
