//! The data folder for the school's eyes only: folders made 0700 and files 0600 whatever the
//! umask, and what an earlier version or an administrator left wider tightened at start.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Mode of every folder Konsult makes in its data folder.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file Konsult writes there.
pub const FILE_MODE: u32 = 0o600;

/// Makes `path` and any missing parents with [`DIR_MODE`], and tightens `path` itself when it
/// exists with a wider mode.
pub fn dir(path: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(path)?;
    tighten(path, DIR_MODE)
}

/// Creates a new file (failing when it exists) with [`FILE_MODE`], for writing.
pub fn create_new(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    options.open(path)
}

/// Creates `path` empty with [`FILE_MODE`] when it is missing, and tightens it when it exists
/// with a wider mode.
pub fn file(path: &Path) -> io::Result<()> {
    match create_new(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => tighten(path, FILE_MODE),
        Err(e) => Err(e),
    }
}

/// Tightens `path` to `mode` when it exists and group or others may use it; a missing path is
/// left missing.
pub fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let current = match std::fs::metadata(path) {
            Ok(meta) => meta.permissions().mode() & 0o777,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        if current & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}
