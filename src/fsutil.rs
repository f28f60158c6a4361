//! Writing files so that nothing is ever half written.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

fn named(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("cannot {what} {}: {e}", path.display()))
}

/// Write a file atomically: a temp file in the same folder, fsync, then rename over the target,
/// so a reader never sees a half-written file and an interrupted run leaves the old one intact.
/// Errors name the file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{}: not a file path", path.display())))?;
    let tmp = dir.join(format!(".{}.tmp.{}", name.to_string_lossy(), std::process::id()));
    let res = (|| {
        let mut f = fs::File::create(&tmp).map_err(|e| named(e, "create", &tmp))?;
        f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| named(e, "write", &tmp))?;
        drop(f);
        fs::rename(&tmp, path).map_err(|e| named(e, "rename into place", path))
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = std::env::temp_dir().join(format!("mimic-fsutil-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "temp file left behind");
        let e = write_atomic(&dir.join("no/such/dir/x"), b"x").unwrap_err().to_string();
        assert!(e.contains("cannot create") && e.contains("no/such/dir"), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
