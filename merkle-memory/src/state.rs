//! The state hash: one Keccak-256 digest that commits to a whole machine, built so that a
//! one-step proof can open only what an instruction touches. docs/spec.md defines it.

use stepper::store::{Func, Store, Table};
use stepper::{Config, Machine, Status, Trap};

use crate::hash::{slot_leaf, tagged, Hash, Tag, EMPTY};
use crate::io::IoCommitment;
use crate::{memory, tree};

/// `func` of the frame record a machine without frames shows (its results are the operands).
pub const NO_FUNCTION: u32 = u32::MAX;

/// What a frame commits to: its function, where it continues and where its locals start.
/// Its locals and operands are slots of the value stack, which the state commits to as one
/// tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameCommitment {
    /// Store address of the function.
    pub func: u32,
    /// The current pc for the running frame; where a caller continues for the others.
    pub pc: u32,
    /// Value stack height below the frame's first local.
    pub base: u32,
}

impl FrameCommitment {
    /// The record of a machine without frames (its results are the whole value stack).
    pub const NONE: Self = Self { func: NO_FUNCTION, pc: 0, base: 0 };

    pub fn hash(&self) -> Hash {
        let (func, pc, base) = (self.func.to_le_bytes(), self.pc.to_le_bytes(), self.base.to_le_bytes());
        tagged(Tag::Frame, &[&func, &pc, &base])
    }
}

/// What a call does not own: the store's mutable items and the output log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Environment {
    pub globals: Hash,
    pub memories: Hash,
    pub tables: Hash,
    pub segments: Hash,
    pub output: Hash,
    /// Root of the contract storage tree ([`crate::storage`]).
    pub storage: Hash,
    /// The call's input and output ([`crate::io`]).
    pub io: Hash,
}

impl Environment {
    pub fn hash(&self) -> Hash {
        tagged(
            Tag::Environment,
            &[&self.globals, &self.memories, &self.tables, &self.segments, &self.output, &self.storage, &self.io],
        )
    }
}

/// The environment as a state commits to it: its seven hashes, or only their hash, which is
/// all a proof of a step that touches none of them needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvironmentCommitment {
    Open(Environment),
    Sealed(Hash),
}

impl EnvironmentCommitment {
    pub fn hash(&self) -> Hash {
        match self {
            Self::Open(e) => e.hash(),
            Self::Sealed(h) => *h,
        }
    }

    /// The seven hashes, if they are open.
    pub fn open(&self) -> Option<&Environment> {
        match self {
            Self::Open(e) => Some(e),
            Self::Sealed(_) => None,
        }
    }
}

/// Every field the state hash covers, one level down: a proof carries these and opens
/// further only the field an instruction touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Commitment {
    /// Program and configuration: fixed for a run.
    pub context: Hash,
    pub status: u8,
    /// The trap's code when trapped, else 0.
    pub trap: u32,
    /// The program's code for `verigame.abort` traps, else 0.
    pub trap_arg: u32,
    pub steps: u64,
    pub gas_used: u64,
    /// Number of frames.
    pub depth: u32,
    /// Value stack height: locals and operands of all frames.
    pub height: u32,
    /// The called function's address, [`NO_FUNCTION`] before any call.
    pub entry: u32,
    /// The running frame (the innermost one).
    pub frame: FrameCommitment,
    /// Hash chain of the callers' frames, outermost first.
    pub callers: Hash,
    /// Root of the Merkle tree over the whole value stack's slots, bottom first.
    pub stack: Hash,
    pub environment: EnvironmentCommitment,
}

impl Commitment {
    /// Commits to `machine`'s current state, rehashing only what changed in its memories
    /// and tables since the last commitment.
    pub fn of(machine: &mut Machine) -> Self {
        let context = context(machine.config(), machine.store());
        let environment = EnvironmentCommitment::Open(environment(machine));
        let (status, trap, trap_arg) = status_code(machine.status());
        let mut records = frame_records(machine);
        let (stack, frames) = (machine.stack(), machine.frames());
        let frame = records.pop().unwrap_or(FrameCommitment::NONE);
        Self {
            context,
            status,
            trap,
            trap_arg,
            steps: machine.steps(),
            gas_used: machine.gas_used(),
            depth: frames.len() as u32,
            height: stack.len() as u32,
            entry: machine.entry().unwrap_or(NO_FUNCTION),
            frame,
            callers: callers_chain(&records),
            stack: stack_root(stack),
            environment,
        }
    }

    pub fn hash(&self) -> Hash {
        tagged(
            Tag::State,
            &[
                &self.context,
                &[self.status],
                &self.trap.to_le_bytes(),
                &self.trap_arg.to_le_bytes(),
                &self.steps.to_le_bytes(),
                &self.gas_used.to_le_bytes(),
                &self.depth.to_le_bytes(),
                &self.height.to_le_bytes(),
                &self.entry.to_le_bytes(),
                &self.frame.hash(),
                &self.callers,
                &self.stack,
                &self.environment.hash(),
            ],
        )
    }
}

/// Where each frame's locals and operands lie on the value stack, outermost first:
/// (locals start, operands start, operands end).
pub fn frame_extents(machine: &Machine) -> Vec<(usize, usize, usize)> {
    let (store, stack, frames) = (machine.store(), machine.stack(), machine.frames());
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let locals_end = f.base as usize + locals_count(store, f.func);
            let end = frames.get(i + 1).map_or(stack.len(), |callee| callee.base as usize);
            (f.base as usize, locals_end, end)
        })
        .collect()
}

/// The records of all frames, outermost first.
pub fn frame_records(machine: &Machine) -> Vec<FrameCommitment> {
    let frames = machine.frames();
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| FrameCommitment {
            func: f.func,
            pc: frames.get(i + 1).map_or(machine.pc(), |callee| callee.ret_pc),
            base: f.base,
        })
        .collect()
}

/// Hashes of all-zero-slot subtrees (zero slots of the stack, null table elements), by
/// height up to any count of leaves, computed once.
pub fn zero_slot_hashes() -> &'static [Hash] {
    static ZERO: std::sync::OnceLock<Vec<Hash>> = std::sync::OnceLock::new();
    ZERO.get_or_init(|| tree::zero_hashes(slot_leaf(0), usize::BITS as usize))
}

/// The root of the Merkle tree over the value stack's slots.
pub fn stack_root(stack: &[u64]) -> Hash {
    let leaves: Vec<Hash> = stack.iter().map(|&v| slot_leaf(v)).collect();
    tree::root(&leaves)
}

/// The state hash of `machine`.
pub fn state_hash(machine: &mut Machine) -> Hash {
    Commitment::of(machine).hash()
}

/// The status as (0 running, 1 returned, 2 trapped, 3 out of gas, 4 exited; the trap's
/// code; the abort code of a `verigame.abort` trap or the exit code).
pub fn status_code(status: Status) -> (u8, u32, u32) {
    match status {
        Status::Running => (0, 0, 0),
        Status::Returned => (1, 0, 0),
        Status::Trapped(t @ Trap::Aborted(code)) => (2, t.code(), code as u32),
        Status::Trapped(t) => (2, t.code(), 0),
        Status::OutOfGas => (3, 0, 0),
        Status::Exited(code) => (4, 0, code),
    }
}

/// How many locals (parameters first) a frame of function `func` has; 0 for host functions.
pub fn locals_count(store: &Store, func: u32) -> usize {
    match store.funcs[func as usize] {
        Func::Wasm { instance, index, .. } => {
            let module = &store.instances[instance as usize].module;
            module.func_type(index).params.len() + module.body(index).map_or(0, |b| b.locals.len())
        }
        Func::Host { .. } => 0,
    }
}

/// The callers chain of frame `records`, outermost first.
pub fn callers_chain(records: &[FrameCommitment]) -> Hash {
    records.iter().fold(EMPTY, |below, r| caller_link(&r.hash(), &below))
}

/// `keccak(0x14 || frame || below)`: one caller frame pushed on the frame chain.
pub fn caller_link(frame: &Hash, below: &Hash) -> Hash {
    tagged(Tag::Caller, &[frame, below])
}

/// `keccak(0x18 || value i64 || below)`: one value appended to the output log.
pub fn output_link(value: i64, below: &Hash) -> Hash {
    tagged(Tag::Output, &[&value.to_le_bytes(), below])
}

/// `values`, oldest first, appended to an output log whose hash is `below`.
pub fn output_chain_over(values: &[i64], below: Hash) -> Hash {
    values.iter().fold(below, |below, &v| output_link(v, &below))
}

/// `keccak(0x11 || program || config)`.
pub fn context(config: &Config, store: &Store) -> Hash {
    tagged(Tag::Context, &[&program_hash(store), &config_hash(config)])
}

/// The code a machine runs: its host functions' codes and its instances' module hashes.
pub fn program_hash(store: &Store) -> Hash {
    let hosts: Vec<u8> = store
        .funcs
        .iter()
        .filter_map(|f| match f {
            Func::Host { func, .. } => Some(func.code()),
            Func::Wasm { .. } => None,
        })
        .collect();
    let modules: Vec<u8> = store.instances.iter().flat_map(|i| i.module.code_hash).collect();
    let (nh, nm) = ((hosts.len() as u32).to_le_bytes(), (store.instances.len() as u32).to_le_bytes());
    tagged(Tag::Program, &[&nh, &hosts, &nm, &modules])
}

pub fn config_hash(c: &Config) -> Hash {
    let mut bytes = Vec::with_capacity(100);
    for v in [c.max_memory_pages, c.max_table_elements, c.max_value_stack, c.max_call_depth] {
        bytes.extend(v.to_le_bytes());
    }
    bytes.extend(c.gas_limit.to_le_bytes());
    bytes.extend(c.memory_chunk_size.to_le_bytes());
    for cost in c.gas.costs {
        bytes.extend(cost.to_le_bytes());
    }
    tagged(Tag::Config, &[&bytes])
}

fn environment(machine: &mut Machine) -> Environment {
    let memories: Vec<Hash> = machine.memories_mut().iter_mut().map(memory::commitment).collect();
    let tables: Vec<Hash> = machine.tables_mut().iter_mut().map(table_commitment).collect();
    let storage = crate::storage::storage_root(machine.storage_mut());
    let chunk_size = machine.config().memory_chunk_size as usize;
    let io = IoCommitment::of(machine.io_mut(), chunk_size).hash();
    let store = machine.store();
    let globals: Vec<Hash> = store.globals.iter().map(|g| slot_leaf(g.value)).collect();
    Environment {
        globals: tree::root(&globals),
        memories: tree::root(&memories),
        tables: tree::root(&tables),
        segments: segments_hash(store),
        output: output_chain_over(machine.output(), EMPTY),
        storage,
        io,
    }
}

/// The root of a table's element tree, rehashing only elements written since last time.
pub fn elements_root(table: &mut Table) -> Hash {
    let (elems, cache) = table.elems_and_cache();
    tree::update(cache, elems.len(), |i| slot_leaf(elems[i]), None)
}

/// `keccak(0x17 || length u32 || elements root)`.
pub fn table_commitment_of(len: u32, elements_root: &Hash) -> Hash {
    tagged(Tag::Table, &[&len.to_le_bytes(), elements_root])
}

pub fn table_commitment(table: &mut Table) -> Hash {
    let root = elements_root(table);
    table_commitment_of(table.elems().len() as u32, &root)
}

/// Which of the store's element and data segments are dropped. An element segment with
/// no elements counts as dropped (the two behave the same).
pub fn segments_hash(store: &Store) -> Hash {
    let elems: Vec<bool> = store.elems.iter().map(Vec::is_empty).collect();
    segments_hash_of(&elems, &store.data_dropped)
}

/// `keccak(0x19 || count u32 || one byte each || count u32 || one byte each)` of the
/// element and data segments' dropped flags.
pub fn segments_hash_of(elems: &[bool], datas: &[bool]) -> Hash {
    let (elems, datas): (Vec<u8>, Vec<u8>) =
        (elems.iter().map(|&d| d as u8).collect(), datas.iter().map(|&d| d as u8).collect());
    let (ne, nd) = ((elems.len() as u32).to_le_bytes(), (datas.len() as u32).to_le_bytes());
    tagged(Tag::Segments, &[&ne, &elems, &nd, &datas])
}
