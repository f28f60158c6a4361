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
    write_atomic_with(path, |tmp| {
        let mut f = fs::File::create(tmp).map_err(|e| named(e, "create", tmp))?;
        f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| named(e, "write", tmp))
    })
}

/// The same for writers that want a path rather than bytes (a plotting backend that picks the
/// format by the file's extension): `write` fills a temp path beside `path` that ends in the
/// same extension; it is renamed over `path` only if `write` succeeded, and removed otherwise.
pub fn write_atomic_with<E: From<io::Error>>(path: &Path, write: impl FnOnce(&Path) -> Result<(), E>) -> Result<(), E> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{}: not a file path", path.display())))?
        .to_string_lossy();
    let tmp = match path.extension() {
        Some(ext) => dir.join(format!(".{name}.tmp.{}.{}", std::process::id(), ext.to_string_lossy())),
        None => dir.join(format!(".{name}.tmp.{}", std::process::id())),
    };
    let res = write(&tmp).and_then(|()| fs::rename(&tmp, path).map_err(|e| E::from(named(e, "rename into place", path))));
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

    #[test]
    fn a_failed_writer_leaves_the_old_file_and_no_temp() {
        let dir = std::env::temp_dir().join(format!("mimic-fsutil-with-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("plot.png");
        fs::write(&p, b"old").unwrap();
        let mut seen = None;
        let r: io::Result<()> = write_atomic_with(&p, |tmp| {
            seen = Some(tmp.to_path_buf());
            fs::write(tmp, b"half")?;
            Err(io::Error::other("drawing failed"))
        });
        assert!(r.is_err());
        assert_eq!(seen.unwrap().extension().unwrap(), "png", "the temp path keeps the extension");
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "temp file left behind");
        write_atomic_with(&p, |tmp| fs::write(tmp, b"new")).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        fs::remove_dir_all(&dir).unwrap();
    }
}
