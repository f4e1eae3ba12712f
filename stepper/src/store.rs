//! Everything instances own, addressed by store index as in the WebAssembly spec.

use std::collections::HashMap;
use std::sync::Arc;

use crate::host::HostFunc;
use crate::module::{FuncType, Module};
use crate::value::ValType;

pub const PAGE_SIZE: usize = 65536;

/// Something an instance exports or imports: a store address of its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Extern {
    Func(u32),
    Table(u32),
    Memory(u32),
    Global(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    /// Function `index` of instance `instance`'s module.
    Wasm { instance: u32, index: u32, type_id: u32 },
    Host { func: HostFunc, type_id: u32 },
}

impl Func {
    pub fn type_id(&self) -> u32 {
        match *self {
            Func::Wasm { type_id, .. } | Func::Host { type_id, .. } => type_id,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub ty: ValType,
    /// Reference slots: 0 for null, address + 1 otherwise.
    pub elems: Vec<u64>,
    /// The declared maximum; the configured limit applies on top of it.
    pub max: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Memory {
    pub data: Vec<u8>,
    /// The declared maximum in pages; the configured limit applies on top of it.
    pub max: Option<u32>,
}

impl Memory {
    pub fn pages(&self) -> u32 {
        (self.data.len() / PAGE_SIZE) as u32
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Global {
    pub ty: ValType,
    pub mutable: bool,
    pub value: u64,
}

/// A module instance: its index spaces mapped to store addresses.
#[derive(Clone, Debug)]
pub struct Instance {
    pub module: Arc<Module>,
    pub funcs: Vec<u32>,
    pub tables: Vec<u32>,
    pub memory: Option<u32>,
    pub globals: Vec<u32>,
    /// Store type ids of the module's types, for call_indirect's check.
    pub type_ids: Vec<u32>,
    /// Store index of the instance's first element segment and data segment.
    pub elem_base: u32,
    pub data_base: u32,
    pub exports: HashMap<String, Extern>,
}

#[derive(Clone, Debug, Default)]
pub struct Store {
    pub types: Vec<FuncType>,
    type_ids: HashMap<FuncType, u32>,
    pub funcs: Vec<Func>,
    pub tables: Vec<Table>,
    pub memories: Vec<Memory>,
    pub globals: Vec<Global>,
    pub instances: Vec<Instance>,
    /// Element segments' resolved references; a dropped segment is empty.
    pub elems: Vec<Vec<u64>>,
    /// Whether each data segment was dropped (its bytes live in the module).
    pub data_dropped: Vec<bool>,
}

impl Store {
    /// The store-wide id of a function type; equal types get equal ids.
    pub fn intern_type(&mut self, ty: &FuncType) -> u32 {
        if let Some(&id) = self.type_ids.get(ty) {
            return id;
        }
        let id = self.types.len() as u32;
        self.types.push(ty.clone());
        self.type_ids.insert(ty.clone(), id);
        id
    }

    pub fn func_type(&self, func: u32) -> &FuncType {
        &self.types[self.funcs[func as usize].type_id() as usize]
    }

    /// The number of each kind of item, to undo a failed allocation with [`Store::truncate`].
    pub(crate) fn lengths(&self) -> [usize; 6] {
        [
            self.funcs.len(),
            self.tables.len(),
            self.memories.len(),
            self.globals.len(),
            self.elems.len(),
            self.data_dropped.len(),
        ]
    }

    pub(crate) fn truncate(&mut self, [funcs, tables, memories, globals, elems, datas]: [usize; 6]) {
        self.funcs.truncate(funcs);
        self.tables.truncate(tables);
        self.memories.truncate(memories);
        self.globals.truncate(globals);
        self.elems.truncate(elems);
        self.data_dropped.truncate(datas);
    }

    pub fn add_host_func(&mut self, func: HostFunc) -> u32 {
        let type_id = self.intern_type(&func.ty());
        self.funcs.push(Func::Host { func, type_id });
        self.funcs.len() as u32 - 1
    }

}
