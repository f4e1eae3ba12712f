//! What a command prints of its result: text for people or one JSON object, and whether
//! it went well (exit code 0) or not (1).

use serde_json::Value as Json;

pub trait Printed {
    fn succeeded(&self) -> bool;
    fn to_json(&self) -> Json;
    fn print(&self);
}
