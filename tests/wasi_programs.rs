//! The WASI command programs of tests/programs/wasi on the stepper: every case of
//! expected.json prints exactly what its native build printed and what wasmi with
//! wasmi_wasi prints (stdout, stderr, exit code), run by the library function `verigame
//! run` uses and through the binary; modules with unknown imports are refused; and
//! disputes whose liar goes wrong inside printf, inside a WASI call or in the output
//! itself are won by the honest party.

mod support;
#[path = "support/wasi_cases.rs"]
mod wasi_cases;

use stepper::host::HostFunc;
use stepper::op::Op;
use stepper::store::Func;
use stepper::{CallInput, Config, Machine, Status};
use traces::{Fault, Role};
use verigame::run::{run_call, CommandOutput};
use wasi_cases::{load_expected, run_on_wasmi, Case};

/// The case's call as `verigame run` builds it: `_start` with the case's input.
fn call_of(case: &Case) -> traces::Call {
    let input = CallInput {
        args: case.argv().into_iter().map(String::into_bytes).collect(),
        env: case.env.iter().map(|kv| kv.clone().into_bytes()).collect(),
        stdin: case.stdin_bytes(),
        ..CallInput::default()
    };
    traces::Call::new(case.wasm(), "_start", Vec::new(), Config::default()).unwrap().with_input(input).unwrap()
}

#[test]
fn every_case_matches_the_native_run_and_wasmi_on_the_stepper() {
    let expected = load_expected();
    assert!(expected.len() >= 25, "expected.json lists the cases");
    let mut failures = Vec::new();
    for e in &expected {
        let case = &e.case;
        let outcome = run_call(&call_of(case), u64::MAX, true).unwrap();
        let output = outcome.output.clone().unwrap();
        let native = CommandOutput {
            stdout: e.stdout.clone().into_bytes(),
            stderr: e.stderr.clone().into_bytes(),
            exit_code: Some(e.exit_code as u32),
        };
        let (stdout, stderr, code) = run_on_wasmi(&case.wasm(), &case.argv(), &case.env_pairs(), &case.stdin_bytes());
        let wasmi = CommandOutput { stdout, stderr, exit_code: Some(code as u32) };
        if output != native {
            failures.push(format!("{}: stepper {output:?} ({})\n  native {native:?}", case.name, outcome.status));
        }
        if output != wasmi {
            failures.push(format!("{}: stepper {output:?}\n  wasmi {wasmi:?}", case.name));
        }
        let want = if e.exit_code == 0 && outcome.status == "returned" { "returned" } else { "exited" };
        if outcome.status != want {
            failures.push(format!("{}: status {} ({:?})", case.name, outcome.status, outcome.trap));
        }
    }
    assert!(failures.is_empty(), "{} mismatch(es):\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn the_binary_runs_a_command_with_its_input_output_and_exit_code() {
    let dir = "tests/programs/wasi";
    let out = support::verigame(&["run", &format!("{dir}/hello.wasm")]);
    let hello = load_expected().into_iter().find(|e| e.case.name == "hello").unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), hello.stdout);

    // The program exits with the code it chose.
    let out = support::verigame(&["run", &format!("{dir}/exit.wasm"), "exit", "7"]);
    assert_eq!(out.status.code(), Some(7));
    let out = support::verigame(&["run", &format!("{dir}/exit.wasm"), "--arg0", "quit"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8(out.stderr).unwrap(), "usage: exit.wasm (exit|return|atexit) CODE\n");

    // Environment, standard input from a file, and --json on both engines.
    let args = ["run", "tests/programs/wasi/stdin.wasm", "--stdin", "tests/programs/wasi/input/poem.txt", "--json"];
    let poem = load_expected().into_iter().find(|e| e.case.name == "stdin_file").unwrap();
    for engine in ["stepper", "wasmi"] {
        let out = support::verigame(&[&args[..], &["--engine", engine]].concat());
        assert_eq!(out.status.code(), Some(poem.exit_code));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["stdout"], poem.stdout, "{engine}");
        assert_eq!(json["stderr"], poem.stderr, "{engine}");
        assert_eq!(json["exit_code"], poem.exit_code, "{engine}");
        assert_eq!(json.get("stdout_hex"), None, "{engine}: UTF-8 output has no hex form");
        assert_eq!(support::is_hash(&json["state_hash"]), engine == "stepper", "{json}");
    }
    let out = support::verigame(&["run", &format!("{dir}/env.wasm"), "--env", "USER=bob", "--env", "EMPTY="]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("USER=\"bob\"\n") && text.contains("EMPTY=\"\"\n"), "{text}");

    // A command that does not exit by itself: 134.
    let out = support::verigame(&["run", &format!("{dir}/hello.wasm"), "--max-steps", "100"]);
    assert_eq!(out.status.code(), Some(134));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did not exit"));
}

#[test]
fn the_input_is_in_the_call_and_changes_the_state() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/wasi/hello.wasm");
    let wasi = verigame::run::WasiArgs {
        env: vec!["A=1".into()],
        seed: Some([7; 32]),
        clock: 5,
        arg0: Some("hello".into()),
        ..Default::default()
    };
    let call = verigame::run::build_call(&path, None, &["x".into()], &wasi, Config::default()).unwrap();
    assert_eq!(call.export, "_start");
    assert_eq!(call.input.args, vec![b"hello".to_vec(), b"x".to_vec()]);
    assert_eq!((call.input.env.clone(), call.input.seed, call.input.clock), (vec![b"A=1".to_vec()], [7; 32], 5));
    let json = call.to_json();
    assert_eq!(json["input"]["clock"], "5");
    let back = traces::Call::from_json(&json, std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(back.input, call.input);
    let plain = verigame::run::build_call(&path, None, &[], &Default::default(), Config::default()).unwrap();
    let hash = |c: &traces::Call| merkle_memory::state_hash(&mut c.start().unwrap());
    assert_ne!(hash(&plain), hash(&call));
}

#[test]
fn a_module_with_unknown_imports_is_refused_naming_them_all() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasi-programs");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("unknown.wat");
    std::fs::write(
        &path,
        r#"(module
             (import "wasi_snapshot_preview1" "sock_nonesuch" (func (param i32)))
             (import "env" "host_magic" (func))
             (func (export "_start")))"#,
    )
    .unwrap();
    for engine in ["stepper", "wasmi"] {
        let out = support::verigame(&["run", path.to_str().unwrap(), "--engine", engine]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{engine}: {err}");
        if engine == "stepper" {
            assert!(err.contains("sock_nonesuch") && err.contains("host_magic"), "{err}");
        }
    }
}

/// Whether the machine's next step is (one step of) a call of a WASI function.
fn at_wasi_call(m: &Machine, name: &str) -> bool {
    let Some(frame) = m.frames().last() else { return false };
    let Func::Wasm { instance, .. } = m.store().funcs[frame.func as usize] else { return false };
    let inst = &m.store().instances[instance as usize];
    match inst.module.code[m.pc() as usize] {
        Op::Call(index) => matches!(
            m.store().funcs[inst.funcs[index as usize] as usize],
            Func::Host { func: HostFunc::Wasi(w), .. } if w.name() == name
        ),
        _ => false,
    }
}

/// Plays a dispute over `call` with `fault` in each role: the honest party wins, and the
/// ruling's proof is valid and gives the honest post-state.
fn honest_wins(call: &traces::Call, fault: Fault) {
    for faulty in [Role::Defender, Role::Challenger] {
        let game = format!("{fault} by the {faulty:?}");
        let outcome = traces::game::dispute(call, fault, faulty, 4, &traces::Limits::default(), &|_, _| {}).unwrap();
        assert!(outcome.disputed, "{game}: undisputed");
        assert_eq!(outcome.winner, faulty.other(), "{game}: {}", outcome.reason);
        let ruling = outcome.transcript.ruling.as_ref().unwrap_or_else(|| panic!("{game}: {}", outcome.reason));
        let proof = ruling.proof.as_ref().unwrap_or_else(|| panic!("{game}: no proof: {}", outcome.reason));
        let judge = judge::Judge::new(call.module.clone(), call.config.clone()).unwrap();
        let verdict = judge.check(proof).unwrap_or_else(|e| panic!("{game}: the proof does not check: {e}"));
        assert_eq!(Some(verdict.post_hash), ruling.judged_after, "{game}");
        assert_eq!(ruling.rejected, None, "{game}");
        let honest = ruling.claimed_after[if faulty == Role::Defender { 1 } else { 0 }];
        assert_eq!(verdict.post_hash, honest, "{game}: the judge sides with the honest hash");
    }
}

#[test]
fn disputes_inside_printf_and_inside_a_wasi_call_are_won_by_the_honest_party() {
    let hello = load_expected().into_iter().find(|e| e.case.name == "hello").unwrap();
    let call = call_of(&hello.case);
    // The steps of the first fd_write and of the end.
    let mut m = call.start().unwrap();
    let mut first_write = None;
    while !m.status().is_halted() {
        if first_write.is_none() && at_wasi_call(&m, "fd_write") {
            first_write = Some(m.steps());
        }
        m.step();
    }
    assert_eq!(m.status(), Status::Returned);
    let first_write = first_write.expect("hello writes");
    assert!(first_write > 100, "printf runs before its write: {first_write}");

    // Inside printf: before the first write, in the middle of formatting.
    let printf = first_write / 2;
    honest_wins(&call, Fault::Memory(printf));
    honest_wins(&call, Fault::Stack(printf));
    // Inside the WASI call: the step of the call of fd_write itself.
    honest_wins(&call, Fault::Stack(first_write));
    honest_wins(&call, Fault::Memory(first_write));
    // In the output: a byte fd_write wrote to stdout.
    honest_wins(&call, Fault::Output(first_write));
    honest_wins(&call, Fault::Output(0));
}

#[test]
fn the_output_fault_lies_in_the_output_only() {
    let hello = load_expected().into_iter().find(|e| e.case.name == "hello").unwrap();
    let call = call_of(&hello.case);
    let mut liar = traces::Executor::new(call.start().unwrap(), Some(Fault::Output(0)));
    liar.advance(u64::MAX);
    let mut honest = call.start().unwrap();
    honest.run(u64::MAX);
    let (lie, truth) = (liar.machine.io().stdout().to_vec(), honest.io().stdout().to_vec());
    assert_eq!(lie.len(), truth.len());
    let differ: Vec<usize> = (0..lie.len()).filter(|&i| lie[i] != truth[i]).collect();
    assert_eq!(differ.len(), 1, "one byte differs");
    assert_eq!(lie[differ[0]], truth[differ[0]] ^ 0xff);
    assert_eq!(liar.machine.status(), honest.status());
}

#[test]
fn a_referee_tells_calls_with_another_input_apart() {
    let hello = load_expected().into_iter().find(|e| e.case.name == "hello").unwrap();
    let call = call_of(&hello.case);
    let other = call.clone().with_input(CallInput { clock: 1, ..call.input.clone() }).unwrap();
    let difference = traces::wire::call_difference(&call.to_json(), &other.to_json()).unwrap();
    assert!(difference.contains("its input is"), "{difference}");
    assert_eq!(traces::wire::call_difference(&call.to_json(), &call.clone().to_json()), None);
    // A call without input has the empty one.
    let plain = traces::Call::new(hello.case.wasm(), "_start", Vec::new(), Config::default()).unwrap();
    let mut bare = plain.to_json();
    bare.as_object_mut().unwrap().remove("input");
    assert_eq!(traces::wire::call_difference(&plain.to_json(), &bare), None);
}

#[test]
fn every_command_that_takes_a_call_takes_its_wasi_input() {
    let json = |args: &[&str]| -> serde_json::Value {
        let out = support::verigame(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let module = "tests/programs/wasi/env.wasm";
    let input = ["--env", "USER=bob", "--seed", &"ab".repeat(32), "--clock", "1000"];
    let run = json(&[&["run", module, "x", "--json"][..], &input].concat());
    let steps = run["steps"].to_string();
    let state = json(&[&["state", module, "x", "--at", &steps, "--json"][..], &input].concat());
    assert_eq!(state["state_hash"], run["state_hash"]);
    let plain = json(&["state", module, "x", "--at", &steps, "--json"]);
    assert_ne!(plain["state_hash"], run["state_hash"], "the input is in the state");

    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasi-commands");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let proof = dir.join("proof.json");
    let proof = proof.to_str().unwrap();
    let out = support::verigame(&[&["prove", module, "x", "--step", "500", "--out", proof][..], &input].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json(&["judge", module, proof, "--json"])["valid"], true);

    let trace = dir.join("trace");
    let trace = trace.to_str().unwrap();
    let recorded = json(&[&["record", module, "x", "--out", trace, "--json"][..], &input].concat());
    assert_eq!(recorded["final_hash"], run["state_hash"]);
    let game = json(&[&["dispute", module, "x", "--fault", "output@0", "--json"][..], &input].concat());
    assert_eq!(game["winner"], "challenger", "{game}");
}

#[test]
fn output_that_is_not_utf8_is_printed_as_is_and_in_hex_in_json_and_a_trap_exits_134() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasi-programs-bytes");
    std::fs::create_dir_all(&dir).unwrap();
    let module = |name: &str, tail: &str| {
        let path = dir.join(name);
        std::fs::write(
            &path,
            format!(
                r#"(module
                     (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
                     (memory (export "memory") 1)
                     (data (i32.const 0) "\08\00\00\00\03\00\00\00\ffA\n")
                     (func (export "_start") (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 64))) {tail}))"#
            ),
        )
        .unwrap();
        path.to_str().unwrap().to_string()
    };
    let bytes = module("bytes.wat", "");
    let out = support::verigame(&["run", &bytes]);
    assert_eq!((out.status.code(), out.stdout), (Some(0), b"\xffA\n".to_vec()));
    let out = support::verigame(&["run", &bytes, "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((json["stdout"].as_str(), json["stdout_hex"].as_str()), (Some("\u{fffd}A\n"), Some("0xff410a")));
    assert_eq!((json["exit_code"].as_u64(), json["status"].as_str()), (Some(0), Some("returned")));

    let trap = module("trap.wat", "unreachable");
    let out = support::verigame(&["run", &trap]);
    assert_eq!((out.status.code(), out.stdout), (Some(134), b"\xffA\n".to_vec()));
    assert!(String::from_utf8_lossy(&out.stderr).contains("trapped"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = support::verigame(&["run", &trap, "--engine", "wasmi", "--json"]);
    assert_eq!(out.status.code(), Some(134));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((json["status"].as_str(), json["exit_code"].is_null()), (Some("trapped"), true), "{json}");
    assert_eq!(json["stdout_hex"], "0xff410a");
}
