//! The executor: one loop that runs any number of steps. `step` runs it for one.
//!
//! Rule every instruction keeps: when it traps, nothing but the status, step counter
//! and gas changes, so a trapped state is the pre-state with a new status.

use crate::machine::{enter_frame, Status};
use crate::numeric;
use crate::fuse::MAX_FUSED;
use crate::op::{Branch, Op};
use crate::store::{Func, Store};
use crate::{Machine, Trap};

#[inline(always)]
fn read_le(mem: &[u8], at: usize, width: u32) -> u64 {
    match width {
        1 => mem[at] as u64,
        2 => u16::from_le_bytes([mem[at], mem[at + 1]]) as u64,
        4 => u32::from_le_bytes(mem[at..at + 4].try_into().expect("4 bytes")) as u64,
        _ => u64::from_le_bytes(mem[at..at + 8].try_into().expect("8 bytes")),
    }
}

#[inline(always)]
fn write_le(mem: &mut [u8], at: usize, width: u32, value: u64) {
    mem[at..at + width as usize].copy_from_slice(&value.to_le_bytes()[..width as usize]);
}

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
fn branch(stack: &mut Vec<u64>, b: Branch) {
    if b.drop > 0 {
        let len = stack.len();
        let keep_from = len - b.keep as usize;
        stack.copy_within(keep_from..len, keep_from - b.drop as usize);
        stack.truncate(len - b.drop as usize);
    }
}

/// The three operands of a bulk instruction, in push order: (dst, src-or-value, n).
#[inline(always)]
fn bulk_operands(stack: &[u64]) -> (u64, u64, u64) {
    let len = stack.len();
    (stack[len - 3] as u32 as u64, stack[len - 2], stack[len - 1] as u32 as u64)
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

/// # Safety
/// The stack is not empty.
#[inline(always)]
unsafe fn stack_top(stack: &mut Vec<u64>) -> &mut u64 {
    debug_assert!(!stack.is_empty());
    let len = stack.len();
    unsafe { &mut *stack.as_mut_ptr().add(len - 1) }
}

/// # Safety
/// The stack is not empty.
#[inline(always)]
unsafe fn stack_pop(stack: &mut Vec<u64>) -> u64 {
    debug_assert!(!stack.is_empty());
    unsafe {
        let len = stack.len() - 1;
        stack.set_len(len);
        *stack.as_ptr().add(len)
    }
}

/// # Safety
/// The stack has spare capacity.
#[inline(always)]
unsafe fn stack_push(stack: &mut Vec<u64>, value: u64) {
    debug_assert!(stack.len() < stack.capacity());
    unsafe {
        let len = stack.len();
        *stack.as_mut_ptr().add(len) = value;
        stack.set_len(len + 1);
    }
}

/// Makes room for a frame's locals and maximum operand height: what the unchecked
/// stack operations rely on. Calls reserve in `enter_frame`; this covers a machine
/// that starts mid-call (restored from a snapshot, or cloned).
fn reserve_frame(stack: &mut Vec<u64>, instances: &[crate::store::Instance], funcs: &[Func], frame: &crate::Frame) {
    if let Func::Wasm { instance, index, .. } = funcs[frame.func as usize] {
        let module = &instances[instance as usize].module;
        let body = module.body(index).expect("wasm function has a body");
        let params = module.func_type(index).params.len();
        let need = frame.base as usize + params + body.locals.len() + body.max_height as usize;
        stack.reserve(need.saturating_sub(stack.len()));
    }
}

impl Machine {
    /// Executes exactly one step. Stepping a halted machine changes nothing.
    pub fn step(&mut self) -> Status {
        self.run(1)
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
            let done = self.execute::<true>(budget);
            self.gas_used += done * price;
            if self.status == Status::Running && done == affordable && done < max_steps {
                self.steps += 1;
                self.status = Status::OutOfGas;
            }
        } else {
            self.execute::<false>(max_steps);
        }
        self.status
    }

    /// Runs at most `budget` steps and returns how many ran. With `UNIFORM_GAS` the
    /// caller accounts for gas and guarantees the budget is affordable.
    fn execute<const UNIFORM_GAS: bool>(&mut self, budget: u64) -> u64 {
        let Machine { config, store, stack, frames, pc: pc_reg, steps, gas_used, status, output, .. } = self;
        let Store { types, funcs, tables, memories, globals, instances, elems, data_dropped, .. } = store;
        let instances = &*instances;
        let costs = config.gas.costs;
        let gas_limit = config.gas_limit;
        let chunk = config.memory_chunk_size as u64;
        let mut left = budget;

        let frame_of = |func: u32| match funcs[func as usize] {
            Func::Wasm { instance, .. } => &instances[instance as usize],
            Func::Host { .. } => unreachable!("host functions have no frames"),
        };
        let frame = *frames.last().expect("a running machine has a frame");
        reserve_frame(stack, instances, funcs, &frame);
        let (mut inst, mut code, mut fast, mut base);
        // Points the registers above at a frame's function.
        macro_rules! enter_context {
            ($frame:expr) => {{
                let frame = $frame;
                inst = frame_of(frame.func);
                code = &inst.module.code[..];
                fast = &inst.module.fast_code[..];
                base = frame.base as usize;
            }};
        }
        enter_context!(frame);
        let mut pc = *pc_reg as usize;

        macro_rules! trap {
            ($t:expr) => {{
                *status = Status::Trapped($t);
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
        // The value stack's capacity covers every active frame's locals and maximum
        // operand height (reserved on entry), and validation guarantees operands exist:
        // the hot paths below use that instead of checking each push and pop.
        macro_rules! top {
            () => {
                *unsafe { stack_top(stack) }
            };
        }
        macro_rules! pop {
            () => {
                unsafe { stack_pop(stack) }
            };
        }
        macro_rules! push {
            ($v:expr) => {{
                let v = $v;
                unsafe { stack_push(stack, v) }
            }};
        }
        // A fused op of two operand pushes and a third member: `$third` runs the member
        // on the operands and says whether it completed; if it would trap, only the
        // pushes complete, so the member then runs (and traps) on its own. Evaluates to
        // the number of steps completed.
        macro_rules! fused3 {
            ($x:expr, $y:expr, |$a:ident, $b:ident| $third:expr) => {{
                let ($a, $b) = ($x, $y);
                if $third {
                    3
                } else {
                    push!($a);
                    push!($b);
                    2
                }
            }};
        }
        macro_rules! push_binary {
            ($op:expr, $x:expr, $y:expr) => {
                match numeric::binary($op, $x, $y) {
                    Ok(r) => {
                        push!(r);
                        true
                    }
                    Err(_) => false,
                }
            };
        }
        macro_rules! memory {
            () => {
                &mut memories[inst.memory.expect("validated memory access") as usize]
            };
        }

        while left > 0 {
            left -= 1;
            // Branch targets and returns keep pc within the function's code.
            let ops = if UNIFORM_GAS && left + 1 >= MAX_FUSED { fast } else { code };
            let op = unsafe { *ops.get_unchecked(pc) };
            if !UNIFORM_GAS {
                let gas = gas_used.saturating_add(costs[op.gas_class() as usize]);
                if gas > gas_limit {
                    *status = Status::OutOfGas;
                    break;
                }
                *gas_used = gas;
            }
            let mut next = pc + 1;
            match op {
                Op::Unreachable => trap!(Trap::Unreachable),
                Op::Nop | Op::Block | Op::Loop | Op::End => {}
                Op::If { else_target } => {
                    if pop!() as u32 == 0 {
                        next = else_target as usize;
                    }
                }
                Op::Else { end_target } => next = end_target as usize,
                Op::Br(b) => {
                    branch(stack, b);
                    next = b.target as usize;
                }
                Op::BrIf(b) => {
                    if pop!() as u32 != 0 {
                        branch(stack, b);
                        next = b.target as usize;
                    }
                }
                Op::BrTable { len } => {
                    let index = (pop!() as u32).min(len);
                    let Op::BrTableTarget(b) = code[pc + 1 + index as usize] else {
                        unreachable!("br_table is followed by its targets")
                    };
                    branch(stack, b);
                    next = b.target as usize;
                }
                Op::BrTableTarget(_) => unreachable!("br_table targets are never executed"),
                Op::Return => {
                    let done = frames.pop().expect("a running machine has a frame");
                    let keep = types[funcs[done.func as usize].type_id() as usize].results.len();
                    let len = stack.len();
                    stack.copy_within(len - keep..len, done.base as usize);
                    stack.truncate(done.base as usize + keep);
                    let Some(&caller) = frames.last() else {
                        *status = Status::Returned;
                        break;
                    };
                    enter_context!(caller);
                    next = done.ret_pc as usize;
                }
                Op::Call(index) => {
                    let func = inst.funcs[index as usize];
                    let f = funcs[func as usize];
                    let entered = enter_frame(config, types, instances, stack, frames, output, f, func, next as u32);
                    if let Some(start) = tri!(entered) {
                        enter_context!(*frames.last().expect("just pushed"));
                        next = start as usize;
                    }
                }
                Op::CallIndirect { type_index, table } => {
                    let index = top!() as u32 as usize;
                    let elems = &tables[inst.tables[table as usize] as usize].elems;
                    let Some(&slot) = elems.get(index) else { trap!(Trap::UndefinedElement) };
                    let Some(func) = slot.checked_sub(1).map(|a| a as u32) else {
                        trap!(Trap::UninitializedElement)
                    };
                    let f = funcs[func as usize];
                    if f.type_id() != inst.type_ids[type_index as usize] {
                        trap!(Trap::IndirectCallTypeMismatch);
                    }
                    pop!();
                    let entered = enter_frame(config, types, instances, stack, frames, output, f, func, next as u32);
                    match entered {
                        Ok(Some(start)) => {
                            enter_context!(*frames.last().expect("just pushed"));
                            next = start as usize;
                        }
                        Ok(None) => {}
                        Err(t) => {
                            // Keep the trapped state equal to the pre-state.
                            push!(index as u64);
                            trap!(t)
                        }
                    }
                }
                Op::Drop => {
                    pop!();
                }
                Op::Select => {
                    let c = pop!();
                    let b = pop!();
                    if c as u32 == 0 {
                        top!() = b;
                    }
                }
                Op::LocalGet(i) => push!(stack[base + i as usize]),
                Op::LocalSet(i) => {
                    let v = pop!();
                    stack[base + i as usize] = v;
                }
                Op::LocalTee(i) => stack[base + i as usize] = top!(),
                Op::GlobalGet(i) => push!(globals[inst.globals[i as usize] as usize].value),
                Op::GlobalSet(i) => globals[inst.globals[i as usize] as usize].value = pop!(),
                Op::TableGet(t) => {
                    let elems = &tables[inst.tables[t as usize] as usize].elems;
                    let Some(&r) = elems.get(top!() as u32 as usize) else { trap!(Trap::TableOutOfBounds) };
                    top!() = r;
                }
                Op::TableSet(t) => {
                    let len = stack.len();
                    let (i, v) = (stack[len - 2] as u32 as usize, stack[len - 1]);
                    let table = &mut tables[inst.tables[t as usize] as usize];
                    if i >= table.elems.len() {
                        trap!(Trap::TableOutOfBounds);
                    }
                    table.set(i, v);
                    stack.truncate(len - 2);
                }
                Op::TableSize(t) => push!(tables[inst.tables[t as usize] as usize].elems.len() as u64),
                Op::TableGrow(t) => {
                    let n = pop!() as u32;
                    let value = pop!();
                    let table = &mut tables[inst.tables[t as usize] as usize];
                    let limit = table.max.unwrap_or(u32::MAX).min(config.max_table_elements);
                    let old = table.elems.len() as u32;
                    // Skip the table.fill that follows unless it has work to do.
                    next = pc + 2;
                    match old.checked_add(n).filter(|&new| new <= limit) {
                        None => push!(u32::MAX as u64),
                        Some(new) => {
                            table.grow(new as usize);
                            push!(old as u64);
                            if value != 0 && n != 0 {
                                push!(old as u64);
                                push!(value);
                                push!(n as u64);
                                next = pc + 1;
                            }
                        }
                    }
                }
                Op::TableFill(t) => {
                    let (i, value, n) = bulk_operands(stack);
                    let table = &mut tables[inst.tables[t as usize] as usize];
                    if !in_bounds(i, n, table.elems.len()) {
                        trap!(Trap::TableOutOfBounds);
                    }
                    if n > 0 {
                        table.set(i as usize, value);
                        let len = stack.len();
                        stack[len - 3] = i + 1;
                        stack[len - 1] = n - 1;
                    }
                    if n > 1 {
                        next = pc;
                    } else {
                        stack.truncate(stack.len() - 3);
                    }
                }
                Op::TableCopy { dst, src } => {
                    let (d, s, n) = bulk_operands(stack);
                    let s = s as u32 as u64;
                    let (dt, st) = (inst.tables[dst as usize] as usize, inst.tables[src as usize] as usize);
                    if !in_bounds(d, n, tables[dt].elems.len()) || !in_bounds(s, n, tables[st].elems.len()) {
                        trap!(Trap::TableOutOfBounds);
                    }
                    let len = stack.len();
                    if n > 0 {
                        // Copy backwards when the destination is above the source, so an
                        // overlapping copy within one table reads before it overwrites.
                        if d <= s {
                            let slot = tables[st].elems[s as usize];
                            tables[dt].set(d as usize, slot);
                            stack[len - 3] = d + 1;
                            stack[len - 2] = s + 1;
                        } else {
                            let last = n as usize - 1;
                            let slot = tables[st].elems[s as usize + last];
                            tables[dt].set(d as usize + last, slot);
                        }
                        stack[len - 1] = n - 1;
                    }
                    if n > 1 {
                        next = pc;
                    } else {
                        stack.truncate(len - 3);
                    }
                }
                Op::TableInit { elem, table } => {
                    let (d, s, n) = bulk_operands(stack);
                    let s = s as u32 as u64;
                    let segment = &elems[(inst.elem_base + elem) as usize];
                    let target = &mut tables[inst.tables[table as usize] as usize];
                    if !in_bounds(s, n, segment.len()) || !in_bounds(d, n, target.elems.len()) {
                        trap!(Trap::TableOutOfBounds);
                    }
                    let len = stack.len();
                    if n > 0 {
                        target.set(d as usize, segment[s as usize]);
                        stack[len - 3] = d + 1;
                        stack[len - 2] = s + 1;
                        stack[len - 1] = n - 1;
                    }
                    if n > 1 {
                        next = pc;
                    } else {
                        stack.truncate(len - 3);
                    }
                }
                Op::ElemDrop(e) => elems[(inst.elem_base + e) as usize] = Vec::new(),
                Op::Load { kind, offset } => {
                    let data = &memory!().data;
                    let at = tri!(effective(top!(), offset, kind.width(), data.len()));
                    top!() = kind.extend(read_le(data, at, kind.width()));
                }
                Op::Store { kind, offset } => {
                    let len = stack.len();
                    let (addr, value) = (stack[len - 2], stack[len - 1]);
                    let mem = memory!();
                    let at = tri!(effective(addr, offset, kind.width(), mem.data.len()));
                    write_le(&mut mem.data, at, kind.width(), value);
                    mem.touch(at, kind.width() as usize);
                    stack.truncate(len - 2);
                }
                Op::MemorySize => push!(memories[inst.memory.expect("validated memory access") as usize].pages() as u64),
                Op::MemoryGrow => {
                    let n = top!() as u32;
                    let limit = config.max_memory_pages;
                    let mem = memory!();
                    let old = mem.pages();
                    let max = mem.max.unwrap_or(65536).min(limit);
                    top!() = match old.checked_add(n).filter(|&new| new <= max) {
                        Some(new) => {
                            mem.grow(new);
                            old as u64
                        }
                        None => u32::MAX as u64,
                    };
                }
                Op::MemoryFill => {
                    let (d, value, n) = bulk_operands(stack);
                    let mem = memory!();
                    if !in_bounds(d, n, mem.data.len()) {
                        trap!(Trap::MemoryOutOfBounds);
                    }
                    let k = forward_piece(d, n, chunk);
                    mem.data[d as usize..(d + k) as usize].fill(value as u8);
                    if k > 0 {
                        mem.touch(d as usize, k as usize);
                    }
                    let len = stack.len();
                    if k < n {
                        stack[len - 3] = d + k;
                        stack[len - 1] = n - k;
                        next = pc;
                    } else {
                        stack.truncate(len - 3);
                    }
                }
                Op::MemoryCopy => {
                    let (d, s, n) = bulk_operands(stack);
                    let s = s as u32 as u64;
                    let mem = memory!();
                    if !in_bounds(d, n, mem.data.len()) || !in_bounds(s, n, mem.data.len()) {
                        trap!(Trap::MemoryOutOfBounds);
                    }
                    let len = stack.len();
                    // Each sub-step reads within one chunk and writes within one chunk.
                    let k = if n == 0 {
                        0
                    } else if d <= s {
                        let k = forward_piece(d, forward_piece(s, n, chunk), chunk);
                        mem.data.copy_within(s as usize..(s + k) as usize, d as usize);
                        mem.touch(d as usize, k as usize);
                        stack[len - 3] = d + k;
                        stack[len - 2] = s + k;
                        k
                    } else {
                        // Backwards from the end, so an overlapping copy reads before it writes.
                        let k = backward_piece(d + n, backward_piece(s + n, n, chunk), chunk);
                        let from = (s + n - k) as usize;
                        mem.data.copy_within(from..from + k as usize, (d + n - k) as usize);
                        mem.touch((d + n - k) as usize, k as usize);
                        k
                    };
                    if k < n {
                        stack[len - 1] = n - k;
                        next = pc;
                    } else {
                        stack.truncate(len - 3);
                    }
                }
                Op::MemoryInit(segment) => {
                    let (d, s, n) = bulk_operands(stack);
                    let s = s as u32 as u64;
                    let bytes: &[u8] = if data_dropped[(inst.data_base + segment) as usize] {
                        &[]
                    } else {
                        &inst.module.datas[segment as usize].bytes
                    };
                    let mem = memory!();
                    if !in_bounds(s, n, bytes.len()) || !in_bounds(d, n, mem.data.len()) {
                        trap!(Trap::MemoryOutOfBounds);
                    }
                    let k = forward_piece(d, n, chunk);
                    mem.data[d as usize..(d + k) as usize].copy_from_slice(&bytes[s as usize..(s + k) as usize]);
                    if k > 0 {
                        mem.touch(d as usize, k as usize);
                    }
                    let len = stack.len();
                    if k < n {
                        stack[len - 3] = d + k;
                        stack[len - 2] = s + k;
                        stack[len - 1] = n - k;
                        next = pc;
                    } else {
                        stack.truncate(len - 3);
                    }
                }
                Op::DataDrop(segment) => data_dropped[(inst.data_base + segment) as usize] = true,
                Op::Const { value, .. } => push!(value),
                Op::Unary(u) => {
                    let r = tri!(numeric::unary(u, top!()));
                    top!() = r;
                }
                Op::Binary(b) => {
                    let len = stack.len();
                    let r = tri!(numeric::binary(b, stack[len - 2], stack[len - 1]));
                    stack[len - 2] = r;
                    stack.truncate(len - 1);
                }
                Op::RefNull => push!(0),
                Op::RefIsNull => top!() = (top!() == 0) as u64,
                Op::RefFunc(f) => push!(inst.funcs[f as usize] as u64 + 1),
                // Fused ops: `left` was charged one step; each charges the rest of the
                // steps it completes. One whose last member would trap completes only
                // the members before it, so that member then runs (and traps) alone.
                Op::LocalGet2 { a, b } => {
                    push!(stack[base + a as usize]);
                    push!(stack[base + b as usize]);
                    left -= 1;
                    next = pc + 2;
                }
                Op::BinaryLocals { op, a, b } => {
                    let done = fused3!(stack[base + a as usize], stack[base + b as usize], |x, y| {
                        push_binary!(op, x, y)
                    });
                    left -= done - 1;
                    next = pc + done as usize;
                }
                Op::BinaryLocalConst { op, a, c } => {
                    let done = fused3!(stack[base + a as usize], c as u64, |x, y| push_binary!(op, x, y));
                    left -= done - 1;
                    next = pc + done as usize;
                }
                Op::BinaryConst { op, c } => {
                    let r = numeric::binary(op, top!(), c as u64).expect("fused only when it cannot trap");
                    top!() = r;
                    left -= 1;
                    next = pc + 2;
                }
                Op::BinarySet { op, x } => {
                    let len = stack.len();
                    let r = numeric::binary(op, stack[len - 2], stack[len - 1]).expect("fused only when it cannot trap");
                    stack.truncate(len - 2);
                    stack[base + x as usize] = r;
                    left -= 1;
                    next = pc + 2;
                }
                Op::LoadLocal { kind, offset, a } => {
                    let addr = stack[base + a as usize];
                    let data = &memory!().data;
                    match effective(addr, offset, kind.width(), data.len()) {
                        Ok(at) => {
                            push!(kind.extend(read_le(data, at, kind.width())));
                            left -= 1;
                            next = pc + 2;
                        }
                        Err(_) => push!(addr),
                    }
                }
                Op::StoreLocals { kind, offset, a, b } => {
                    let done = fused3!(stack[base + a as usize], stack[base + b as usize], |addr, value| {
                        let mem = memory!();
                        match effective(addr, offset, kind.width(), mem.data.len()) {
                            Ok(at) => {
                                write_le(&mut mem.data, at, kind.width(), value);
                                mem.touch(at, kind.width() as usize);
                                true
                            }
                            Err(_) => false,
                        }
                    });
                    left -= done - 1;
                    next = pc + done as usize;
                }
                Op::BrIfBinary { op, branch: b } => {
                    let len = stack.len();
                    let r = numeric::binary(op, stack[len - 2], stack[len - 1]).expect("fused only when it cannot trap");
                    stack.truncate(len - 2);
                    left -= 1;
                    if r as u32 != 0 {
                        branch(stack, b);
                        next = b.target as usize;
                    } else {
                        next = pc + 2;
                    }
                }
                Op::BrIfZero(b) => {
                    left -= 1;
                    if pop!() as u32 == 0 {
                        branch(stack, b);
                        next = b.target as usize;
                    } else {
                        next = pc + 2;
                    }
                }
                Op::ConstSet { c, x } => {
                    stack[base + x as usize] = c;
                    left -= 1;
                    next = pc + 2;
                }
            }
            pc = next;
        }
        *pc_reg = pc as u32;
        let done = budget - left;
        *steps += done;
        done
    }
}
