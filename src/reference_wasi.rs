//! WASI commands on the reference engine: wasmi with wasmi_wasi's preview1, for
//! `verigame run --engine wasmi` of a WASI command and for the tests that compare the
//! stepper's WASI with it (tests/wasi_programs.rs, tests/wasi_reference.rs).

use std::sync::{Arc, RwLock};

use anyhow::{anyhow, Context, Result};
use wasmi::{Engine, Linker, Module, Store};
use wasmi_wasi::wasi_common::pipe::{ReadPipe, WritePipe};
use wasmi_wasi::{WasiCtx, WasiCtxBuilder};

/// How a WASI command ended on wasmi.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WasiEnd {
    /// The `proc_exit` argument, or 0 when `_start` returned.
    Exited(i32),
    /// `_start` trapped; the trap's message.
    Trapped(String),
}

/// What a WASI command printed and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WasiRun {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub end: WasiEnd,
}

/// Runs the WASI command `wasm` (binary or text; its `_start`) to its end on wasmi with wasmi_wasi's
/// preview1 implementation: `args` is the whole argv (argv[0] included), `env` the whole
/// environment (nothing is inherited), `stdin` all of standard input; stdout and stderr
/// go to memory; there are no preopened directories. The clocks and random_get are the
/// host's (wasmi_wasi's), not a seed's and a fixed clock's as on the stepper.
/// `proc_exit` is the one function not taken from wasmi_wasi: its version refuses exit
/// codes of 126 and more, this one exits with any code.
///
/// Errors if the module does not load, link or instantiate; a trap of `_start` is
/// [`WasiEnd::Trapped`].
pub fn run_command(wasm: &[u8], args: &[String], env: &[(String, String)], stdin: &[u8]) -> Result<WasiRun> {
    let stdout = Arc::new(RwLock::new(Vec::<u8>::new()));
    let stderr = Arc::new(RwLock::new(Vec::<u8>::new()));
    let ctx = WasiCtxBuilder::new()
        .args(args)
        .map_err(|e| anyhow!("argv: {e}"))?
        .envs(env)
        .map_err(|e| anyhow!("environment: {e}"))?
        .stdin(Box::new(ReadPipe::from(stdin)))
        .stdout(Box::new(WritePipe::from_shared(stdout.clone())))
        .stderr(Box::new(WritePipe::from_shared(stderr.clone())))
        .build();

    let wasm = stepper::module::to_binary(wasm)?;
    let engine = Engine::default();
    let module = Module::new(&engine, &wasm[..]).context("wasmi refuses the module")?;
    let mut store = Store::new(&engine, ctx);
    let mut linker = Linker::<WasiCtx>::new(&engine);
    wasmi_wasi::add_to_linker(&mut linker, |ctx| ctx).context("linking WASI")?;
    // wasi-common's proc_exit refuses statuses of 126 and more (wasmtime's policy: the
    // shell gives those a meaning of its own) with a host error instead of an exit. WASI
    // preview1 itself takes any u32, and a native exit(255) is a plain 255: end the run
    // with the status as given.
    linker.allow_shadowing(true);
    linker
        .func_wrap("wasi_snapshot_preview1", "proc_exit", |status: i32| -> Result<(), wasmi::Error> {
            Err(wasmi::Error::i32_exit(status))
        })
        .context("linking proc_exit")?;
    let instance = linker.instantiate_and_start(&mut store, &module).context("instantiating the module on wasmi")?;
    let start =
        instance.get_typed_func::<(), ()>(&store, "_start").context("the module exports no _start: () -> ()")?;
    let end = match start.call(&mut store, ()) {
        Ok(()) => WasiEnd::Exited(0),
        Err(e) => match e.i32_exit_status() {
            Some(status) => WasiEnd::Exited(status),
            None => WasiEnd::Trapped(e.to_string()),
        },
    };
    drop(store);
    let take = |pipe: Arc<RwLock<Vec<u8>>>| std::mem::take(&mut *pipe.write().expect("pipe lock"));
    Ok(WasiRun { stdout: take(stdout), stderr: take(stderr), end })
}
