//! Signed transactions: the envelope a client signs with its ed25519 key, its canonical
//! binary encoding and the message its signature covers (docs/spec.md, "Transactions").
//!
//! ```text
//! envelope = "VGTX" || u8 version (2) || public_key (32) || u64 session || u64 counter
//!            || u64 gas_limit || u8 n || export (n bytes of UTF-8, 1 <= n)
//!            || u8 m (<= 32) || m arguments (u8 type || 4 or 8 bytes)
//!            || u32 k (<= 65536) || input (k bytes) || signature (64)
//! signed   = "verigame/tx/v1\0" || u8 c || chain_id (c bytes) || envelope without its signature
//! ```
//!
//! Decoding is strict: every envelope has exactly one encoding, so the bytes a node hashes
//! and commits are the bytes the client signed, and no one can re-encode a transaction into
//! another one (another hash) with the same signature. Signatures are checked with
//! [`VerifyingKey::verify_strict`]: see [`Envelope::verify`].

use ed25519_dalek::{Signature, Signer, VerifyingKey};
use sha2::{Digest, Sha256};
use stepper::Value;
use thiserror::Error;

pub use ed25519_dalek::SigningKey;

/// The first bytes of every envelope.
pub const MAGIC: [u8; 4] = *b"VGTX";
/// The encoding's version, the byte after the magic. Version 2 added the input bytes
/// (version 1 envelopes, which had none, are refused).
pub const VERSION: u8 = 2;
/// What the signed message starts with (NUL-terminated, so no chain id can extend it).
pub const DOMAIN: &[u8] = b"verigame/tx/v1\0";
/// The most input bytes (the call's standard input) an envelope carries: 64 KiB.
pub const MAX_INPUT_LEN: usize = 64 << 10;
/// The largest envelope read: larger input is refused before anything else is looked at.
/// The largest valid envelope (a 255-byte export, 32 eight-byte arguments, 64 KiB of
/// input) has 674 + 65536 bytes.
pub const MAX_SIZE: usize = 1024 + MAX_INPUT_LEN;
/// The most arguments an envelope carries.
pub const MAX_ARGS: usize = 32;
/// The longest export name, in bytes.
pub const MAX_EXPORT_LEN: usize = 255;
/// The longest chain id, in bytes.
pub const MAX_CHAIN_ID_LEN: usize = 255;
/// Bytes of an envelope without its export name, arguments and input: magic, version,
/// key, session, counter, gas limit, the two length bytes, the input's length and the
/// signature.
pub const FIXED_SIZE: usize = 4 + 1 + 32 + 8 + 8 + 8 + 1 + 1 + 4 + 64;

/// The wasm value type bytes an argument is tagged with.
pub const TAG_I32: u8 = 0x7F;
pub const TAG_I64: u8 = 0x7E;
pub const TAG_F32: u8 = 0x7D;
pub const TAG_F64: u8 = 0x7C;

/// Why bytes are not a valid envelope, or an envelope not a valid transaction.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("the transaction has {0} bytes, more than the {MAX_SIZE} an envelope may have")]
    TooLarge(usize),
    #[error("the transaction is not a verigame envelope: it does not start with \"VGTX\"")]
    BadMagic,
    #[error("envelope version {0} is not known (version {VERSION} is)")]
    UnknownVersion(u8),
    #[error("the envelope ends inside its {0}")]
    Truncated(&'static str),
    #[error("the envelope has {0} byte(s) after its signature")]
    TrailingBytes(usize),
    #[error("the export name is empty")]
    EmptyExport,
    #[error("the export name has {0} bytes, more than {MAX_EXPORT_LEN}")]
    ExportTooLong(usize),
    #[error("the export name is not UTF-8")]
    ExportNotUtf8,
    #[error("the envelope carries {0} arguments, more than {MAX_ARGS}")]
    TooManyArgs(usize),
    #[error("argument {index} has type byte 0x{tag:02x}, not i32 (0x7f), i64 (0x7e), f32 (0x7d) or f64 (0x7c)")]
    BadArgType { index: usize, tag: u8 },
    #[error("argument {0} is a reference: a transaction carries numbers only")]
    ReferenceArg(usize),
    #[error("the input has {0} bytes, more than the {MAX_INPUT_LEN} a transaction may carry")]
    InputTooLong(usize),
    #[error("the chain id has {0} bytes; it must have 1 to {MAX_CHAIN_ID_LEN}")]
    BadChainId(usize),
    #[error("the public key is not an ed25519 public key")]
    BadPublicKey,
    #[error("the signing key is not the body's public key")]
    KeyMismatch,
    #[error("the signature does not verify: not signed by this public key for this chain, or changed since")]
    BadSignature,
    #[error("the session's counters are used up: start another session")]
    CountersUsedUp,
}

/// What a client signs: who calls, in which session, with which counter and gas limit,
/// and the call. Its JSON form (the node's `/tx` answer) has the key in hex and the
/// arguments as `{"type", "slot"}`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Body {
    /// The caller: an ed25519 public key (its compressed point).
    #[serde(with = "crate::serde_hex::hash")]
    pub public_key: [u8; 32],
    /// The caller's session: each session of a key has its own counter.
    pub session: u64,
    /// The transaction's number in the session (the node decides which it accepts).
    pub counter: u64,
    /// The most gas the call may use.
    pub gas_limit: u64,
    /// The exported function to call.
    pub export: String,
    /// Its arguments: numbers (i32, i64, f32, f64) only.
    #[serde(serialize_with = "crate::serde_hex::values::serialize")]
    pub args: Vec<Value>,
    /// The call's input bytes: its standard input (docs/abi.md), at most
    /// [`MAX_INPUT_LEN`].
    #[serde(serialize_with = "crate::serde_hex::text_or_hex::serialize")]
    pub input: Vec<u8>,
}

/// One session of a client's key on a chain: signs calls with the session's counters in
/// order, as a client sending several transactions does.
#[derive(Clone, Debug)]
pub struct Session {
    pub key: SigningKey,
    pub chain_id: String,
    pub session: u64,
    /// The counter the next transaction signed uses.
    pub next: u64,
}

impl Session {
    /// Session `session` of `key` on chain `chain_id`, from counter `next` on.
    pub fn new(key: SigningKey, chain_id: &str, session: u64, next: u64) -> Self {
        Self { key, chain_id: chain_id.to_string(), session, next }
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The envelope of a call of `export` with `args` and `gas_limit`, with the next
    /// counter, which it uses up.
    pub fn sign(&mut self, export: &str, args: Vec<Value>, gas_limit: u64) -> Result<Envelope, EnvelopeError> {
        self.sign_with_input(export, args, Vec::new(), gas_limit)
    }

    /// [`Session::sign`] of a call given `input` as its standard input.
    pub fn sign_with_input(
        &mut self,
        export: &str,
        args: Vec<Value>,
        input: Vec<u8>,
        gas_limit: u64,
    ) -> Result<Envelope, EnvelopeError> {
        let body = Body {
            public_key: self.public_key(),
            session: self.session,
            counter: self.next,
            gas_limit,
            export: export.to_string(),
            args,
            input,
        };
        let next = self.next.checked_add(1).ok_or(EnvelopeError::CountersUsedUp)?;
        let envelope = Envelope::sign(body, &self.chain_id, &self.key)?;
        self.next = next;
        Ok(envelope)
    }
}

/// A signed transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    pub body: Body,
    pub signature: [u8; 64],
}

impl Body {
    /// The encoding of the body: the envelope's bytes before the signature. Refuses an
    /// empty or too long export name, too many arguments, reference arguments and an input
    /// longer than [`MAX_INPUT_LEN`].
    pub fn encode(&self) -> Result<Vec<u8>, EnvelopeError> {
        let export = self.export.as_bytes();
        if export.is_empty() {
            return Err(EnvelopeError::EmptyExport);
        }
        if export.len() > MAX_EXPORT_LEN {
            return Err(EnvelopeError::ExportTooLong(export.len()));
        }
        if self.args.len() > MAX_ARGS {
            return Err(EnvelopeError::TooManyArgs(self.args.len()));
        }
        if self.input.len() > MAX_INPUT_LEN {
            return Err(EnvelopeError::InputTooLong(self.input.len()));
        }
        let mut out = Vec::with_capacity(FIXED_SIZE + export.len() + 9 * self.args.len() + self.input.len());
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&self.public_key);
        out.extend_from_slice(&self.session.to_le_bytes());
        out.extend_from_slice(&self.counter.to_le_bytes());
        out.extend_from_slice(&self.gas_limit.to_le_bytes());
        out.push(export.len() as u8);
        out.extend_from_slice(export);
        out.push(self.args.len() as u8);
        for (i, arg) in self.args.iter().enumerate() {
            match *arg {
                Value::I32(v) => push_arg(&mut out, TAG_I32, &v.to_le_bytes()),
                Value::I64(v) => push_arg(&mut out, TAG_I64, &v.to_le_bytes()),
                Value::F32(bits) => push_arg(&mut out, TAG_F32, &bits.to_le_bytes()),
                Value::F64(bits) => push_arg(&mut out, TAG_F64, &bits.to_le_bytes()),
                Value::FuncRef(_) | Value::ExternRef(_) => return Err(EnvelopeError::ReferenceArg(i + 1)),
            }
        }
        out.extend_from_slice(&(self.input.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.input);
        Ok(out)
    }

    /// The message a signature covers on chain `chain_id`.
    pub fn signed_message(&self, chain_id: &str) -> Result<Vec<u8>, EnvelopeError> {
        signed_message(chain_id, &self.encode()?)
    }

    /// The key of this body's session: what the `/session` query asks about.
    pub fn session_key(&self) -> [u8; 40] {
        session_key(&self.public_key, self.session)
    }
}

fn push_arg(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    out.extend_from_slice(bytes);
}

/// `DOMAIN || u8 len(chain_id) || chain_id || body`: what is signed. The chain id binds a
/// signature to one chain, so a transaction cannot be replayed on another.
pub fn signed_message(chain_id: &str, body: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let chain = chain_id.as_bytes();
    if chain.is_empty() || chain.len() > MAX_CHAIN_ID_LEN {
        return Err(EnvelopeError::BadChainId(chain.len()));
    }
    let mut message = Vec::with_capacity(DOMAIN.len() + 1 + chain.len() + body.len());
    message.extend_from_slice(DOMAIN);
    message.push(chain.len() as u8);
    message.extend_from_slice(chain);
    message.extend_from_slice(body);
    Ok(message)
}

/// A session's key: `public_key || u64 session` (40 bytes), the data of a `/session` query.
pub fn session_key(public_key: &[u8; 32], session: u64) -> [u8; 40] {
    let mut key = [0; 40];
    key[..32].copy_from_slice(public_key);
    key[32..].copy_from_slice(&session.to_le_bytes());
    key
}

/// A transaction's hash as CometBFT names it: the SHA-256 of its bytes.
pub fn tx_hash(tx: &[u8]) -> [u8; 32] {
    Sha256::digest(tx).into()
}

impl Envelope {
    /// Signs `body` for chain `chain_id` with `key`, whose public key the body must name.
    pub fn sign(body: Body, chain_id: &str, key: &SigningKey) -> Result<Self, EnvelopeError> {
        if key.verifying_key().to_bytes() != body.public_key {
            return Err(EnvelopeError::KeyMismatch);
        }
        let signature = key.sign(&body.signed_message(chain_id)?).to_bytes();
        Ok(Self { body, signature })
    }

    /// The envelope's bytes: the transaction a node receives.
    pub fn encode(&self) -> Result<Vec<u8>, EnvelopeError> {
        let mut out = self.body.encode()?;
        out.extend_from_slice(&self.signature);
        Ok(out)
    }

    /// Reads an envelope, strictly: at most [`MAX_SIZE`] bytes (checked first), the magic,
    /// version 2, an export name of 1 to 255 bytes of UTF-8, at most 32 arguments of a
    /// known type, at most 64 KiB of input, the signature, and nothing after it. The signature is not checked:
    /// [`Envelope::verify`] does.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        if bytes.len() > MAX_SIZE {
            return Err(EnvelopeError::TooLarge(bytes.len()));
        }
        let mut r = Reader { bytes };
        if r.take(4, "magic").map_or(true, |m| m != MAGIC) {
            return Err(EnvelopeError::BadMagic);
        }
        let version = r.byte("version")?;
        if version != VERSION {
            return Err(EnvelopeError::UnknownVersion(version));
        }
        let public_key = r.array("public key")?;
        let session = u64::from_le_bytes(r.array("session")?);
        let counter = u64::from_le_bytes(r.array("counter")?);
        let gas_limit = u64::from_le_bytes(r.array("gas limit")?);
        let export_len = r.byte("export name's length")? as usize;
        if export_len == 0 {
            return Err(EnvelopeError::EmptyExport);
        }
        let export = r.take(export_len, "export name")?;
        let export = std::str::from_utf8(export).map_err(|_| EnvelopeError::ExportNotUtf8)?.to_string();
        let count = r.byte("argument count")? as usize;
        if count > MAX_ARGS {
            return Err(EnvelopeError::TooManyArgs(count));
        }
        let mut args = Vec::with_capacity(count);
        for index in 1..=count {
            let tag = r.byte("arguments")?;
            args.push(match tag {
                TAG_I32 => Value::I32(i32::from_le_bytes(r.array("arguments")?)),
                TAG_I64 => Value::I64(i64::from_le_bytes(r.array("arguments")?)),
                TAG_F32 => Value::F32(u32::from_le_bytes(r.array("arguments")?)),
                TAG_F64 => Value::F64(u64::from_le_bytes(r.array("arguments")?)),
                tag => return Err(EnvelopeError::BadArgType { index, tag }),
            });
        }
        let input_len = u32::from_le_bytes(r.array("input's length")?) as usize;
        if input_len > MAX_INPUT_LEN {
            return Err(EnvelopeError::InputTooLong(input_len));
        }
        let input = r.take(input_len, "input")?.to_vec();
        let signature = r.array("signature")?;
        if !r.bytes.is_empty() {
            return Err(EnvelopeError::TrailingBytes(r.bytes.len()));
        }
        Ok(Self { body: Body { public_key, session, counter, gas_limit, export, args, input }, signature })
    }

    /// Checks the signature: the body's public key signed this body for chain `chain_id`.
    ///
    /// Strict verification (RFC 8032's equation without the cofactor, a canonical `S`
    /// below the group order, canonical encodings of the public key and `R`, and neither of
    /// small order) gives one
    /// answer for every signature on every node, whatever the library: what one node
    /// accepts, every node and validator accepts, or the chain would fork. It also refuses
    /// the signatures a weak (small-order) key makes for any message, and `S + l`
    /// variants, so a signed transaction has exactly one valid signature encoding and one
    /// hash. Every honest RFC 8032 signer's signatures pass it.
    pub fn verify(&self, chain_id: &str) -> Result<(), EnvelopeError> {
        let message = self.body.signed_message(chain_id)?;
        if !is_canonical_point(&self.body.public_key) {
            return Err(EnvelopeError::BadPublicKey);
        }
        let key = VerifyingKey::from_bytes(&self.body.public_key).map_err(|_| EnvelopeError::BadPublicKey)?;
        let signature = Signature::from_bytes(&self.signature);
        key.verify_strict(&message, &signature).map_err(|_| EnvelopeError::BadSignature)
    }

    /// Decodes `bytes` and checks the signature for chain `chain_id`: what a node does
    /// with a transaction before it runs it.
    pub fn open(bytes: &[u8], chain_id: &str) -> Result<Self, EnvelopeError> {
        let envelope = Self::decode(bytes)?;
        envelope.verify(chain_id)?;
        Ok(envelope)
    }
}

/// Whether `bytes` encode a point's `y` below the field's prime `p = 2^255 - 19` (the
/// top bit is `x`'s sign). curve25519-dalek also decodes `y + p` as `y`; RFC 8032 does
/// not, and neither does an envelope: one key, one encoding.
fn is_canonical_point(bytes: &[u8; 32]) -> bool {
    let top = bytes[31] & 0x7F == 0x7F && bytes[1..31].iter().all(|&b| b == 0xFF);
    !(top && bytes[0] >= 0xED)
}

/// Reads an envelope's fields in order, naming the field that is cut short.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], EnvelopeError> {
        if self.bytes.len() < n {
            return Err(EnvelopeError::Truncated(field));
        }
        let (taken, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(taken)
    }

    fn byte(&mut self, field: &'static str) -> Result<u8, EnvelopeError> {
        Ok(self.take(1, field)?[0])
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], EnvelopeError> {
        Ok(self.take(N, field)?.try_into().expect("N bytes taken"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Verifier;

    const CHAIN: &str = "verigame-test";

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[0x01; 32])
    }

    fn body() -> Body {
        Body {
            public_key: key().verifying_key().to_bytes(),
            session: 7,
            counter: 3,
            gas_limit: 10_000_000,
            export: "transfer".to_string(),
            args: vec![
                Value::I32(-2),
                Value::I64(1 << 40),
                Value::F32(1.5f32.to_bits()),
                Value::F64(0x7ff8_0000_0000_0001),
            ],
            input: b"hello".to_vec(),
        }
    }

    fn signed() -> Envelope {
        Envelope::sign(body(), CHAIN, &key()).unwrap()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(text: &str) -> Vec<u8> {
        let text: String = text.split_whitespace().collect();
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn round_trips() {
        let envelope = signed();
        let bytes = envelope.encode().unwrap();
        assert_eq!(Envelope::decode(&bytes).unwrap(), envelope);
        assert_eq!(Envelope::open(&bytes, CHAIN).unwrap(), envelope);
        // Without arguments, and with the longest name and most arguments.
        let mut small = body();
        small.args.clear();
        let small = Envelope::sign(small, CHAIN, &key()).unwrap();
        assert_eq!(Envelope::open(&small.encode().unwrap(), CHAIN).unwrap(), small);
        let mut large = body();
        large.export = "é".repeat(127) + "x";
        large.args = vec![Value::F64(u64::MAX); MAX_ARGS];
        large.input = (0..MAX_INPUT_LEN).map(|i| (i * 7) as u8).collect();
        let large = Envelope::sign(large, CHAIN, &key()).unwrap();
        let bytes = large.encode().unwrap();
        assert_eq!(bytes.len(), FIXED_SIZE + MAX_EXPORT_LEN + 9 * MAX_ARGS + MAX_INPUT_LEN);
        assert!(bytes.len() <= MAX_SIZE);
        assert_eq!(Envelope::open(&bytes, CHAIN).unwrap(), large);
        // Without input, and with input that is not UTF-8.
        for input in [Vec::new(), vec![0, 0xFF, 0xC3]] {
            let envelope = Envelope::sign(Body { input, ..body() }, CHAIN, &key()).unwrap();
            assert_eq!(Envelope::open(&envelope.encode().unwrap(), CHAIN).unwrap(), envelope);
        }
    }

    #[test]
    fn oversized_inputs_are_refused() {
        let mut big = body();
        big.input = vec![b'x'; MAX_INPUT_LEN + 1];
        let err = Envelope::sign(big, CHAIN, &key()).unwrap_err();
        assert_eq!(err, EnvelopeError::InputTooLong(MAX_INPUT_LEN + 1));
        assert_eq!(err.to_string(), "the input has 65537 bytes, more than the 65536 a transaction may carry");
        // An encoding whose length field says more than the limit, within MAX_SIZE.
        let mut bytes = signed().encode().unwrap();
        let at = bytes.len() - 64 - 5 - 4;
        bytes[at..at + 4].copy_from_slice(&(MAX_INPUT_LEN as u32 + 1).to_le_bytes());
        assert_eq!(Envelope::decode(&bytes), Err(EnvelopeError::InputTooLong(MAX_INPUT_LEN + 1)));
        bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Envelope::decode(&bytes), Err(EnvelopeError::InputTooLong(u32::MAX as usize)));
        // One that says more than it holds.
        bytes[at..at + 4].copy_from_slice(&100u32.to_le_bytes());
        assert_eq!(Envelope::decode(&bytes), Err(EnvelopeError::Truncated("input")));
    }

    /// The golden vector: the encoding written field by field from docs/spec.md, and the
    /// signature as an independent ed25519 (Python's `cryptography`, RFC 8032) computes it
    /// for the secret key of 32 bytes 0x01.
    #[test]
    fn golden_vector() {
        let public_key = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";
        let body = [
            "56475458",            // "VGTX"
            "02",                  // version
            public_key,            // public key
            "0700000000000000",    // session 7
            "0300000000000000",    // counter 3
            "8096980000000000",    // gas limit 10^7
            "08",                  // export length
            "7472616e73666572",    // "transfer"
            "04",                  // 4 arguments
            "7f feffffff",         // i32 -2
            "7e 0000000000010000", // i64 2^40
            "7d 0000c03f",         // f32 1.5
            "7c 010000000000f87f", // f64 NaN 0x7ff8..01
            "05000000",            // 5 input bytes
            "68656c6c6f",          // "hello"
        ]
        .concat();
        let body = unhex(&body);
        let message = [
            hex(b"verigame/tx/v1\0"), // domain
            "0d".to_string(),         // chain id length
            hex(b"verigame-test"),    // chain id
            hex(&body),
        ]
        .concat();
        assert_eq!(key().verifying_key().to_bytes().to_vec(), unhex(public_key));
        let envelope = signed();
        assert_eq!(hex(&envelope.body.encode().unwrap()), hex(&body));
        assert_eq!(hex(&envelope.body.signed_message(CHAIN).unwrap()), message);
        let signature = "284dee0f1b0202e744c6fddbd930281e130729bf9154df4c0d92741fbd824ffe\
                         51906dc9013638239e5bf81121961a83019b96b1742302e05da9bfc3b6baaa02";
        assert_eq!(hex(&envelope.signature), signature);
        assert_eq!(hex(&envelope.encode().unwrap()), hex(&body) + signature);
    }

    /// Every change of one byte, to any value tried, is refused: as malformed, or by the
    /// signature.
    #[test]
    fn every_changed_byte_is_refused() {
        let bytes = signed().encode().unwrap();
        for i in 0..bytes.len() {
            for flip in [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xFF] {
                let mut changed = bytes.clone();
                changed[i] ^= flip;
                assert!(Envelope::open(&changed, CHAIN).is_err(), "byte {i} ^ {flip:#04x} accepted");
            }
        }
    }

    #[test]
    fn truncated_and_padded_envelopes_are_refused() {
        let bytes = signed().encode().unwrap();
        for len in 0..bytes.len() {
            let err = Envelope::decode(&bytes[..len]).unwrap_err();
            assert!(matches!(err, EnvelopeError::Truncated(_) | EnvelopeError::BadMagic), "{len}: {err}");
        }
        assert_eq!(Envelope::decode(&bytes[..10]).unwrap_err().to_string(), "the envelope ends inside its public key");
        let end = bytes.len() - 1;
        assert_eq!(Envelope::decode(&bytes[..end]), Err(EnvelopeError::Truncated("signature")));
        let mut padded = bytes.clone();
        padded.extend_from_slice(&[0, 0]);
        assert_eq!(Envelope::decode(&padded), Err(EnvelopeError::TrailingBytes(2)));
    }

    #[test]
    fn oversized_input_is_refused_first() {
        let mut bytes = vec![0xAB; MAX_SIZE + 1];
        assert_eq!(Envelope::decode(&bytes), Err(EnvelopeError::TooLarge(MAX_SIZE + 1)));
        bytes[..4].copy_from_slice(&MAGIC);
        assert_eq!(Envelope::decode(&bytes), Err(EnvelopeError::TooLarge(MAX_SIZE + 1)));
        let err = Envelope::decode(&vec![0; 1 << 20]).unwrap_err().to_string();
        assert!(err.contains("1048576 bytes") && err.contains("66560"), "{err}");
    }

    #[test]
    fn malformed_fields_are_named() {
        let bytes = signed().encode().unwrap();
        let with = |at: usize, byte: u8| {
            let mut b = bytes.clone();
            b[at] = byte;
            Envelope::decode(&b).unwrap_err()
        };
        assert_eq!(with(0, b'X'), EnvelopeError::BadMagic);
        assert_eq!(with(4, 1), EnvelopeError::UnknownVersion(1));
        assert_eq!(with(61, 0), EnvelopeError::EmptyExport);
        assert_eq!(with(62, 0xFF), EnvelopeError::ExportNotUtf8);
        assert_eq!(with(70, 33), EnvelopeError::TooManyArgs(33));
        assert_eq!(with(71, 0x70), EnvelopeError::BadArgType { index: 1, tag: 0x70 });
        assert!(Envelope::decode(b"{\"call\": \"inc\"}").unwrap_err().to_string().contains("not a verigame envelope"));
        // The key is checked as a point before the signature: y = 2 is on no point.
        let mut envelope = signed();
        envelope.body.public_key = [0; 32];
        envelope.body.public_key[0] = 2;
        assert_eq!(envelope.verify(CHAIN), Err(EnvelopeError::BadPublicKey));
        // y = 3 is a point's, but p + 3 is not its encoding.
        let mut non_canonical = [0xFF; 32];
        non_canonical[0] = 0xED + 3;
        non_canonical[31] = 0x7F;
        assert!(VerifyingKey::from_bytes(&non_canonical).is_ok(), "curve25519-dalek decodes it");
        envelope.body.public_key = non_canonical;
        assert_eq!(envelope.verify(CHAIN), Err(EnvelopeError::BadPublicKey));
        envelope.body.public_key = [0; 32];
        envelope.body.public_key[0] = 3;
        assert_eq!(envelope.verify(CHAIN), Err(EnvelopeError::BadSignature), "the canonical encoding is a key");
    }

    #[test]
    fn a_signature_binds_the_chain() {
        let envelope = signed();
        assert_eq!(envelope.verify("verigame-other"), Err(EnvelopeError::BadSignature));
        assert_eq!(envelope.verify(""), Err(EnvelopeError::BadChainId(0)));
        assert_eq!(envelope.verify(&"c".repeat(256)), Err(EnvelopeError::BadChainId(256)));
        let other = Envelope::sign(body(), "verigame-other", &key()).unwrap();
        assert_ne!(other.signature, envelope.signature);
        assert_eq!(other.verify(CHAIN), Err(EnvelopeError::BadSignature));
    }

    #[test]
    fn bodies_that_cannot_be_encoded_are_refused() {
        let sign = |change: fn(&mut Body)| {
            let mut b = body();
            change(&mut b);
            Envelope::sign(b, CHAIN, &key()).unwrap_err()
        };
        assert_eq!(sign(|b| b.export.clear()), EnvelopeError::EmptyExport);
        assert_eq!(sign(|b| b.export = "x".repeat(256)), EnvelopeError::ExportTooLong(256));
        assert_eq!(sign(|b| b.args = vec![Value::I32(0); 33]), EnvelopeError::TooManyArgs(33));
        assert_eq!(sign(|b| b.args.push(Value::FuncRef(None))), EnvelopeError::ReferenceArg(5));
        assert_eq!(sign(|b| b.public_key = [9; 32]), EnvelopeError::KeyMismatch);
        assert_eq!(sign(|b| b.input = vec![0; MAX_INPUT_LEN + 1]), EnvelopeError::InputTooLong(MAX_INPUT_LEN + 1));
    }

    /// What strict verification refuses that plain RFC 8032 verification would accept.
    #[test]
    fn malleable_and_weak_signatures_are_refused() {
        // S + l: the same signature, encoded another way.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut envelope = signed();
        let mut carry = 0u16;
        for (s, l) in envelope.signature[32..].iter_mut().zip(L) {
            let sum = *s as u16 + l as u16 + carry;
            (*s, carry) = (sum as u8, sum >> 8);
        }
        assert_eq!(envelope.verify(CHAIN), Err(EnvelopeError::BadSignature));
        // The identity as the public key and as R, with S = 0, satisfies the cofactorless
        // equation for any message: a "signature" anyone can make.
        let identity = {
            let mut p = [0; 32];
            p[0] = 1;
            p
        };
        let mut weak = body();
        weak.public_key = identity;
        let mut signature = [0; 64];
        signature[..32].copy_from_slice(&identity);
        let weak = Envelope { body: weak, signature };
        let message = weak.body.signed_message(CHAIN).unwrap();
        let key = VerifyingKey::from_bytes(&identity).unwrap();
        assert!(key.verify(&message, &Signature::from_bytes(&signature)).is_ok(), "plain verification accepts it");
        assert_eq!(weak.verify(CHAIN), Err(EnvelopeError::BadSignature));
    }

    #[test]
    fn session_keys_and_hashes() {
        let b = body();
        let key = b.session_key();
        assert_eq!(&key[..32], &b.public_key);
        assert_eq!(key[32..], [7, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            hex(&tx_hash(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" // FIPS 180-2's example
        );
    }
}
