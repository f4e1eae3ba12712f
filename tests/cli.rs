//! The `verigame` binary as users run it: output formats, exit codes and error messages.

use std::process::Output;

use serde_json::{json, Value as Json};

mod support;

use support::{is_hash, verigame};

fn json_of(out: &Output) -> Json {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

const FIB: &str = "tests/programs/fib.wasm";

#[test]
fn run_json_reports_the_final_state_hash_that_state_reports_at_the_last_step() {
    let run = json_of(&verigame(&["run", FIB, "--invoke", "fib_rec", "12", "--json"]));
    assert!(is_hash(&run["state_hash"]), "{run}");
    let steps = run["steps"].as_u64().unwrap().to_string();
    let state = json_of(&verigame(&["state", FIB, "--invoke", "fib_rec", "12", "--at", &steps, "--json"]));
    assert_eq!(state["state_hash"], run["state_hash"]);
    assert_eq!(state["status"], "returned");
    // Past the end the call stays at its final state.
    let later = json_of(&verigame(&["state", FIB, "--invoke", "fib_rec", "12", "--at", "99999999", "--json"]));
    assert_eq!(later, state);
    // wasmi has no state hash.
    let wasmi = json_of(&verigame(&["run", FIB, "--invoke", "fib_rec", "12", "--engine", "wasmi", "--json"]));
    assert!(wasmi["state_hash"].is_null());
}

#[test]
fn state_json_has_the_documented_fields_at_any_step() {
    let at = |step: &str| json_of(&verigame(&["state", FIB, "--invoke", "fib_rec", "12", "--at", step, "--json"]));
    let (first, second) = (at("0"), at("1"));
    for key in ["step", "state_hash", "status", "function", "pc", "instruction", "stack_depth", "memory_pages", "gas"] {
        assert!(first.get(key).is_some(), "missing {key} in {first}");
    }
    assert_eq!(first["step"], 0);
    assert_eq!(second["step"], 1);
    assert_eq!(first["status"], "running");
    assert!(is_hash(&first["state_hash"]) && first["state_hash"] != second["state_hash"]);
    // At step 0 the entry frame holds the argument among its locals.
    assert!(first["stack_depth"].as_u64().unwrap() >= 1 && first["call_depth"] == 1, "{first}");
    assert!(first["instruction"].as_str().is_some_and(|i| !i.is_empty()));
    // The same query gives the same answer.
    assert_eq!(at("57"), at("57"));
}

#[test]
fn state_text_names_the_instruction_and_the_hash() {
    let out = verigame(&["state", FIB, "--invoke", "fib_rec", "5", "--at", "3"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for label in ["step:        3", "state hash:  0x", "status:      running", "instruction: ", "memory:      "] {
        assert!(text.contains(label), "missing {label:?} in:\n{text}");
    }
}

#[test]
fn bad_input_is_a_clear_error_with_exit_code_2() {
    let cases: [(&[&str], &str); 4] = [
        (&["state", "no/such.wasm", "--at", "1"], "cannot read module"),
        (&["state", "Cargo.toml", "--at", "1"], "cannot parse WebAssembly text"),
        (&["state", FIB, "--invoke", "nope", "--at", "1"], "no exported function `nope`"),
        (&["state", FIB, "--invoke", "fib_rec", "x", "--at", "1"], "argument 1: `x` is not a decimal integer"),
    ];
    for (args, message) in cases {
        let out = verigame(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

/// A fresh folder named `name` and this process, and the path of a proof file in it.
fn proof_file(name: &str) -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("proof.json").to_str().unwrap().to_string();
    (dir, file)
}

#[test]
fn prove_then_judge_accepts_an_honest_proof_and_refuses_a_tampered_one() {
    let (dir, file) = proof_file("verigame-cli");
    let file = file.as_str();
    for step in ["0", "37", "500"] {
        let out = verigame(&["prove", FIB, "--invoke", "fib_rec", "8", "--step", step, "--out", file]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let proof: Json = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        for key in ["step", "pre_hash", "post_hash"] {
            assert!(proof.get(key).is_some(), "missing {key}");
        }
        let state = json_of(&verigame(&["state", FIB, "--invoke", "fib_rec", "8", "--at", step, "--json"]));
        assert_eq!(proof["pre_hash"], state["state_hash"], "step {step}");
        let report = json_of(&verigame(&["judge", FIB, file, "--json"]));
        assert_eq!(report["valid"], true, "{report}");
        assert_eq!(report["post_hash"], proof["post_hash"]);
        assert!(report["proof_bytes"].as_u64().unwrap() > 0);
        for key in ["step", "pre_hash", "instruction", "reason"] {
            assert!(report.get(key).is_some(), "missing {key}");
        }
    }
    // The agreed pre-state: the proof's own is accepted, another refused.
    let proof: Json = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let pre = proof["pre_hash"].as_str().unwrap();
    let report = json_of(&verigame(&["judge", FIB, file, "--json", "--pre-hash", pre]));
    assert_eq!((report["valid"].clone(), report["pre_hash_matches"].clone()), (json!(true), json!(true)), "{report}");
    let other = proof["post_hash"].as_str().unwrap();
    let out = verigame(&["judge", FIB, file, "--json", "--pre-hash", other]);
    assert_eq!(out.status.code(), Some(1));
    let report: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["pre_hash_matches"], false);
    assert!(report["reason"].as_str().unwrap().contains("not the agreed pre-state"), "{report}");
    // The configuration travels with the proof: a proof under another gas limit is
    // checked without being told it, and a contradicting --gas-limit is refused.
    let out = verigame(&["prove", FIB, "--invoke", "fib_rec", "8", "--step", "9", "--gas-limit", "777", "--out", file]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json_of(&verigame(&["judge", FIB, file, "--json"]))["valid"], true);
    let out = verigame(&["judge", FIB, file, "--gas-limit", "778"]);
    assert_eq!(out.status.code(), Some(2));
    // A file larger than any proof is refused before it is parsed.
    std::fs::write(file, vec![b' '; (verigame::prove::MAX_PROOF_FILE + 1) as usize]).unwrap();
    let out = verigame(&["judge", FIB, file]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("more than any one-step proof"));
    let out = verigame(&["prove", FIB, "--invoke", "fib_rec", "8", "--step", "500", "--out", file]);
    assert!(out.status.success());
    // A proof of another step's state, or with a changed operand, is refused with a reason.
    let mut proof: Json = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    proof["post_hash"] = proof["pre_hash"].clone();
    std::fs::write(file, proof.to_string()).unwrap();
    let out = verigame(&["judge", FIB, file, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], false);
    assert!(report["reason"].as_str().unwrap().contains("claims post-state"), "{report}");
    // Unreadable input.
    std::fs::write(file, "{\"version\": 1").unwrap();
    let out = verigame(&["judge", FIB, file]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not JSON"));
    std::fs::write(file, "{\"version\": 1}").unwrap();
    let out = verigame(&["judge", FIB, file]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("state is missing"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 13's crash: a proof whose running pc lies outside its function's code, with
/// `pre_hash` recomputed from the edited state, is refused with a reason (it once made
/// the executor read past the code: signal 11).
#[test]
fn judge_refuses_a_consistent_proof_whose_pc_is_outside_its_function() {
    let (dir, file) = proof_file("verigame-cli-pc");
    let file = file.as_str();
    let out = verigame(&["prove", FIB, "--invoke", "fib_rec", "8", "--step", "37", "--out", file]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let honest: Json = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    for pc in [1_000_000u32, u32::MAX, 0] {
        let mut file_json = honest.clone();
        let mut proof = judge::json::from_json(&file_json).unwrap();
        proof.state.frame.pc = pc;
        proof.pre_hash = proof.state.hash();
        let edited = judge::json::to_json(&proof);
        for key in ["state", "pre_hash"] {
            file_json[key] = edited[key].clone();
        }
        std::fs::write(file, file_json.to_string()).unwrap();
        let out = verigame(&["judge", FIB, file, "--json"]);
        assert_eq!(out.status.code(), Some(1), "pc {pc}: {}", String::from_utf8_lossy(&out.stderr));
        let report: Json = serde_json::from_slice(&out.stdout).unwrap();
        assert!(report["reason"].as_str().unwrap().contains("pc"), "pc {pc}: {report}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dispute_json_names_the_honest_winner_in_either_role() {
    let sort = ["dispute", "tests/programs/sort.wasm", "--invoke", "sort_checksum", "40"];
    for (fault, role, degree) in
        [("memory@2000", "defender", "2"), ("stack@500", "challenger", "4"), ("halt@3000", "defender", "16")]
    {
        let mut args = sort.to_vec();
        args.extend(["--fault", fault, "--faulty-role", role, "--degree", degree, "--json"]);
        let out = json_of(&verigame(&args));
        let honest = if role == "defender" { "challenger" } else { "defender" };
        assert_eq!(out["honest"], honest, "{out}");
        assert_eq!(out["winner"], honest, "{out}");
        assert_eq!(out["degree"], degree.parse::<u64>().unwrap());
        for key in ["rounds", "steps_honest", "steps_faulty", "diverged_step", "instruction", "proof_bytes", "verdict"]
        {
            assert!(!out[key].is_null(), "missing {key} in {out}");
        }
        let steps = out["steps_honest"].as_u64().unwrap().max(out["steps_faulty"].as_u64().unwrap());
        assert_eq!(out["rounds"], traces::game::rounds_for(steps, degree.parse().unwrap()), "{out}");
    }
}

#[test]
fn dispute_text_and_transcript_record_every_round() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-transcript");
    std::fs::create_dir_all(&dir).unwrap();
    let transcript = dir.join("game.json");
    let out = verigame(&[
        "dispute",
        FIB,
        "--invoke",
        "fib_rec",
        "12",
        "--fault",
        "branch@300",
        "--transcript",
        transcript.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("diverged at step") && text.contains("winner: challenger (the honest party)"), "{text}");
    let t: Json = serde_json::from_str(&std::fs::read_to_string(&transcript).unwrap()).unwrap();
    let rounds = t["rounds"].as_array().unwrap();
    assert_eq!(text.matches("round ").count(), rounds.len(), "{text}");
    assert_eq!(t["winner"], "challenger");
    assert!(
        is_hash(&t["ruling"]["judged_after"]) && t["ruling"]["proof"]["pre_hash"] == t["ruling"]["agreed_hash"],
        "{t}"
    );
    // Each round keeps one of the parts it cut.
    for pair in rounds.windows(2) {
        assert_eq!(pair[0]["next"], pair[1]["range"]);
    }
}

#[test]
fn dispute_with_a_fault_that_changes_nothing_reports_no_dispute() {
    let out = json_of(&verigame(&["dispute", FIB, "--invoke", "fib_rec", "5", "--fault", "memory@0", "--json"]));
    assert_eq!(out["disputed"], false, "{out}");
    assert_eq!(out["rounds"], 0);
}

#[test]
fn dispute_and_record_reject_bad_faults_and_degrees() {
    let out = verigame(&["dispute", FIB, "--invoke", "fib_rec", "5", "--fault", "lie@3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown fault kind"));
    let out = verigame(&["dispute", FIB, "--invoke", "fib_rec", "5", "--fault", "stack@3", "--degree", "1", "--json"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stderr).contains("degree"));
}

#[test]
fn a_recorded_trace_is_queried_by_another_process() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-trace");
    let _ = std::fs::remove_dir_all(&dir);
    let rec =
        json_of(&verigame(&["record", FIB, "--invoke", "fib_rec", "12", "--out", dir.to_str().unwrap(), "--json"]));
    let steps = rec["steps"].as_u64().unwrap();
    let run = json_of(&verigame(&["run", FIB, "--invoke", "fib_rec", "12", "--json"]));
    assert_eq!((rec["steps"].clone(), rec["final_hash"].clone()), (run["steps"].clone(), run["state_hash"].clone()));
    for at in [0, 1, steps / 3, steps, steps + 10] {
        let q = json_of(&verigame(&["query", dir.to_str().unwrap(), "--at", &at.to_string(), "--json"]));
        let s = json_of(&verigame(&["state", FIB, "--invoke", "fib_rec", "12", "--at", &at.to_string(), "--json"]));
        assert_eq!(q["state_hash"], s["state_hash"], "step {at}");
        // The trace's checkpoints give the same state and the same proof as a replay.
        let t = json_of(&verigame(&["state", "--trace", dir.to_str().unwrap(), "--at", &at.to_string(), "--json"]));
        assert_eq!(t, s, "step {at}");
        let traced = verigame(&["prove", "--trace", dir.to_str().unwrap(), "--step", &at.to_string()]);
        let replayed = verigame(&["prove", FIB, "--invoke", "fib_rec", "12", "--step", &at.to_string()]);
        assert!(traced.status.success() && traced.stdout == replayed.stdout, "step {at}");
    }
    let both = verigame(&["state", FIB, "--trace", dir.to_str().unwrap(), "--at", "1"]);
    assert_eq!(both.status.code(), Some(2), "a module and a trace at once are refused");
    // A second recording into the same directory would overwrite it: refused.
    let again = verigame(&["record", FIB, "--invoke", "fib_rec", "12", "--out", dir.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a trace"));
    // A damaged trace is reported, never answered from.
    std::fs::write(dir.join("manifest.json"), "{").unwrap();
    let q = verigame(&["query", dir.to_str().unwrap(), "--at", "1"]);
    assert_eq!(q.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&q.stderr).contains("manifest.json"));
}

// `verigame tui` up to the terminal (tests/tui_smoke.sh drives the terminal under tmux).

const SORT: &str = "tests/programs/sort.wasm";

/// A game over sort_checksum(100) whose defender writes a wrong byte, as JSON on disk.
fn recorded_game(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("tui-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let out = verigame(&[
        "dispute",
        SORT,
        "--invoke",
        "sort_checksum",
        "100",
        "--fault",
        "memory@2000",
        "--transcript",
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    path
}

#[track_caller]
fn refused(args: &[&str], reason: &str) {
    let out = verigame(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(reason), "{args:?} should say `{reason}`: {stderr}");
}

#[test]
fn tui_refuses_unusable_input_with_exit_code_2_before_taking_the_terminal() {
    refused(&["tui"], "give a module to step through");
    refused(&["tui", "tests/programs/none.wasm"], "cannot read module");
    refused(&["tui", SORT, "--invoke", "sort_checksum"], "takes 1 argument");
    refused(&["tui", "--transcript", "nowhere.json"], "nowhere.json");
    refused(&["tui", "--transcript", "x.json", "--invoke", "f"], "cannot be used with");

    let game = recorded_game("damaged.json");
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(&game).unwrap()).unwrap();
    json["rounds"][3]["challenger"][0] = "0xabc".into();
    std::fs::write(&game, json.to_string()).unwrap();
    refused(&["tui", "--transcript", game.to_str().unwrap()], "`rounds[3].challenger[0]` is not 0x and 64 hex digits");

    let game = recorded_game("other-module.json");
    refused(&["tui", "--transcript", game.to_str().unwrap(), "tests/programs/fib.wasm"], "the module's hash is");
}

#[test]
fn tui_replays_a_recorded_dispute_to_the_disputed_step_in_the_stepper() {
    let game = recorded_game("game.json");
    let mut app = tui::replay_from_files(
        &game,
        Some(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/programs/sort.wasm"))),
    )
    .unwrap();
    let ruling = app.replay.as_ref().unwrap().transcript.ruling.clone().unwrap();
    assert_eq!(ruling.instruction.as_deref(), Some("i32.store"));
    use crossterm::event::{KeyCode, KeyEvent};
    app.on_key(KeyEvent::from(KeyCode::End));
    app.on_key(KeyEvent::from(KeyCode::Enter));
    while app.is_busy() {
        app.work();
    }
    let session = &app.stepper.as_ref().unwrap().session;
    assert_eq!(session.steps(), ruling.step);
    assert_eq!(session.facts.hash, ruling.agreed_hash);
}
