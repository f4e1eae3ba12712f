use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use stepper::Config;
use verigame::run::{Engine, WasiArgs};

#[derive(Parser)]
#[command(name = "verigame", version, about = "Settle disputes about WebAssembly execution")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// A call: the module, and either a WASI command (the module's `_start`, with ARGS as
/// argv[1..]) or an exported function and its arguments; and the WASI input.
#[derive(Args)]
struct Call {
    /// The module: binary (.wasm) or text (.wat).
    // In the group by hand: clap leaves a group with a flattened member empty, and
    // `Option<Call>` is `Some` when its group is present.
    #[arg(group = "Call")]
    module: PathBuf,
    /// The exported function to call (default: a module exporting `_start` runs as a WASI
    /// command; else the only export, or main).
    #[arg(long)]
    invoke: Option<String>,
    /// A WASI command's arguments, argv[1..] (argv[0] is MODULE as given); with --invoke,
    /// the function's, parsed by its signature: integers in decimal, floats in decimal or
    /// as 0x bit patterns (after `--` for values like -inf).
    #[arg(allow_negative_numbers = true)]
    args: Vec<String>,
    #[command(flatten)]
    wasi: WasiArgs,
}

impl Call {
    /// The call, as a trace or a game takes it.
    fn build(&self, gas_limit: Option<u64>) -> anyhow::Result<traces::Call> {
        verigame::run::build_call(&self.module, self.invoke.as_deref(), &self.args, &self.wasi, gas_config(gas_limit))
    }

    /// A stepper machine with the call started.
    fn start(&self, gas_limit: Option<u64>) -> anyhow::Result<stepper::Machine> {
        Ok(self.build(gas_limit)?.start()?)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run a WASI command (a module exporting `_start`; its stdout, stderr and exit code
    /// are the program's, and a trap exits with 134), or call an exported function and
    /// print its results, steps, gas and status.
    Run {
        #[command(flatten)]
        call: Call,
        #[arg(long, value_enum, default_value_t = Engine::Stepper)]
        engine: Engine,
        /// Stop after this many steps (the status is then `running`).
        #[arg(long)]
        max_steps: Option<u64>,
        /// Gas the call may use (stepper only).
        #[arg(long)]
        gas_limit: Option<u64>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the state hash and a summary of the machine at a step of a call.
    State {
        #[command(flatten)]
        call: Option<Call>,
        /// A trace directory (`record`) instead of a call: the state is rebuilt from its
        /// nearest checkpoint, not replayed from step 0.
        #[arg(long, required_unless_present = "module", conflicts_with_all = ["module", "gas_limit"])]
        trace: Option<PathBuf>,
        /// The step: 0 is the state before the first instruction. A call that halts
        /// earlier stays at its final state.
        #[arg(long)]
        at: u64,
        /// Gas the call may use.
        #[arg(long)]
        gas_limit: Option<u64>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write the one-step proof of the step that takes the state at step N to step N+1.
    Prove {
        #[command(flatten)]
        call: Option<Call>,
        /// A trace directory (`record`) instead of a call: the step's state is rebuilt from
        /// its nearest checkpoint, not replayed from step 0.
        #[arg(long, required_unless_present = "module", conflicts_with_all = ["module", "gas_limit"])]
        trace: Option<PathBuf>,
        /// The step: the proof takes the state at this step to the next.
        #[arg(long)]
        step: u64,
        /// Gas the call may use (the proof file records the configuration for the judge).
        #[arg(long)]
        gas_limit: Option<u64>,
        /// Write the proof (JSON) here instead of to standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a one-step proof (JSON, as `prove` writes it) and print the verdict.
    Judge {
        /// The module the proof is about.
        module: PathBuf,
        proof: PathBuf,
        /// Gas limit of the call the proof is about, for a proof file that does not
        /// record its configuration.
        #[arg(long)]
        gas_limit: Option<u64>,
        /// The pre-state hash both parties agreed on: a proof from another state is invalid.
        #[arg(long, value_parser = parse_hash)]
        pre_hash: Option<merkle_memory::Hash>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Record a run with checkpoints into a trace directory, to query or play later.
    Record {
        #[command(flatten)]
        call: Call,
        /// The directory to write (created; it must not hold a trace yet).
        #[arg(long)]
        out: PathBuf,
        /// Record a faulty executor: KIND@STEP (stack, memory, branch, gas, halt, extend,
        /// output) or claim@ROUND.
        #[arg(long)]
        fault: Option<traces::Fault>,
        #[command(flatten)]
        limits: TraceLimits,
        #[arg(long)]
        json: bool,
    },
    /// Print the state hash at a step of a recorded trace.
    Query {
        /// A directory `record` wrote.
        trace: PathBuf,
        /// The step (a trace answers past its end with its final state).
        #[arg(long)]
        at: u64,
        #[arg(long)]
        json: bool,
    },
    /// Play a whole verification game in one process: an honest party against a faulty one.
    Dispute {
        #[command(flatten)]
        call: Call,
        /// How the faulty party lies: KIND@STEP (stack, memory, branch, gas, halt, extend,
        /// output) or claim@ROUND.
        #[arg(long)]
        fault: traces::Fault,
        /// The faulty party's role.
        #[arg(long, value_enum, default_value_t = RoleArg::Defender)]
        faulty_role: RoleArg,
        /// Dissection degree: hashes per round plus one.
        #[arg(long, default_value_t = traces::game::DEFAULT_DEGREE, value_parser = clap::value_parser!(u64).range(2..=traces::game::MAX_DEGREE))]
        degree: u64,
        /// Write every move as JSON here (what `verigame tui --transcript` replays).
        #[arg(long)]
        transcript: Option<PathBuf>,
        #[command(flatten)]
        limits: TraceLimits,
        #[arg(long)]
        json: bool,
    },
    /// Compare the stepper's fast path with wasmi on the bundled real programs.
    Bench {
        /// Timings per engine and program; the median is reported.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Folder of the bundled programs.
        #[arg(long)]
        programs: Option<PathBuf>,
        /// Time whole verification games instead (both parties, a liar late in the run)
        /// against a plain run, with each party's memory.
        #[arg(long)]
        dispute: bool,
        /// Degrees the games are played at (default: 2 4 8 16).
        #[arg(long, num_args = 1.., requires = "dispute", value_parser = clap::value_parser!(u64).range(2..=traces::game::MAX_DEGREE))]
        degree: Vec<u64>,
        /// Programs the games run, as FILE:EXPORT:ARG (default: sort and sha256 runs of
        /// about 2 * 10^8 and 10^9 steps, and big_memory's grow_and_touch of 1 GiB).
        #[arg(long, requires = "dispute")]
        workload: Vec<verigame::bench::Program>,
        #[arg(long)]
        json: bool,
    },
    /// Hold a verification game over TCP: seat a defender and a challenger (`verigame
    /// party`), play their game and judge it.
    Referee {
        /// The address to listen on, HOST:PORT (port 0 takes a free one). The first line
        /// printed names the address bound.
        #[arg(long)]
        listen: String,
        /// Dissection degree: hashes per round plus one.
        #[arg(long, default_value_t = traces::game::DEFAULT_DEGREE, value_parser = clap::value_parser!(u64).range(2..=traces::game::MAX_DEGREE))]
        degree: u64,
        /// Seconds a party has to answer each request; a party that does not answer in
        /// time loses.
        #[arg(long, default_value = "60", value_parser = verigame::net::parse_seconds)]
        timeout: std::time::Duration,
        /// Seconds a connection has to say hello before it is dropped.
        #[arg(long, default_value = "10", value_parser = verigame::net::parse_seconds)]
        hello_timeout: std::time::Duration,
        /// Without --module: the most gas the module's start function may use (the
        /// referee runs it to learn the state the game starts on).
        #[arg(long, default_value_t = traces::wire::CallLimits::default().max_start_gas)]
        max_start_gas: u64,
        /// Without --module: the largest memory, in 64 KiB pages, the call may have.
        #[arg(long, default_value_t = traces::wire::CallLimits::default().max_memory_pages)]
        max_memory_pages: u32,
        /// Without --module: the smallest memory chunk, in bytes, the call may ask for.
        #[arg(long, default_value_t = traces::wire::CallLimits::default().min_chunk_size)]
        min_chunk_size: u32,
        /// Write every move as JSON here (what `verigame tui --transcript` replays).
        #[arg(long)]
        transcript: Option<PathBuf>,
        /// Hold a game about this module only (with --invoke, ARGS and --gas-limit):
        /// parties naming another call are refused. Without it the first party seated
        /// names the call.
        #[arg(long)]
        module: Option<PathBuf>,
        #[arg(long, requires = "module")]
        invoke: Option<String>,
        /// With --module: an argument of the call (repeatable): argv[1..] of a WASI
        /// command, or the --invoke function's.
        #[arg(long = "arg", requires = "module", allow_negative_numbers = true)]
        args: Vec<String>,
        #[arg(long, requires = "module")]
        gas_limit: Option<u64>,
        /// With --module: the call's WASI input.
        #[command(flatten)]
        wasi: WasiArgs,
        #[arg(long)]
        json: bool,
    },
    /// Play one side of a game that `verigame referee` holds, answering from a recording
    /// of the call.
    Party {
        #[command(flatten)]
        call: Call,
        /// The referee's address, HOST:PORT.
        #[arg(long)]
        connect: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Answer as a faulty executor: KIND@STEP (stack, memory, branch, gas, halt,
        /// extend, output) or claim@ROUND.
        #[arg(long, conflicts_with = "trace")]
        fault: Option<traces::Fault>,
        /// Answer from this trace directory (`verigame record`) instead of recording now;
        /// it must record the call given.
        #[arg(long)]
        trace: Option<PathBuf>,
        #[command(flatten)]
        limits: TraceLimits,
        #[arg(long)]
        json: bool,
    },
    /// Step through a call in the terminal, or replay a recorded dispute move by move.
    Tui {
        /// The module: binary (.wasm) or text (.wat). With --transcript, the game's
        /// module, to open the stepper at the disputed step (its hash must match).
        module: Option<PathBuf>,
        /// The exported function to call (default: a module exporting `_start` runs as a
        /// WASI command; else the only export, or main).
        #[arg(long)]
        invoke: Option<String>,
        /// A WASI command's argv[1..], or the --invoke function's arguments.
        #[arg(allow_negative_numbers = true)]
        args: Vec<String>,
        /// Replay the game `verigame dispute --transcript` wrote to this file.
        #[arg(long, conflicts_with_all = ["invoke", "args", "gas_limit"])]
        transcript: Option<PathBuf>,
        /// Gas the call may use (a replayed game brings its own configuration).
        #[arg(long)]
        gas_limit: Option<u64>,
        #[command(flatten)]
        wasi: WasiArgs,
    },
    /// Run a cluster node: an ABCI application for CometBFT v0.38 hosting one contract.
    Node {
        /// The node's history: created on the first start, reopened after.
        #[arg(long)]
        home: PathBuf,
        /// The contract (the first start fixes it; a later start may repeat it).
        #[arg(long)]
        module: Option<PathBuf>,
        /// Where CometBFT connects (its proxy_app).
        #[arg(long, default_value = "127.0.0.1:26658")]
        abci: String,
        /// Gas one call may use (default 10,000,000; fixed by the first start).
        #[arg(long)]
        gas_limit: Option<u64>,
        /// Blocks between state snapshots (default 100; fixed by the first start).
        #[arg(long)]
        snapshot_interval: Option<u64>,
        /// The chain's id, its CometBFT genesis's `chain_id`: transactions sign it
        /// (required by the first start, which fixes it).
        #[arg(long)]
        chain_id: Option<String>,
        /// The public key (0x-hex, 32 bytes) allowed to mint, stored in the contract under
        /// `admin` (fixed by the first start; the genesis's `admin` must match).
        #[arg(long, value_parser = parse_key)]
        admin: Option<merkle_memory::Hash>,
        /// Gas a block's transactions may reserve together (default 100,000,000; fixed
        /// by the first start, and given to CometBFT as the block's max_gas).
        #[arg(long)]
        block_gas_limit: Option<u64>,
        /// Compute wrong, as the dispute's faulty executor does, in every call (a switch
        /// of this run that nothing on disk records; for tests and demos).
        #[arg(long)]
        fault: Option<traces::Fault>,
        /// Snapshots to keep on disk, the newest ones (a setting of this run).
        #[arg(long, default_value_t = cluster::node::DEFAULT_KEEP_SNAPSHOTS)]
        keep_snapshots: usize,
        /// Blocks CometBFT keeps below the committed height, through Commit's
        /// retain_height (0: all; a setting of this run).
        #[arg(long, default_value_t = 0)]
        retain_blocks: u64,
        #[command(flatten)]
        disputes: DisputeArgs,
    },
    /// Replay a chain (CometBFT's RPC or a node's history), check every call and app hash,
    /// and challenge the node over the first wrong one.
    Validate {
        /// The node's history directory (`verigame node --home`), for offline use.
        #[arg(long, required_unless_present = "rpc", conflicts_with = "rpc")]
        history: Option<PathBuf>,
        /// A CometBFT node's RPC (`http://HOST:PORT`): the chain as it was committed; its
        /// genesis `app_state` names the contract and gas limit, unless --module does.
        #[arg(long)]
        rpc: Option<String>,
        /// With --rpc: the contract the chain runs, if its genesis does not say.
        #[arg(long, requires = "rpc")]
        module: Option<PathBuf>,
        /// With --module: the gas one call may use on the chain (default 10,000,000).
        #[arg(long, requires = "module")]
        gas_limit: Option<u64>,
        /// The first block to check (the replay starts at the nearest snapshot before it).
        #[arg(long)]
        from: Option<u64>,
        /// The last block to check (default: the last committed).
        #[arg(long)]
        to: Option<u64>,
        /// Dissection degree of the game.
        #[arg(long, default_value_t = traces::game::DEFAULT_DEGREE, value_parser = clap::value_parser!(u64).range(2..=traces::game::MAX_DEGREE))]
        degree: u64,
        /// Write the one-step proof of a lost game here (JSON, with the configuration).
        #[arg(long)]
        proof_out: Option<PathBuf>,
        /// Write the game's transcript here (JSON, as `dispute --transcript` writes it; `tui
        /// --transcript` replays it).
        #[arg(long)]
        transcript: Option<PathBuf>,
        /// Play the game against the node answering disputes here (`verigame node
        /// --dispute-listen`), instead of against the execution its history records.
        #[arg(long)]
        challenge: Option<String>,
        /// With --challenge: where to hold the referee. The node must reach it, and joins
        /// only a referee on the IP this validator reaches it from (`0.0.0.0` stands for
        /// that IP) unless it allows others (`node --referee-allow`).
        #[arg(long, default_value = "127.0.0.1:0", requires = "challenge")]
        referee_listen: String,
        /// With --challenge: seconds the node has to answer each request.
        #[arg(long, default_value = "60", value_parser = verigame::net::parse_seconds, requires = "challenge")]
        timeout: std::time::Duration,
        #[arg(long)]
        json: bool,
    },
    /// Ask a cluster node a query through CometBFT's RPC (`/tx`, `/state`, `/storage`,
    /// `/call`); with --prove, check the answer's proof against the app hash the next
    /// block's header commits. Exit code 1 if the proof does not prove the answer.
    Ask {
        /// The CometBFT node's RPC (`http://HOST:PORT`); point it at a `cometbft light`
        /// proxy to have the headers themselves verified.
        #[arg(long)]
        rpc: String,
        /// The query's path: /tx (data: the transaction's SHA-256 in hex), /state,
        /// /storage (data: a key) or /call (data: a transaction, run read-only).
        path: String,
        /// The query's data as text.
        #[arg(default_value = "", conflicts_with = "hex")]
        data: String,
        /// The query's data as `0x` hex bytes instead.
        #[arg(long)]
        hex: Option<String>,
        /// The block whose state to ask about (default: the latest).
        #[arg(long, default_value_t = 0)]
        height: u64,
        #[arg(long)]
        prove: bool,
        /// Seconds to wait for the header after the answer's block.
        #[arg(long, default_value = "10", value_parser = verigame::net::parse_seconds)]
        wait: std::time::Duration,
    },
    /// Make a new ed25519 key for `verigame client` and write it to a new file (mode 0600);
    /// prints its public key.
    Keygen {
        /// The key file to create (JSON; an existing file is never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a call of the chain's contract with a key and send it to a node through
    /// CometBFT's RPC; print the outcome. Exit code 1 if the node refused the transaction
    /// or the call did not return, 2 for unusable input or an unreachable node.
    Client {
        /// The CometBFT node's RPC (`http://HOST:PORT`).
        #[arg(long)]
        rpc: String,
        /// The key file (`verigame keygen`).
        #[arg(long)]
        key: PathBuf,
        /// The session: each session of a key counts its transactions apart.
        #[arg(long, default_value_t = 0)]
        session: u64,
        /// The transaction's counter (default: the session's next, asked of the node).
        #[arg(long)]
        counter: Option<u64>,
        /// Gas the call may use: it reserves this much of its block's gas budget (at most
        /// the node's per-call limit, 10,000,000 by default).
        #[arg(long, default_value_t = 1_000_000)]
        gas_limit: u64,
        /// The contract (binary or text), to read the export's parameter types; without
        /// it arguments are typed (`i32:5`, `i64:-3`, `f32:1.5`, `f64:0x…`) or i32.
        #[arg(long)]
        module: Option<PathBuf>,
        /// Return once the node has the transaction, without waiting for its block.
        #[arg(long = "async", conflicts_with = "prove")]
        asynchronous: bool,
        /// Check the outcome's proof against the app hash the next block's header commits.
        #[arg(long)]
        prove: bool,
        /// With --prove: seconds to wait for that header.
        #[arg(long, default_value = "10", value_parser = verigame::net::parse_seconds)]
        wait: std::time::Duration,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// A file whose bytes are the call's input (its standard input, docs/abi.md).
        #[arg(long, conflicts_with = "input_text")]
        input: Option<PathBuf>,
        /// The call's input as text (UTF-8).
        #[arg(long)]
        input_text: Option<String>,
        /// The exported function to call.
        export: String,
        /// Its arguments (after `--` for values like -inf).
        #[arg(allow_negative_numbers = true)]
        args: Vec<String>,
    },
    /// Run WebAssembly spec test scripts (.wast files or folders of them).
    Spectest {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print every failing assertion, not just the counts.
        #[arg(long)]
        verbose: bool,
    },
}

/// How a recording runs and what it may keep.
#[derive(Args)]
struct TraceLimits {
    /// Gas the call may use; a run that does not halt needs one.
    #[arg(long)]
    gas_limit: Option<u64>,
    /// Memory the checkpoints of one run may take, in MiB.
    #[arg(long, default_value_t = 512)]
    checkpoint_mib: usize,
}

impl TraceLimits {
    fn limits(&self) -> traces::Limits {
        traces::Limits { memory_budget: self.checkpoint_mib << 20, ..traces::Limits::default() }
    }

    fn call(&self, call: &Call) -> anyhow::Result<traces::Call> {
        call.build(self.gas_limit)
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RoleArg {
    Challenger,
    Defender,
}

impl From<RoleArg> for traces::Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Challenger => traces::Role::Challenger,
            RoleArg::Defender => traces::Role::Defender,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { call, engine, max_steps, gas_limit, json } => run(&call, engine, max_steps, gas_limit, json),
        Command::State { call, trace, at, gas_limit, json } => {
            state(machine_at(call.as_ref(), trace.as_deref(), at, gas_limit), at, json)
        }
        Command::Prove { call, trace, step, gas_limit, out } => {
            prove(machine_at(call.as_ref(), trace.as_deref(), step, gas_limit), step, out.as_deref())
        }
        Command::Judge { module, proof, gas_limit, pre_hash, json } => {
            judge(&module, &proof, gas_limit, pre_hash, json)
        }
        Command::Record { call, out, fault, limits, json } => record(&call, &out, fault, &limits, json),
        Command::Query { trace, at, json } => query(&trace, at, json),
        Command::Dispute { call, fault, faulty_role, degree, transcript, limits, json } => {
            dispute(&call, fault, faulty_role.into(), degree, transcript.as_deref(), &limits, json)
        }
        Command::Bench { repeat, programs, dispute: true, degree, workload, json } => {
            bench_dispute(programs, &workload, &degree, repeat, json)
        }
        Command::Bench { repeat, programs, json, .. } => bench(programs, repeat, json),
        Command::Referee {
            listen,
            degree,
            timeout,
            hello_timeout,
            max_start_gas,
            max_memory_pages,
            min_chunk_size,
            transcript,
            module,
            invoke,
            args,
            gas_limit,
            wasi,
            json,
        } => {
            let given = !wasi.env.is_empty()
                || wasi.stdin.is_some()
                || wasi.seed.is_some()
                || wasi.clock != 0
                || wasi.arg0.is_some();
            if module.is_none() && given {
                return unusable(anyhow::anyhow!("--env, --stdin, --seed, --clock and --arg0 need --module"));
            }
            let pinned = module
                .map(|path| verigame::run::build_call(&path, invoke.as_deref(), &args, &wasi, gas_config(gas_limit)));
            match pinned.transpose() {
                Ok(call) => {
                    let limits = traces::wire::CallLimits {
                        max_start_gas,
                        max_memory_pages,
                        min_chunk_size,
                        ..traces::wire::CallLimits::default()
                    };
                    let rules = traces::wire::Rules {
                        degree,
                        timeout,
                        hello_timeout,
                        call,
                        limits,
                        ..traces::wire::Rules::default()
                    };
                    referee(&listen, &rules, transcript.as_deref(), json)
                }
                Err(e) => unusable(e),
            }
        }
        Command::Party { call, connect, role, fault, trace, limits, json } => {
            party(&call, &connect, role.into(), fault, trace.as_deref(), &limits, json)
        }
        Command::Spectest { paths, verbose } => spectest(&paths, verbose),
        Command::Keygen { out } => keygen(&out),
        Command::Client {
            rpc,
            key,
            session,
            counter,
            gas_limit,
            module,
            asynchronous,
            prove,
            wait,
            json,
            input,
            input_text,
            export,
            args,
        } => {
            let request = (|| {
                let params = module.map(|path| verigame::client::export_params(&path, &export)).transpose()?;
                let args = verigame::client::parse_args(params.as_deref(), &args)?;
                let prove = prove.then_some(wait);
                let input = match (input, input_text) {
                    (Some(path), _) => std::fs::read(&path)
                        .map_err(|e| anyhow::anyhow!("cannot read the input {}: {e}", path.display()))?,
                    (None, Some(text)) => text.into_bytes(),
                    (None, None) => Vec::new(),
                };
                Ok(verigame::client::Request { session, counter, gas_limit, export, args, input, asynchronous, prove })
            })();
            match request {
                Ok(request) => client(&rpc, &key, request, json),
                Err(e) => unusable(e),
            }
        }
        Command::Ask { rpc, path, data, hex, height, prove, wait } => {
            let data = match hex {
                Some(hex) => match merkle_memory::hash::hex_to_bytes(&hex) {
                    Some(bytes) => bytes,
                    None => return unusable(anyhow::anyhow!("--hex {hex} is not 0x and pairs of hex digits")),
                },
                None => data.into_bytes(),
            };
            ask(&rpc, &path, &data, height, prove.then_some(wait))
        }
        Command::Validate {
            history,
            rpc,
            module,
            gas_limit,
            from,
            to,
            degree,
            proof_out,
            transcript,
            challenge,
            referee_listen,
            timeout,
            json,
        } => {
            let challenge = challenge.map(|node| cluster::validate::Challenge {
                node,
                referee_listen,
                rules: traces::wire::Rules { timeout, ..traces::wire::Rules::default() },
            });
            let limits = traces::Limits::default();
            let options = cluster::validate::Options { from, to, degree, limits, challenge };
            let source = match (history, rpc, module) {
                (Some(dir), _, _) => ChainSource::History(dir),
                (None, Some(url), module) => ChainSource::Rpc { url, module, gas_limit },
                (None, None, _) => unreachable!("clap requires --history or --rpc"),
            };
            validate(&source, &options, (proof_out.as_deref(), transcript.as_deref()), json)
        }
        Command::Node {
            home,
            module,
            abci,
            gas_limit,
            snapshot_interval,
            chain_id,
            admin,
            block_gas_limit,
            fault,
            keep_snapshots,
            retain_blocks,
            disputes,
        } => {
            let retention = cluster::node::Retention { snapshots: keep_snapshots, blocks: retain_blocks };
            let new = cluster::node::NewNode {
                module,
                gas_limit,
                snapshot_interval,
                chain_id,
                admin,
                block_gas_limit,
                fault,
            };
            node(&home, &abci, new, retention, disputes)
        }
        Command::Tui { module, invoke, args, transcript, gas_limit, wasi } => {
            let call = module.map(|module| Call { module, invoke, args, wasi });
            tui(call.as_ref(), transcript.as_deref(), gas_limit)
        }
    }
}

/// Where `validate` reads the chain.
enum ChainSource {
    History(PathBuf),
    Rpc { url: String, module: Option<PathBuf>, gas_limit: Option<u64> },
}

/// Exit codes: 0 every block checked is right, 1 a wrong block was found (and the game
/// played), 2 an unreadable or inconsistent history or chain.
fn validate(
    source: &ChainSource,
    options: &cluster::validate::Options,
    (proof_out, transcript): (Option<&std::path::Path>, Option<&std::path::Path>),
    json: bool,
) -> ExitCode {
    use std::io::IsTerminal;
    let bar = if json || !std::io::stderr().is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(0)
    };
    let progress = |height, last| {
        bar.set_length(last);
        bar.set_position(height);
    };
    let report = match source {
        ChainSource::History(dir) => cluster::validate::validate(dir, options, &progress),
        ChainSource::Rpc { url, module, gas_limit } => {
            let setup = cluster::node::setup_from_rpc(&cluster::rpc::Rpc::new(url), module.as_deref(), *gas_limit);
            setup.and_then(|setup| cluster::validate::validate_rpc(url, &setup, options, &progress))
        }
    };
    bar.finish_and_clear();
    let report = match report {
        Ok(r) => r,
        Err(e) => return unusable(e),
    };
    let game = report.wrong.as_ref().and_then(|w| w.game.as_ref());
    if let (Some(path), Some(game)) = (transcript, game) {
        if let Err(e) = verigame::dispute::write_transcript(game, path) {
            return unusable(e);
        }
    }
    let proof = game.and_then(|g| Some((g.transcript.ruling.as_ref()?.proof.as_ref()?, &g.transcript.call)));
    if let (Some(path), Some((proof, call))) = (proof_out, proof) {
        let config = match traces::call::config_from_json(&call["config"]) {
            Ok(config) => config,
            Err(e) => return unusable(e.into()),
        };
        if let Err(e) = std::fs::write(path, verigame::prove::proof_file(proof, &config)) {
            return unusable(anyhow::anyhow!("cannot write {}: {e}", path.display()));
        }
    }
    if json {
        println!("{}", report.to_json());
    } else {
        report.print();
    }
    if report.wrong.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Runs until killed; exit code 2 for an unusable history or address.
fn node(
    home: &std::path::Path,
    abci: &str,
    new: cluster::node::NewNode,
    retention: cluster::node::Retention,
    disputes: DisputeArgs,
) -> ExitCode {
    let node = match cluster::node::start(home, new) {
        Ok(n) => n.retaining(retention),
        Err(e) => return unusable(e),
    };
    if let Some(addr) = &disputes.dispute_listen {
        let listener = match std::net::TcpListener::bind(addr) {
            Ok(l) => l,
            Err(e) => return unusable(anyhow::anyhow!("cannot answer disputes on {addr}: {e}")),
        };
        let bound = listener.local_addr().map_or_else(|_| addr.to_string(), |a| a.to_string());
        eprintln!("verigame node: answering disputes on {bound}");
        let defense = cluster::disputes::Defense {
            home: home.to_path_buf(),
            fault: node.fault(),
            limits: traces::Limits::default(),
            max_disputes: disputes.max_disputes,
            referee_allow: disputes.referee_allow,
            log: std::sync::Arc::new(|m: &str| eprintln!("verigame node: {m}")),
        };
        std::thread::spawn(move || cluster::disputes::serve(listener, defense));
    }
    let (height, app_hash) = node.committed();
    eprintln!("verigame node: height {height}, app hash {}, ABCI on {abci}", merkle_memory::hex(&app_hash));
    match node.serve(abci) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => unusable(e),
    }
}

/// How `verigame node` answers validators' disputes.
#[derive(clap::Args)]
struct DisputeArgs {
    /// Answer validators' dispute requests here (`verigame validate --challenge`).
    #[arg(long)]
    dispute_listen: Option<String>,
    /// Disputes played at once (each rebuilds a state in memory); more requests are
    /// answered busy.
    #[arg(long, default_value_t = cluster::disputes::DEFAULT_MAX_DISPUTES, requires = "dispute_listen",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_disputes: usize,
    /// A referee to join besides those on the requesting validator's own IP: an IP (any
    /// port) or IP:PORT, such as a neutral `verigame referee`. Repeatable.
    #[arg(long, requires = "dispute_listen")]
    referee_allow: Vec<cluster::disputes::RefereeAllow>,
}

/// Exit codes of a call of an export: 0 returned, 1 trapped / out of gas / stopped at the
/// step limit, 2 unusable input (unreadable or invalid module, bad arguments). Of a WASI
/// command: its own exit code (modulo 256), 134 if it trapped, ran out of gas or
/// stopped at the step limit, 2 unusable input.
fn run(call: &Call, engine: Engine, max_steps: Option<u64>, gas_limit: Option<u64>, json: bool) -> ExitCode {
    use verigame::run::{is_command, read_module_bytes, run_call, run_command_wasmi, run_wasmi};
    let outcome = read_module_bytes(&call.module).and_then(|bytes| {
        let module = stepper::Module::new(&bytes)?;
        let command = is_command(&module, call.invoke.as_deref());
        let outcome = match engine {
            Engine::Stepper => run_call(&call.build(gas_limit)?, max_steps.unwrap_or(u64::MAX), command)?,
            Engine::Jit if max_steps.is_some() => anyhow::bail!("--max-steps applies to the stepper engine only"),
            Engine::Jit => verigame::run::run_call_jit(&call.build(gas_limit)?, command)?,
            Engine::Wasmi if max_steps.is_some() || gas_limit.is_some() => {
                anyhow::bail!("--max-steps and --gas-limit apply to the stepper engine only")
            }
            Engine::Wasmi if command => run_command_wasmi(&bytes, &call.build(None)?.input)?,
            Engine::Wasmi => run_wasmi(&bytes, call.invoke.as_deref(), &call.args)?,
        };
        Ok((outcome, command))
    });
    match outcome {
        Ok((outcome, true)) => command_exit(&outcome, json),
        Ok((outcome, false)) => finish(Ok(outcome), json),
        Err(e) => unusable(e),
    }
}

/// Prints a WASI command's output (its stdout and stderr as they are, or one JSON
/// object) and exits with its exit code (modulo 256), or 134 if it did not exit.
fn command_exit(outcome: &verigame::run::RunOutcome, json: bool) -> ExitCode {
    use std::io::Write;
    use verigame::printed::Printed;
    let output = outcome.output.as_ref().expect("a command's run has its output");
    if json {
        println!("{}", outcome.to_json());
    } else {
        let _ = std::io::stdout().write_all(&output.stdout).and_then(|()| std::io::stdout().flush());
        let _ = std::io::stderr().write_all(&output.stderr);
    }
    match output.exit_code {
        Some(code) => ExitCode::from(code as u8),
        None => {
            if !json {
                let why = outcome.trap.as_deref().unwrap_or("stopped at the step limit");
                eprintln!("verigame: the program did not exit ({}: {why})", outcome.status);
            }
            ExitCode::from(verigame::run::TRAP_EXIT_CODE)
        }
    }
}

/// Prints `result` (text, or JSON with `json`). Exit codes: 0 it went well, 1 it did not,
/// 2 unusable input.
fn finish(result: anyhow::Result<impl verigame::printed::Printed>, json: bool) -> ExitCode {
    match result {
        Ok(report) => {
            if json {
                println!("{}", report.to_json());
            } else {
                report.print();
            }
            if report.succeeded() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => unusable(e),
    }
}

/// Exit codes: 0 written, 2 an existing or unwritable file.
fn keygen(out: &std::path::Path) -> ExitCode {
    let written = cluster::keys::generate_key().and_then(|key| {
        cluster::keys::write_key(out, &key)?;
        Ok(key)
    });
    match written {
        Ok(key) => {
            eprintln!("wrote a new key to {}", out.display());
            println!("{}", merkle_memory::hash::bytes_to_hex(key.verifying_key().as_bytes()));
            ExitCode::SUCCESS
        }
        Err(e) => unusable(e),
    }
}

/// Exit codes: 0 the transaction was accepted (and, when waited for, its call returned),
/// 1 refused or the call did not return, 2 unusable input or an unreachable node.
fn client(rpc: &str, key: &std::path::Path, request: verigame::client::Request, json: bool) -> ExitCode {
    let report = cluster::keys::read_key(key)
        .and_then(|key| verigame::client::send(&cluster::rpc::Rpc::new(rpc), &key, request));
    finish(report, json)
}

/// Reports unusable input (exit code 2).
/// Prints a node's answer, after checking its proof if `prove` gives how long to wait for
/// the header that commits it.
fn ask(rpc: &str, path: &str, data: &[u8], height: u64, prove: Option<std::time::Duration>) -> ExitCode {
    let rpc = cluster::rpc::Rpc::new(rpc);
    let answer = match rpc.abci_query(path, data, height, prove.is_some()) {
        Ok(answer) => answer,
        Err(e) => return unusable(e),
    };
    println!("{}", String::from_utf8_lossy(&answer.value));
    let (Some(wait), Some(proof)) = (prove, &answer.proof) else { return ExitCode::SUCCESS };
    let app_hash = match rpc.app_hash_after(answer.height, wait) {
        Ok(hash) => hash,
        Err(e) => return unusable(e),
    };
    match cluster::proofs::check_answer(path, &answer.value, proof, &app_hash) {
        Ok(_) => {
            println!(
                "proven at height {} against app hash {} (block {}'s header)",
                answer.height,
                merkle_memory::hex(&app_hash),
                answer.height + 1
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("the proof does not hold: {e}");
            ExitCode::from(1)
        }
    }
}

fn unusable(e: anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    ExitCode::from(2)
}

/// A state hash as the commands print it: `0x` and 64 hex digits.
fn parse_hash(s: &str) -> Result<merkle_memory::Hash, String> {
    merkle_memory::parse_hex(s).ok_or_else(|| format!("`{s}` is not 0x and 64 hex digits"))
}

fn gas_config(gas_limit: Option<u64>) -> Config {
    Config { gas_limit: gas_limit.unwrap_or(u64::MAX), ..Config::default() }
}

/// Exit codes: 0 printed, 2 unusable input.
/// The machine at step `at` (or at its end, if it halts earlier): of the call, run from
/// step 0, or of the trace, from its nearest checkpoint.
fn machine_at(
    call: Option<&Call>,
    trace: Option<&std::path::Path>,
    at: u64,
    gas_limit: Option<u64>,
) -> anyhow::Result<stepper::Machine> {
    match (call, trace) {
        (_, Some(dir)) => {
            let mut trace = traces::Trace::open(dir)?;
            trace.executor_at(at)?;
            Ok(trace.into_executor().machine)
        }
        (Some(call), None) => {
            let mut machine = call.start(gas_limit)?;
            machine.run(at);
            Ok(machine)
        }
        (None, None) => unreachable!("clap requires a module or --trace"),
    }
}

fn state(machine: anyhow::Result<stepper::Machine>, at: u64, json: bool) -> ExitCode {
    let mut machine = match machine {
        Ok(m) => m,
        Err(e) => return unusable(e),
    };
    let summary = verigame::state::StateSummary::of(&mut machine);
    if json {
        println!("{}", summary.to_json());
    } else {
        if summary.step < at {
            println!("(the call halted at step {}, before step {at}: its final state)", summary.step);
        }
        summary.print();
    }
    ExitCode::SUCCESS
}

/// A 32-byte key in 0x-hex, as `--admin` takes it.
fn parse_key(text: &str) -> Result<merkle_memory::Hash, String> {
    merkle_memory::parse_hex(text).ok_or_else(|| format!("`{text}` is not 0x-hex of 32 bytes"))
}

/// Exit codes: 0 written, 2 unusable input or an unwritable file.
fn prove(machine: anyhow::Result<stepper::Machine>, step: u64, out: Option<&std::path::Path>) -> ExitCode {
    let result = machine.and_then(|mut machine| {
        let proof = judge::prove_in_place(&mut machine);
        if proof.step < step {
            eprintln!(
                "note: the call halted at step {}, before step {step}; this proves a step of its final state",
                proof.step
            );
        }
        let text = verigame::prove::proof_file(&proof, machine.config());
        match out {
            Some(file) => {
                std::fs::write(file, text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
                eprintln!(
                    "wrote the proof of step {} ({} bytes in binary form) to {}",
                    proof.step,
                    judge::to_bytes(&proof).len(),
                    file.display()
                );
            }
            None => print!("{text}"),
        }
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => unusable(e),
    }
}

/// Exit codes: 0 a valid proof, 1 an invalid one, 2 unreadable input.
fn judge(
    path: &std::path::Path,
    proof: &std::path::Path,
    gas_limit: Option<u64>,
    pre_hash: Option<merkle_memory::Hash>,
    json: bool,
) -> ExitCode {
    let report = verigame::run::read_module_bytes(path).and_then(|bytes| {
        let module = stepper::Module::new(&bytes)?;
        let (proof, recorded) = verigame::prove::read_proof(proof)?;
        let config = match (recorded, gas_limit) {
            (Some(c), Some(g)) if c.gas_limit != g => {
                anyhow::bail!("the proof file records gas limit {}, not {g}", c.gas_limit)
            }
            (Some(c), _) => c,
            (None, _) => gas_config(gas_limit),
        };
        verigame::prove::judge_proof(module, config, &proof, pre_hash)
    });
    match report {
        Ok(report) => {
            if json {
                println!("{}", report.to_json());
            } else {
                report.print();
            }
            if report.valid {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => unusable(e),
    }
}

/// Exit codes: 0 recorded, 2 unusable input or an unwritable directory.
fn record(
    call: &Call,
    out: &std::path::Path,
    fault: Option<traces::Fault>,
    limits: &TraceLimits,
    json: bool,
) -> ExitCode {
    use verigame::dispute::Progress;
    let result = limits.call(call).and_then(|c| {
        let progress = Progress::new(&[(traces::Role::Defender, "recording")], json);
        let trace =
            traces::Trace::record(c, fault, limits.limits(), &mut |n| progress.update(traces::Role::Defender, n));
        progress.finish();
        let mut trace = trace?;
        trace.save(out)?;
        Ok(trace)
    });
    match result {
        Ok(trace) => {
            let (steps, hash, kept) =
                (trace.steps(), merkle_memory::hex(&trace.final_hash()), trace.checkpoints().count());
            if json {
                println!(
                    "{}",
                    serde_json::json!({"steps": steps, "final_hash": hash, "checkpoints": kept, "trace": out})
                );
            } else {
                println!("recorded {steps} steps, final state {hash}, {kept} checkpoints in {}", out.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => unusable(e),
    }
}

/// Exit codes: 0 answered, 2 an unreadable or corrupted trace.
fn query(dir: &std::path::Path, at: u64, json: bool) -> ExitCode {
    let answer = traces::Trace::open(dir).and_then(|mut trace| Ok((trace.hash_at(at)?, trace.steps())));
    match answer {
        Ok((hash, steps)) => {
            let (hash, step) = (merkle_memory::hex(&hash), at.min(steps));
            if json {
                println!("{}", serde_json::json!({"step": step, "state_hash": hash, "steps": steps}));
            } else {
                println!("step {step} of {steps}: {hash}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => unusable(e.into()),
    }
}

/// Exit codes: 0 the honest party won (or the fault changed nothing to dispute), 1 the
/// faulty one won, 2 unusable input.
fn dispute(
    call: &Call,
    fault: traces::Fault,
    faulty: traces::Role,
    degree: u64,
    transcript: Option<&std::path::Path>,
    limits: &TraceLimits,
    json: bool,
) -> ExitCode {
    use verigame::dispute::{write_transcript, DisputeReport, Progress};
    let labels = [(faulty.other(), "honest"), (faulty, "faulty")];
    let outcome = limits.call(call).and_then(|c| {
        let progress = Progress::new(&labels, json);
        let outcome =
            traces::game::dispute(&c, fault, faulty, degree, &limits.limits(), &|role, n| progress.update(role, n));
        progress.finish();
        Ok(outcome?)
    });
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => return unusable(e),
    };
    if let Some(path) = transcript {
        if let Err(e) = write_transcript(&outcome, path) {
            return unusable(e);
        }
    }
    let report = DisputeReport { outcome: &outcome, fault, faulty };
    if json {
        println!("{}", report.to_json());
    } else {
        report.print();
    }
    // Without a dispute the claims agree: whichever role lied told the truth in effect.
    if outcome.winner == faulty.other() || !outcome.disputed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn bench(programs: Option<PathBuf>, repeat: usize, json: bool) -> ExitCode {
    use verigame::bench::{measure, print_table, programs_dir, to_json, Prepared, WORKLOADS};
    let dir = programs.unwrap_or_else(programs_dir);
    let mut measurements = Vec::new();
    for &workload in WORKLOADS {
        match Prepared::new(&dir, workload).and_then(|p| measure(&p, repeat)) {
            Ok(m) => measurements.push(m),
            Err(e) => return unusable(e),
        }
    }
    if json {
        println!("{}", to_json(&measurements));
    } else {
        print_table(&measurements);
    }
    ExitCode::SUCCESS
}

fn bench_dispute(
    programs: Option<PathBuf>,
    workloads: &[verigame::bench::Program],
    degrees: &[u64],
    repeat: usize,
    json: bool,
) -> ExitCode {
    use verigame::bench::{
        dispute_to_json, measure_dispute, print_dispute_table, programs_dir, DISPUTE_DEGREES, DISPUTE_WORKLOADS,
    };
    let dir = programs.unwrap_or_else(programs_dir);
    let defaults: Vec<_> = DISPUTE_WORKLOADS.iter().map(Into::into).collect();
    let workloads = if workloads.is_empty() { &defaults[..] } else { workloads };
    let degrees = if degrees.is_empty() { DISPUTE_DEGREES } else { degrees };
    let measured: anyhow::Result<Vec<_>> =
        workloads.iter().map(|p| measure_dispute(&dir, p, degrees, repeat)).collect();
    let measurements = match measured {
        Ok(m) => m,
        Err(e) => return unusable(e),
    };
    if json {
        println!("{}", dispute_to_json(&measurements));
    } else {
        print_dispute_table(&measurements);
    }
    ExitCode::SUCCESS
}

fn spectest(paths: &[PathBuf], verbose: bool) -> ExitCode {
    let files = match verigame::spectest::collect_scripts(paths) {
        Ok(f) => f,
        Err(e) => return unusable(e.into()),
    };
    let (mut passed, mut failed) = (0, 0);
    for file in &files {
        let report = verigame::spectest::run_script(file);
        println!("{:<40} {:>6} passed {:>6} failed", file.display(), report.passed, report.failed);
        if verbose {
            for f in &report.failures {
                println!("    {f}");
            }
        }
        passed += report.passed;
        failed += report.failed;
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Exit codes: 0 a verdict was reached (a forfeit is one), 2 unusable input or a network
/// failure.
fn referee(listen: &str, rules: &traces::wire::Rules, transcript: Option<&std::path::Path>, json: bool) -> ExitCode {
    match verigame::net::referee(listen, rules, transcript) {
        Ok(hosted) => {
            let report = verigame::net::RefereeReport(&hosted);
            if json {
                println!("{}", report.to_json());
            } else {
                report.print();
            }
            ExitCode::SUCCESS
        }
        Err(e) => unusable(e),
    }
}

/// Exit codes: 0 this party won, 1 it lost, 2 unusable input or a network failure.
fn party(
    call: &Call,
    connect: &str,
    role: traces::Role,
    fault: Option<traces::Fault>,
    trace: Option<&std::path::Path>,
    limits: &TraceLimits,
    json: bool,
) -> ExitCode {
    use verigame::net::{Answers, PartyReport};
    let answers = match trace {
        Some(dir) => Answers::Trace(dir),
        None => Answers::Record { fault, limits: limits.limits() },
    };
    let verdict = match limits.call(call).and_then(|c| verigame::net::party(connect, role, c, answers, json)) {
        Ok(v) => v,
        Err(e) => return unusable(e),
    };
    let report = PartyReport { role, verdict: &verdict };
    if json {
        println!("{}", report.to_json());
    } else {
        report.print();
    }
    if report.won() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Exit codes: 0 quit, 1 the terminal failed, 2 unusable input.
fn tui(call: Option<&Call>, transcript: Option<&std::path::Path>, gas_limit: Option<u64>) -> ExitCode {
    let app = match transcript {
        Some(file) => tui::replay_from_files(file, call.map(|c| c.module.as_path())).map_err(anyhow::Error::from),
        None => match call {
            Some(call) => call.start(gas_limit).map(tui::App::stepper),
            None => Err(anyhow::anyhow!("give a module to step through, or --transcript FILE to replay a game")),
        },
    };
    let app = match app {
        Ok(app) => app,
        Err(e) => return unusable(e),
    };
    match tui::run(app) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: the terminal failed: {e}");
            ExitCode::from(1)
        }
    }
}
