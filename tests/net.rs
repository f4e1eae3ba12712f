//! The game across processes: `verigame referee` and `verigame party` (or a raw TCP
//! client written here) play over loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use traces::game::{LocalParty, Party};
use traces::{Call, Limits, Trace};

const FIB: &str = "tests/programs/fib.wasm";
/// fib_rec 15 runs 29,074 steps.
const FIB_15: [&str; 4] = [FIB, "--invoke", "fib_rec", "15"];
/// Any process still running this long after it should have ended has hung.
const PATIENCE: Duration = Duration::from_secs(60);

mod support;

use support::{command as verigame, is_hash};

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("net-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits for `child` to exit, killing it past [`PATIENCE`].
fn wait(child: &mut Child, what: &str) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > PATIENCE {
            child.kill().unwrap();
            panic!("{what} hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for `child` and collects its output.
fn finish(mut child: Child, what: &str) -> Output {
    let status = wait(&mut child, what);
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    child.stdout.take().map(|mut s| s.read_to_end(&mut stdout));
    child.stderr.take().map(|mut s| s.read_to_end(&mut stderr));
    Output { status, stdout, stderr }
}

/// A `verigame referee` process, with its address and its standard error line by line.
struct Referee {
    child: Child,
    address: String,
    stdout: BufReader<ChildStdout>,
    events: mpsc::Receiver<String>,
    seen: Vec<String>,
}

struct Ended {
    status: ExitStatus,
    stdout: String,
    events: Vec<String>,
}

impl Referee {
    fn start(args: &[&str]) -> Referee {
        let mut child = verigame()
            .args(["referee", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let address =
            first.strip_prefix("listening on ").unwrap_or_else(|| panic!("first line: {first:?}")).trim().to_string();
        let (tx, events) = mpsc::channel();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || stderr.lines().map_while(Result::ok).try_for_each(|l| tx.send(l)));
        Referee { child, address, stdout, events, seen: Vec::new() }
    }

    /// Waits until the referee reports an event containing `text`.
    fn wait_for(&mut self, text: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !self.seen.iter().any(|l| l.contains(text)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("no `{text}` from the referee; it said {:?}", self.seen),
            }
        }
    }

    fn party(&self, role: &str, args: &[&str]) -> Child {
        verigame()
            .args(["party", "--connect", &self.address, "--role", role])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn end(mut self) -> Ended {
        let status = wait(&mut self.child, "the referee");
        let mut stdout = String::new();
        self.stdout.read_to_string(&mut stdout).unwrap();
        self.seen.extend(self.events.iter());
        Ended { status, stdout, events: self.seen }
    }
}

fn json_of(out: &[u8]) -> Json {
    let text = String::from_utf8_lossy(out);
    serde_json::from_str(text.lines().last().unwrap_or("")).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The call the CLI builds from FIB_15, for the raw clients.
fn fib_call(n: &str, gas_limit: u64) -> Call {
    let config = stepper::Config { gas_limit, ..stepper::Config::default() };
    verigame::dispute::trace_call(Path::new(FIB), Some("fib_rec"), &[n.to_string()], config).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    std::iter::once("0x".to_string()).chain(bytes.iter().map(|b| format!("{b:02x}"))).collect()
}

fn hello(role: &str, call: &Call) -> String {
    json!({"type": "hello", "version": 1, "role": role, "call": call.to_json(), "module": hex(&call.module_bytes)})
        .to_string()
}

/// A party written by hand: JSON lines on a TCP connection.
struct Raw {
    reader: BufReader<TcpStream>,
}

impl Raw {
    fn connect(address: &str) -> Raw {
        let stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        Raw { reader: BufReader::new(stream) }
    }

    fn send(&mut self, line: &str) {
        self.reader.get_mut().write_all(format!("{line}\n").as_bytes()).unwrap();
    }

    /// The next message, or None when the referee has closed the connection.
    fn recv(&mut self) -> Option<Json> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))),
        }
    }

    /// The next message, which must be an error: its reason.
    fn error(&mut self) -> String {
        let m = self.recv().expect("an error message");
        assert_eq!(m["type"], "error", "{m}");
        m["reason"].as_str().unwrap().to_string()
    }
}

#[test]
fn the_honest_party_wins_over_tcp_in_either_role() {
    let dir = tmp("honest");
    let recorded = dir.join("trace");
    let out = verigame().args(["record"]).args(FIB_15).args(["--out", recorded.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // (fault, the faulty role, degree, whether the honest side answers from the trace
    // directory)
    let games = [
        ("stack@3001", "defender", "2", true),
        ("branch@2000", "challenger", "4", false),
        ("halt@20000", "defender", "3", false),
    ];
    let transcripts: Vec<PathBuf> = (0..games.len()).map(|i| dir.join(format!("game{i}.json"))).collect();
    let running: Vec<_> = games
        .iter()
        .zip(&transcripts)
        .map(|(&(fault, faulty, degree, from_trace), transcript)| {
            let referee = Referee::start(&[
                "--degree",
                degree,
                "--timeout",
                "20",
                "--transcript",
                transcript.to_str().unwrap(),
                "--json",
            ]);
            let honest_role = if faulty == "defender" { "challenger" } else { "defender" };
            let mut honest_args = FIB_15.to_vec();
            if from_trace {
                honest_args.extend(["--trace", recorded.to_str().unwrap()]);
            }
            honest_args.push("--json");
            let liar = referee.party(faulty, &[&FIB_15[..], &["--fault", fault, "--json"]].concat());
            let honest = referee.party(honest_role, &honest_args);
            (referee, honest, liar)
        })
        .collect();
    for (((referee, honest, liar), &(fault, faulty, degree, _)), transcript) in
        running.into_iter().zip(&games).zip(&transcripts)
    {
        let (honest, liar) = (finish(honest, "the honest party"), finish(liar, "the faulty party"));
        let ended = referee.end();
        assert!(ended.status.success(), "{fault}: {:?}", ended.events);
        let report = json_of(ended.stdout.as_bytes());
        let honest_role = if faulty == "defender" { "challenger" } else { "defender" };
        assert_eq!(report["winner"], honest_role, "{fault}: {report}");
        assert_eq!(report["degree"], degree.parse::<u64>().unwrap());
        for key in ["rounds", "diverged_step", "instruction", "proof_bytes", "verdict"] {
            assert!(!report[key].is_null(), "{fault}: no {key} in {report}");
        }
        assert_eq!(report["rejected"], json!({"defender": [], "challenger": []}));
        assert!(ended.events.iter().any(|e| e.contains("the defender joined from 127.0.0.1:")), "{:?}", ended.events);
        // The same game in one process comes to the same step and verdict.
        let local = verigame()
            .args(["dispute"])
            .args(FIB_15)
            .args(["--fault", fault, "--faulty-role", faulty, "--degree", degree, "--json"])
            .output()
            .unwrap();
        let local = json_of(&local.stdout);
        for key in
            ["winner", "rounds", "diverged_step", "function", "instruction", "proof_bytes", "verdict", "disputed"]
        {
            assert_eq!(report[key], local[key], "{fault}: {key}");
        }
        // Each party hears the result; the honest one exits 0, the liar 1.
        assert_eq!(honest.status.code(), Some(0), "{fault}: {}", stderr(&honest));
        assert_eq!(liar.status.code(), Some(1), "{fault}: {}", stderr(&liar));
        let (h, l) = (json_of(&honest.stdout), json_of(&liar.stdout));
        assert_eq!(
            (h["won"].clone(), h["role"].clone(), l["won"].clone()),
            (json!(true), json!(honest_role), json!(false))
        );
        assert_eq!(h["diverged_step"], report["diverged_step"]);
        assert!(stderr(&honest).contains(&format!("joined as the {honest_role}")), "{}", stderr(&honest));
        let t: Json = serde_json::from_str(&std::fs::read_to_string(transcript).unwrap()).unwrap();
        assert_eq!(t["winner"], honest_role);
        assert_eq!(t["ruling"]["step"], report["diverged_step"]);
        assert!(is_hash(&t["ruling"]["judged_after"]), "{fault}");
    }
}

#[test]
fn the_text_reports_name_the_winner_on_both_sides() {
    let referee = Referee::start(&["--timeout", "20"]);
    let liar = referee.party("challenger", &[&FIB_15[..], &["--fault", "claim@2"]].concat());
    let honest = referee.party("defender", &FIB_15);
    let (honest, liar) = (finish(honest, "the defender"), finish(liar, "the challenger"));
    let ended = referee.end();
    assert!(ended.status.success());
    for line in [
        "degree 2, initial state 0x",
        "defender (at 127.0.0.1:",
        "round  15:",
        "diverged at step",
        "verdict: ",
        "winner: defender",
    ] {
        assert!(ended.stdout.contains(line), "no {line:?} in\n{}", ended.stdout);
    }
    let text = String::from_utf8_lossy(&honest.stdout);
    assert!(text.contains("winner: defender (this party)") && text.contains("15 rounds at degree 2"), "{text}");
    assert!(String::from_utf8_lossy(&liar.stdout).contains("winner: defender (the other party)"));
    assert_eq!((honest.status.code(), liar.status.code()), (Some(0), Some(1)));
}

#[test]
fn a_party_that_stops_answering_loses_by_timeout() {
    let mut referee = Referee::start(&["--timeout", "1", "--json"]);
    let honest = referee.party("defender", &FIB_15);
    referee.wait_for("the defender joined");
    let mut silent = Raw::connect(&referee.address);
    silent.send(&hello("challenger", &fib_call("15", u64::MAX)));
    let welcome = silent.recv().unwrap();
    assert_eq!(
        (welcome["type"].clone(), welcome["role"].clone(), welcome["timeout_ms"].clone()),
        (json!("welcome"), json!("challenger"), json!(1000))
    );
    assert_eq!(silent.recv().unwrap(), json!({"type": "claim"}));
    // ... and says nothing more. The result still comes.
    let started = Instant::now();
    let result = silent.recv().unwrap();
    assert!(started.elapsed() >= Duration::from_millis(900), "{:?}", started.elapsed());
    assert_eq!(result["type"], "result");
    assert_eq!(result["winner"], "defender");
    assert!(
        result["reason"].as_str().unwrap().contains("the challenger forfeits: no answer to the claim within 1 s"),
        "{result}"
    );
    assert!(silent.recv().is_none(), "the referee closes the connection after the result");
    let honest = finish(honest, "the defender");
    assert_eq!(honest.status.code(), Some(0), "{}", stderr(&honest));
    let ended = referee.end();
    assert!(ended.status.success());
    let report = json_of(ended.stdout.as_bytes());
    assert_eq!(report["winner"], "defender");
    assert_eq!(report["rounds"], 0);
}

#[test]
fn garbage_and_out_of_turn_messages_are_rejected_and_the_game_ends_right() {
    let mut referee = Referee::start(&["--timeout", "20", "--json"]);
    let liar = referee.party("defender", &[&FIB_15[..], &["--fault", "stack@3001"]].concat());
    referee.wait_for("the defender joined");
    let call = fib_call("15", u64::MAX);
    let limits = Limits { interval: 1024, ..Limits::default() };
    let mut honest = LocalParty { trace: Trace::record(call.clone(), None, limits, &mut |_| {}).unwrap() };
    let mut raw = Raw::connect(&referee.address);
    raw.send(&hello("challenger", &call));
    assert_eq!(raw.recv().unwrap()["type"], "welcome");
    let mut rejected = Vec::new();
    let too_long = format!("a line longer than {} bytes", traces::wire::MAX_ANSWER_LINE);
    let result = loop {
        let request = raw.recv().expect("the game goes on");
        // Each request first gets junk, each piece answered with an error, then the answer.
        let (junk, answer): (Vec<(String, &str)>, String) = match request["type"].as_str().unwrap() {
            "claim" => {
                let c = honest.claim().unwrap();
                let junk = vec![
                    ("this is not json".to_string(), "not JSON"),
                    ("x".repeat(3 << 20), too_long.as_str()),
                    (
                        json!({"type": "hashes", "round": 1, "hashes": []}).to_string(),
                        "out of turn: a `hashes` message",
                    ),
                    (
                        json!({"type": "claim", "steps": "many", "final_hash": merkle_memory::hex(&c.final_hash)})
                            .to_string(),
                        "`steps` is not an integer",
                    ),
                    (hello("challenger", &call), "out of turn: a hello"),
                ];
                (
                    junk,
                    json!({"type": "claim", "steps": c.steps, "final_hash": merkle_memory::hex(&c.final_hash)})
                        .to_string(),
                )
            }
            "hashes" => {
                let round = request["round"].as_u64().unwrap() as u32;
                let range = (request["range"][0].as_u64().unwrap(), request["range"][1].as_u64().unwrap());
                let points: Vec<u64> =
                    request["points"].as_array().unwrap().iter().map(|p| p.as_u64().unwrap()).collect();
                let hashes: Vec<String> =
                    honest.hashes(round, range, &points).unwrap().iter().map(merkle_memory::hex).collect();
                let junk = vec![
                    (json!({"type": "hashes", "round": round + 1, "hashes": hashes}).to_string(), "but this is round"),
                    (
                        json!({"type": "hashes", "round": round, "hashes": [hashes[0], hashes[0]]}).to_string(),
                        "2 hashes for the 1 points",
                    ),
                    ("[1, 2, 3]".to_string(), "not a JSON object"),
                ];
                (junk, json!({"type": "hashes", "round": round, "hashes": hashes}).to_string())
            }
            "prove" => {
                let step = request["step"].as_u64().unwrap();
                let proof = judge::json::to_json(&honest.prove(step).unwrap());
                let junk = vec![
                    (
                        json!({"type": "proof", "step": step + 1, "proof": proof}).to_string(),
                        "but the step in question is",
                    ),
                    (
                        json!({"type": "proof", "step": step, "proof": {"version": 1}}).to_string(),
                        "`proof`: not a proof",
                    ),
                    (json!({"type": "nonsense"}).to_string(), "unknown message type `nonsense`"),
                ];
                (junk, json!({"type": "proof", "step": step, "proof": proof}).to_string())
            }
            "result" => break request,
            other => panic!("unexpected request {other}: {request}"),
        };
        for (line, _) in &junk {
            raw.send(line);
        }
        raw.send(&answer);
        for (_, reason) in junk {
            let got = raw.error();
            assert!(got.contains(reason), "{got} (expected {reason})");
            rejected.push(got);
        }
    };
    // The game came out as it does without the junk.
    assert_eq!(result["winner"], "challenger", "{result}");
    let local = verigame().args(["dispute"]).args(FIB_15).args(["--fault", "stack@3001", "--json"]).output().unwrap();
    let local = json_of(&local.stdout);
    for key in ["winner", "rounds", "diverged_step", "instruction", "verdict"] {
        assert_eq!(result["summary"][key], local[key], "{key}");
    }
    assert_eq!(finish(liar, "the defender").status.code(), Some(1));
    let ended = referee.end();
    let report = json_of(ended.stdout.as_bytes());
    // The first reasons are kept, the rest counted.
    let kept = rejected.len().min(traces::wire::KEPT_REASONS);
    assert_eq!(report["rejected"]["challenger"], json!(rejected[..kept]));
    assert_eq!(report["rejected_count"]["challenger"], json!(rejected.len()));
    assert_eq!(report["rejected"]["defender"], json!([]));
    assert_eq!(report["rejected_count"]["defender"], json!(0));
    assert!(
        ended.events.iter().any(|e| e.contains("rejected a message from the challenger: not JSON")),
        "{:?}",
        ended.events
    );
}

#[test]
fn hellos_about_another_call_or_a_taken_seat_are_refused_and_the_game_goes_on() {
    let mut referee = Referee::start(&["--timeout", "20", "--json"]);
    let defender = referee.party("defender", &FIB_15);
    referee.wait_for("the defender joined");
    let refused = |line: String, reason: &str| {
        let mut raw = Raw::connect(&referee.address);
        raw.send(&line);
        let got = raw.error();
        assert!(got.contains(reason), "{got} (expected {reason})");
        assert!(raw.recv().is_none(), "the connection is closed");
    };
    refused(hello("challenger", &fib_call("14", u64::MAX)), "another call than the defender's: its args is");
    refused(hello("challenger", &fib_call("15", 100_000)), "its config's gas_limit is \"100000\"");
    let sort = verigame::dispute::trace_call(
        Path::new("tests/programs/sort.wasm"),
        Some("sort_checksum"),
        &["15".into()],
        stepper::Config::default(),
    )
    .unwrap();
    refused(hello("challenger", &sort), "its module_hash is");
    refused(hello("defender", &fib_call("15", u64::MAX)), "the defender's seat is taken");
    refused("{\"type\": \"hello\"}".into(), "`hello` without `version`");
    refused("GET / HTTP/1.1".into(), "not JSON");
    let challenger = referee.party("challenger", &[&FIB_15[..], &["--fault", "gas@700"]].concat());
    let (defender, challenger) = (finish(defender, "the defender"), finish(challenger, "the challenger"));
    assert_eq!((defender.status.code(), challenger.status.code()), (Some(0), Some(1)), "{}", stderr(&challenger));
    let ended = referee.end();
    assert!(ended.status.success());
    assert_eq!(json_of(ended.stdout.as_bytes())["winner"], "defender");
    assert_eq!(ended.events.iter().filter(|e| e.starts_with("refused 127.0.0.1:")).count(), 6, "{:?}", ended.events);
}

#[test]
fn a_referee_holding_a_call_refuses_every_other_one_even_first() {
    let mut referee =
        Referee::start(&["--timeout", "20", "--json", "--module", FIB, "--invoke", "fib_rec", "--arg", "15"]);
    // The first hello would otherwise name the call.
    let mut raw = Raw::connect(&referee.address);
    raw.send(&hello("defender", &fib_call("14", u64::MAX)));
    let reason = raw.error();
    assert!(reason.contains("another call than the referee's: its args is"), "{reason}");
    let defender = referee.party("defender", &FIB_15);
    referee.wait_for("the defender joined");
    let challenger = referee.party("challenger", &[&FIB_15[..], &["--fault", "stack@100"]].concat());
    let (defender, challenger) = (finish(defender, "the defender"), finish(challenger, "the challenger"));
    assert_eq!((defender.status.code(), challenger.status.code()), (Some(0), Some(1)), "{}", stderr(&challenger));
    assert!(referee.end().status.success());
}

#[test]
fn unusable_input_and_network_failures_exit_with_code_2() {
    let expect = |out: Output, message: &str| {
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(message), "{}", stderr(&out));
    };
    expect(verigame().args(["referee", "--listen", "nowhere"]).output().unwrap(), "cannot listen on nowhere");
    expect(
        verigame().args(["referee", "--listen", "127.0.0.1:0", "--timeout", "0"]).output().unwrap(),
        "a timeout is more than 0",
    );
    expect(verigame().args(["referee", "--listen", "127.0.0.1:0", "--degree", "1"]).output().unwrap(), "--degree");
    // A port nobody listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let party = |args: &[&str]| {
        verigame().args(["party", "--connect", &port, "--role", "defender"]).args(args).output().unwrap()
    };
    expect(party(&FIB_15), "cannot connect to the referee");
    expect(party(&[FIB, "--invoke", "nope"]), "no exported function `nope`");
    let dir = tmp("unusable");
    let recorded = dir.join("trace");
    let out = verigame().args(["record"]).args(FIB_15).args(["--out", recorded.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success());
    let trace = recorded.to_str().unwrap();
    expect(
        party(&[FIB, "--invoke", "fib_rec", "14", "--trace", trace]),
        "records another call than the one given: its args is",
    );
    expect(party(&[&FIB_15[..], &["--trace", trace, "--fault", "stack@3"]].concat()), "cannot be used with");
    // A referee that goes away mid-game: the party reports it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let child = verigame()
        .args(["party", "--connect", &address, "--role", "defender"])
        .args(FIB_15)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (stream, _) = listener.accept().unwrap();
    let mut first = String::new();
    BufReader::new(&stream).read_line(&mut first).unwrap();
    assert!(first.contains("\"type\":\"hello\""), "{first}");
    (&stream).write_all(b"{\"type\": \"error\", \"reason\": \"go away\"}\n").unwrap();
    drop(stream);
    expect(finish(child, "the party"), "the referee closed the connection after an error: go away");
}
