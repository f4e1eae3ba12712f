//! Parsing call arguments by a function's signature, and printing values.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value as Json};
use stepper::{Status, ValType, Value};

/// Parses `text` as a value of type `ty`: integers in decimal (negative allowed),
/// floats in decimal or as `0x` bit patterns, references as `null`.
pub fn parse_value(ty: ValType, text: &str) -> Result<Value> {
    let hex = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"));
    Ok(match ty {
        ValType::I32 => Value::I32(parse_int::<i32, u32>(text, |u| u as i32)?),
        ValType::I64 => Value::I64(parse_int::<i64, u64>(text, |u| u as i64)?),
        ValType::F32 => Value::F32(match hex {
            Some(h) => u32::from_str_radix(h, 16).with_context(|| format!("`{text}` is not a 32-bit pattern"))?,
            None => text.parse::<f32>().with_context(|| format!("`{text}` is not an f32"))?.to_bits(),
        }),
        ValType::F64 => Value::F64(match hex {
            Some(h) => u64::from_str_radix(h, 16).with_context(|| format!("`{text}` is not a 64-bit pattern"))?,
            None => text.parse::<f64>().with_context(|| format!("`{text}` is not an f64"))?.to_bits(),
        }),
        ValType::FuncRef | ValType::ExternRef if text == "null" => Value::default_of(ty),
        ValType::FuncRef | ValType::ExternRef => bail!("a {ty} argument can only be `null`, not `{text}`"),
    })
}

/// Integers accept their signed range and, as a convenience, the unsigned one.
fn parse_int<S: std::str::FromStr, U: std::str::FromStr>(text: &str, cast: fn(U) -> S) -> Result<S> {
    if let Ok(v) = text.parse::<S>() {
        return Ok(v);
    }
    match text.parse::<U>() {
        Ok(u) => Ok(cast(u)),
        Err(_) => bail!("`{text}` is not a decimal integer of the parameter's width"),
    }
}

/// Parses the arguments of a call to a function with parameter types `params`.
pub fn parse_args(params: &[ValType], args: &[String]) -> Result<Vec<Value>> {
    if params.len() != args.len() {
        let sig: Vec<String> = params.iter().map(|t| t.to_string()).collect();
        bail!("the function takes {} argument(s) ({}), {} given", params.len(), sig.join(", "), args.len());
    }
    params
        .iter()
        .zip(args)
        .enumerate()
        .map(|(i, (&ty, a))| parse_value(ty, a).with_context(|| format!("argument {}", i + 1)))
        .collect()
}

/// A value as JSON: its type and its exact text (floats also with their bits).
pub fn value_json(v: &Value) -> Json {
    match *v {
        Value::F32(bits) => json!({"type": "f32", "value": v.to_string(), "bits": format!("0x{bits:08x}")}),
        Value::F64(bits) => json!({"type": "f64", "value": v.to_string(), "bits": format!("0x{bits:016x}")}),
        _ => json!({"type": v.ty().to_string(), "value": v.to_string()}),
    }
}

/// A status as the CLI and the node name it, with the reason a call did not return.
pub fn status_name(status: Status) -> (&'static str, Option<String>) {
    match status {
        Status::Running => ("running", None),
        Status::Returned => ("returned", None),
        Status::Trapped(trap) => ("trapped", Some(trap.to_string())),
        Status::OutOfGas => ("out_of_gas", Some("out of gas".to_string())),
        Status::Exited(0) => ("exited", None),
        Status::Exited(code) => ("exited", Some(format!("exit code {code}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_by_type() {
        assert_eq!(parse_value(ValType::I32, "-7").unwrap(), Value::I32(-7));
        assert_eq!(parse_value(ValType::I32, "4294967295").unwrap(), Value::I32(-1));
        assert_eq!(parse_value(ValType::I64, "-9223372036854775808").unwrap(), Value::I64(i64::MIN));
        assert_eq!(parse_value(ValType::F32, "1.5").unwrap(), Value::F32(1.5f32.to_bits()));
        assert_eq!(parse_value(ValType::F32, "0x7fc00001").unwrap(), Value::F32(0x7fc0_0001));
        assert_eq!(parse_value(ValType::F64, "-0.0").unwrap(), Value::F64((-0.0f64).to_bits()));
        assert_eq!(parse_value(ValType::FuncRef, "null").unwrap(), Value::FuncRef(None));
    }

    #[test]
    fn rejects_bad_input_with_a_reason() {
        let err = parse_value(ValType::I32, "12x").unwrap_err().to_string();
        assert!(err.contains("12x"), "{err}");
        assert!(parse_value(ValType::I32, "4294967296").is_err());
        assert!(parse_value(ValType::F64, "0xZZ").is_err());
        let err = parse_args(&[ValType::I32], &[]).unwrap_err().to_string();
        assert!(err.contains("takes 1 argument"), "{err}");
    }
}
