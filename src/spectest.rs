//! Runs WebAssembly spec test scripts (`.wast`) on the stepper.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use stepper::{Config, Error, Extern, Machine, Module, Status, Value};
use wast::core::{NanPattern, WastArgCore, WastRetCore};
use wast::parser::{self, ParseBuffer};
use wast::{QuoteWat, Wast, WastArg, WastDirective, WastExecute, WastInvoke, WastRet};

/// Pass and fail counts of one script, with a line per failure.
#[derive(Debug, Default)]
pub struct Report {
    pub passed: usize,
    pub failed: usize,
    pub failures: Vec<String>,
}

impl Report {
    fn record(&mut self, line: usize, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => self.passed += 1,
            Err(why) => {
                self.failed += 1;
                self.failures.push(format!("line {line}: {why}"));
            }
        }
    }
}

/// Every `.wast` file under `paths` (files or folders), sorted.
pub fn collect_scripts(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            for entry in std::fs::read_dir(path)? {
                let p = entry?.path();
                if p.extension().is_some_and(|e| e == "wast") {
                    files.push(p);
                }
            }
        } else {
            files.push(path.clone());
        }
    }
    files.sort();
    Ok(files)
}

/// Runs one script. A script that cannot be read or parsed is one failure.
pub fn run_script(path: &Path) -> Report {
    let mut report = Report::default();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            report.record(0, Err(format!("cannot read: {e}")));
            return report;
        }
    };
    // The spec's names.wast deliberately uses bidirectional-override characters.
    let mut lexer = wast::lexer::Lexer::new(&text);
    lexer.allow_confusing_unicode(true);
    let buf = match ParseBuffer::new_with_lexer(lexer) {
        Ok(b) => b,
        Err(e) => {
            report.record(0, Err(format!("cannot parse: {e}")));
            return report;
        }
    };
    let wast: Wast<'_> = match parser::parse(&buf) {
        Ok(w) => w,
        Err(e) => {
            report.record(0, Err(format!("cannot parse: {e}")));
            return report;
        }
    };
    let mut runner = Runner::new();
    for directive in wast.directives {
        let line = directive.span().linecol_in(&text).0 + 1;
        if let Some(outcome) = runner.directive(directive) {
            report.record(line, outcome);
        }
    }
    report
}

struct Runner {
    machine: Machine,
    registered: HashMap<String, HashMap<String, Extern>>,
    named: HashMap<String, u32>,
    definitions: HashMap<String, Arc<Module>>,
    current: Option<u32>,
}

fn encode(quote: &mut QuoteWat<'_>) -> Result<Vec<u8>, String> {
    quote.encode().map_err(|e| e.to_string())
}

impl Runner {
    fn new() -> Self {
        let mut machine = Machine::new(Config::default()).expect("default config is valid");
        let spectest = machine.add_spectest();
        Self {
            machine,
            registered: HashMap::from([("spectest".to_string(), spectest)]),
            named: HashMap::new(),
            definitions: HashMap::new(),
            current: None,
        }
    }

    fn instantiate(&mut self, module: &Arc<Module>) -> Result<u32, Error> {
        let registered = &self.registered;
        self.machine.instantiate(module, &|m, n| registered.get(m)?.get(n).copied())
    }

    fn define(&mut self, quote: &mut QuoteWat<'_>) -> Result<u32, String> {
        let module = Module::new(&encode(quote)?).map_err(|e| e.to_string())?;
        let index = self.instantiate(&module).map_err(|e| e.to_string())?;
        self.current = Some(index);
        if let Some(id) = quote.name() {
            self.named.insert(id.name().to_string(), index);
        }
        Ok(index)
    }

    fn instance(&self, id: Option<wast::token::Id<'_>>) -> Result<u32, String> {
        match id {
            Some(id) => self.named.get(id.name()).copied().ok_or_else(|| format!("no module ${}", id.name())),
            None => self.current.ok_or_else(|| "no module instantiated".to_string()),
        }
    }

    /// Runs one directive: `None` for ones that are not assertions and succeeded.
    fn directive(&mut self, directive: WastDirective<'_>) -> Option<Result<(), String>> {
        match directive {
            WastDirective::Module(mut quote) => self.define(&mut quote).err().map(Err),
            WastDirective::ModuleDefinition(mut quote) => {
                let outcome = encode(&mut quote).and_then(|b| Module::new(&b).map_err(|e| e.to_string()));
                match (outcome, quote.name()) {
                    (Ok(module), Some(id)) => {
                        self.definitions.insert(id.name().to_string(), module);
                        None
                    }
                    (Ok(_), None) => None,
                    (Err(e), _) => Some(Err(e)),
                }
            }
            WastDirective::ModuleInstance { instance, module, .. } => {
                let def = module.and_then(|m| self.definitions.get(m.name()).cloned());
                let Some(def) = def else { return Some(Err("unknown module definition".into())) };
                match self.instantiate(&def) {
                    Ok(index) => {
                        self.current = Some(index);
                        if let Some(id) = instance {
                            self.named.insert(id.name().to_string(), index);
                        }
                        None
                    }
                    Err(e) => Some(Err(e.to_string())),
                }
            }
            WastDirective::Register { name, module, .. } => match self.instance(module) {
                Ok(index) => {
                    let exports = self.machine.store().instances[index as usize].exports.clone();
                    self.registered.insert(name.to_string(), exports);
                    None
                }
                Err(e) => Some(Err(e)),
            },
            WastDirective::Invoke(invoke) => self.invoke(&invoke).err().map(Err),
            WastDirective::AssertReturn { exec, results, .. } => Some(self.assert_return(exec, &results)),
            WastDirective::AssertTrap { exec, message, .. } => Some(self.assert_trap(exec, message)),
            WastDirective::AssertExhaustion { call, message, .. } => Some(match self.invoke(&call) {
                Err(e) if e.contains(message) => Ok(()),
                Err(e) => Err(format!("expected exhaustion `{message}`, got {e}")),
                Ok(values) => Err(format!("expected exhaustion, returned {values:?}")),
            }),
            WastDirective::AssertInvalid { mut module, message, .. } => Some(match encode(&mut module) {
                Err(_) => Ok(()),
                Ok(bytes) => match Module::new(&bytes) {
                    Err(_) => Ok(()),
                    Ok(_) => Err(format!("invalid module accepted (expected `{message}`)")),
                },
            }),
            WastDirective::AssertMalformed { mut module, message, .. } => Some(match encode(&mut module) {
                Err(_) => Ok(()),
                Ok(bytes) => match Module::new(&bytes) {
                    Err(_) => Ok(()),
                    Ok(_) => Err(format!("malformed module accepted (expected `{message}`)")),
                },
            }),
            WastDirective::AssertUnlinkable { module, message, .. } => {
                let mut quote = QuoteWat::Wat(module);
                Some(match encode(&mut quote).and_then(|b| Module::new(&b).map_err(|e| e.to_string())) {
                    Err(e) => Err(format!("unlinkable module did not compile: {e}")),
                    Ok(module) => match self.instantiate(&module) {
                        Err(Error::Link { .. }) => Ok(()),
                        Err(e) => Err(format!("expected a link error `{message}`, got {e}")),
                        Ok(_) => Err(format!("unlinkable module linked (expected `{message}`)")),
                    },
                })
            }
            other => Some(Err(format!("unsupported directive {other:?}"))),
        }
    }

    fn invoke(&mut self, invoke: &WastInvoke<'_>) -> Result<Vec<Value>, String> {
        let index = self.instance(invoke.module)?;
        let Some(Extern::Func(func)) = self.machine.export(index, invoke.name) else {
            return Err(format!("no exported function `{}`", invoke.name));
        };
        let args = invoke.args.iter().map(arg).collect::<Result<Vec<_>, _>>()?;
        self.machine.invoke(func, &args).map_err(|e| e.to_string())?;
        match self.machine.run(u64::MAX) {
            Status::Returned => Ok(self.machine.results()),
            Status::Trapped(trap) => Err(trap.to_string()),
            Status::OutOfGas => Err("out of gas".into()),
            Status::Exited(code) => Err(format!("exited with code {code}")),
            Status::Running => Err("still running after an unbounded run".into()),
        }
    }

    fn execute(&mut self, exec: WastExecute<'_>) -> Result<Vec<Value>, String> {
        match exec {
            WastExecute::Invoke(invoke) => self.invoke(&invoke),
            WastExecute::Get { module, global, .. } => {
                let index = self.instance(module)?;
                match self.machine.export(index, global) {
                    Some(Extern::Global(g)) => Ok(vec![self.machine.global(g)]),
                    _ => Err(format!("no exported global `{global}`")),
                }
            }
            WastExecute::Wat(module) => {
                let mut quote = QuoteWat::Wat(module);
                let module = Module::new(&encode(&mut quote)?).map_err(|e| e.to_string())?;
                match self.instantiate(&module) {
                    Ok(_) => Ok(Vec::new()),
                    Err(Error::InstantiationTrap(trap)) => Err(trap.to_string()),
                    Err(e) => Err(format!("instantiation failed: {e}")),
                }
            }
        }
    }

    fn assert_return(&mut self, exec: WastExecute<'_>, expected: &[WastRet<'_>]) -> Result<(), String> {
        let values = self.execute(exec)?;
        if values.len() != expected.len() {
            return Err(format!("expected {} results, got {values:?}", expected.len()));
        }
        for (value, want) in values.iter().zip(expected) {
            let WastRet::Core(want) = want else { return Err("component results unsupported".into()) };
            if !matches(value, want) {
                return Err(format!("expected {want:?}, got {value:?}"));
            }
        }
        Ok(())
    }

    fn assert_trap(&mut self, exec: WastExecute<'_>, message: &str) -> Result<(), String> {
        match self.execute(exec) {
            Err(e) if trap_matches(&e, message) => Ok(()),
            Err(e) => Err(format!("expected trap `{message}`, got `{e}`")),
            Ok(values) => Err(format!("expected trap `{message}`, returned {values:?}")),
        }
    }
}

/// Our trap messages are the spec's, except that spec scripts sometimes name the
/// cause more loosely ("uninitialized element 2").
fn trap_matches(ours: &str, expected: &str) -> bool {
    ours.contains(expected) || expected.starts_with(ours)
}

fn arg(arg: &WastArg<'_>) -> Result<Value, String> {
    let WastArg::Core(core) = arg else { return Err("component arguments unsupported".into()) };
    Ok(match core {
        WastArgCore::I32(v) => Value::I32(*v),
        WastArgCore::I64(v) => Value::I64(*v),
        WastArgCore::F32(v) => Value::F32(v.bits),
        WastArgCore::F64(v) => Value::F64(v.bits),
        WastArgCore::RefNull(wast::core::HeapType::Abstract { ty: wast::core::AbstractHeapType::Func, .. }) => {
            Value::FuncRef(None)
        }
        WastArgCore::RefNull(_) => Value::ExternRef(None),
        WastArgCore::RefExtern(v) => Value::ExternRef(Some(*v)),
        other => return Err(format!("unsupported argument {other:?}")),
    })
}

fn matches(value: &Value, want: &WastRetCore<'_>) -> bool {
    match (want, value) {
        (WastRetCore::I32(w), Value::I32(v)) => w == v,
        (WastRetCore::I64(w), Value::I64(v)) => w == v,
        (WastRetCore::F32(pattern), Value::F32(bits)) => match pattern {
            NanPattern::CanonicalNan => bits & 0x7fff_ffff == 0x7fc0_0000,
            NanPattern::ArithmeticNan => bits & 0x7fc0_0000 == 0x7fc0_0000,
            NanPattern::Value(w) => w.bits == *bits,
        },
        (WastRetCore::F64(pattern), Value::F64(bits)) => match pattern {
            NanPattern::CanonicalNan => bits & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000,
            NanPattern::ArithmeticNan => bits & 0x7ff8_0000_0000_0000 == 0x7ff8_0000_0000_0000,
            NanPattern::Value(w) => w.bits == *bits,
        },
        (WastRetCore::RefNull(_), Value::FuncRef(None) | Value::ExternRef(None)) => true,
        (WastRetCore::RefExtern(None), Value::ExternRef(Some(_))) => true,
        (WastRetCore::RefExtern(Some(w)), Value::ExternRef(Some(v))) => w == v,
        (WastRetCore::RefFunc(_), Value::FuncRef(Some(_))) => true,
        (WastRetCore::Either(options), _) => options.iter().any(|o| matches(value, o)),
        _ => false,
    }
}
