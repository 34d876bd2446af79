//! A small filesystem of its own (a tmpfs mounted on a temporary
//! directory), for tests of what a full disk does. Mounting needs root, as
//! the test command runs; elsewhere it panics saying so.

use std::path::Path;
use std::process::Command;

/// A tmpfs of a few bytes, unmounted on drop.
#[derive(Debug)]
pub struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// A tmpfs of `bytes` (rounded up to pages by the kernel).
    pub fn mount(bytes: u64) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "mounting a {bytes}-byte tmpfs (needs root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir }
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}
