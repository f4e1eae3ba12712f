//! The fast path's executor: one loop over a module's fast code, its registers (the
//! instruction pointer, the frame's slots, the memory) in locals.

use std::ptr;

use super::inst::{Code, Inst};
use super::{FastCode, Fixup, NO_ENTRY};
use crate::machine::{Frame, Status};
use crate::numeric;
use crate::op::{Binary, Unary};
use crate::store::{Func, Memory, Store, PAGE_SIZE};
use crate::Machine;

/// Where the executor stopped.
enum Stop {
    /// Before instruction `at`, which changed nothing.
    Before(usize),
    /// At op `pc` of the precise code, after a return, with `len` slots on the stack.
    At { pc: u32, len: usize },
}

impl Machine {
    /// Runs the current function's fast code from instruction `at`, the entry for the
    /// machine's pc, for at most `budget` steps; returns how many ran. The machine is
    /// left exactly as that many single steps would leave it.
    pub(crate) fn run_fast(&mut self, at: u32, budget: u64) -> u64 {
        // SAFETY: the fast code comes from validated wasm through `compile`, whose slots
        // lie within each frame's locals and maximum operand height; every frame's room
        // is reserved on entry (here and in calls), operand reads follow writes as
        // validation orders them, memory accesses are bounds-checked, and table,
        // global and function indices are the validated module's. `at` is the fast entry of
        // the machine's pc, which the machine's private shape keeps in the running
        // function's code (docs/stepper.md), and the stack height is checked against it.
        unsafe { self.run_fast_unchecked(at, budget) }
    }

    #[allow(clippy::missing_safety_doc)]
    unsafe fn run_fast_unchecked(&mut self, at: u32, budget: u64) -> u64 {
        let max_depth = self.config.max_call_depth as usize;
        let max_stack = self.config.max_value_stack as usize;
        let Machine { store, stack, frames, pc, steps, status, .. } = self;
        let Store { funcs, tables, memories, globals, instances, .. } = store;
        let frame = *frames.last().expect("a running machine has a frame");
        let Func::Wasm { instance: instance_index, index, .. } = funcs[frame.func as usize] else {
            unreachable!("frames are wasm functions")
        };
        let instance = &instances[instance_index as usize];
        let module = &*instance.module;
        let fast: &FastCode = &module.fast;
        let num_imported = module.num_imported_funcs;
        let own_frame = fast.funcs[(index - num_imported) as usize].frame as usize;
        // The fast code knows the operand height at every entry; a machine whose stack
        // disagrees (built by hand, not by running) runs on the precise executor.
        if stack.len() != frame.base as usize + fast.exits[at as usize].top as usize {
            return 0;
        }
        let need = frame.base as usize + own_frame;
        if need > stack.capacity() {
            stack.reserve(need - stack.len());
        }

        let mem: *mut Memory = match instance.memory {
            Some(m) => &mut memories[m as usize],
            None => ptr::null_mut(),
        };
        let (mem_base, mem_len) = match mem.as_mut() {
            None => (ptr::null_mut(), 0),
            Some(mem) => (mem.data.as_mut_ptr(), mem.data.len()),
        };
        let chunk_mask = if mem.is_null() { 0 } else { (*mem).chunk_size() as u64 - 1 };
        let chunk_shift = chunk_mask.count_ones();

        let code: *const Inst = fast.insts.as_ptr();
        let mut ip = code.add(at as usize);
        let mut sp = stack.as_mut_ptr();
        let mut base = frame.base as usize;
        let mut fp = sp.add(base);
        let mut left = budget;

        macro_rules! s {
            ($slot:expr) => {
                *fp.add($slot as usize)
            };
        }
        let stop = loop {
            let i = *ip;
            left = match left.checked_sub(i.steps as u64) {
                Some(l) => l,
                None => break Stop::Before(ip.offset_from(code) as usize),
            };
            // Leaves before this instruction, which has changed nothing.
            macro_rules! bail {
                () => {{
                    left += i.steps as u64;
                    break Stop::Before(ip.offset_from(code) as usize);
                }};
            }
            macro_rules! set {
                ($value:expr) => {{
                    s!(i.a) = $value;
                    ip = ip.add(1);
                }};
            }
            macro_rules! ok_or_bail {
                ($result:expr) => {
                    match $result {
                        Ok(v) => v,
                        Err(_) => bail!(),
                    }
                };
            }
            macro_rules! bin {
                ($op:ident) => {
                    set!(ok_or_bail!(numeric::binary(Binary::$op, s!(i.b), s!(i.c))))
                };
            }
            macro_rules! bin_imm {
                ($op:ident) => {
                    set!(ok_or_bail!(numeric::binary(Binary::$op, s!(i.b), i.imm)))
                };
            }
            macro_rules! un {
                ($op:ident) => {
                    set!(ok_or_bail!(numeric::unary(Unary::$op, s!(i.b))))
                };
            }
            macro_rules! jump_if {
                ($cond:expr) => {
                    ip = if $cond { code.add(i.lo() as usize) } else { ip.add(1) }
                };
            }
            macro_rules! br {
                ($op:ident) => {
                    jump_if!(matches!(numeric::binary(Binary::$op, s!(i.b), s!(i.c)), Ok(1)))
                };
            }
            // The immediate is 32 bits, sign-extended for i64 comparisons.
            macro_rules! br_imm32 {
                ($op:ident) => {
                    jump_if!(matches!(numeric::binary(Binary::$op, s!(i.b), i.hi() as u64), Ok(1)))
                };
            }
            macro_rules! br_imm64 {
                ($op:ident) => {
                    jump_if!(matches!(numeric::binary(Binary::$op, s!(i.b), i.hi() as i32 as i64 as u64), Ok(1)))
                };
            }
            // The effective address of an access of `$width` bytes at `$addr` (an i32)
            // plus `$offset`.
            // Float comparisons branch when the result differs from `a != 0`.
            macro_rules! br_float {
                ($op:ident, $rhs:expr) => {
                    jump_if!(matches!(numeric::binary(Binary::$op, s!(i.b), $rhs), Ok(1)) != (i.a != 0))
                };
            }
            macro_rules! address {
                ($addr:expr, $offset:expr, $width:expr) => {{
                    let ea = ($addr as u64) + $offset as u64;
                    if ea + $width > mem_len as u64 {
                        bail!()
                    }
                    ea as usize
                }};
            }
            // The address operand: `b` plus `imm.hi`, or with `X`, `b` plus `$index`.
            macro_rules! addr {
                () => {
                    (s!(i.b) as u32).wrapping_add(i.hi())
                };
                (X $index:expr) => {
                    (s!(i.b) as u32).wrapping_add(s!($index) as u32)
                };
            }
            macro_rules! load {
                ($addr:expr, $offset:expr, $t:ty $(as $extend:ty)*) => {{
                    let ea = address!($addr, $offset, std::mem::size_of::<$t>() as u64);
                    let raw = <$t>::from_le(ptr::read_unaligned(mem_base.add(ea) as *const $t));
                    set!(raw $(as $extend)* as u64)
                }};
            }
            macro_rules! store {
                ($addr:expr, $offset:expr, $t:ty, $value:expr) => {{
                    let width = std::mem::size_of::<$t>();
                    let ea = address!($addr, $offset, width as u64);
                    // Marked first: an undo log saves the chunk before its first write.
                    (*mem).touch(ea, width);
                    ptr::write_unaligned(mem_base.add(ea) as *mut $t, ($value as $t).to_le());
                    ip = ip.add(1);
                }};
            }
            // Moves `i.a` values from slot `i.b` down to slot `i.c`, for a branch.
            macro_rules! move_kept {
                ($i:expr) => {
                    ptr::copy(fp.add($i.b as usize), fp.add($i.c as usize), $i.a as usize)
                };
            }
            // Calls function `f` of this instance (store address `addr`).
            macro_rules! call {
                ($f:expr, $addr:expr, $args:expr, $ret_pc:expr) => {{
                    let callee = *fast.funcs.get_unchecked(($f - num_imported) as usize);
                    if callee.start == NO_ENTRY || frames.len() >= max_depth {
                        bail!()
                    }
                    let new_base = base + $args as usize;
                    let top = new_base + callee.frame as usize;
                    if top > max_stack {
                        bail!()
                    }
                    let locals = new_base + callee.params as usize;
                    if top > stack.capacity() {
                        stack.set_len(locals);
                        stack.reserve(top - locals);
                        sp = stack.as_mut_ptr();
                    }
                    ptr::write_bytes(sp.add(locals), 0, callee.locals as usize);
                    frames.push(Frame { func: $addr, base: new_base as u32, ret_pc: $ret_pc });
                    base = new_base;
                    fp = sp.add(base);
                    ip = code.add(callee.start as usize);
                }};
            }

            match i.code {
                Code::Nop => ip = ip.add(1),
                Code::Exit | Code::BrTableEntry => bail!(),
                Code::Copy => set!(s!(i.b)),
                Code::F32MulAdd => {
                    let product = ok_or_bail!(numeric::binary(Binary::F32Mul, s!(i.b), s!(i.c)));
                    set!(ok_or_bail!(numeric::binary(Binary::F32Add, product, s!(i.imm))))
                }
                Code::F64MulAdd => {
                    let product = ok_or_bail!(numeric::binary(Binary::F64Mul, s!(i.b), s!(i.c)));
                    set!(ok_or_bail!(numeric::binary(Binary::F64Add, product, s!(i.imm))))
                }
                Code::Copy2 => {
                    s!(i.a) = s!(i.b);
                    s!(i.c) = s!(i.imm);
                    ip = ip.add(1);
                }
                Code::Const => set!(i.imm),
                Code::GlobalGet => {
                    set!(globals.get_unchecked(*instance.globals.get_unchecked(i.imm as usize) as usize).value)
                }
                Code::GlobalSet => {
                    globals.get_unchecked_mut(*instance.globals.get_unchecked(i.imm as usize) as usize).value = s!(i.b);
                    ip = ip.add(1);
                }
                Code::Select => set!(if s!(i.imm) as u32 != 0 { s!(i.b) } else { s!(i.c) }),
                Code::MemorySize => set!((mem_len / PAGE_SIZE) as u64),
                Code::RefFunc => set!(*instance.funcs.get_unchecked(i.imm as usize) as u64 + 1),
                Code::Unary => {
                    set!(ok_or_bail!(numeric::unary(*fast.unary_ops.get_unchecked(i.imm as usize), s!(i.b))))
                }

                Code::Load8U => load!(addr!(), i.lo(), u8),
                Code::Load8S32 => load!(addr!(), i.lo(), u8 as i8 as i32 as u32),
                Code::Load8S64 => load!(addr!(), i.lo(), u8 as i8 as i64),
                Code::Load16U => load!(addr!(), i.lo(), u16),
                Code::Load16S32 => load!(addr!(), i.lo(), u16 as i16 as i32 as u32),
                Code::Load16S64 => load!(addr!(), i.lo(), u16 as i16 as i64),
                Code::Load32U => load!(addr!(), i.lo(), u32),
                Code::Load32S64 => load!(addr!(), i.lo(), u32 as i32 as i64),
                Code::Load64 => load!(addr!(), i.lo(), u64),
                Code::Load8UX => load!(addr!(X i.c), i.imm, u8),
                Code::Load8S32X => load!(addr!(X i.c), i.imm, u8 as i8 as i32 as u32),
                Code::Load8S64X => load!(addr!(X i.c), i.imm, u8 as i8 as i64),
                Code::Load16UX => load!(addr!(X i.c), i.imm, u16),
                Code::Load16S32X => load!(addr!(X i.c), i.imm, u16 as i16 as i32 as u32),
                Code::Load16S64X => load!(addr!(X i.c), i.imm, u16 as i16 as i64),
                Code::Load32UX => load!(addr!(X i.c), i.imm, u32),
                Code::Load32S64X => load!(addr!(X i.c), i.imm, u32 as i32 as i64),
                Code::Load64X => load!(addr!(X i.c), i.imm, u64),
                Code::Store8 => store!(addr!(), i.lo(), u8, s!(i.c)),
                Code::Store16 => store!(addr!(), i.lo(), u16, s!(i.c)),
                Code::Store32 => store!(addr!(), i.lo(), u32, s!(i.c)),
                Code::Store64 => store!(addr!(), i.lo(), u64, s!(i.c)),
                Code::Store8X => store!(addr!(X i.a), i.imm, u8, s!(i.c)),
                Code::Store16X => store!(addr!(X i.a), i.imm, u16, s!(i.c)),
                Code::Store32X => store!(addr!(X i.a), i.imm, u32, s!(i.c)),
                Code::Store64X => store!(addr!(X i.a), i.imm, u64, s!(i.c)),
                Code::Store8Imm => store!(s!(i.b) as u32, i.lo(), u8, i.hi()),
                Code::Store16Imm => store!(s!(i.b) as u32, i.lo(), u16, i.hi()),
                Code::Store32Imm => store!(s!(i.b) as u32, i.lo(), u32, i.hi()),
                Code::Store64Imm => store!(s!(i.b) as u32, i.lo(), u64, i.hi()),
                Code::MemoryFill | Code::MemoryCopy => {
                    let o = i.b as usize;
                    let (d, src, n) = (s!(o) as u32 as u64, s!(o + 1), s!(o + 2) as u32 as u64);
                    let fill = i.code == Code::MemoryFill;
                    let src = if fill { d } else { src as u32 as u64 };
                    if d + n > mem_len as u64 || src + n > mem_len as u64 {
                        bail!()
                    }
                    // The precise executor's sub-steps end at every chunk boundary of the
                    // destination, and for a copy also of the source.
                    let boundaries =
                        |at: u64| if n == 0 { 0 } else { ((at + n - 1) >> chunk_shift) - (at >> chunk_shift) };
                    let extra = if fill || (d ^ src) & chunk_mask == 0 {
                        boundaries(d)
                    } else {
                        boundaries(d) + boundaries(src)
                    };
                    left = match left.checked_sub(extra) {
                        Some(l) => l,
                        None => bail!(),
                    };
                    let (d, src, n) = (d as usize, src as usize, n as usize);
                    if n > 0 {
                        (*mem).touch(d, n);
                    }
                    if fill {
                        ptr::write_bytes(mem_base.add(d), s!(o + 1) as u8, n);
                    } else {
                        ptr::copy(mem_base.add(src), mem_base.add(d), n);
                    }
                    ip = ip.add(1);
                }

                Code::Br => ip = code.add(i.lo() as usize),
                Code::BrMove => {
                    move_kept!(i);
                    ip = code.add(i.lo() as usize);
                }
                Code::BrIfNez => jump_if!(s!(i.b) as u32 != 0),
                Code::BrIfEqz => jump_if!(s!(i.b) as u32 == 0),
                Code::BrIfNez64 => jump_if!(s!(i.b) != 0),
                Code::BrIfEqz64 => jump_if!(s!(i.b) == 0),
                Code::BrIfNezMove => {
                    if s!(i.hi()) as u32 != 0 {
                        move_kept!(i);
                        ip = code.add(i.lo() as usize);
                    } else {
                        ip = ip.add(1);
                    }
                }
                Code::BrTable => {
                    let k = (s!(i.b) as u32).min(i.imm as u32);
                    let entry = *ip.add(1 + k as usize);
                    move_kept!(entry);
                    ip = code.add(entry.lo() as usize);
                }
                Code::Return => {
                    let n = i.c as usize;
                    ptr::copy(fp.add(i.b as usize), fp, n);
                    let done = frames.pop().expect("a running machine has a frame");
                    let Some(caller) = frames.last() else {
                        *status = Status::Returned;
                        let here = fast.exits[ip.offset_from(code) as usize].pc + i.steps as u32 - 1;
                        break Stop::At { pc: here, len: base + n };
                    };
                    let same = matches!(funcs[caller.func as usize], Func::Wasm { instance, .. } if instance == instance_index);
                    let resume = if same { fast.entry[done.ret_pc as usize] } else { NO_ENTRY };
                    if resume == NO_ENTRY
                        || caller.base as usize + fast.exits.get_unchecked(resume as usize).top as usize != base + n
                    {
                        break Stop::At { pc: done.ret_pc, len: base + n };
                    }
                    base = caller.base as usize;
                    fp = sp.add(base);
                    ip = code.add(resume as usize);
                }
                Code::Call => {
                    let f = i.lo();
                    call!(f, *instance.funcs.get_unchecked(f as usize), i.b, i.hi())
                }
                Code::CallIndirect => {
                    let table = tables.get_unchecked(*instance.tables.get_unchecked(i.a as usize) as usize);
                    let Some(&slot) = table.elems.get(s!(i.c) as u32 as usize) else { bail!() };
                    let Some(addr) = slot.checked_sub(1).map(|a| a as u32) else { bail!() };
                    match funcs[addr as usize] {
                        Func::Wasm { instance: owner, index, type_id }
                            if owner == instance_index
                                && type_id == *instance.type_ids.get_unchecked(i.lo() as usize) =>
                        {
                            call!(index, addr, i.b, i.hi())
                        }
                        // Other instances and host functions: the precise executor calls.
                        _ => bail!(),
                    }
                }

                Code::I32Eqz => un!(I32Eqz),
                Code::I64Eqz => un!(I64Eqz),
                Code::I32WrapI64 => un!(I32WrapI64),
                Code::I64ExtendI32S => un!(I64ExtendI32S),
                Code::I64ExtendI32U => un!(I64ExtendI32U),
                Code::I32Extend8S => un!(I32Extend8S),
                Code::I32Extend16S => un!(I32Extend16S),

                Code::I32Eq => bin!(I32Eq),
                Code::I32Ne => bin!(I32Ne),
                Code::I32LtS => bin!(I32LtS),
                Code::I32LtU => bin!(I32LtU),
                Code::I32GtS => bin!(I32GtS),
                Code::I32GtU => bin!(I32GtU),
                Code::I32LeS => bin!(I32LeS),
                Code::I32LeU => bin!(I32LeU),
                Code::I32GeS => bin!(I32GeS),
                Code::I32GeU => bin!(I32GeU),
                Code::I64Eq => bin!(I64Eq),
                Code::I64Ne => bin!(I64Ne),
                Code::I64LtS => bin!(I64LtS),
                Code::I64LtU => bin!(I64LtU),
                Code::I64GtS => bin!(I64GtS),
                Code::I64GtU => bin!(I64GtU),
                Code::I64LeS => bin!(I64LeS),
                Code::I64LeU => bin!(I64LeU),
                Code::I64GeS => bin!(I64GeS),
                Code::I64GeU => bin!(I64GeU),
                Code::F32Eq => bin!(F32Eq),
                Code::F32Ne => bin!(F32Ne),
                Code::F32Lt => bin!(F32Lt),
                Code::F32Gt => bin!(F32Gt),
                Code::F32Le => bin!(F32Le),
                Code::F32Ge => bin!(F32Ge),
                Code::F64Eq => bin!(F64Eq),
                Code::F64Ne => bin!(F64Ne),
                Code::F64Lt => bin!(F64Lt),
                Code::F64Gt => bin!(F64Gt),
                Code::F64Le => bin!(F64Le),
                Code::F64Ge => bin!(F64Ge),
                Code::I32Add => bin!(I32Add),
                Code::I32Sub => bin!(I32Sub),
                Code::I32Mul => bin!(I32Mul),
                Code::I32DivS => bin!(I32DivS),
                Code::I32DivU => bin!(I32DivU),
                Code::I32RemS => bin!(I32RemS),
                Code::I32RemU => bin!(I32RemU),
                Code::I32And => bin!(I32And),
                Code::I32Or => bin!(I32Or),
                Code::I32Xor => bin!(I32Xor),
                Code::I32Shl => bin!(I32Shl),
                Code::I32ShrS => bin!(I32ShrS),
                Code::I32ShrU => bin!(I32ShrU),
                Code::I32Rotl => bin!(I32Rotl),
                Code::I32Rotr => bin!(I32Rotr),
                Code::I64Add => bin!(I64Add),
                Code::I64Sub => bin!(I64Sub),
                Code::I64Mul => bin!(I64Mul),
                Code::I64DivS => bin!(I64DivS),
                Code::I64DivU => bin!(I64DivU),
                Code::I64RemS => bin!(I64RemS),
                Code::I64RemU => bin!(I64RemU),
                Code::I64And => bin!(I64And),
                Code::I64Or => bin!(I64Or),
                Code::I64Xor => bin!(I64Xor),
                Code::I64Shl => bin!(I64Shl),
                Code::I64ShrS => bin!(I64ShrS),
                Code::I64ShrU => bin!(I64ShrU),
                Code::I64Rotl => bin!(I64Rotl),
                Code::I64Rotr => bin!(I64Rotr),
                Code::F32Add => bin!(F32Add),
                Code::F32Sub => bin!(F32Sub),
                Code::F32Mul => bin!(F32Mul),
                Code::F32Div => bin!(F32Div),
                Code::F32Min => bin!(F32Min),
                Code::F32Max => bin!(F32Max),
                Code::F32Copysign => bin!(F32Copysign),
                Code::F64Add => bin!(F64Add),
                Code::F64Sub => bin!(F64Sub),
                Code::F64Mul => bin!(F64Mul),
                Code::F64Div => bin!(F64Div),
                Code::F64Min => bin!(F64Min),
                Code::F64Max => bin!(F64Max),
                Code::F64Copysign => bin!(F64Copysign),

                Code::I32EqImm => bin_imm!(I32Eq),
                Code::I32NeImm => bin_imm!(I32Ne),
                Code::I32LtSImm => bin_imm!(I32LtS),
                Code::I32LtUImm => bin_imm!(I32LtU),
                Code::I32GtSImm => bin_imm!(I32GtS),
                Code::I32GtUImm => bin_imm!(I32GtU),
                Code::I32LeSImm => bin_imm!(I32LeS),
                Code::I32LeUImm => bin_imm!(I32LeU),
                Code::I32GeSImm => bin_imm!(I32GeS),
                Code::I32GeUImm => bin_imm!(I32GeU),
                Code::I32AddImm => bin_imm!(I32Add),
                Code::I32SubImm => bin_imm!(I32Sub),
                Code::I32MulImm => bin_imm!(I32Mul),
                Code::I32AndImm => bin_imm!(I32And),
                Code::I32OrImm => bin_imm!(I32Or),
                Code::I32XorImm => bin_imm!(I32Xor),
                Code::I32ShlImm => bin_imm!(I32Shl),
                Code::I32ShrSImm => bin_imm!(I32ShrS),
                Code::I32ShrUImm => bin_imm!(I32ShrU),
                Code::I32RotlImm => bin_imm!(I32Rotl),
                Code::I32RotrImm => bin_imm!(I32Rotr),
                Code::I64EqImm => bin_imm!(I64Eq),
                Code::I64NeImm => bin_imm!(I64Ne),
                Code::I64LtSImm => bin_imm!(I64LtS),
                Code::I64LtUImm => bin_imm!(I64LtU),
                Code::I64GtSImm => bin_imm!(I64GtS),
                Code::I64GtUImm => bin_imm!(I64GtU),
                Code::I64LeSImm => bin_imm!(I64LeS),
                Code::I64LeUImm => bin_imm!(I64LeU),
                Code::I64GeSImm => bin_imm!(I64GeS),
                Code::I64GeUImm => bin_imm!(I64GeU),
                Code::I64AddImm => bin_imm!(I64Add),
                Code::I64SubImm => bin_imm!(I64Sub),
                Code::I64MulImm => bin_imm!(I64Mul),
                Code::I64AndImm => bin_imm!(I64And),
                Code::I64OrImm => bin_imm!(I64Or),
                Code::I64XorImm => bin_imm!(I64Xor),
                Code::I64ShlImm => bin_imm!(I64Shl),
                Code::I64ShrSImm => bin_imm!(I64ShrS),
                Code::I64ShrUImm => bin_imm!(I64ShrU),
                Code::I64RotlImm => bin_imm!(I64Rotl),
                Code::I64RotrImm => bin_imm!(I64Rotr),
                Code::F32AddImm => bin_imm!(F32Add),
                Code::F32SubImm => bin_imm!(F32Sub),
                Code::F32MulImm => bin_imm!(F32Mul),
                Code::F32DivImm => bin_imm!(F32Div),
                Code::F32LtImm => bin_imm!(F32Lt),
                Code::F32GtImm => bin_imm!(F32Gt),
                Code::F32LeImm => bin_imm!(F32Le),
                Code::F32GeImm => bin_imm!(F32Ge),
                Code::F64AddImm => bin_imm!(F64Add),
                Code::F64SubImm => bin_imm!(F64Sub),
                Code::F64MulImm => bin_imm!(F64Mul),
                Code::F64DivImm => bin_imm!(F64Div),
                Code::F64LtImm => bin_imm!(F64Lt),
                Code::F64GtImm => bin_imm!(F64Gt),
                Code::F64LeImm => bin_imm!(F64Le),
                Code::F64GeImm => bin_imm!(F64Ge),

                Code::BrF32Eq => br_float!(F32Eq, s!(i.c)),
                Code::BrF32Ne => br_float!(F32Ne, s!(i.c)),
                Code::BrF32Lt => br_float!(F32Lt, s!(i.c)),
                Code::BrF32Gt => br_float!(F32Gt, s!(i.c)),
                Code::BrF32Le => br_float!(F32Le, s!(i.c)),
                Code::BrF32Ge => br_float!(F32Ge, s!(i.c)),
                Code::BrF64Eq => br_float!(F64Eq, s!(i.c)),
                Code::BrF64Ne => br_float!(F64Ne, s!(i.c)),
                Code::BrF64Lt => br_float!(F64Lt, s!(i.c)),
                Code::BrF64Gt => br_float!(F64Gt, s!(i.c)),
                Code::BrF64Le => br_float!(F64Le, s!(i.c)),
                Code::BrF64Ge => br_float!(F64Ge, s!(i.c)),
                Code::BrF32LtImm => br_float!(F32Lt, i.hi() as u64),
                Code::BrF32GtImm => br_float!(F32Gt, i.hi() as u64),
                Code::BrF32LeImm => br_float!(F32Le, i.hi() as u64),
                Code::BrF32GeImm => br_float!(F32Ge, i.hi() as u64),
                Code::BrI32Eq => br!(I32Eq),
                Code::BrI32EqImm => br_imm32!(I32Eq),
                Code::BrI32Ne => br!(I32Ne),
                Code::BrI32NeImm => br_imm32!(I32Ne),
                Code::BrI32LtS => br!(I32LtS),
                Code::BrI32LtSImm => br_imm32!(I32LtS),
                Code::BrI32LtU => br!(I32LtU),
                Code::BrI32LtUImm => br_imm32!(I32LtU),
                Code::BrI32GtS => br!(I32GtS),
                Code::BrI32GtSImm => br_imm32!(I32GtS),
                Code::BrI32GtU => br!(I32GtU),
                Code::BrI32GtUImm => br_imm32!(I32GtU),
                Code::BrI32LeS => br!(I32LeS),
                Code::BrI32LeSImm => br_imm32!(I32LeS),
                Code::BrI32LeU => br!(I32LeU),
                Code::BrI32LeUImm => br_imm32!(I32LeU),
                Code::BrI32GeS => br!(I32GeS),
                Code::BrI32GeSImm => br_imm32!(I32GeS),
                Code::BrI32GeU => br!(I32GeU),
                Code::BrI32GeUImm => br_imm32!(I32GeU),
                Code::BrI64Eq => br!(I64Eq),
                Code::BrI64EqImm => br_imm64!(I64Eq),
                Code::BrI64Ne => br!(I64Ne),
                Code::BrI64NeImm => br_imm64!(I64Ne),
                Code::BrI64LtS => br!(I64LtS),
                Code::BrI64LtSImm => br_imm64!(I64LtS),
                Code::BrI64LtU => br!(I64LtU),
                Code::BrI64LtUImm => br_imm64!(I64LtU),
                Code::BrI64GtS => br!(I64GtS),
                Code::BrI64GtSImm => br_imm64!(I64GtS),
                Code::BrI64GtU => br!(I64GtU),
                Code::BrI64GtUImm => br_imm64!(I64GtU),
                Code::BrI64LeS => br!(I64LeS),
                Code::BrI64LeSImm => br_imm64!(I64LeS),
                Code::BrI64LeU => br!(I64LeU),
                Code::BrI64LeUImm => br_imm64!(I64LeU),
                Code::BrI64GeS => br!(I64GeS),
                Code::BrI64GeSImm => br_imm64!(I64GeS),
                Code::BrI64GeU => br!(I64GeU),
                Code::BrI64GeUImm => br_imm64!(I64GeU),
            }
        };

        match stop {
            Stop::Before(at) => {
                let exit = &fast.exits[at];
                for fixup in &fast.fixups[exit.fixups.start as usize..exit.fixups.end as usize] {
                    match *fixup {
                        Fixup::Local { at, from } => s!(at) = s!(from),
                        Fixup::Const { at, value } => s!(at) = value,
                    }
                }
                stack.set_len(base + exit.top as usize);
                *pc = exit.pc;
            }
            Stop::At { pc: resume, len } => {
                stack.set_len(len);
                *pc = resume;
            }
        }
        let done = budget - left;
        *steps += done;
        done
    }
}
