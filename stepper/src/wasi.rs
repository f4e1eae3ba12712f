//! `wasi_snapshot_preview1`, deterministic: every function of the interface links, over
//! the call's input and output ([`crate::io`]) and nothing of the host. docs/spec.md
//! ("WASI") defines each function's effect; docs/abi.md says what programs can rely on.
//!
//! A call that moves an unbounded number of bytes (`args_get`, `environ_get`, `fd_read`,
//! `fd_write`, `random_get`, `poll_oneoff`) runs in several steps, as bulk memory
//! instructions do: each step moves at most one memory chunk's worth and keeps its
//! progress in the I/O registers' `cursor` and `done`, and the call's instruction runs
//! again until the last step writes the result.

use crate::backend::Backend;
use crate::io::{IoRegs, MAX_STREAM_LEN, STDERR, STDIN, STDOUT};
use crate::value::ValType::{self, I32, I64};

/// What a WASI function did in one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    /// It ended, with this errno as its result.
    Done(u16),
    /// It goes on: the same instruction runs again.
    Again,
    /// `proc_exit`: the call ends with this exit code.
    Exit(u32),
}

/// Error numbers (`errno`) of wasi_snapshot_preview1 that the functions return.
pub mod errno {
    pub const SUCCESS: u16 = 0;
    pub const BADF: u16 = 8;
    pub const FAULT: u16 = 21;
    pub const INVAL: u16 = 28;
    pub const NOSPC: u16 = 51;
    pub const NOSYS: u16 = 52;
    pub const NOTDIR: u16 = 54;
    pub const NOTSOCK: u16 = 57;
    pub const NOTSUP: u16 = 58;
    pub const SPIPE: u16 = 70;
}

macro_rules! wasi_functions {
    ($($variant:ident $name:literal ($($param:ident),*) $result:expr;)*) => {
        /// A function of `wasi_snapshot_preview1`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Wasi { $($variant),* }

        impl Wasi {
            /// Every function, in the order of their codes ([`Wasi::code`]).
            pub const ALL: &'static [Wasi] = &[$(Wasi::$variant),*];

            pub fn name(self) -> &'static str {
                match self { $(Wasi::$variant => $name),* }
            }

            pub fn params(self) -> &'static [ValType] {
                match self { $(Wasi::$variant => &[$($param),*]),* }
            }

            /// Whether it returns an errno (all but `proc_exit`).
            pub fn has_result(self) -> bool {
                match self { $(Wasi::$variant => $result),* }
            }
        }
    };
}

wasi_functions! {
    ArgsGet "args_get" (I32, I32) true;
    ArgsSizesGet "args_sizes_get" (I32, I32) true;
    EnvironGet "environ_get" (I32, I32) true;
    EnvironSizesGet "environ_sizes_get" (I32, I32) true;
    ClockResGet "clock_res_get" (I32, I32) true;
    ClockTimeGet "clock_time_get" (I32, I64, I32) true;
    FdAdvise "fd_advise" (I32, I64, I64, I32) true;
    FdAllocate "fd_allocate" (I32, I64, I64) true;
    FdClose "fd_close" (I32) true;
    FdDatasync "fd_datasync" (I32) true;
    FdFdstatGet "fd_fdstat_get" (I32, I32) true;
    FdFdstatSetFlags "fd_fdstat_set_flags" (I32, I32) true;
    FdFdstatSetRights "fd_fdstat_set_rights" (I32, I64, I64) true;
    FdFilestatGet "fd_filestat_get" (I32, I32) true;
    FdFilestatSetSize "fd_filestat_set_size" (I32, I64) true;
    FdFilestatSetTimes "fd_filestat_set_times" (I32, I64, I64, I32) true;
    FdPread "fd_pread" (I32, I32, I32, I64, I32) true;
    FdPrestatGet "fd_prestat_get" (I32, I32) true;
    FdPrestatDirName "fd_prestat_dir_name" (I32, I32, I32) true;
    FdPwrite "fd_pwrite" (I32, I32, I32, I64, I32) true;
    FdRead "fd_read" (I32, I32, I32, I32) true;
    FdReaddir "fd_readdir" (I32, I32, I32, I64, I32) true;
    FdRenumber "fd_renumber" (I32, I32) true;
    FdSeek "fd_seek" (I32, I64, I32, I32) true;
    FdSync "fd_sync" (I32) true;
    FdTell "fd_tell" (I32, I32) true;
    FdWrite "fd_write" (I32, I32, I32, I32) true;
    PathCreateDirectory "path_create_directory" (I32, I32, I32) true;
    PathFilestatGet "path_filestat_get" (I32, I32, I32, I32, I32) true;
    PathFilestatSetTimes "path_filestat_set_times" (I32, I32, I32, I32, I64, I64, I32) true;
    PathLink "path_link" (I32, I32, I32, I32, I32, I32, I32) true;
    PathOpen "path_open" (I32, I32, I32, I32, I32, I64, I64, I32, I32) true;
    PathReadlink "path_readlink" (I32, I32, I32, I32, I32, I32) true;
    PathRemoveDirectory "path_remove_directory" (I32, I32, I32) true;
    PathRename "path_rename" (I32, I32, I32, I32, I32, I32) true;
    PathSymlink "path_symlink" (I32, I32, I32, I32, I32) true;
    PathUnlinkFile "path_unlink_file" (I32, I32, I32) true;
    PollOneoff "poll_oneoff" (I32, I32, I32, I32) true;
    ProcExit "proc_exit" (I32) false;
    ProcRaise "proc_raise" (I32) true;
    SchedYield "sched_yield" () true;
    RandomGet "random_get" (I32, I32) true;
    SockAccept "sock_accept" (I32, I32, I32) true;
    SockRecv "sock_recv" (I32, I32, I32, I32, I32, I32) true;
    SockSend "sock_send" (I32, I32, I32, I32, I32) true;
    SockShutdown "sock_shutdown" (I32, I32) true;
}

/// The module name programs import these from.
pub const MODULE: &str = "wasi_snapshot_preview1";
/// The code of the first function in snapshots and the program hash; the others follow
/// in [`Wasi::ALL`]'s order.
pub const FIRST_CODE: u8 = 32;

/// `filetype::unknown`: what the standard streams are, as pipes are (WASI has no pipe
/// type). They are not terminals (C's `isatty` says no), so a program behaves as it does
/// with its input and output redirected: no prompts, fully buffered output.
const STREAM_FILETYPE: u8 = 0;
/// Rights of the standard streams: reading (stdin) or writing (stdout, stderr), their
/// file attributes, and polling. Neither seek nor tell.
const RIGHT_FD_READ: u64 = 1 << 1;
const RIGHT_FD_WRITE: u64 = 1 << 6;
const RIGHT_FD_FILESTAT_GET: u64 = 1 << 21;
const RIGHT_POLL_FD_READWRITE: u64 = 1 << 27;

/// Bytes of a subscription and of an event (`poll_oneoff`).
const SUBSCRIPTION: u64 = 48;
const EVENT: u64 = 32;

impl Wasi {
    pub fn code(self) -> u8 {
        FIRST_CODE + Wasi::ALL.iter().position(|&f| f == self).expect("listed") as u8
    }

    pub fn from_name(name: &str) -> Option<Wasi> {
        Wasi::ALL.iter().copied().find(|f| f.name() == name)
    }

    /// Runs one step of the function on its arguments over `b`. `chunk` is the memory
    /// chunk size (a step moves at most to a chunk's end), `steps` the step counter (the
    /// clock).
    pub(crate) fn call<B: Backend>(self, b: &mut B, args: &[u64], chunk: u64, steps: u64) -> Progress {
        // Functions without parameters (sched_yield) read 0.
        let arg = |i: usize| args.get(i).map_or(0, |&a| a as u32);
        let mut io = b.io();
        let fd = arg(0);
        let progress = match self {
            Wasi::ArgsSizesGet => sizes(b, arg(0), arg(1), io.argc, io.args_size),
            Wasi::EnvironSizesGet => sizes(b, arg(0), arg(1), io.envc, io.env_size),
            Wasi::ArgsGet => {
                let list =
                    List { table: io.args_table(), strings: io.args_strings(), count: io.argc, size: io.args_size };
                copy_list(b, &mut io, list, arg(0), arg(1), chunk)
            }
            Wasi::EnvironGet => {
                let list = List { table: io.env_table(), strings: io.env_strings(), count: io.envc, size: io.env_size };
                copy_list(b, &mut io, list, arg(0), arg(1), chunk)
            }
            Wasi::ClockResGet => match fd {
                0..=3 => put(b, arg(1), &1u64.to_le_bytes()),
                _ => Progress::Done(errno::INVAL),
            },
            Wasi::ClockTimeGet => match fd {
                0 => put(b, arg(2), &io.clock.wrapping_add(steps).to_le_bytes()),
                1..=3 => put(b, arg(2), &steps.to_le_bytes()),
                _ => Progress::Done(errno::INVAL),
            },
            Wasi::FdWrite if io.is_open(fd) && fd != STDIN => {
                transfer(b, &mut io, Transfer::Write(fd), arg(1), arg(2), arg(3), chunk)
            }
            Wasi::FdRead if io.is_open(fd) && fd == STDIN => {
                transfer(b, &mut io, Transfer::Read, arg(1), arg(2), arg(3), chunk)
            }
            Wasi::FdClose if io.is_open(fd) => {
                io.closed |= 1 << fd;
                Progress::Done(errno::SUCCESS)
            }
            Wasi::FdFdstatGet if io.is_open(fd) => {
                let rights = if fd == STDIN { RIGHT_FD_READ } else { RIGHT_FD_WRITE };
                let rights = rights | RIGHT_FD_FILESTAT_GET | RIGHT_POLL_FD_READWRITE;
                let mut stat = [0u8; 24];
                stat[0] = STREAM_FILETYPE;
                stat[8..16].copy_from_slice(&rights.to_le_bytes());
                put(b, arg(1), &stat)
            }
            Wasi::FdFilestatGet if io.is_open(fd) => {
                let mut stat = [0u8; 64];
                stat[16] = STREAM_FILETYPE;
                stat[24] = 1; // nlink
                put(b, arg(1), &stat)
            }
            Wasi::FdSeek | Wasi::FdTell | Wasi::FdPread | Wasi::FdPwrite | Wasi::FdAdvise | Wasi::FdAllocate
                if io.is_open(fd) =>
            {
                Progress::Done(errno::SPIPE)
            }
            Wasi::FdDatasync | Wasi::FdSync | Wasi::FdFilestatSetSize if io.is_open(fd) => Progress::Done(errno::INVAL),
            Wasi::FdFdstatSetFlags | Wasi::FdFdstatSetRights | Wasi::FdFilestatSetTimes | Wasi::FdRenumber
                if io.is_open(fd) =>
            {
                Progress::Done(errno::NOTSUP)
            }
            Wasi::FdReaddir
            | Wasi::PathCreateDirectory
            | Wasi::PathFilestatGet
            | Wasi::PathFilestatSetTimes
            | Wasi::PathLink
            | Wasi::PathOpen
            | Wasi::PathReadlink
            | Wasi::PathRemoveDirectory
            | Wasi::PathRename
            | Wasi::PathUnlinkFile
                if io.is_open(fd) =>
            {
                Progress::Done(errno::NOTDIR)
            }
            // path_symlink's directory is its third argument.
            Wasi::PathSymlink if io.is_open(arg(2)) => Progress::Done(errno::NOTDIR),
            Wasi::SockAccept | Wasi::SockRecv | Wasi::SockSend | Wasi::SockShutdown if io.is_open(fd) => {
                Progress::Done(errno::NOTSOCK)
            }
            Wasi::PollOneoff => poll(b, &mut io, arg(0), arg(1), arg(2), arg(3)),
            Wasi::ProcExit => return Progress::Exit(arg(0)),
            Wasi::ProcRaise => Progress::Done(errno::NOSYS),
            Wasi::SchedYield => Progress::Done(errno::SUCCESS),
            Wasi::RandomGet => random(b, &mut io, arg(0), arg(1), chunk),
            // Every other case is a function on a descriptor that is not open: no
            // preopened directory exists, and the standard streams may have been closed.
            _ => Progress::Done(errno::BADF),
        };
        if let Progress::Done(_) = progress {
            // A call that ends leaves no progress behind, whatever went wrong.
            (io.cursor, io.done) = (0, 0);
        }
        b.set_io(io);
        progress
    }
}

/// Where `[ptr, ptr + len)` starts in memory 0, if it lies within it.
fn range<B: Backend>(b: &B, ptr: u32, len: u64) -> Option<usize> {
    let size = if b.memory_count() > 0 { b.memory_len(0) as u64 } else { 0 };
    (ptr as u64 + len <= size).then_some(ptr as usize)
}

/// Writes `bytes` at `ptr`, or nothing if they do not fit.
fn put<B: Backend>(b: &mut B, ptr: u32, bytes: &[u8]) -> Progress {
    match range(b, ptr, bytes.len() as u64) {
        Some(at) => {
            b.write(0, at, bytes);
            Progress::Done(errno::SUCCESS)
        }
        None => Progress::Done(errno::FAULT),
    }
}

fn sizes<B: Backend>(b: &mut B, count_ptr: u32, size_ptr: u32, count: u32, size: u32) -> Progress {
    if range(b, count_ptr, 4).is_none() || range(b, size_ptr, 4).is_none() {
        return Progress::Done(errno::FAULT);
    }
    put(b, count_ptr, &count.to_le_bytes());
    put(b, size_ptr, &size.to_le_bytes())
}

/// A list of strings in the input: a table of offsets, then the strings.
struct List {
    table: u64,
    strings: u64,
    count: u32,
    size: u32,
}

/// `args_get` and `environ_get`: first the pointer array, one entry per step (each the
/// buffer's address plus the string's offset), then the strings, up to a chunk's end of
/// the input and of memory per step. The cursor counts the bytes written so far.
fn copy_list<B: Backend>(b: &mut B, io: &mut IoRegs, list: List, array: u32, buf: u32, chunk: u64) -> Progress {
    let pointers = 4 * list.count as u64;
    let total = pointers + list.size as u64;
    if range(b, array, pointers).is_none() || range(b, buf, list.size as u64).is_none() {
        return Progress::Done(errno::FAULT);
    }
    let p = io.cursor;
    if p >= total {
        return Progress::Done(errno::SUCCESS);
    }
    if p < pointers && !p.is_multiple_of(4) {
        // No call leaves the cursor inside an entry: a state no run reaches.
        return Progress::Done(errno::INVAL);
    }
    if p < pointers {
        let mut offset = [0u8; 4];
        b.input(list.table + p, &mut offset);
        let pointer = buf.wrapping_add(u32::from_le_bytes(offset));
        b.write(0, (array as u64 + p) as usize, &pointer.to_le_bytes());
        io.cursor = p + 4;
    } else {
        let s = p - pointers;
        let (dst, src) = (buf as u64 + s, list.strings + s);
        let k = (list.size as u64 - s).min(chunk - dst % chunk).min(chunk - src % chunk);
        let mut bytes = vec![0u8; k as usize];
        b.input(src, &mut bytes);
        b.write(0, dst as usize, &bytes);
        io.cursor = p + k;
    }
    match io.cursor == total {
        true => Progress::Done(errno::SUCCESS),
        false => Progress::Again,
    }
}

#[derive(Clone, Copy)]
enum Transfer {
    /// Standard input to memory.
    Read,
    /// Memory to an output stream.
    Write(u32),
}

/// `fd_read` and `fd_write`: the buffers of the iovec array in order, each step moving
/// bytes of one buffer up to the end of its memory chunk (and, reading, of the input's
/// chunk), then a last step writing the count. A read ends at the end of standard
/// input. The cursor holds the iovec's index (high 32 bits) and the offset in it; `done`
/// the bytes moved so far.
fn transfer<B: Backend>(
    b: &mut B,
    io: &mut IoRegs,
    dir: Transfer,
    iovs: u32,
    iovs_len: u32,
    count_ptr: u32,
    chunk: u64,
) -> Progress {
    if range(b, iovs, 8 * iovs_len as u64).is_none() {
        return Progress::Done(errno::FAULT);
    }
    let (index, offset) = ((io.cursor >> 32) as u32, io.cursor as u32 as u64);
    let input_left = io.stdin_len.saturating_sub(io.stdin_pos);
    let stream_left = match dir {
        Transfer::Write(fd) => MAX_STREAM_LEN.saturating_sub(b.stream_len(fd)),
        Transfer::Read => u64::MAX,
    };
    let exhausted = match dir {
        Transfer::Read => input_left == 0,
        Transfer::Write(_) => stream_left == 0,
    };
    if index >= iovs_len || exhausted {
        if let (Transfer::Write(_), true, 0) = (dir, exhausted && index < iovs_len, io.done) {
            return Progress::Done(errno::NOSPC);
        }
        return put(b, count_ptr, &(io.done as u32).to_le_bytes());
    }
    let entry = iovs as usize + 8 * index as usize;
    let buf = b.load(0, entry, 4) as u32;
    let len = b.load(0, entry + 4, 4);
    if range(b, buf, len).is_none() {
        return Progress::Done(errno::FAULT);
    }
    if offset >= len {
        // An empty buffer, or one done: on to the next.
        io.cursor = (index as u64 + 1) << 32;
        return Progress::Again;
    }
    let at = buf as u64 + offset;
    let mut k = (len - offset).min(chunk - at % chunk);
    match dir {
        Transfer::Read => {
            let src = io.stdin_at() + io.stdin_pos;
            k = k.min(input_left).min(chunk - src % chunk);
            let mut bytes = vec![0u8; k as usize];
            b.input(src, &mut bytes);
            b.write(0, at as usize, &bytes);
            io.stdin_pos += k; // k is at most the input left
        }
        Transfer::Write(fd) => {
            k = k.min(stream_left);
            let bytes: Vec<u8> = (at..at + k).map(|i| b.load(0, i as usize, 1) as u8).collect();
            b.append(fd, &bytes);
        }
    }
    // A state restored by hand may hold any progress: no sum may overflow.
    io.done = io.done.saturating_add(k);
    let offset = offset + k;
    io.cursor = match offset == len {
        true => (index as u64 + 1) << 32,
        false => (index as u64) << 32 | offset,
    };
    Progress::Again
}

/// `random_get`: the seed's byte stream from where the call's last request ended, up to
/// a memory chunk's end per step. The cursor counts the bytes written.
fn random<B: Backend>(b: &mut B, io: &mut IoRegs, buf: u32, len: u32, chunk: u64) -> Progress {
    if range(b, buf, len as u64).is_none() {
        return Progress::Done(errno::FAULT);
    }
    let p = io.cursor;
    if p >= len as u64 {
        return Progress::Done(errno::SUCCESS);
    }
    let at = buf as u64 + p;
    let k = (len as u64 - p).min(chunk - at % chunk);
    let bytes = random_bytes(&io.seed, io.random_pos, k as usize);
    b.write(0, at as usize, &bytes);
    io.random_pos = io.random_pos.wrapping_add(k);
    io.cursor = p + k;
    match io.cursor == len as u64 {
        true => Progress::Done(errno::SUCCESS),
        false => Progress::Again,
    }
}

/// `len` bytes of the seed's stream from position `from`: block `j` of the stream is
/// `keccak256(0x25 || seed || u64 j)`.
pub fn random_bytes(seed: &[u8; 32], from: u64, len: usize) -> Vec<u8> {
    use sha3::{Digest, Keccak256};
    let mut out = Vec::with_capacity(len);
    let mut at = from;
    while out.len() < len {
        let block =
            Keccak256::new().chain_update([0x25]).chain_update(seed).chain_update((at / 32).to_le_bytes()).finalize();
        let skip = (at % 32) as usize;
        let k = (32 - skip).min(len - out.len());
        out.extend_from_slice(&block[skip..skip + k]);
        at += k as u64;
    }
    out
}

/// `poll_oneoff`: one subscription per step, each answered at once with its event, then
/// a last step writing the count. Time does not pass while a program waits: a clock
/// subscription is due at once. Reading standard input is ready (with the bytes left, and
/// a hang-up once none are), and so is writing the output streams.
fn poll<B: Backend>(b: &mut B, io: &mut IoRegs, subs: u32, events: u32, n: u32, count_ptr: u32) -> Progress {
    if n == 0 {
        return Progress::Done(errno::INVAL);
    }
    if range(b, subs, SUBSCRIPTION * n as u64).is_none() || range(b, events, EVENT * n as u64).is_none() {
        return Progress::Done(errno::FAULT);
    }
    let i = io.cursor;
    if i >= n as u64 {
        return put(b, count_ptr, &n.to_le_bytes());
    }
    let sub = subs as usize + (SUBSCRIPTION * i) as usize;
    let userdata = b.load(0, sub, 8);
    let tag = b.load(0, sub + 8, 1) as u8;
    let fd = b.load(0, sub + 16, 4) as u32;
    let (error, nbytes, flags) = match tag {
        0 => (errno::SUCCESS, 0, 0),
        1 if io.is_open(fd) && fd == STDIN => {
            let left = io.stdin_len.saturating_sub(io.stdin_pos);
            (errno::SUCCESS, left, (left == 0) as u16)
        }
        2 if io.is_open(fd) && (fd == STDOUT || fd == STDERR) => (errno::SUCCESS, 0, 0),
        1 | 2 => (errno::BADF, 0, 0),
        _ => (errno::INVAL, 0, 0),
    };
    let mut event = [0u8; EVENT as usize];
    event[..8].copy_from_slice(&userdata.to_le_bytes());
    event[8..10].copy_from_slice(&error.to_le_bytes());
    event[10] = tag;
    event[16..24].copy_from_slice(&nbytes.to_le_bytes());
    event[24..26].copy_from_slice(&flags.to_le_bytes());
    b.write(0, events as usize + (EVENT * i) as usize, &event);
    io.cursor = i + 1;
    Progress::Again
}
