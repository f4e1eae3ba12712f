//! Serde adapters for the cluster's JSON: bytes and hashes as `0x` hex, values as
//! traces' `{"type", "slot"}`.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub mod bytes {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        merkle_memory::hash::bytes_to_hex(bytes).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        merkle_memory::hash::hex_to_bytes(&text)
            .ok_or_else(|| D::Error::custom(format!("`{text}` is not 0x-hex bytes")))
    }
}

pub mod optional_bytes {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct Hex(#[serde(with = "super::bytes")] Vec<u8>);

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        bytes.as_ref().map(|b| Hex(b.clone())).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        Ok(Option::<Hex>::deserialize(d)?.map(|h| h.0))
    }
}

pub mod hash {
    use super::*;
    use merkle_memory::Hash;

    pub fn serialize<S: Serializer>(hash: &Hash, s: S) -> Result<S::Ok, S::Error> {
        merkle_memory::hex(hash).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let text = String::deserialize(d)?;
        merkle_memory::parse_hex(&text)
            .ok_or_else(|| D::Error::custom(format!("`{text}` is not a 0x-hex 32-byte hash")))
    }
}

/// An optional 32-byte value as 0x-hex, or null.
pub mod optional_hash {
    use super::*;
    use merkle_memory::Hash;

    pub fn serialize<S: Serializer>(hash: &Option<Hash>, s: S) -> Result<S::Ok, S::Error> {
        hash.map(|h| merkle_memory::hex(&h)).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Hash>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else { return Ok(None) };
        merkle_memory::parse_hex(&text)
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("`{text}` is not 0x-hex of 32 bytes")))
    }
}

pub mod hashes {
    use super::*;
    use merkle_memory::Hash;

    pub fn serialize<S: Serializer>(hashes: &[Hash], s: S) -> Result<S::Ok, S::Error> {
        hashes.iter().map(merkle_memory::hex).collect::<Vec<_>>().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Hash>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .map(|t| {
                merkle_memory::parse_hex(t)
                    .ok_or_else(|| D::Error::custom(format!("`{t}` is not a 0x-hex 32-byte hash")))
            })
            .collect()
    }
}

pub mod values {
    use super::*;
    use serde_json::Value as Json;
    use stepper::Value;
    use traces::call::{value_from_json, value_to_json};

    pub fn serialize<S: Serializer>(values: &[Value], s: S) -> Result<S::Ok, S::Error> {
        values.iter().map(value_to_json).collect::<Vec<_>>().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Value>, D::Error> {
        let values = Vec::<Json>::deserialize(d)?;
        values.iter().map(|v| value_from_json(v).map_err(D::Error::custom)).collect()
    }
}

/// Bytes a program wrote or reads (standard input, output, error): a JSON string when
/// they are UTF-8, else `{"hex": "0x…"}`. One form per byte string, so it reads back
/// exactly.
pub mod text_or_hex {
    use super::*;

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Form {
        Text(String),
        Hex {
            #[serde(with = "super::bytes")]
            hex: Vec<u8>,
        },
    }

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Form::Text(text.to_string()).serialize(s),
            Err(_) => Form::Hex { hex: bytes.to_vec() }.serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Ok(match Form::deserialize(d)? {
            Form::Text(text) => text.into_bytes(),
            Form::Hex { hex } => hex,
        })
    }
}
