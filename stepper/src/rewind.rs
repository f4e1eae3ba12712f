//! Ways back: an earlier state of a machine kept as what changed since, not as a copy.
//! A trace keeps a chain of them to revisit its checkpoints at a cost that follows what
//! the run wrote in between, however large its memory.

use std::sync::Arc;

use crate::access::Undo;
use crate::store::{Memory, MemoryLog, PAGE_SIZE};
use crate::{Error, Machine, Module};

/// The way back from a machine's state to an earlier one ([`Machine::seal`]): the machine
/// as it was but its memories, and each memory's log of the chunks written since.
#[derive(Clone, Debug)]
pub struct Rewind {
    rest: Box<Machine>,
    memories: Vec<MemoryLog>,
}

impl Machine {
    /// Ends the undo log that `undo` began and hands it over, held apart from the machine:
    /// the way back from the machine's present state to the one `begin_undo` saw.
    pub fn seal(&mut self, undo: Undo) -> Rewind {
        let memories = self.store.memories.iter_mut().map(Memory::seal_undo).collect();
        Rewind { rest: undo.into_rest(), memories }
    }

    /// Goes back to where `rewind` began. It must lead back from this machine's present
    /// state (the last one sealed on it, or a merge of consecutive ones ending there):
    /// otherwise the memories come back wrong, which the state hash shows. Memories given
    /// back are rehashed where they were written. Refuses one that cannot belong to this
    /// machine (other memories, or memories shorter than it would shrink them to).
    pub fn rewind(&mut self, rewind: Rewind) -> Result<(), Error> {
        let Rewind { rest, memories: logs } = rewind;
        let memories = &self.store.memories;
        if logs.len() != memories.len() || logs.iter().zip(memories).any(|(log, m)| log.memory_len() > m.data().len()) {
            return Err(Error::Tamper("a way back that does not lead from this machine's memories".into()));
        }
        let mut memories = std::mem::take(&mut self.store.memories);
        memories.iter_mut().zip(logs).for_each(|(m, log)| m.rewind(log));
        *self = *rest;
        self.store.memories = memories;
        Ok(())
    }
}

impl Rewind {
    /// One way back from `newer`'s end to `older`'s beginning, where `newer` began where
    /// `older` ends. What both saved of a chunk is kept once.
    pub fn merge(older: Rewind, newer: Rewind) -> Rewind {
        let memories = older.memories.into_iter().zip(newer.memories).map(|(o, n)| MemoryLog::merge(o, n)).collect();
        Rewind { rest: older.rest, memories }
    }

    /// The step the way back leads to.
    pub fn steps(&self) -> u64 {
        self.rest.steps
    }

    /// The bytes it holds, roughly: the memories' logs, and the rest of the machine as it
    /// was (value stack, frames, tables, storage, output).
    pub fn bytes(&self) -> usize {
        self.memories.iter().map(MemoryLog::bytes).sum::<usize>() + self.rest.bytes_beside_memories()
    }

    /// The way back as bytes:
    ///
    /// ```text
    /// u64 LE   length of the snapshot that follows
    /// snapshot the machine as it was ([`Machine::snapshot`]), each memory all zero at its
    ///          length then
    /// per memory, in order:
    ///   u64 LE high chunk (the chunks from it on were zero), u64 LE count of saved chunks,
    ///   per saved chunk: u32 LE index, u8 0 (all zero) or 1 followed by its bytes
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        let mut machine = (*self.rest).clone();
        let chunk = self.rest.config.memory_chunk_size;
        machine.store.memories = self
            .memories
            .iter()
            .map(|log| {
                let (_, len, _, max) = log.parts();
                Memory::zeroed((len / PAGE_SIZE) as u32, max, chunk)
            })
            .collect();
        let snapshot = machine.snapshot();
        let mut out = Vec::with_capacity(snapshot.len() + 64);
        out.extend_from_slice(&(snapshot.len() as u64).to_le_bytes());
        out.extend_from_slice(&snapshot);
        for log in &self.memories {
            let (chunks, _, high, _) = log.parts();
            out.extend_from_slice(&(high as u64).to_le_bytes());
            out.extend_from_slice(&(chunks.len() as u64).to_le_bytes());
            for (leaf, bytes) in chunks {
                out.extend_from_slice(&leaf.to_le_bytes());
                match bytes {
                    None => out.push(0),
                    Some(b) => {
                        out.push(1);
                        out.extend_from_slice(b);
                    }
                }
            }
        }
        out
    }

    /// Reads what [`Rewind::encode`] wrote, checking it whole: the snapshot as
    /// [`Machine::restore`] checks one, and every chunk against its memory.
    pub fn decode(bytes: &[u8], modules: &[Arc<Module>]) -> Result<Rewind, Error> {
        let bad = |what: &str| Error::Snapshot(format!("a way back: {what}"));
        let mut r = Reader(bytes);
        let len = usize::try_from(r.u64().ok_or_else(|| bad("no snapshot length"))?).unwrap_or(usize::MAX);
        let snapshot = r.take(len).ok_or_else(|| bad("the snapshot is cut short"))?;
        let mut rest = Machine::restore(snapshot, modules)?;
        let chunk = rest.config.memory_chunk_size as usize;
        let memories = std::mem::take(&mut rest.store.memories);
        let mut logs = Vec::with_capacity(memories.len());
        for (i, memory) in memories.iter().enumerate() {
            let at = |what: &str| bad(&format!("memory {i}: {what}"));
            let high = r.u64().ok_or_else(|| at("no high chunk"))?;
            let count = r.u64().ok_or_else(|| at("no chunk count"))?;
            // Each saved chunk takes at least five bytes: no count can ask for more room.
            if count > (r.0.len() / 5) as u64 {
                return Err(at("more chunks than the bytes left hold"));
            }
            let mut chunks = Vec::with_capacity(count as usize);
            for _ in 0..count {
                let leaf = r.u32().ok_or_else(|| at("a chunk is cut short"))?;
                let saved = match r.take(1).ok_or_else(|| at("a chunk is cut short"))?[0] {
                    0 => None,
                    1 => Some(Box::from(r.take(chunk).ok_or_else(|| at("a chunk's bytes are cut short"))?)),
                    other => return Err(at(&format!("chunk kind {other} is neither 0 nor 1"))),
                };
                chunks.push((leaf, saved));
            }
            let high = usize::try_from(high).unwrap_or(usize::MAX);
            let log =
                MemoryLog::from_parts(chunks, memory.data().len(), high, memory.max(), chunk).map_err(|e| at(&e))?;
            logs.push(log);
        }
        if !r.0.is_empty() {
            return Err(bad(&format!("{} bytes after the last memory's log", r.0.len())));
        }
        Ok(Rewind { rest: Box::new(rest), memories: logs })
    }
}

/// Little-endian fields from the front of a byte string.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.0.split_at_checked(n)?;
        self.0 = tail;
        Some(head)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
}
