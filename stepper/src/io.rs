//! A call's input and output, as WASI programs see them: the arguments, the environment,
//! standard input, a seed and a clock going in; standard output and standard error coming
//! out. All of it is part of the machine's state, so the state hash commits to it and a
//! judge proves every WASI call (docs/spec.md, "Input and output").

use std::sync::Arc;

use crate::Error;

/// A stream's bytes are hashed in blocks of this many (docs/spec.md, "Streams").
pub const BLOCK: usize = 64;
/// Streams keep their bytes in shared segments of this many, so that copying a machine
/// (an undo log, a way back) copies at most one segment of each stream.
pub const SEGMENT: usize = 64 * 1024;
/// The most bytes a call may write to each of standard output and standard error; a
/// write past it gets `ENOSPC`.
pub const MAX_STREAM_LEN: u64 = 64 << 20;
/// The most bytes a call's input (arguments, environment and standard input, laid out
/// as [`Input`] does) may take.
pub const MAX_INPUT_LEN: usize = 256 << 20;

/// File descriptors: the three standard streams are the only ones.
pub const STDIN: u32 = 0;
pub const STDOUT: u32 = 1;
pub const STDERR: u32 = 2;

/// What a call is given besides its arguments: what WASI programs read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CallInput {
    /// The command line, `argv[0]` first. No string holds a NUL byte.
    pub args: Vec<Vec<u8>>,
    /// The environment, `KEY=VALUE` strings in order. No string holds a NUL byte.
    pub env: Vec<Vec<u8>>,
    pub stdin: Vec<u8>,
    /// Where `random_get`'s bytes come from.
    pub seed: [u8; 32],
    /// The real-time clock at step 0, in nanoseconds since the Unix epoch.
    pub clock: u64,
}

impl CallInput {
    /// Refuses strings that hold a NUL byte (C could not see past it) and an input larger
    /// than [`MAX_INPUT_LEN`].
    pub fn check(&self) -> Result<(), Error> {
        for (what, list) in [("argument", &self.args), ("environment entry", &self.env)] {
            if let Some(i) = list.iter().position(|s| s.contains(&0)) {
                return Err(Error::Call(format!("{what} {i} holds a NUL byte")));
            }
        }
        if let Some(i) = self.env.iter().position(|s| !s.contains(&b'=')) {
            return Err(Error::Call(format!("environment entry {i} is not KEY=VALUE")));
        }
        let len = self.laid_out_len();
        if len > MAX_INPUT_LEN as u64 {
            return Err(Error::Call(format!("the input takes {len} bytes, more than the limit {MAX_INPUT_LEN}")));
        }
        Ok(())
    }

    fn laid_out_len(&self) -> u64 {
        let list = |l: &[Vec<u8>]| l.iter().map(|s| 4 + s.len() as u64 + 1).sum::<u64>();
        list(&self.args) + list(&self.env) + self.stdin.len() as u64
    }
}

/// Where the parts of a call's input lie in its laid-out bytes, and what a call changes
/// as it reads and writes: the registers of a call's input and output. The first five
/// fields and the clock and seed are fixed for the call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct IoRegs {
    pub argc: u32,
    /// The argument strings' bytes, NULs included.
    pub args_size: u32,
    pub envc: u32,
    pub env_size: u32,
    pub stdin_len: u64,
    pub clock: u64,
    pub seed: [u8; 32],
    /// Standard input's bytes read so far.
    pub stdin_pos: u64,
    /// `random_get`'s bytes given so far.
    pub random_pos: u64,
    /// Bit `fd` is set once standard stream `fd` is closed.
    pub closed: u8,
    /// The progress of a WASI call that runs in several steps (0 between calls).
    pub cursor: u64,
    /// What such a call has done so far (bytes moved, events written).
    pub done: u64,
}

impl IoRegs {
    /// Where the argument table starts: `argc` little-endian u32 offsets of each string
    /// in the argument strings, then the strings, each ending in NUL.
    pub fn args_table(&self) -> u64 {
        0
    }
    pub fn args_strings(&self) -> u64 {
        4 * self.argc as u64
    }
    pub fn env_table(&self) -> u64 {
        self.args_strings() + self.args_size as u64
    }
    pub fn env_strings(&self) -> u64 {
        self.env_table() + 4 * self.envc as u64
    }
    pub fn stdin_at(&self) -> u64 {
        self.env_strings() + self.env_size as u64
    }
    /// The laid-out input's length in bytes.
    pub fn input_len(&self) -> u64 {
        self.stdin_at() + self.stdin_len
    }
    pub fn is_open(&self, fd: u32) -> bool {
        fd <= STDERR && self.closed & (1 << fd) == 0
    }
}

/// A call's input laid out as one byte string (docs/spec.md, "Input"), which the state
/// commits to as a Merkle tree of chunks, with the input it came from.
#[derive(Debug, Default)]
pub struct Input {
    pub call: CallInput,
    pub bytes: Vec<u8>,
    /// The Merkle root of the bytes' chunks, once the commitment computed it.
    pub root: std::sync::OnceLock<[u8; 32]>,
}

impl Input {
    /// Lays out `call` ([`CallInput::check`] must accept it) and the registers it starts with.
    pub fn new(call: CallInput) -> (Arc<Input>, IoRegs) {
        let mut bytes = Vec::with_capacity(call.laid_out_len() as usize);
        let mut lay = |list: &[Vec<u8>]| {
            let mut offset = 0u32;
            for s in list {
                bytes.extend_from_slice(&offset.to_le_bytes());
                offset += s.len() as u32 + 1;
            }
            for s in list {
                bytes.extend_from_slice(s);
                bytes.push(0);
            }
            offset
        };
        let args_size = lay(&call.args);
        let env_size = lay(&call.env);
        bytes.extend_from_slice(&call.stdin);
        let regs = IoRegs {
            argc: call.args.len() as u32,
            args_size,
            envc: call.env.len() as u32,
            env_size,
            stdin_len: call.stdin.len() as u64,
            clock: call.clock,
            seed: call.seed,
            ..IoRegs::default()
        };
        (Arc::new(Input { call, bytes, root: Default::default() }), regs)
    }
}

/// An output stream: bytes only ever appended to within a call.
#[derive(Clone, Debug, Default)]
pub struct Stream {
    segments: Vec<Arc<[u8]>>,
    tail: Vec<u8>,
    /// The hash chain's values, kept by the commitment ([`StreamCache`]).
    pub cache: StreamCache,
}

/// What the commitment keeps of a stream's hash chain so as not to hash a block twice.
#[derive(Clone, Debug, Default)]
pub struct StreamCache {
    /// The chain after each full segment, for the first so many segments.
    pub segment_chains: Vec<[u8; 32]>,
    /// The chain after the tail's first `tail_blocks` blocks.
    pub tail_blocks: usize,
    pub tail_chain: Option<[u8; 32]>,
}

impl PartialEq for Stream {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.pieces().flatten().eq(other.pieces().flatten())
    }
}

impl Eq for Stream {}

impl Stream {
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut s = Self::default();
        s.append(bytes);
        s
    }

    pub fn len(&self) -> u64 {
        (self.segments.len() * SEGMENT + self.tail.len()) as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The full segments, then the tail (fewer than [`SEGMENT`] bytes).
    pub fn segments(&self) -> &[Arc<[u8]>] {
        &self.segments
    }

    pub fn tail(&self) -> &[u8] {
        &self.tail
    }

    /// The bytes in order, a piece at a time.
    pub fn pieces(&self) -> impl Iterator<Item = &[u8]> {
        self.segments.iter().map(|s| &s[..]).chain(std::iter::once(&self.tail[..]))
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.pieces().flatten().copied().collect()
    }

    pub fn append(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let k = bytes.len().min(SEGMENT - self.tail.len());
            self.tail.extend_from_slice(&bytes[..k]);
            bytes = &bytes[k..];
            if self.tail.len() == SEGMENT {
                let full = std::mem::take(&mut self.tail);
                let cache = &mut self.cache;
                // A chain the tail's cache completed is the new segment's.
                match cache.tail_chain.take() {
                    Some(chain)
                        if cache.tail_blocks == SEGMENT / BLOCK
                            && cache.segment_chains.len() == self.segments.len() =>
                    {
                        cache.segment_chains.push(chain)
                    }
                    _ => {}
                }
                cache.tail_blocks = 0;
                self.segments.push(full.into());
            }
        }
    }
}

/// A call's input and output: the machine's part of the state that WASI reads and writes.
#[derive(Clone, Debug, Default)]
pub struct Io {
    pub(crate) input: Arc<Input>,
    pub(crate) regs: IoRegs,
    pub(crate) stdout: Stream,
    pub(crate) stderr: Stream,
}

impl PartialEq for Io {
    fn eq(&self, other: &Self) -> bool {
        self.input.bytes == other.input.bytes
            && self.regs == other.regs
            && self.stdout == other.stdout
            && self.stderr == other.stderr
    }
}

impl Io {
    /// The input and output a call starts with.
    pub fn new(input: CallInput) -> Self {
        let (input, regs) = Input::new(input);
        Self { input, regs, stdout: Stream::default(), stderr: Stream::default() }
    }

    /// Rebuilds a call's input and output as a snapshot holds them, checking that the
    /// registers agree with the input.
    pub fn from_parts(input: CallInput, regs: IoRegs, stdout: &[u8], stderr: &[u8]) -> Result<Self, String> {
        input.check().map_err(|e| e.to_string())?;
        let mut io = Self::new(input);
        let fixed = IoRegs { stdin_pos: 0, random_pos: 0, closed: 0, cursor: 0, done: 0, ..regs };
        if fixed != io.regs {
            return Err("the input's registers do not describe its input".into());
        }
        if regs.stdin_pos > regs.stdin_len || regs.closed > 7 {
            return Err("the input's registers are out of range".into());
        }
        if stdout.len() as u64 > MAX_STREAM_LEN || stderr.len() as u64 > MAX_STREAM_LEN {
            return Err("an output stream is over its limit".into());
        }
        io.regs = regs;
        io.stdout = Stream::from_bytes(stdout);
        io.stderr = Stream::from_bytes(stderr);
        Ok(io)
    }

    pub fn input(&self) -> &Input {
        &self.input
    }

    pub fn regs(&self) -> &IoRegs {
        &self.regs
    }

    pub fn stdout(&self) -> &Stream {
        &self.stdout
    }

    pub fn stderr(&self) -> &Stream {
        &self.stderr
    }

    /// Both streams, for the commitment to bring their caches up to date.
    pub fn streams_mut(&mut self) -> [&mut Stream; 2] {
        [&mut self.stdout, &mut self.stderr]
    }

    pub(crate) fn stream_mut(&mut self, fd: u32) -> &mut Stream {
        match fd {
            STDOUT => &mut self.stdout,
            _ => &mut self.stderr,
        }
    }

    /// Output stream `fd`: standard output for 1, standard error otherwise.
    pub fn stream(&self, fd: u32) -> &Stream {
        match fd {
            STDOUT => &self.stdout,
            _ => &self.stderr,
        }
    }

    /// What a backend's `append` does: appends to output stream `fd`.
    pub fn append(&mut self, fd: u32, bytes: &[u8]) {
        self.stream_mut(fd).append(bytes);
    }

    /// What a backend's `set_io` does: the registers a WASI call changes. The fixed ones
    /// (where the input's parts lie, the clock, the seed) stay the input's.
    pub fn set_regs(&mut self, regs: IoRegs) {
        let IoRegs { stdin_pos, random_pos, closed, cursor, done, .. } = regs;
        self.regs = IoRegs { stdin_pos, random_pos, closed, cursor, done, ..self.regs };
    }

    /// The bytes it holds beyond what it shares with its copies, roughly.
    pub(crate) fn bytes(&self) -> usize {
        self.stdout.tail.len() + self.stderr.tail.len() + 256
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_laid_out_as_the_spec_says() {
        let call = CallInput {
            args: vec![b"prog".to_vec(), b"x".to_vec()],
            env: vec![b"A=1".to_vec()],
            stdin: b"in".to_vec(),
            ..CallInput::default()
        };
        call.check().unwrap();
        let (input, regs) = Input::new(call);
        let expected: Vec<u8> = [&[0, 0, 0, 0, 5, 0, 0, 0][..], b"prog\0x\0", &[0, 0, 0, 0], b"A=1\0", b"in"].concat();
        assert_eq!(input.bytes, expected);
        assert_eq!((regs.argc, regs.args_size, regs.envc, regs.env_size, regs.stdin_len), (2, 7, 1, 4, 2));
        assert_eq!(regs.input_len(), expected.len() as u64);
        assert_eq!(regs.stdin_at(), expected.len() as u64 - 2);
    }

    #[test]
    fn bad_inputs_are_refused() {
        let nul = CallInput { args: vec![b"a\0b".to_vec()], ..CallInput::default() };
        assert!(nul.check().unwrap_err().to_string().contains("argument 0 holds a NUL"));
        let env = CallInput { env: vec![b"novalue".to_vec()], ..CallInput::default() };
        assert!(env.check().unwrap_err().to_string().contains("KEY=VALUE"));
    }

    #[test]
    fn streams_keep_segments_and_compare_by_bytes() {
        let bytes: Vec<u8> = (0..SEGMENT * 2 + 100).map(|i| i as u8).collect();
        let mut a = Stream::default();
        for piece in bytes.chunks(777) {
            a.append(piece);
        }
        assert_eq!(a.segments().len(), 2);
        assert_eq!(a.tail().len(), 100);
        assert_eq!(a.to_vec(), bytes);
        assert_eq!(a, Stream::from_bytes(&bytes));
        assert_ne!(a, Stream::from_bytes(&bytes[1..]));
    }
}
