//! Numeric instruction semantics on slots, shared by every executor and the judge.
//!
//! Determinism: every float operation that can produce a NaN from arithmetic returns
//! the positive canonical NaN (the WebAssembly 3.0 deterministic profile); sign and
//! bit operations (abs, neg, copysign, reinterpret) keep payloads exactly.

use crate::op::{Binary, Unary};
use crate::Trap;

const F32_CANON: u32 = 0x7fc0_0000;
const F64_CANON: u64 = 0x7ff8_0000_0000_0000;

#[inline(always)]
fn f32_out(v: f32) -> u64 {
    if v.is_nan() {
        F32_CANON as u64
    } else {
        v.to_bits() as u64
    }
}

#[inline(always)]
fn f64_out(v: f64) -> u64 {
    if v.is_nan() {
        F64_CANON
    } else {
        v.to_bits()
    }
}

#[inline(always)]
fn f32_in(s: u64) -> f32 {
    f32::from_bits(s as u32)
}

#[inline(always)]
fn f64_in(s: u64) -> f64 {
    f64::from_bits(s)
}

#[inline(always)]
fn i32_out(v: i32) -> u64 {
    v as u32 as u64
}

#[inline(always)]
fn bool_out(b: bool) -> u64 {
    b as u64
}

macro_rules! min_max {
    ($name:ident, $t:ty, $out:ident, $is_min:expr) => {
        #[inline(always)]
        fn $name(a: $t, b: $t) -> u64 {
            if a.is_nan() || b.is_nan() {
                return $out(<$t>::NAN);
            }
            // Zeros of both signs compare equal; the sign decides.
            if a == b {
                return $out(<$t>::from_bits(if $is_min {
                    a.to_bits() | b.to_bits()
                } else {
                    a.to_bits() & b.to_bits()
                }));
            }
            $out(if (a < b) == $is_min { a } else { b })
        }
    };
}
min_max!(f32_min, f32, f32_out, true);
min_max!(f32_max, f32, f32_out, false);
min_max!(f64_min, f64, f64_out, true);
min_max!(f64_max, f64, f64_out, false);

/// Truncates toward zero, trapping on NaN and on results outside `(lo, hi)` (exclusive).
#[inline(always)]
fn trunc_checked(x: f64, lo: f64, hi: f64) -> Result<f64, Trap> {
    if x.is_nan() {
        return Err(Trap::InvalidConversionToInteger);
    }
    if !(x > lo && x < hi) {
        return Err(Trap::IntegerOverflow);
    }
    Ok(x.trunc())
}

#[inline(always)]
fn f32_trunc_checked(x: u64, lo: f64, hi: f64) -> Result<f64, Trap> {
    trunc_checked(f32_in(x) as f64, lo, hi)
}

#[inline(always)]
pub fn unary(op: Unary, x: u64) -> Result<u64, Trap> {
    use Unary::*;
    let a32 = x as u32;
    Ok(match op {
        I32Eqz => bool_out(a32 == 0),
        I32Clz => a32.leading_zeros() as u64,
        I32Ctz => a32.trailing_zeros() as u64,
        I32Popcnt => a32.count_ones() as u64,
        I64Eqz => bool_out(x == 0),
        I64Clz => x.leading_zeros() as u64,
        I64Ctz => x.trailing_zeros() as u64,
        I64Popcnt => x.count_ones() as u64,
        F32Abs => (a32 & 0x7fff_ffff) as u64,
        F32Neg => (a32 ^ 0x8000_0000) as u64,
        F32Ceil => f32_out(f32_in(x).ceil()),
        F32Floor => f32_out(f32_in(x).floor()),
        F32Trunc => f32_out(f32_in(x).trunc()),
        F32Nearest => f32_out(f32_in(x).round_ties_even()),
        F32Sqrt => f32_out(f32_in(x).sqrt()),
        F64Abs => x & 0x7fff_ffff_ffff_ffff,
        F64Neg => x ^ 0x8000_0000_0000_0000,
        F64Ceil => f64_out(f64_in(x).ceil()),
        F64Floor => f64_out(f64_in(x).floor()),
        F64Trunc => f64_out(f64_in(x).trunc()),
        F64Nearest => f64_out(f64_in(x).round_ties_even()),
        F64Sqrt => f64_out(f64_in(x).sqrt()),
        I32WrapI64 => a32 as u64,
        I32TruncF32S => i32_out(f32_trunc_checked(x, -2147483649.0, 2147483648.0)? as i32),
        I32TruncF32U => f32_trunc_checked(x, -1.0, 4294967296.0)? as u32 as u64,
        I32TruncF64S => i32_out(trunc_checked(f64_in(x), -2147483649.0, 2147483648.0)? as i32),
        I32TruncF64U => trunc_checked(f64_in(x), -1.0, 4294967296.0)? as u32 as u64,
        I64ExtendI32S => a32 as i32 as i64 as u64,
        I64ExtendI32U => a32 as u64,
        I64TruncF32S => f32_trunc_checked(x, -9223372036854777856.0, 9223372036854775808.0)? as i64 as u64,
        I64TruncF32U => f32_trunc_checked(x, -1.0, 18446744073709551616.0)? as u64,
        I64TruncF64S => trunc_checked(f64_in(x), -9223372036854777856.0, 9223372036854775808.0)? as i64 as u64,
        I64TruncF64U => trunc_checked(f64_in(x), -1.0, 18446744073709551616.0)? as u64,
        F32ConvertI32S => f32_out(a32 as i32 as f32),
        F32ConvertI32U => f32_out(a32 as f32),
        F32ConvertI64S => f32_out(x as i64 as f32),
        F32ConvertI64U => f32_out(x as f32),
        F32DemoteF64 => f32_out(f64_in(x) as f32),
        F64ConvertI32S => f64_out(a32 as i32 as f64),
        F64ConvertI32U => f64_out(a32 as f64),
        F64ConvertI64S => f64_out(x as i64 as f64),
        F64ConvertI64U => f64_out(x as f64),
        F64PromoteF32 => f64_out(f32_in(x) as f64),
        I32Extend8S => i32_out(a32 as i8 as i32),
        I32Extend16S => i32_out(a32 as i16 as i32),
        I64Extend8S => x as i8 as i64 as u64,
        I64Extend16S => x as i16 as i64 as u64,
        I64Extend32S => x as i32 as i64 as u64,
        // Rust's float-to-int `as` is exactly the saturating semantics (NaN to 0).
        I32TruncSatF32S => i32_out(f32_in(x) as i32),
        I32TruncSatF32U => f32_in(x) as u32 as u64,
        I32TruncSatF64S => i32_out(f64_in(x) as i32),
        I32TruncSatF64U => f64_in(x) as u32 as u64,
        I64TruncSatF32S => f32_in(x) as i64 as u64,
        I64TruncSatF32U => f32_in(x) as u64,
        I64TruncSatF64S => f64_in(x) as i64 as u64,
        I64TruncSatF64U => f64_in(x) as u64,
        I32ReinterpretF32 | F32ReinterpretI32 => a32 as u64,
        I64ReinterpretF64 | F64ReinterpretI64 => x,
    })
}

#[inline(always)]
pub fn binary(op: Binary, x: u64, y: u64) -> Result<u64, Trap> {
    use Binary::*;
    let (a, b) = (x as u32, y as u32);
    let (sa, sb) = (a as i32, b as i32);
    let (fa, fb) = (f32_in(x), f32_in(y));
    let (da, db) = (f64_in(x), f64_in(y));
    Ok(match op {
        I32Eq => bool_out(a == b),
        I32Ne => bool_out(a != b),
        I32LtS => bool_out(sa < sb),
        I32LtU => bool_out(a < b),
        I32GtS => bool_out(sa > sb),
        I32GtU => bool_out(a > b),
        I32LeS => bool_out(sa <= sb),
        I32LeU => bool_out(a <= b),
        I32GeS => bool_out(sa >= sb),
        I32GeU => bool_out(a >= b),
        I64Eq => bool_out(x == y),
        I64Ne => bool_out(x != y),
        I64LtS => bool_out((x as i64) < (y as i64)),
        I64LtU => bool_out(x < y),
        I64GtS => bool_out((x as i64) > (y as i64)),
        I64GtU => bool_out(x > y),
        I64LeS => bool_out((x as i64) <= (y as i64)),
        I64LeU => bool_out(x <= y),
        I64GeS => bool_out((x as i64) >= (y as i64)),
        I64GeU => bool_out(x >= y),
        F32Eq => bool_out(fa == fb),
        F32Ne => bool_out(fa != fb),
        F32Lt => bool_out(fa < fb),
        F32Gt => bool_out(fa > fb),
        F32Le => bool_out(fa <= fb),
        F32Ge => bool_out(fa >= fb),
        F64Eq => bool_out(da == db),
        F64Ne => bool_out(da != db),
        F64Lt => bool_out(da < db),
        F64Gt => bool_out(da > db),
        F64Le => bool_out(da <= db),
        F64Ge => bool_out(da >= db),
        I32Add => a.wrapping_add(b) as u64,
        I32Sub => a.wrapping_sub(b) as u64,
        I32Mul => a.wrapping_mul(b) as u64,
        I32DivS => {
            if b == 0 {
                return Err(Trap::IntegerDivideByZero);
            }
            i32_out(sa.checked_div(sb).ok_or(Trap::IntegerOverflow)?)
        }
        I32DivU => a.checked_div(b).ok_or(Trap::IntegerDivideByZero)? as u64,
        I32RemS => {
            if b == 0 {
                return Err(Trap::IntegerDivideByZero);
            }
            i32_out(sa.wrapping_rem(sb))
        }
        I32RemU => a.checked_rem(b).ok_or(Trap::IntegerDivideByZero)? as u64,
        I32And => (a & b) as u64,
        I32Or => (a | b) as u64,
        I32Xor => (a ^ b) as u64,
        I32Shl => a.wrapping_shl(b) as u64,
        I32ShrS => i32_out(sa.wrapping_shr(b)),
        I32ShrU => a.wrapping_shr(b) as u64,
        I32Rotl => a.rotate_left(b % 32) as u64,
        I32Rotr => a.rotate_right(b % 32) as u64,
        I64Add => x.wrapping_add(y),
        I64Sub => x.wrapping_sub(y),
        I64Mul => x.wrapping_mul(y),
        I64DivS => {
            if y == 0 {
                return Err(Trap::IntegerDivideByZero);
            }
            (x as i64).checked_div(y as i64).ok_or(Trap::IntegerOverflow)? as u64
        }
        I64DivU => x.checked_div(y).ok_or(Trap::IntegerDivideByZero)?,
        I64RemS => {
            if y == 0 {
                return Err(Trap::IntegerDivideByZero);
            }
            (x as i64).wrapping_rem(y as i64) as u64
        }
        I64RemU => x.checked_rem(y).ok_or(Trap::IntegerDivideByZero)?,
        I64And => x & y,
        I64Or => x | y,
        I64Xor => x ^ y,
        I64Shl => x.wrapping_shl(y as u32),
        I64ShrS => (x as i64).wrapping_shr(y as u32) as u64,
        I64ShrU => x.wrapping_shr(y as u32),
        I64Rotl => x.rotate_left((y % 64) as u32),
        I64Rotr => x.rotate_right((y % 64) as u32),
        F32Add => f32_out(fa + fb),
        F32Sub => f32_out(fa - fb),
        F32Mul => f32_out(fa * fb),
        F32Div => f32_out(fa / fb),
        F32Min => f32_min(fa, fb),
        F32Max => f32_max(fa, fb),
        F32Copysign => ((a & 0x7fff_ffff) | (b & 0x8000_0000)) as u64,
        F64Add => f64_out(da + db),
        F64Sub => f64_out(da - db),
        F64Mul => f64_out(da * db),
        F64Div => f64_out(da / db),
        F64Min => f64_min(da, db),
        F64Max => f64_max(da, db),
        F64Copysign => (x & 0x7fff_ffff_ffff_ffff) | (y & 0x8000_0000_0000_0000),
    })
}
