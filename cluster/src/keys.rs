//! Clients' ed25519 keys in files: made from the operating system's random numbers,
//! written readable by their owner only and never over another file, and read back
//! checked.

use std::path::Path;

use anyhow::{bail, Context, Result};
use merkle_memory::hash::{bytes_to_hex, hex_to_bytes};
use serde::{Deserialize, Serialize};

use crate::envelope::SigningKey;

/// A key file: the secret key (RFC 8032's 32-byte seed) and its public key, `0x` hex.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    secret_key: String,
    public_key: String,
}

/// A new key from the operating system's random numbers.
pub fn generate_key() -> Result<SigningKey> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no random numbers from the operating system: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    seed.fill(0);
    Ok(key)
}

/// Writes `key` to a new file at `path`, readable by its owner only; an existing file is
/// never overwritten.
pub fn write_key(path: &Path, key: &SigningKey) -> Result<()> {
    use std::io::Write;
    let file =
        KeyFile { secret_key: bytes_to_hex(key.as_bytes()), public_key: bytes_to_hex(key.verifying_key().as_bytes()) };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            anyhow::anyhow!("{} exists already: keygen never overwrites a file", path.display())
        }
        _ => anyhow::anyhow!("cannot create {}: {e}", path.display()),
    })?;
    // The mode given at creation is masked by the umask; this makes it exactly 0600.
    #[cfg(unix)]
    out.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    let text = serde_json::to_string_pretty(&file)? + "\n";
    out.write_all(text.as_bytes()).and_then(|()| out.sync_all()).with_context(|| format!("writing {}", path.display()))
}

/// Reads a key file `write_key` wrote; its public key must be its secret key's.
pub fn read_key(path: &Path) -> Result<SigningKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read key file {}", path.display()))?;
    let file: KeyFile = serde_json::from_str(&text).with_context(|| {
        format!("{} is not a key file (JSON {{\"secret_key\": \"0x…\", \"public_key\": \"0x…\"}})", path.display())
    })?;
    let bytes32 = |field: &str, text: &str| -> Result<[u8; 32]> {
        hex_to_bytes(text)
            .and_then(|b| b.try_into().ok())
            .with_context(|| format!("{}: {field} is not 0x and 64 hex digits", path.display()))
    };
    let key = SigningKey::from_bytes(&bytes32("secret_key", &file.secret_key)?);
    if key.verifying_key().to_bytes() != bytes32("public_key", &file.public_key)? {
        bail!("{}: public_key is not the secret key's public key", path.display());
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_their_file() {
        let dir = std::env::temp_dir().join(format!("verigame-client-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key.json");
        let _ = std::fs::remove_file(&path);
        let key = generate_key().unwrap();
        write_key(&path, &key).unwrap();
        assert_eq!(read_key(&path).unwrap().to_bytes(), key.to_bytes());
        assert_ne!(generate_key().unwrap().to_bytes(), key.to_bytes());
        let err = write_key(&path, &key).unwrap_err().to_string();
        assert!(err.contains("exists already"), "{err}");
        // A public key that is not the secret's.
        let text = std::fs::read_to_string(&path).unwrap();
        let other = bytes_to_hex(generate_key().unwrap().verifying_key().as_bytes());
        let public = bytes_to_hex(key.verifying_key().as_bytes());
        std::fs::write(&path, text.replace(&public, &other)).unwrap();
        let err = read_key(&path).unwrap_err().to_string();
        assert!(err.contains("public_key is not the secret key's"), "{err}");
        std::fs::write(&path, r#"{"secret_key": "0x12", "public_key": "0x34"}"#).unwrap();
        assert!(read_key(&path).unwrap_err().to_string().contains("secret_key is not 0x and 64 hex digits"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
