//! How code outside the stepper reaches a machine's state: read access to all of it,
//! [`Machine::from_parts`] for a state built by hand (checked as a snapshot is), and
//! [`Tamper`], which changes values but never the shape the executor relies on.

use std::sync::Arc;

use crate::io::Io;
use crate::machine::{Frame, Machine, MachineParts, Status};
use crate::snapshot::MAX_COUNTER;
use crate::storage::Storage;
use crate::store::{Memory, Store, Table};
use crate::{Config, Error, Module, Value};

impl Machine {
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Locals and operands of all frames, as untyped slots.
    pub fn stack(&self) -> &[u64] {
        &self.stack
    }

    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// Index of the next op in the current function's module code.
    pub fn pc(&self) -> u32 {
        self.pc
    }

    pub fn steps(&self) -> u64 {
        self.steps
    }

    pub fn gas_used(&self) -> u64 {
        self.gas_used
    }

    pub fn status(&self) -> Status {
        self.status
    }

    /// The function the current call started with.
    pub fn entry(&self) -> Option<u32> {
        self.entry
    }

    /// The bytes the machine holds but its memories, roughly: tables, storage, the value
    /// stack, frames, output log and what the call's output holds apart from its copies.
    pub fn bytes_beside_memories(&self) -> usize {
        let tables: usize = self.store.tables.iter().map(|t| t.elems().len() * 16).sum();
        let storage: usize = self.store.storage.entries().map(|(k, v)| k.len() + v.len() + 160).sum();
        tables
            + storage
            + self.stack.len() * 8
            + self.frames.len() * 12
            + self.output.len() * 8
            + self.io.bytes()
            + 1024
    }

    /// The call's input and output (WASI).
    pub fn io(&self) -> &Io {
        &self.io
    }

    /// The same, for the commitment to bring its stream hashes up to date.
    pub fn io_mut(&mut self) -> &mut Io {
        &mut self.io
    }

    /// Values the program passed to `verigame.emit`.
    pub fn output(&self) -> &[i64] {
        &self.output
    }

    /// The memories, for their commitment caches and bytes: their sizes cannot change
    /// through this.
    pub fn memories_mut(&mut self) -> &mut [Memory] {
        &mut self.store.memories
    }

    /// The tables, for their commitment caches: their sizes and elements cannot change
    /// through this.
    pub fn tables_mut(&mut self) -> &mut [Table] {
        &mut self.store.tables
    }

    /// Contract storage: its entries are data the executor only copies.
    pub fn storage_mut(&mut self) -> &mut Storage {
        &mut self.store.storage
    }

    /// The gas the next call may use; a running call is held to the new limit from its
    /// next step.
    pub fn set_gas_limit(&mut self, limit: u64) {
        self.config.gas_limit = limit;
    }

    /// Records a call of `func` that another engine ran to its return over this
    /// machine's store (it wrote memories, globals and storage through their accessors):
    /// the state the stepper leaves after such a call, with no frames, `results` on the
    /// value stack, the counters, the call's input and output `io`, and `emitted` appended
    /// to the output log. The pc of a machine without frames is 0 (no state hash covers
    /// it). Refuses, changing nothing, a machine in a call, a function the store lacks,
    /// results not of its type and a step counter over 2^63.
    pub fn record_return(
        &mut self,
        func: u32,
        results: &[Value],
        (steps, gas_used): (u64, u64),
        io: Io,
        emitted: &[i64],
    ) -> Result<(), Error> {
        if self.status == Status::Running {
            return Err(Error::Call("a call is running".into()));
        }
        if func as usize >= self.store.funcs.len() {
            return Err(Error::Call(format!("no function {func}")));
        }
        let want = &self.store.func_type(func).results;
        if results.len() != want.len() || results.iter().zip(want).any(|(r, &t)| r.ty() != t) {
            return Err(Error::Call("the results do not match the function's type".into()));
        }
        if steps > MAX_COUNTER {
            return Err(Error::Call(format!("the step counter {steps} is over 2^63")));
        }
        self.stack.clear();
        self.stack.extend(results.iter().map(|r| r.to_slot()));
        self.frames.clear();
        (self.pc, self.steps, self.gas_used, self.status, self.entry) =
            (0, steps, gas_used, Status::Returned, Some(func));
        self.io = io;
        self.output.extend_from_slice(emitted);
        Ok(())
    }

    /// The whole state as plain data.
    pub fn into_parts(self) -> MachineParts {
        let Machine { config, store, stack, frames, pc, steps, gas_used, status, entry, output, io } = self;
        MachineParts { config, store, stack, frames, pc, steps, gas_used, status, entry, output, io }
    }

    /// A machine in the state `parts` gives, if it is one the executor can run: exactly
    /// the checks [`Machine::restore`] makes of a snapshot (configuration, store, frames,
    /// pcs, exact stack heights, counters), by restoring the parts' snapshot, so the two
    /// doors into a machine cannot drift apart.
    pub fn from_parts(parts: MachineParts) -> Result<Machine, Error> {
        // SAFETY: this machine is only snapshotted; the restored one is run.
        let unchecked = unsafe { Machine::from_parts_unchecked(parts) };
        let modules: Vec<Arc<Module>> = unchecked.store.instances.iter().map(|i| i.module.clone()).collect();
        Machine::restore(&unchecked.snapshot(), &modules).map_err(|e| match e {
            Error::Snapshot(reason) => Error::State(reason),
            other => other,
        })
    }

    /// A machine in the state `parts` gives, unchecked: for states no run reaches, to
    /// hash, snapshot or read.
    ///
    /// # Safety
    ///
    /// The executor's stack operations and fast path are unchecked: the machine must not
    /// be stepped or run unless [`Machine::from_parts`] would have accepted `parts`.
    /// Everything else (accessors, [`Machine::snapshot`], hashing) is sound on any parts.
    pub unsafe fn from_parts_unchecked(parts: MachineParts) -> Machine {
        let MachineParts { config, store, stack, frames, pc, steps, gas_used, status, entry, output, io } = parts;
        Machine { config, store, stack, frames, pc, steps, gas_used, status, entry, output, io }
    }

    /// Value changes that keep the machine's shape, for lying executors and tests.
    pub fn tamper(&mut self) -> Tamper<'_> {
        Tamper(self)
    }
}

/// Changes to a machine's values (counters, slots, globals, memory bytes, table elements,
/// segments) that leave its shape alone: the stack's length, the frames, the pc and the
/// status stay as running made them, so the executor's invariants hold. Every index is
/// checked; a reference value must be null or name a function that exists.
pub struct Tamper<'a>(&'a mut Machine);

impl Tamper<'_> {
    /// Sets the step counter and the gas used. The step counter stays at most 2^63, as in
    /// a snapshot, so that stepping on cannot overflow it.
    pub fn set_counters(&mut self, steps: u64, gas_used: u64) -> Result<(), Error> {
        if steps > MAX_COUNTER {
            return Err(tampered(format!("the step counter {steps} is over 2^63")));
        }
        (self.0.steps, self.0.gas_used) = (steps, gas_used);
        Ok(())
    }

    /// Sets value stack slot `i` (counted from the bottom), which must exist.
    pub fn set_slot(&mut self, i: usize, value: u64) -> Result<(), Error> {
        let len = self.0.stack.len();
        let slot = self.0.stack.get_mut(i).ok_or_else(|| tampered(format!("no stack slot {i} ({len} slots)")))?;
        *slot = value;
        Ok(())
    }

    pub fn set_global(&mut self, addr: u32, value: u64) -> Result<(), Error> {
        let count = self.0.store.globals.len();
        let global = self.0.store.globals.get_mut(addr as usize);
        global.ok_or_else(|| tampered(format!("no global {addr} ({count} globals)")))?.value = value;
        Ok(())
    }

    /// Writes `bytes` into memory `m` at `at`, within its size.
    pub fn write_memory(&mut self, m: u32, at: usize, bytes: &[u8]) -> Result<(), Error> {
        let memory = self.0.store.memories.get_mut(m as usize).ok_or_else(|| tampered(format!("no memory {m}")))?;
        memory.write(at, bytes).map_err(|_| tampered(format!("{} bytes at {at} do not fit memory {m}", bytes.len())))
    }

    /// Sets element `i` of table `t` to `slot`: 0 (null) or a function's address + 1.
    pub fn set_table_element(&mut self, t: u32, i: usize, slot: u64) -> Result<(), Error> {
        let funcs = self.0.store.funcs.len() as u64;
        if slot > funcs {
            return Err(tampered(format!("element {slot} names no function ({funcs} functions)")));
        }
        let table = self.0.store.tables.get_mut(t as usize).ok_or_else(|| tampered(format!("no table {t}")))?;
        if i >= table.elems().len() {
            return Err(tampered(format!("table {t} has no element {i}")));
        }
        table.set(i, slot);
        Ok(())
    }

    /// Flips (xor 0xff) byte `at` of standard output (`fd` 1) or standard error (`fd` 2),
    /// which must have been written.
    pub fn flip_output_byte(&mut self, fd: u32, at: u64) -> Result<(), Error> {
        if fd != crate::io::STDOUT && fd != crate::io::STDERR {
            return Err(tampered(format!("fd {fd} is not an output stream")));
        }
        let mut bytes = self.0.io.stream(fd).to_vec();
        let len = bytes.len();
        let byte = bytes.get_mut(at as usize).ok_or_else(|| tampered(format!("fd {fd} has no byte {at} ({len})")))?;
        *byte ^= 0xff;
        *self.0.io.stream_mut(fd) = crate::io::Stream::from_bytes(&bytes);
        Ok(())
    }

    /// Drops element segment `e`.
    pub fn drop_elem(&mut self, e: u32) -> Result<(), Error> {
        let segment = self.0.store.elems.get_mut(e as usize);
        segment.ok_or_else(|| tampered(format!("no element segment {e}")))?.clear();
        Ok(())
    }

    /// Drops data segment `d`.
    pub fn drop_data(&mut self, d: u32) -> Result<(), Error> {
        let dropped = self.0.store.data_dropped.get_mut(d as usize);
        *dropped.ok_or_else(|| tampered(format!("no data segment {d}")))? = true;
        Ok(())
    }
}

/// What [`Machine::begin_undo`] keeps to undo a call: the machine but its memories, whose
/// undo logs keep the rest.
#[derive(Debug)]
pub struct Undo(Box<Machine>);

impl Undo {
    /// The machine as it was, but its memories.
    pub(crate) fn into_rest(self) -> Box<Machine> {
        self.0
    }
}

impl Machine {
    /// Starts recording what a call changes, so that [`Machine::undo`] can take it back
    /// at a cost that follows what the call wrote rather than the memory's size: the rest
    /// of the machine is copied now, each memory keeps the chunks it writes. End it with
    /// [`Machine::keep`] or [`Machine::undo`], on this machine.
    pub fn begin_undo(&mut self) -> Undo {
        let memories = std::mem::take(&mut self.store.memories);
        let rest = self.clone();
        self.store.memories = memories;
        self.store.memories.iter_mut().for_each(Memory::begin_undo);
        Undo(Box::new(rest))
    }

    /// Keeps what was done since [`Machine::begin_undo`].
    pub fn keep(&mut self, _undo: Undo) {
        self.store.memories.iter_mut().for_each(Memory::end_undo);
    }

    /// Takes back everything done since [`Machine::begin_undo`] gave `undo`. Memories
    /// given back are rehashed where they were written.
    pub fn undo(&mut self, undo: Undo) {
        let mut memories = std::mem::take(&mut self.store.memories);
        memories.iter_mut().for_each(Memory::undo);
        *self = *undo.0;
        self.store.memories = memories;
    }
}

fn tampered(reason: String) -> Error {
    Error::Tamper(reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Extern, Value};

    fn running() -> Machine {
        let wat = br#"(module (table 2 funcref) (memory 1) (global (mut i32) (i32.const 0))
            (func (export "f") (param i32) (result i32) local.get 0 i32.const 1 i32.add))"#;
        let (mut m, instance) = Machine::load(&Module::new(wat).unwrap(), Config::default()).unwrap();
        let Some(Extern::Func(f)) = m.export(instance, "f") else { panic!("the export") };
        m.invoke(f, &[Value::I32(1)]).unwrap();
        m.step();
        m
    }

    #[test]
    fn tamper_changes_values_and_refuses_what_does_not_exist() {
        let mut m = running();
        let funcs = m.store().funcs.len() as u64;
        let mut t = m.tamper();
        t.set_slot(1, 7).unwrap();
        t.set_counters(9, 9).unwrap();
        t.set_table_element(0, 1, funcs).unwrap();
        t.write_memory(0, 65535, &[1]).unwrap();
        t.set_global(0, 5).unwrap();
        assert!(t.set_slot(2, 0).is_err(), "past the stack's top");
        assert!(t.set_counters(MAX_COUNTER + 1, 0).is_err());
        assert!(t.set_table_element(0, 1, funcs + 1).is_err(), "names no function");
        assert!(t.set_table_element(0, 2, 0).is_err(), "past the table's end");
        assert!(t.write_memory(0, 65535, &[1, 2]).is_err());
        assert!(t.drop_elem(0).is_err() && t.drop_data(0).is_err(), "no segments");
        assert_eq!((m.stack()[1], m.steps(), m.store().tables[0].elems()[1]), (7, 9, funcs));
        // The changed machine still runs: its shape is the one running gave.
        m.run(10);
        assert_eq!(m.status(), Status::Returned);
    }

    #[test]
    fn from_parts_takes_back_a_machine_and_refuses_a_foreign_pc() {
        let m = running();
        let snapshot = m.snapshot();
        assert_eq!(Machine::from_parts(m.clone().into_parts()).unwrap().snapshot(), snapshot);
        let mut parts = m.into_parts();
        parts.pc += 1;
        let refused = Machine::from_parts(parts).unwrap_err();
        assert!(matches!(refused, Error::State(_)), "{refused}");
    }
}
