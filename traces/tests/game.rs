//! Games between an honest party and a liar of every kind, in both roles and at several
//! degrees: the honest side wins every one, in exactly ceil(log_k N) rounds.

use stepper::{Config, Value};
use traces::game::{dispute, rounds_for};
use traces::{Call, Fault, Limits, Role, Trace};

const PROGRAM: &str = r#"(module
  (memory 1)
  (func $mix (param i32) (result i32)
    local.get 0 i32.const 31 i32.mul i32.const 7 i32.add)
  (func (export "run") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (loop $top
      (local.set $acc (call $mix (i32.add (local.get $acc) (local.get $i))))
      (i32.store (i32.and (i32.mul (local.get $i) (i32.const 4)) (i32.const 0xfff)) (local.get $acc))
      (br_if $top (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (local.get $acc)))"#;

fn call(n: i32, gas_limit: u64) -> Call {
    let config = Config { gas_limit, ..Config::default() };
    Call::new(PROGRAM.as_bytes().to_vec(), "run", vec![Value::I32(n)], config).unwrap()
}

/// Small checkpoint budgets, so recording thins and the game refocuses.
fn limits() -> Limits {
    Limits { interval: 32, max_checkpoints: 6, ..Limits::default() }
}

fn record(call: &Call, fault: Option<Fault>) -> Trace {
    Trace::record(call.clone(), fault, limits(), &mut |_| {}).unwrap()
}

fn play(call: &Call, fault: Fault, faulty: Role, degree: u64) -> traces::Outcome {
    dispute(call, fault, faulty, degree, &limits(), &|_, _| {}).unwrap()
}

#[test]
fn an_honest_recording_hashes_every_step_like_a_fresh_run() {
    let c = call(40, u64::MAX);
    let mut trace = record(&c, None);
    assert!(trace.checkpoints().count() <= 6);
    let mut m = c.start().unwrap();
    let mut expected = vec![merkle_memory::state_hash(&mut m)];
    while !m.status().is_halted() {
        m.step();
        expected.push(merkle_memory::state_hash(&mut m));
    }
    assert_eq!(trace.steps() + 1, expected.len() as u64);
    let points: Vec<u64> = (0..expected.len() as u64 + 5).collect();
    let hashes = trace.hashes_at(&points).unwrap();
    for (n, h) in hashes.iter().enumerate() {
        assert_eq!(*h, expected[n.min(expected.len() - 1)], "step {n}");
    }
    // Backwards, every answer goes back through the ways back.
    for n in (0..expected.len()).rev() {
        assert_eq!(trace.hash_at(n as u64).unwrap(), expected[n], "step {n}");
    }
}

#[test]
fn focus_drops_the_ways_back_before_it_and_keeps_answers() {
    let c = call(60, u64::MAX);
    let mut trace = record(&c, None);
    let fresh = record(&c, None).hashes_at(&(0..trace.steps()).collect::<Vec<_>>()).unwrap();
    let held = trace.memory_bytes();
    let (lo, hi) = (trace.steps() / 3, trace.steps() / 3 + 40);
    trace.focus(lo);
    assert!(trace.memory_bytes() < held, "{} !< {held}", trace.memory_bytes());
    for n in (lo..=hi).rev() {
        assert_eq!(trace.hash_at(n).unwrap(), fresh[n as usize], "step {n}");
    }
    // Before `lo`, the call restarts.
    assert_eq!(trace.hash_at(lo / 2 + 1).unwrap(), fresh[(lo / 2 + 1) as usize]);
}

#[test]
fn every_kind_of_liar_loses_in_either_role_at_any_degree() {
    let c = call(50, u64::MAX);
    let steps = record(&c, None).steps();
    let faults = [
        Fault::Stack(10),
        Fault::Memory(3),
        Fault::Branch(100),
        Fault::Gas(7),
        Fault::Halt(steps / 2),
        Fault::Extend(0),
        Fault::Extend(steps + 100),
        Fault::Claim(0),
        Fault::Claim(2),
        Fault::Stack(steps - 1),
    ];
    for fault in faults {
        for faulty in [Role::Defender, Role::Challenger] {
            for degree in [2, 3, 4, 16] {
                let outcome = play(&c, fault, faulty, degree);
                let t = &outcome.transcript;
                assert_eq!(outcome.winner, faulty.other(), "{fault} as {faulty}, k={degree}: {}", outcome.reason);
                let n = t.claims.iter().map(|c| c.unwrap().steps).max().unwrap();
                assert_eq!(t.rounds.len() as u32, rounds_for(n, degree), "{fault} as {faulty}, k={degree}");
                let ruling = t.ruling.as_ref().unwrap();
                assert!(ruling.proof_bytes > 0, "{fault}");
            }
        }
    }
}

#[test]
fn a_party_that_understates_gas_outlives_the_honest_out_of_gas_run() {
    let honest = record(&call(50, 300), None);
    assert_eq!(honest.into_executor().machine.status(), stepper::Status::OutOfGas);
    let c = call(50, 300);
    for faulty in [Role::Defender, Role::Challenger] {
        let outcome = play(&c, Fault::Gas(150), faulty, 2);
        assert_eq!(outcome.winner, faulty.other(), "{}", outcome.reason);
    }
}

#[test]
fn a_branch_liar_waits_out_steps_that_run_on_an_empty_stack() {
    // Nothing is on the stack at step 0 (no locals, no operands); the branch comes later.
    let wat = r#"(module (func (export "run") (result i32) nop (block (br_if 0 (i32.const 1)) nop) i32.const 7))"#;
    let c = Call::new(wat.as_bytes().to_vec(), "run", vec![], Config::default()).unwrap();
    for faulty in [Role::Defender, Role::Challenger] {
        let outcome = play(&c, Fault::Branch(0), faulty, 2);
        assert!(outcome.disputed, "{}", outcome.reason);
        assert_eq!(outcome.winner, faulty.other(), "{}", outcome.reason);
    }
}

#[test]
fn a_fault_without_effect_leaves_nothing_to_dispute() {
    let c = call(5, u64::MAX);
    let steps = record(&c, None).steps();
    let outcome = play(&c, Fault::Memory(steps + 10), Role::Defender, 2);
    assert_eq!(outcome.winner, Role::Defender);
    assert!(outcome.transcript.rounds.is_empty());
    assert!(outcome.reason.contains("no dispute"), "{}", outcome.reason);
}

#[test]
fn faults_parse_and_print() {
    for s in ["stack@5", "memory@0", "branch@9", "gas@1", "halt@3", "extend@4", "claim@2"] {
        assert_eq!(s.parse::<Fault>().unwrap().to_string(), s);
    }
    assert!("stack".parse::<Fault>().unwrap_err().contains("KIND@STEP"));
    assert!("lie@3".parse::<Fault>().unwrap_err().contains("unknown fault kind"));
    assert!("stack@x".parse::<Fault>().unwrap_err().contains("not a step"));
}

#[test]
fn a_transcript_reads_back_from_its_json() {
    let c = call(50, u64::MAX);
    for (fault, faulty) in [(Fault::Memory(30), Role::Defender), (Fault::Claim(1), Role::Challenger)] {
        let t = play(&c, fault, faulty, 3).transcript;
        let read = traces::Transcript::from_json(&t.to_json()).unwrap();
        assert_eq!(read, t, "{fault}");
    }
    let agreed = play(&call(5, u64::MAX), Fault::Memory(1000), Role::Defender, 2).transcript;
    assert_eq!(traces::Transcript::from_json(&agreed.to_json()).unwrap(), agreed);
}

#[test]
fn a_malformed_transcript_is_an_error_naming_the_field() {
    let t = play(&call(50, u64::MAX), Fault::Memory(30), Role::Defender, 2).transcript.to_json();
    let broken = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = t.clone();
        edit(&mut v);
        traces::Transcript::from_json(&v).unwrap_err().to_string()
    };
    type Damage<'a> = &'a dyn Fn(&mut serde_json::Value);
    let cases: [(Damage, &str); 9] = [
        (&|v| v["version"] = 2.into(), "`version`"),
        (&|v| v["degree"] = "two".into(), "`degree`"),
        (&|v| v["rounds"][1]["defender"][0] = "0x12".into(), "`rounds[1].defender[0]`"),
        (&|v| v["rounds"][0]["challenger"] = serde_json::json!([]), "`rounds[0].challenger`"),
        (&|v| v["rounds"][2]["range"] = serde_json::json!([1]), "`rounds[2].range`"),
        (&|v| v["defender"]["final_hash"] = serde_json::Value::Null, "`defender.final_hash`"),
        (&|v| v["ruling"]["proof"]["state"] = 3.into(), "`ruling.proof`"),
        (&|v| v["winner"] = "judge".into(), "`winner`"),
        (&|v| v.as_object_mut().unwrap().remove("call").map(drop).unwrap(), "`call`"),
    ];
    for (edit, field) in cases {
        let err = broken(edit);
        assert!(err.contains(field), "{err} should name {field}");
    }
    assert!(traces::Transcript::from_json(&serde_json::json!([1, 2])).unwrap_err().to_string().contains("top level"));
}

#[test]
fn no_single_damaged_value_makes_reading_a_transcript_panic() {
    let t = play(&call(30, u64::MAX), Fault::Stack(20), Role::Challenger, 2).transcript.to_json();
    fn leaves(v: &serde_json::Value, path: Vec<String>, out: &mut Vec<Vec<String>>) {
        match v {
            serde_json::Value::Object(m) => {
                m.iter().for_each(|(k, x)| leaves(x, [path.clone(), vec![k.clone()]].concat(), out))
            }
            serde_json::Value::Array(a) => {
                a.iter().enumerate().for_each(|(i, x)| leaves(x, [path.clone(), vec![i.to_string()]].concat(), out))
            }
            _ => out.push(path),
        }
    }
    let mut paths = Vec::new();
    leaves(&t, Vec::new(), &mut paths);
    for path in paths {
        let pointer: String = path.iter().map(|p| format!("/{p}")).collect();
        for replacement in
            [serde_json::Value::Null, serde_json::json!(-1), serde_json::json!("x"), serde_json::json!({})]
        {
            let mut v = t.clone();
            *v.pointer_mut(&pointer).unwrap() = replacement;
            // An error or a transcript, never a panic.
            let _ = traces::Transcript::from_json(&v);
        }
    }
}
