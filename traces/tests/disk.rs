//! Trace directories: what `save` writes, `open` reads back whole, and every kind of
//! damage to it is reported with the file it concerns.

use std::fs;
use std::path::{Path, PathBuf};

use stepper::{Config, Value};
use traces::{Call, Fault, Limits, Trace};

const PROGRAM: &str = r#"(module
  (memory 1)
  (func (export "fill") (param $n i32) (result i32)
    (local $i i32)
    (loop $top
      (i32.store8 (local.get $i) (i32.mul (local.get $i) (i32.const 7)))
      (br_if $top (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (i32.load (i32.const 4))))"#;

fn recorded(fault: Option<Fault>) -> Trace {
    let call = Call::new(PROGRAM.as_bytes().to_vec(), "fill", vec![Value::I32(300)], Config::default()).unwrap();
    Trace::record(call, fault, Limits { interval: 50, max_checkpoints: 5, ..Limits::default() }, &mut |_| {}).unwrap()
}

/// A fresh directory under the target folder, removed first if an earlier run left it.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn saved(name: &str, fault: Option<Fault>) -> (Trace, PathBuf) {
    let mut trace = recorded(fault);
    let dir = scratch(name);
    trace.save(&dir).unwrap();
    (trace, dir)
}

fn ways_back(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = fs::read_dir(dir.join("back")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

fn first_way_back(dir: &Path) -> PathBuf {
    ways_back(dir).remove(1)
}

fn open_error(dir: &Path) -> String {
    Trace::open(dir).unwrap_err().to_string()
}

#[test]
fn a_reopened_trace_answers_like_the_recorded_one() {
    for fault in [None, Some(Fault::Memory(400)), Some(Fault::Extend(0)), Some(Fault::Halt(900))] {
        let (mut trace, dir) = saved(&format!("reopen-{}", fault.map_or("honest".into(), |f| f.to_string())), fault);
        let mut reopened = Trace::open(&dir).unwrap();
        assert_eq!((reopened.steps(), reopened.final_hash()), (trace.steps(), trace.final_hash()));
        assert_eq!(reopened.fault, fault);
        let points: Vec<u64> = (0..trace.steps() + 3).step_by(7).collect();
        assert_eq!(reopened.hashes_at(&points).unwrap(), trace.hashes_at(&points).unwrap(), "{fault:?}");
        // Backwards too: each goes back through the ways back read from disk.
        for &n in points.iter().rev() {
            assert_eq!(reopened.hash_at(n).unwrap(), trace.hash_at(n).unwrap(), "{fault:?} at {n}");
        }
    }
}

#[test]
fn saving_twice_into_one_directory_is_refused() {
    let (mut trace, dir) = saved("twice", None);
    let err = trace.save(&dir).unwrap_err().to_string();
    assert!(err.contains("already holds a trace"), "{err}");
}

#[test]
fn a_truncated_way_back_is_reported() {
    let (_, dir) = saved("truncated", None);
    let file = first_way_back(&dir);
    let bytes = fs::read(&file).unwrap();
    fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let err = open_error(&dir);
    assert!(err.contains("truncated") && err.contains(file.file_name().unwrap().to_str().unwrap()), "{err}");
}

#[test]
fn a_corrupted_way_back_is_reported() {
    let (_, dir) = saved("corrupted", None);
    let file = first_way_back(&dir);
    let mut bytes = fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&file, &bytes).unwrap();
    assert!(open_error(&dir).contains("corrupted"));
}

/// Makes the manifest's record of way back `i` match what its file now holds.
fn rerecord(dir: &Path, i: usize) {
    let manifest_path = dir.join("manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_str(&fs::read_to_string(&manifest_path).unwrap()).unwrap();
    let bytes = fs::read(&ways_back(dir)[i]).unwrap();
    let entry = manifest["checkpoints"].as_array_mut().unwrap().iter_mut().filter(|c| !c["way_back"].is_null()).nth(i);
    let stored = &mut entry.unwrap()["way_back"];
    stored["bytes"] = bytes.len().into();
    stored["digest"] = merkle_memory::hex(&merkle_memory::hash::keccak(&bytes)).into();
    fs::write(&manifest_path, manifest.to_string()).unwrap();
}

#[test]
fn a_way_back_swapped_for_another_is_reported() {
    let (_, dir) = saved("swapped", None);
    let files = ways_back(&dir);
    fs::copy(&files[2], &files[1]).unwrap();
    // The manifest's size and digest match the swapped file: the step it leads to tells.
    rerecord(&dir, 1);
    let err = open_error(&dir);
    assert!(err.contains("leads to step"), "{err}");
}

#[test]
fn a_way_back_from_another_run_is_reported_when_used() {
    // A liar's way back to the same step, after its lie: it decodes, leads to the right
    // step, and gives back the liar's memory, which the recorded state hash refuses.
    let (_, dir) = saved("foreign", None);
    let (_, liar) = saved("foreign-liar", Some(Fault::Memory(120)));
    let (ours, theirs) = (ways_back(&dir), ways_back(&liar));
    let last = ours.len() - 1;
    assert_eq!(ours[last].file_name(), theirs[last].file_name());
    fs::copy(&theirs[last], &ours[last]).unwrap();
    rerecord(&dir, last);
    let mut trace = Trace::open(&dir).unwrap();
    // Just past the step it leads to, so that the query goes back through it and no further.
    let step: u64 = ours[last].file_stem().unwrap().to_str().unwrap().parse().unwrap();
    let err = trace.hash_at(step + 1).unwrap_err().to_string();
    assert!(err.contains("does not match its call"), "{err}");
}

#[test]
fn a_damaged_or_missing_manifest_is_reported() {
    let (_, dir) = saved("manifest", None);
    let manifest_path = dir.join("manifest.json");
    let text = fs::read_to_string(&manifest_path).unwrap();
    fs::write(&manifest_path, &text[..text.len() / 2]).unwrap();
    assert!(open_error(&dir).contains("not valid JSON"));
    let edited = text.replacen("\"final_hash\": \"0x", "\"final_hash\": \"0x00", 1);
    fs::write(&manifest_path, edited).unwrap();
    assert!(open_error(&dir).contains("final_hash"));
    fs::remove_file(&manifest_path).unwrap();
    assert!(open_error(&dir).contains("no manifest.json"));
}

#[test]
fn a_changed_module_is_reported() {
    let (_, dir) = saved("module", None);
    let module = dir.join("module.wasm");
    let mut bytes = fs::read(&module).unwrap();
    bytes.extend_from_slice(b" ");
    fs::write(&module, bytes).unwrap();
    let err = open_error(&dir);
    assert!(err.contains("module's hash"), "{err}");
}
