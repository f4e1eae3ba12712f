//! A function's code as the code pane lists it: one line per op with its byte offset,
//! indented by block nesting, with blocks away from the current instruction folded.

use stepper::op::Op;
use stepper::Module;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeLine {
    pub pc: u32,
    /// Byte offset of the instruction in the module binary.
    pub offset: u32,
    /// Block nesting depth.
    pub depth: usize,
    pub text: String,
    /// For a folded block, the pc of its `end`: the line stands for `pc..=end`.
    pub folded_to: Option<u32>,
}

/// Blocks shorter than this many ops stay open: folding them saves no lines.
const MIN_FOLD: u32 = 3;

/// The ops of defined function `func`, as `start..end` indices into the module's code.
pub fn body_range(module: &Module, func: u32) -> Option<(u32, u32)> {
    let body = module.body(func)?;
    let i = (func - module.num_imported_funcs) as usize;
    let end = module.bodies.get(i + 1).map_or(module.code.len() as u32, |next| next.start);
    Some((body.start, end))
}

/// The `end` of the block, loop or if opening at each pc of `start..end` (None elsewhere).
fn block_ends(code: &[Op], start: u32, end: u32) -> Vec<Option<u32>> {
    let mut ends = vec![None; (end - start) as usize];
    let mut open = Vec::new();
    for pc in start..end {
        match code[pc as usize] {
            Op::Block | Op::Loop | Op::If { .. } => open.push(pc),
            Op::End => {
                if let Some(opener) = open.pop() {
                    ends[(opener - start) as usize] = Some(pc);
                }
            }
            _ => {}
        }
    }
    ends
}

/// The lines of function `func`. With `fold`, a block that does not hold `current` (nor
/// a pc in `keep_open`) shows as one line.
pub fn listing(module: &Module, func: u32, current: Option<u32>, fold: bool, keep_open: &[u32]) -> Vec<CodeLine> {
    let Some((start, end)) = body_range(module, func) else { return Vec::new() };
    let ends = block_ends(&module.code, start, end);
    let holds = |from: u32, to: u32| {
        current.is_some_and(|c| (from..=to).contains(&c)) || keep_open.iter().any(|&k| (from..=to).contains(&k))
    };
    let mut lines = Vec::new();
    let (mut pc, mut depth) = (start, 0usize);
    while pc < end {
        let op = module.code[pc as usize];
        let offset = module.code_offsets[pc as usize];
        let text = op.to_string();
        match (op, ends[(pc - start) as usize]) {
            (_, Some(block_end)) if fold && block_end - pc >= MIN_FOLD && !holds(pc, block_end) => {
                let keyword = text.split_whitespace().next().unwrap_or_default();
                let text = format!("{keyword} … end   (@{pc}..@{block_end}, {} ops)", block_end - pc + 1);
                lines.push(CodeLine { pc, offset, depth, text, folded_to: Some(block_end) });
                pc = block_end + 1;
                continue;
            }
            (Op::Block | Op::Loop | Op::If { .. }, _) => {
                lines.push(CodeLine { pc, offset, depth, text, folded_to: None });
                depth += 1;
            }
            (Op::Else { .. }, _) => {
                lines.push(CodeLine { pc, offset, depth: depth.saturating_sub(1), text, folded_to: None });
            }
            (Op::End, _) => {
                depth = depth.saturating_sub(1);
                lines.push(CodeLine { pc, offset, depth, text, folded_to: None });
            }
            // A br_table's targets read as its continuation.
            (Op::BrTableTarget(_), _) => lines.push(CodeLine { pc, offset, depth: depth + 1, text, folded_to: None }),
            _ => lines.push(CodeLine { pc, offset, depth, text, folded_to: None }),
        }
        pc += 1;
    }
    lines
}
