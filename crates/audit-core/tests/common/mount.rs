//! A small real filesystem for tests that need a full or read-only disk.
//! Shared by `audit-core`'s and `vramctl`'s tests (the latter include this
//! file by path), so both test the same way.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

/// A tmpfs mounted for one test, unmounted on drop. Mounting needs root;
/// where it is not permitted the test fails saying so, unless
/// `VRAM_SKIP_MOUNT_TESTS=1` says to skip (printed, never silent).
pub struct Mount {
    dir: tempfile::TempDir,
}

impl Mount {
    pub fn tmpfs(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status();
        if status.is_ok_and(|s| s.success()) {
            return Some(Self { dir });
        }
        if std::env::var_os("VRAM_SKIP_MOUNT_TESTS").is_some_and(|v| v == "1") {
            eprintln!("SKIPPED: mounting a tmpfs is not permitted here (VRAM_SKIP_MOUNT_TESTS=1)");
            return None;
        }
        panic!(
            "this test mounts a tmpfs and needs root (mount -t tmpfs); run it as root, or set VRAM_SKIP_MOUNT_TESTS=1 to skip it knowingly"
        );
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn remount_read_only(&self) {
        let status = std::process::Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(self.dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "remount read-only");
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the filesystem holding `dir` until a write fails with ENOSPC.
pub fn fill(dir: &Path) {
    use std::io::Write as _;
    let mut file = std::fs::File::create(dir.join("filler")).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    loop {
        if let Err(e) = file.write_all(&chunk).and_then(|()| file.sync_all()) {
            assert_eq!(e.raw_os_error(), Some(28), "{e}");
            break;
        }
    }
    // Smaller pieces, so not a page is left.
    loop {
        if file
            .write_all(&[0u8; 512])
            .and_then(|()| file.sync_all())
            .is_err()
        {
            break;
        }
    }
}
