//! The executor: one loop that runs any number of steps over any [`Backend`]. The
//! machine's `step` and `run` drive it over the machine's own state; the judge drives it
//! for one step over what a proof opens.
//!
//! Rule every instruction keeps: when it traps, nothing but the status, step counter
//! and gas changes, so a trapped state is the pre-state with a new status.

use crate::backend::{Backend, Context, Direct, Registers};
use crate::host::Outcome;
use crate::machine::{Frame, Status};
use crate::numeric;
use crate::op::{Branch, GasClass, Op};
use crate::store::{Func, Store};
use crate::{Error, Machine, Trap};

/// Effective address of an access of `width` bytes, if it lies within `len` bytes.
#[inline(always)]
fn effective(addr: u64, offset: u32, width: u32, len: usize) -> Result<usize, Trap> {
    let ea = (addr as u32 as u64) + offset as u64;
    if ea + width as u64 > len as u64 {
        return Err(Trap::MemoryOutOfBounds);
    }
    Ok(ea as usize)
}

/// Whether `[start, start + n)` lies within `len`.
#[inline(always)]
fn in_bounds(start: u64, n: u64, len: usize) -> bool {
    (start as u32 as u64) + (n as u32 as u64) <= len as u64
}

#[inline(always)]
fn branch<B: Backend>(b: &mut B, br: Branch) {
    if br.drop > 0 {
        let len = b.stack_len();
        let keep_from = len - br.keep as usize;
        b.move_down(keep_from, keep_from - br.drop as usize, br.keep as usize);
        b.truncate(len - br.drop as usize);
    }
}

/// The three operands of a bulk instruction, in push order: (dst, src-or-value, n).
#[inline(always)]
fn bulk_operands<B: Backend>(b: &B) -> (u64, u64, u64) {
    let len = b.stack_len();
    (b.slot(len - 3) as u32 as u64, b.slot(len - 2), b.slot(len - 1) as u32 as u64)
}

/// Ends a sub-step of a bulk instruction that did `done` of the `n` units left: with units
/// left, records how many in the count operand and returns true (the instruction runs
/// again); else pops the instruction's three operands.
#[inline(always)]
fn bulk_continues<B: Backend>(b: &mut B, done: u64, n: u64) -> bool {
    let len = b.stack_len();
    if done < n {
        b.set_slot(len - 1, n - done);
        true
    } else {
        b.truncate(len - 3);
        false
    }
}

/// How far one sub-step of a forward bulk operation at `at` may go: to the end of
/// `at`'s chunk, at most `n` bytes.
#[inline(always)]
fn forward_piece(at: u64, n: u64, chunk: u64) -> u64 {
    n.min(chunk - at % chunk)
}

/// How far one sub-step of a backward bulk operation ending at `end` may go: back to
/// the start of the chunk holding byte `end - 1`, at most `n` bytes.
#[inline(always)]
fn backward_piece(end: u64, n: u64, chunk: u64) -> u64 {
    n.min((end - 1) % chunk + 1)
}

#[inline(always)]
fn is_storage(f: Func) -> bool {
    matches!(f, Func::Host { func, .. } if func.is_storage())
}

/// What a call instruction did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entered {
    /// It pushed the callee's frame; the callee starts at this pc.
    Frame(u32),
    /// A host function ran to completion: its result replaces its arguments.
    Host,
    /// A host function took one of several steps: the instruction runs again.
    Again,
    /// The program ended the call with this exit code.
    Exited(u32),
}

/// Calls `func` (whose record is `f`) with its arguments on top of the stack: pushes a
/// frame, or runs a host function for one step (`steps` is the step counter, WASI's
/// clock). Leaves the state untouched when it traps or the program exits.
#[inline]
pub(crate) fn enter_frame<B: Backend>(
    cx: &Context,
    b: &mut B,
    f: Func,
    func: u32,
    ret_pc: u32,
    steps: u64,
) -> Result<Entered, Trap> {
    match f {
        Func::Host { func: host, type_id } => {
            let n = cx.types[type_id as usize].params.len();
            let first = b.stack_len() - n;
            let mut args = [0u64; crate::host::MAX_PARAMS];
            for (i, arg) in args.iter_mut().enumerate().take(n) {
                *arg = b.slot(first + i);
            }
            match host.call(b, &args[..n], cx.config.memory_chunk_size as u64, steps)? {
                Outcome::Returned(result) => {
                    b.truncate(first);
                    // Validation reserved room for the result: the caller's operand height
                    // after the call counts it.
                    if let Some(value) = result {
                        b.push(value);
                    }
                    Ok(Entered::Host)
                }
                Outcome::Again => Ok(Entered::Again),
                Outcome::Exited(code) => Ok(Entered::Exited(code)),
            }
        }
        Func::Wasm { instance, index, .. } => {
            if b.depth() >= cx.config.max_call_depth as usize {
                return Err(Trap::CallStackExhausted);
            }
            let module = &cx.instances[instance as usize].module;
            let body = module.body(index).expect("wasm function has a body");
            let base = b.stack_len() - module.func_type(index).params.len();
            let top = b.stack_len() + body.locals.len() + body.max_height as usize;
            if top > cx.config.max_value_stack as usize {
                return Err(Trap::ValueStackExhausted);
            }
            // The executor's unchecked pushes rely on this reservation.
            b.reserve(body.locals.len() + body.max_height as usize);
            b.push_zeros(body.locals.len());
            b.push_frame(Frame { func, base: base as u32, ret_pc });
            Ok(Entered::Frame(body.start))
        }
    }
}

/// Makes room for a frame's locals and maximum operand height: what the unchecked
/// stack operations rely on. Calls reserve in `enter_frame`; this covers a machine
/// that starts mid-call (restored from a snapshot, or cloned).
fn reserve_frame<B: Backend>(cx: &Context, b: &mut B, frame: &Frame) {
    if let Func::Wasm { instance, index, .. } = cx.funcs[frame.func as usize] {
        let module = &cx.instances[instance as usize].module;
        let body = module.body(index).expect("wasm function has a body");
        let params = module.func_type(index).params.len();
        let need = frame.base as usize + params + body.locals.len() + body.max_height as usize;
        b.reserve(need.saturating_sub(b.stack_len()));
    }
}

/// Executes exactly one step over `b`, with gas charged per instruction class. Stepping
/// a halted machine changes nothing. A running state must have a wasm function's frame on
/// top, its pc in that function's code at an instruction validation reached, and exactly
/// the stack height the function has there; anything else is refused before it runs.
pub fn step<B: Backend>(cx: &Context, regs: &mut Registers, b: &mut B) -> Result<Status, Error> {
    if regs.status == Status::Running {
        check_entry(cx, regs, b).map_err(Error::Step)?;
        execute_once(cx, regs, b);
    }
    Ok(regs.status)
}

/// Whether the executor can start at `regs` over `b`: what its unchecked instruction
/// fetch and the stack heights validation promises rely on.
fn check_entry<B: Backend>(cx: &Context, regs: &Registers, b: &B) -> Result<(), String> {
    let frame = b.last_frame().ok_or("a running state has no frame")?;
    let Some(&Func::Wasm { instance, index, .. }) = cx.funcs.get(frame.func as usize) else {
        return Err(format!("the frame's function {} is not a wasm function", frame.func));
    };
    let module = &cx.instances.get(instance as usize).ok_or("the frame's instance does not exist")?.module;
    let height = module
        .operand_height(index, regs.pc)
        .ok_or_else(|| format!("pc {} is not an instruction of function {} that runs", regs.pc, frame.func))?;
    let locals = module.func_type(index).params.len() + module.body(index).map_or(0, |body| body.locals.len());
    let expected = frame.base as usize + locals + height as usize;
    if b.stack_len() != expected {
        return Err(format!(
            "the stack holds {} slots, but the function has {expected} at pc {}",
            b.stack_len(),
            regs.pc
        ));
    }
    Ok(())
}

/// Executes one step of a running state the caller has checked.
pub(crate) fn execute_once<B: Backend>(cx: &Context, regs: &mut Registers, b: &mut B) {
    execute::<false, B>(cx, regs, b, 1);
}

impl Machine {
    /// Executes exactly one step, on the precise executor (the one the judge checks).
    /// Stepping a halted machine changes nothing.
    pub fn step(&mut self) -> Status {
        if self.status == Status::Running {
            self.execute_direct::<false>(1);
        }
        self.status
    }

    /// Executes up to `max_steps` steps, stopping early when the machine halts.
    pub fn run(&mut self, max_steps: u64) -> Status {
        if self.status != Status::Running {
            return self.status;
        }
        let costs = self.config.gas.costs;
        if costs.iter().all(|&c| c == costs[0]) {
            // Uniform prices: gas is steps times the price, so the loop only counts
            // steps, within a budget that cannot run out of gas.
            let price = costs[0];
            let gas_left = self.config.gas_limit.saturating_sub(self.gas_used);
            let affordable = gas_left.checked_div(price).unwrap_or(u64::MAX);
            let budget = max_steps.min(affordable);
            let done = self.run_uniform(budget);
            self.gas_used += done * price;
            if self.status == Status::Running && done == affordable && done < max_steps {
                self.steps += 1;
                self.status = Status::OutOfGas;
            }
        } else {
            self.execute_direct::<false>(max_steps);
        }
        self.status
    }

    /// The machine as the executor sees it: its static context, its registers (a copy)
    /// and its state as a backend, whose stack operations are unchecked.
    pub(crate) fn split(&mut self) -> (Context<'_>, Registers, Direct<'_>) {
        let Machine { config, store, stack, frames, pc, steps, gas_used, status, output, io, .. } = self;
        let Store { types, funcs, tables, memories, globals, instances, elems, data_dropped, storage, .. } = store;
        let cx = Context { config, types, funcs, instances };
        let regs = Registers { pc: *pc, steps: *steps, gas_used: *gas_used, status: *status };
        (cx, regs, Direct { stack, frames, tables, memories, globals, elems, data_dropped, output, storage, io })
    }

    /// Sets the counters and status, as after running the executor over [`Machine::split`].
    pub(crate) fn set_registers(&mut self, regs: Registers) {
        (self.pc, self.steps, self.gas_used, self.status) = (regs.pc, regs.steps, regs.gas_used, regs.status);
    }

    /// Runs at most `budget` steps on the fast path, with single precise steps wherever
    /// it cannot go on, until it can again; returns how many ran.
    fn run_uniform(&mut self, budget: u64) -> u64 {
        let mut left = budget;
        while left > 0 && self.status == Status::Running {
            if let Some(at) = self.fast_entry() {
                left -= self.run_fast(at, left);
                if left == 0 || self.status != Status::Running {
                    break;
                }
            }
            left -= self.execute_direct::<true>(1);
        }
        budget - left
    }

    /// The fast code's instruction for the machine's pc, if it has one.
    fn fast_entry(&self) -> Option<u32> {
        let frame = self.frames.last()?;
        let Func::Wasm { instance, .. } = self.store.funcs[frame.func as usize] else { return None };
        self.store.instances[instance as usize].module.fast.entry(self.pc)
    }

    fn execute_direct<const UNIFORM_GAS: bool>(&mut self, budget: u64) -> u64 {
        let (cx, mut regs, mut direct) = self.split();
        let done = execute::<UNIFORM_GAS, _>(&cx, &mut regs, &mut direct, budget);
        self.set_registers(regs);
        done
    }
}

/// Runs at most `budget` steps and returns how many ran. With `UNIFORM_GAS` the caller
/// accounts for gas and guarantees the budget is affordable.
#[inline(always)]
fn execute<const UNIFORM_GAS: bool, B: Backend>(cx: &Context, regs: &mut Registers, b: &mut B, budget: u64) -> u64 {
    let Context { config, types, funcs, instances } = *cx;
    let costs = config.gas.costs;
    let gas_limit = config.gas_limit;
    let chunk = config.memory_chunk_size as u64;
    let mut gas_used = regs.gas_used;
    let mut left = budget;

    let frame_of = |func: u32| match funcs[func as usize] {
        Func::Wasm { instance, .. } => &instances[instance as usize],
        Func::Host { .. } => unreachable!("host functions have no frames"),
    };
    let frame = b.last_frame().expect("a running machine has a frame");
    reserve_frame(cx, b, &frame);
    let (mut inst, mut code, mut base);
    // Points the registers above at a frame's function.
    macro_rules! enter_context {
        ($frame:expr) => {{
            let frame = $frame;
            inst = frame_of(frame.func);
            code = &inst.module.code[..];
            base = frame.base as usize;
        }};
    }
    enter_context!(frame);
    let mut pc = regs.pc as usize;

    macro_rules! trap {
        ($t:expr) => {{
            regs.status = Status::Trapped($t);
            break;
        }};
    }
    macro_rules! tri {
        ($e:expr) => {
            match $e {
                Ok(v) => v,
                Err(t) => trap!(t),
            }
        };
    }
    macro_rules! memory {
        () => {
            inst.memory.expect("validated memory access")
        };
    }

    while left > 0 {
        left -= 1;
        // SAFETY: pc < code.len(). It starts in the running function's code (the machine's
        // shape, or `check_entry` for other backends); branch targets and call entries are
        // validated positions in the module's code; a return's pc is asserted against it.
        let op = unsafe { *code.get_unchecked(pc) };
        if !UNIFORM_GAS {
            let class = match op {
                Op::Call(index) if is_storage(funcs[inst.funcs[index as usize] as usize]) => GasClass::Storage,
                _ => op.gas_class(),
            };
            let gas = gas_used.saturating_add(costs[class as usize]);
            if gas > gas_limit {
                regs.status = Status::OutOfGas;
                break;
            }
            gas_used = gas;
        }
        let mut next = pc + 1;
        match op {
            Op::Unreachable => trap!(Trap::Unreachable),
            Op::Nop | Op::Block | Op::Loop | Op::End => {}
            Op::If { else_target } => {
                if b.pop() as u32 == 0 {
                    next = else_target as usize;
                }
            }
            Op::Else { end_target } => next = end_target as usize,
            Op::Br(br) => {
                branch(b, br);
                next = br.target as usize;
            }
            Op::BrIf(br) => {
                if b.pop() as u32 != 0 {
                    branch(b, br);
                    next = br.target as usize;
                }
            }
            Op::BrTable { len } => {
                let index = (b.pop() as u32).min(len);
                let Op::BrTableTarget(br) = code[pc + 1 + index as usize] else {
                    unreachable!("br_table is followed by its targets")
                };
                branch(b, br);
                next = br.target as usize;
            }
            Op::BrTableTarget(_) => unreachable!("br_table targets are never executed"),
            Op::Return => {
                let done = b.pop_frame();
                let keep = types[funcs[done.func as usize].type_id() as usize].results.len();
                let len = b.stack_len();
                b.move_down(len - keep, done.base as usize, keep);
                b.truncate(done.base as usize + keep);
                let Some(caller) = b.last_frame() else {
                    regs.status = Status::Returned;
                    break;
                };
                enter_context!(caller);
                next = done.ret_pc as usize;
                // The fetch below is unchecked: a frame from another backend than the
                // machine's own must not return outside its caller's code.
                assert!(next < code.len(), "a frame returns to pc {next}, outside its caller's code");
            }
            Op::Call(index) => {
                let func = inst.funcs[index as usize];
                let f = funcs[func as usize];
                let steps = regs.steps + (budget - left) - 1;
                match tri!(enter_frame(cx, b, f, func, next as u32, steps)) {
                    Entered::Frame(start) => {
                        enter_context!(b.last_frame().expect("just pushed"));
                        next = start as usize;
                    }
                    Entered::Host => {}
                    Entered::Again => next = pc,
                    Entered::Exited(code) => {
                        regs.status = Status::Exited(code);
                        break;
                    }
                }
            }
            Op::CallIndirect { type_index, table } => {
                let index = b.top() as u32 as usize;
                let t = inst.tables[table as usize];
                if index >= b.table_len(t) {
                    trap!(Trap::UndefinedElement)
                }
                let Some(func) = b.table_get(t, index).checked_sub(1).map(|a| a as u32) else {
                    trap!(Trap::UninitializedElement)
                };
                let f = funcs[func as usize];
                if f.type_id() != inst.type_ids[type_index as usize] {
                    trap!(Trap::IndirectCallTypeMismatch);
                }
                if is_storage(f) {
                    trap!(Trap::IndirectHostCall);
                }
                b.pop();
                // Host functions that take several steps or end the call are called
                // directly (above): only a frame or a completed host call comes back.
                match enter_frame(cx, b, f, func, next as u32, 0) {
                    Ok(Entered::Frame(start)) => {
                        enter_context!(b.last_frame().expect("just pushed"));
                        next = start as usize;
                    }
                    Ok(_) => {}
                    Err(t) => {
                        // Keep the trapped state equal to the pre-state.
                        b.push(index as u64);
                        trap!(t)
                    }
                }
            }
            Op::Drop => {
                b.pop();
            }
            Op::Select => {
                let c = b.pop();
                let y = b.pop();
                if c as u32 == 0 {
                    b.set_top(y);
                }
            }
            Op::LocalGet(i) => b.push(b.slot(base + i as usize)),
            Op::LocalSet(i) => {
                let v = b.pop();
                b.set_slot(base + i as usize, v);
            }
            Op::LocalTee(i) => b.set_slot(base + i as usize, b.top()),
            Op::GlobalGet(i) => b.push(b.global(inst.globals[i as usize])),
            Op::GlobalSet(i) => {
                let v = b.pop();
                b.set_global(inst.globals[i as usize], v);
            }
            Op::TableGet(t) => {
                let t = inst.tables[t as usize];
                let i = b.top() as u32 as usize;
                if i >= b.table_len(t) {
                    trap!(Trap::TableOutOfBounds);
                }
                b.set_top(b.table_get(t, i));
            }
            Op::TableSet(t) => {
                let t = inst.tables[t as usize];
                let len = b.stack_len();
                let (i, v) = (b.slot(len - 2) as u32 as usize, b.slot(len - 1));
                if i >= b.table_len(t) {
                    trap!(Trap::TableOutOfBounds);
                }
                b.table_set(t, i, v);
                b.truncate(len - 2);
            }
            Op::TableSize(t) => b.push(b.table_len(inst.tables[t as usize]) as u64),
            Op::TableGrow(t) => {
                let t = inst.tables[t as usize];
                let n = b.pop() as u32;
                let value = b.pop();
                let limit = b.table_max(t).unwrap_or(u32::MAX).min(config.max_table_elements);
                let old = b.table_len(t) as u32;
                // Skip the table.fill that follows unless it has work to do.
                next = pc + 2;
                match old.checked_add(n).filter(|&new| new <= limit) {
                    None => b.push(u32::MAX as u64),
                    Some(new) => {
                        b.table_grow(t, new as usize);
                        b.push(old as u64);
                        if value != 0 && n != 0 {
                            b.push(old as u64);
                            b.push(value);
                            b.push(n as u64);
                            next = pc + 1;
                        }
                    }
                }
            }
            Op::TableFill(t) => {
                let t = inst.tables[t as usize];
                let (i, value, n) = bulk_operands(b);
                if !in_bounds(i, n, b.table_len(t)) {
                    trap!(Trap::TableOutOfBounds);
                }
                let len = b.stack_len();
                if n > 0 {
                    b.table_set(t, i as usize, value);
                    b.set_slot(len - 3, i + 1);
                }
                if bulk_continues(b, n.min(1), n) {
                    next = pc;
                }
            }
            Op::TableCopy { dst, src } => {
                let (d, s, n) = bulk_operands(b);
                let s = s as u32 as u64;
                let (dt, st) = (inst.tables[dst as usize], inst.tables[src as usize]);
                if !in_bounds(d, n, b.table_len(dt)) || !in_bounds(s, n, b.table_len(st)) {
                    trap!(Trap::TableOutOfBounds);
                }
                let len = b.stack_len();
                if n > 0 {
                    // Copy backwards when the destination is above the source, so an
                    // overlapping copy within one table reads before it overwrites.
                    if d <= s {
                        b.table_set(dt, d as usize, b.table_get(st, s as usize));
                        b.set_slot(len - 3, d + 1);
                        b.set_slot(len - 2, s + 1);
                    } else {
                        let last = n as usize - 1;
                        b.table_set(dt, d as usize + last, b.table_get(st, s as usize + last));
                    }
                }
                if bulk_continues(b, n.min(1), n) {
                    next = pc;
                }
            }
            Op::TableInit { elem, table } => {
                let (d, s, n) = bulk_operands(b);
                let s = s as u32 as u64;
                let (segment, target) = (inst.elem_base + elem, inst.tables[table as usize]);
                if !in_bounds(s, n, b.elem_len(segment)) || !in_bounds(d, n, b.table_len(target)) {
                    trap!(Trap::TableOutOfBounds);
                }
                let len = b.stack_len();
                if n > 0 {
                    b.table_set(target, d as usize, b.elem_item(segment, s as usize));
                    b.set_slot(len - 3, d + 1);
                    b.set_slot(len - 2, s + 1);
                }
                if bulk_continues(b, n.min(1), n) {
                    next = pc;
                }
            }
            Op::ElemDrop(e) => b.drop_elem(inst.elem_base + e),
            Op::Load { kind, offset } => {
                let m = memory!();
                let at = tri!(effective(b.top(), offset, kind.width(), b.memory_len(m)));
                b.set_top(kind.extend(b.load(m, at, kind.width())));
            }
            Op::Store { kind, offset } => {
                let m = memory!();
                let len = b.stack_len();
                let (addr, value) = (b.slot(len - 2), b.slot(len - 1));
                let at = tri!(effective(addr, offset, kind.width(), b.memory_len(m)));
                b.store(m, at, kind.width(), value);
                b.truncate(len - 2);
            }
            Op::MemorySize => b.push((b.memory_len(memory!()) / crate::store::PAGE_SIZE) as u64),
            Op::MemoryGrow => {
                let m = memory!();
                let n = b.top() as u32;
                let old = (b.memory_len(m) / crate::store::PAGE_SIZE) as u32;
                let max = b.memory_max(m).unwrap_or(65536).min(config.max_memory_pages);
                let result = match old.checked_add(n).filter(|&new| new <= max) {
                    Some(new) => {
                        b.grow_memory(m, new);
                        old as u64
                    }
                    None => u32::MAX as u64,
                };
                b.set_top(result);
            }
            Op::MemoryFill => {
                let m = memory!();
                let (d, value, n) = bulk_operands(b);
                if !in_bounds(d, n, b.memory_len(m)) {
                    trap!(Trap::MemoryOutOfBounds);
                }
                let k = forward_piece(d, n, chunk);
                b.fill(m, d as usize, k as usize, value as u8);
                let len = b.stack_len();
                b.set_slot(len - 3, d + k);
                if bulk_continues(b, k, n) {
                    next = pc;
                }
            }
            Op::MemoryCopy => {
                let m = memory!();
                let (d, s, n) = bulk_operands(b);
                let s = s as u32 as u64;
                if !in_bounds(d, n, b.memory_len(m)) || !in_bounds(s, n, b.memory_len(m)) {
                    trap!(Trap::MemoryOutOfBounds);
                }
                let len = b.stack_len();
                // Each sub-step reads within one chunk and writes within one chunk.
                let k = if n == 0 {
                    0
                } else if d <= s {
                    let k = forward_piece(d, forward_piece(s, n, chunk), chunk);
                    b.copy(m, d as usize, s as usize, k as usize);
                    b.set_slot(len - 3, d + k);
                    b.set_slot(len - 2, s + k);
                    k
                } else {
                    // Backwards from the end, so an overlapping copy reads before it writes.
                    let k = backward_piece(d + n, backward_piece(s + n, n, chunk), chunk);
                    b.copy(m, (d + n - k) as usize, (s + n - k) as usize, k as usize);
                    k
                };
                if bulk_continues(b, k, n) {
                    next = pc;
                }
            }
            Op::MemoryInit(segment) => {
                let m = memory!();
                let (d, s, n) = bulk_operands(b);
                let s = s as u32 as u64;
                let bytes: &[u8] = if b.data_dropped(inst.data_base + segment) {
                    &[]
                } else {
                    &inst.module.datas[segment as usize].bytes
                };
                if !in_bounds(s, n, bytes.len()) || !in_bounds(d, n, b.memory_len(m)) {
                    trap!(Trap::MemoryOutOfBounds);
                }
                let k = forward_piece(d, n, chunk);
                b.write(m, d as usize, &bytes[s as usize..(s + k) as usize]);
                let len = b.stack_len();
                b.set_slot(len - 3, d + k);
                b.set_slot(len - 2, s + k);
                if bulk_continues(b, k, n) {
                    next = pc;
                }
            }
            Op::DataDrop(segment) => b.drop_data(inst.data_base + segment),
            Op::Const { value, .. } => b.push(value),
            Op::Unary(u) => {
                let r = tri!(numeric::unary(u, b.top()));
                b.set_top(r);
            }
            Op::Binary(op) => {
                let len = b.stack_len();
                let r = tri!(numeric::binary(op, b.slot(len - 2), b.slot(len - 1)));
                b.set_slot(len - 2, r);
                b.truncate(len - 1);
            }
            Op::RefNull => b.push(0),
            Op::RefIsNull => b.set_top((b.top() == 0) as u64),
            Op::RefFunc(f) => b.push(inst.funcs[f as usize] as u64 + 1),
        }
        pc = next;
    }
    regs.pc = pc as u32;
    regs.gas_used = gas_used;
    let done = budget - left;
    regs.steps += done;
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Extern, Module, Value};

    #[test]
    fn step_refuses_registers_the_code_does_not_allow() {
        let wat = br#"(module (func (export "f") (param i32) (result i32) local.get 0 i32.const 1 i32.add))"#;
        let module = Module::new(wat).unwrap();
        let (mut m, instance) = Machine::load(&module, Config::default()).unwrap();
        let Some(Extern::Func(f)) = m.export(instance, "f") else { panic!("the export") };
        m.invoke(f, &[Value::I32(1)]).unwrap();
        m.step(); // local.get 0: one operand on the stack
        let pc = m.pc;
        let cases = [
            (1_000_000, "pc 1000000 is not an instruction"),
            (u32::MAX, "is not an instruction"),
            // local.get 0 runs on no operands, but the stack holds one.
            (pc - 1, "the stack holds 2 slots, but the function has 1"),
        ];
        for (bad, why) in cases {
            let (cx, mut regs, mut direct) = m.split();
            regs.pc = bad;
            let refused = step(&cx, &mut regs, &mut direct).expect_err(why).to_string();
            assert!(refused.contains(why), "{refused} (expected {why})");
        }
        let (cx, mut regs, mut direct) = m.split();
        assert_eq!(step(&cx, &mut regs, &mut direct).unwrap(), Status::Running);
        assert_eq!(regs.pc, pc + 1);
    }
}
