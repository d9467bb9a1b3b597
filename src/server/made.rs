//! What a start made (a key, a certificate, a data file), so that a start that fails
//! before it could announce them can remove them again.

/// What a start made that is announced only once the server is up.
pub(super) struct Made<'a> {
    pub key: bool,
    pub cert: bool,
    pub data_file: Option<&'a std::path::Path>,
}

impl Made<'_> {
    /// Removes it all (best effort), once the store that held the data file is gone,
    /// so that the next start makes each again and says so.
    pub fn discard(&self, data_dir: &std::path::Path) {
        if self.key {
            crate::auth::discard_generated(data_dir);
        }
        if self.cert {
            crate::tls::discard_generated(data_dir);
        }
        if let Some(path) = self.data_file {
            let removed = std::fs::remove_file(path).and_then(|()| match path.parent() {
                Some(dir) => std::fs::File::open(dir)?.sync_all(),
                None => Ok(()),
            });
            if let Err(e) = removed {
                crate::say_err!("cannot remove {}: {e}", path.display());
            }
        }
    }
}
