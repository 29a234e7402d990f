//! Content-addressed file storage under the data directory: a blob's name is the SHA-256
//! of its bytes, so the same attachment stored twice is one file, and a name can be
//! handed out without revealing anything else. Writes are durable before they return
//! (temporary file, fsync, rename), because a webhook answers 2xx only after storing.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

/// A stored blob: its hex SHA-256 and size.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Blob {
    pub sha256: String,
    pub size: u64,
}

impl Blob {
    /// What `bytes` would be stored as, without storing them.
    pub fn of(bytes: &[u8]) -> Self {
        Blob { sha256: hex(&Sha256::digest(bytes)), size: bytes.len() as u64 }
    }
}

impl BlobStore {
    pub fn new(data_dir: &Path) -> Self {
        Self { root: data_dir.join("blobs") }
    }

    pub fn put(&self, bytes: &[u8]) -> std::io::Result<Blob> {
        let blob = Blob::of(bytes);
        self.write(&blob, bytes)?;
        Ok(blob)
    }

    /// Stores `bytes` as `blob`, which the caller computed as [`Blob::of`] them (hashing
    /// is CPU work, done with the rest of parsing; storing is I/O, done apart).
    pub fn write(&self, blob: &Blob, bytes: &[u8]) -> std::io::Result<()> {
        debug_assert_eq!(blob.size, bytes.len() as u64);
        let path = self.path(&blob.sha256);
        if path.exists() {
            return Ok(());
        }
        let dir = path.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir)?;
        // Two requests may store the same file at once: each writes its own temporary file,
        // and the second rename replaces the first's identical bytes.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let temporary = dir.join(format!(".{}.{}.{n}.tmp", blob.sha256, std::process::id()));
        let mut file = fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, &path)?;
        fs::File::open(dir)?.sync_all()
    }

    /// The bytes of a blob; `None` when there is no such blob (or the name is not a hash).
    pub fn get(&self, sha256: &str) -> std::io::Result<Option<Vec<u8>>> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            return Ok(None);
        }
        match fs::read(self.path(sha256)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The size of a stored blob, without reading it; `None` when there is none.
    pub fn size(&self, sha256: &str) -> Option<u64> {
        let valid = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        valid.then(|| fs::metadata(self.path(sha256)).ok().map(|m| m.len())).flatten()
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.root.join(&sha256[..2]).join(sha256)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_is_named_by_its_hash_and_read_back() {
        let dir = std::env::temp_dir().join(format!("braid-blobs-{}", std::process::id()));
        let store = BlobStore::new(&dir);
        let blob = store.put(b"hello").unwrap();
        assert_eq!(blob.sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        assert_eq!(store.put(b"hello").unwrap(), blob, "the same bytes twice are one blob");
        assert_eq!(store.get(&blob.sha256).unwrap().as_deref(), Some(&b"hello"[..]));
        assert_eq!(store.get("../../etc/passwd").unwrap(), None);
        assert_eq!(store.get(&"0".repeat(64)).unwrap(), None);
        fs::remove_dir_all(dir).unwrap();
    }
}
