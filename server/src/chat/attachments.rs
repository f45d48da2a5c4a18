//! Attachment storage: uploaded bytes are sniffed, written once under `attachments/` in the
//! data folder named by their sha256 (identical uploads share a file), and recorded with a
//! random opaque id per upload. Who may download: the uploader, and whoever may read a thread
//! holding a message with it.

use super::ChatError;
use super::sniff::{self, Sniffed};
use crate::store::Store;
use crate::store::attachments::NewAttachment;
use crate::store::private;
use crate::store::users::User;
use konsult_protocol::model::{AttachmentInfo, Role};
use konsult_protocol::{AttachmentId, UserId};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The folder under the data folder.
pub const DIR: &str = "attachments";
/// Longest stored file name, in characters.
const MAX_NAME_CHARS: usize = 200;
/// Counts each user's uploads in the current minute, against `limits.uploads_per_minute`.
#[derive(Debug)]
pub struct UploadGate {
    per_minute: u32,
    windows: dashmap::DashMap<UserId, (std::time::Instant, u32)>,
}

impl UploadGate {
    pub fn new(per_minute: u32) -> UploadGate {
        UploadGate {
            per_minute,
            windows: dashmap::DashMap::new(),
        }
    }

    /// `Ok` when `user` may upload now; otherwise how long until they may.
    pub fn allow(&self, user: UserId, now: std::time::Instant) -> Result<(), std::time::Duration> {
        const WINDOW: std::time::Duration = std::time::Duration::from_secs(60);
        if self.windows.len() > 10_000 {
            self.windows
                .retain(|_, (start, _)| now.saturating_duration_since(*start) < WINDOW);
        }
        let mut entry = self.windows.entry(user).or_insert((now, 0));
        let (start, count) = &mut *entry;
        if now.saturating_duration_since(*start) >= WINDOW {
            *start = now;
            *count = 0;
        }
        if *count >= self.per_minute {
            return Err(WINDOW.saturating_sub(now.saturating_duration_since(*start)));
        }
        *count += 1;
        Ok(())
    }
}

/// An attachment the caller may download.
#[derive(Debug)]
pub struct Download {
    pub info: AttachmentInfo,
    pub path: PathBuf,
}

impl Download {
    /// Whether browsers may show it inline.
    pub fn is_image(&self) -> bool {
        self.info.content_type.starts_with("image/")
    }
}

/// Where the file with this sha256 lives.
pub fn file_path(dir: &Path, sha256: &str) -> PathBuf {
    dir.join(&sha256[..2.min(sha256.len())]).join(sha256)
}

/// Stores an upload of `uploader`: refuses types that are not allowed, writes the file
/// durably (fsync before the row is committed), and records it.
pub async fn store_upload(
    store: &Store,
    dir: &Path,
    uploader: UserId,
    name: Option<&str>,
    bytes: bytes::Bytes,
) -> Result<AttachmentInfo, ChatError> {
    if bytes.is_empty() {
        return Err(ChatError::BadRequest("the file is empty".into()));
    }
    let Some(kind) = sniff::sniff(&bytes) else {
        return Err(ChatError::BadRequest(format!(
            "this type of file is not accepted; allowed: {}",
            sniff::ALLOWED
        )));
    };
    let name = file_name(name, kind);
    let size = bytes.len() as u64;
    let dir = dir.to_path_buf();
    let sha256 = tokio::task::spawn_blocking(move || write_file(&dir, &bytes))
        .await
        .map_err(|e| ChatError::Invalid(format!("attachment writer failed: {e}")))?
        .map_err(|e| ChatError::Invalid(format!("cannot write the attachment: {e}")))?;
    let id = AttachmentId(crate::auth::generate_secret(16));
    store
        .insert_attachment(&NewAttachment {
            id: &id,
            sha256: &sha256,
            name: &name,
            content_type: kind.content_type,
            size,
            uploader,
        })
        .await?;
    metrics::counter!(crate::metrics::ATTACHMENTS_STORED).increment(1);
    Ok(AttachmentInfo {
        id,
        name,
        content_type: kind.content_type.to_string(),
        size,
    })
}

/// Writes `bytes` under their sha256 unless that file exists; returns the sha256 in hex.
fn write_file(dir: &Path, bytes: &[u8]) -> std::io::Result<String> {
    let sha256: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let path = file_path(dir, &sha256);
    if path.exists() {
        return Ok(sha256);
    }
    let folder = path.parent().unwrap_or(dir);
    // 0700 folders and 0600 files, whatever the umask: for the school's eyes only.
    private::dir(folder)?;
    let temp = folder.join(format!(".{sha256}.{}", crate::auth::generate_secret(4)));
    let written = (|| {
        let mut file = private::create_new(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, &path)?;
        // The rename is durable once the folder is synced.
        std::fs::File::open(folder)?.sync_all()
    })();
    if written.is_err() {
        let _cleanup = std::fs::remove_file(&temp);
    }
    written.map(|()| sha256)
}

/// Whether `c` reorders the text around it (U+202A–U+202E, U+2066–U+2069): a name such as
/// `invoice\u{202E}fdp.exe` would show as `invoiceexe.pdf`.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A safe file name: the last path part of what the client sent, without control characters,
/// bidirectional controls or quotes, ending with the extension of the sniffed type.
fn file_name(claimed: Option<&str>, kind: Sniffed) -> String {
    let base = claimed
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let mut name: String = base
        .chars()
        .filter(|c| {
            !c.is_control() && !is_bidi_control(*c) && !matches!(c, '"' | '\'' | ';' | '<' | '>')
        })
        .take(MAX_NAME_CHARS)
        .collect::<String>()
        .trim()
        .trim_start_matches('.')
        .to_string();
    if name.is_empty() {
        name = "attachment".to_string();
    }
    let extension = name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    let same = extension == kind.extension
        || (kind.extension == "jpg" && extension == "jpeg")
        || (kind.extension == "heic" && extension == "heif");
    if !same {
        name.push('.');
        name.push_str(kind.extension);
    }
    name
}

/// The attachment `id` if `user` may download it: its uploader, a member of a thread holding a
/// message with it, or an admin when such a thread is not confidential (audited). Otherwise
/// `not_found`.
pub async fn for_download(
    store: &Store,
    dir: &Path,
    user: &User,
    id: &str,
) -> Result<Download, ChatError> {
    let missing = || ChatError::NotFound(format!("attachment {id} does not exist"));
    let Some(row) = store.attachment(id).await? else {
        return Err(missing());
    };
    if row.uploader != user.id {
        let admin = user.role == Role::Admin;
        match store.attachment_access(id, user.id, admin).await? {
            None => return Err(missing()),
            Some(access) if !access.member => {
                let details = serde_json::json!({ "via": "attachment", "attachment": id });
                super::access::audit_outsider_read(store, user.id, access.thread, details).await?;
            }
            Some(_) => {}
        }
    }
    Ok(Download {
        info: AttachmentInfo {
            id: AttachmentId(id.to_string()),
            name: row.name,
            content_type: row.content_type,
            size: row.size,
        },
        path: file_path(dir, &row.sha256),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_are_limited_per_user_and_minute() {
        let gate = UploadGate::new(3);
        let start = std::time::Instant::now();
        for _ in 0..3 {
            assert!(gate.allow(UserId(1), start).is_ok());
        }
        assert!(gate.allow(UserId(1), start).is_err());
        assert!(gate.allow(UserId(2), start).is_ok());
        let later = start + std::time::Duration::from_secs(60);
        assert!(gate.allow(UserId(1), later).is_ok());
    }

    #[test]
    fn names_are_made_safe_and_match_the_real_type() {
        assert_eq!(
            file_name(Some("../../etc/passwd"), sniff::PDF),
            "passwd.pdf"
        );
        assert_eq!(
            file_name(Some("C:\\Users\\x\\Отчёт.pdf"), sniff::PDF),
            "Отчёт.pdf"
        );
        assert_eq!(file_name(Some("photo.JPEG"), sniff::JPEG), "photo.JPEG");
        assert_eq!(file_name(Some("page.html"), sniff::PNG), "page.html.png");
        assert_eq!(file_name(Some("a\"b\r\n.png"), sniff::PNG), "ab.png");
        assert_eq!(file_name(None, sniff::PNG), "attachment.png");
        assert_eq!(file_name(Some(".hidden"), sniff::PNG), "hidden.png");
        assert_eq!(
            file_name(Some("invoice\u{202E}fdp\u{2066}.pdf"), sniff::PDF),
            "invoicefdp.pdf"
        );
    }
}
