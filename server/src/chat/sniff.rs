//! What an uploaded file really is, from its first bytes (and, for zip and OLE2 containers,
//! the names inside): the client's claimed type is never trusted. Only images, PDF and office
//! documents are allowed.

/// An allowed attachment type: its MIME type and the file extension it is saved under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sniffed {
    pub content_type: &'static str,
    pub extension: &'static str,
}

impl Sniffed {
    /// Whether browsers may show it inline (images); everything else is downloaded.
    pub fn is_image(self) -> bool {
        self.content_type.starts_with("image/")
    }
}

const fn kind(content_type: &'static str, extension: &'static str) -> Sniffed {
    Sniffed {
        content_type,
        extension,
    }
}

pub const JPEG: Sniffed = kind("image/jpeg", "jpg");
pub const PNG: Sniffed = kind("image/png", "png");
pub const GIF: Sniffed = kind("image/gif", "gif");
pub const WEBP: Sniffed = kind("image/webp", "webp");
pub const HEIC: Sniffed = kind("image/heic", "heic");
pub const HEIF: Sniffed = kind("image/heif", "heif");
pub const PDF: Sniffed = kind("application/pdf", "pdf");
pub const DOCX: Sniffed = kind(
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "docx",
);
pub const XLSX: Sniffed = kind(
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "xlsx",
);
pub const PPTX: Sniffed = kind(
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "pptx",
);
pub const ODT: Sniffed = kind("application/vnd.oasis.opendocument.text", "odt");
pub const ODS: Sniffed = kind("application/vnd.oasis.opendocument.spreadsheet", "ods");
pub const ODP: Sniffed = kind("application/vnd.oasis.opendocument.presentation", "odp");
pub const DOC: Sniffed = kind("application/msword", "doc");
pub const XLS: Sniffed = kind("application/vnd.ms-excel", "xls");
pub const PPT: Sniffed = kind("application/vnd.ms-powerpoint", "ppt");

/// The human list of what is allowed, for error messages and documentation.
pub const ALLOWED: &str = "images (JPEG, PNG, GIF, WebP, HEIC), PDF, and office documents \
    (DOCX, XLSX, PPTX, ODT, ODS, ODP, DOC, XLS, PPT)";

/// The type of `bytes`, or `None` when it is not an allowed type.
pub fn sniff(bytes: &[u8]) -> Option<Sniffed> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(JPEG);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(PNG);
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        return Some(GIF);
    }
    if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Some(WEBP);
    }
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        return match &bytes[8..12] {
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" => Some(HEIC),
            b"mif1" | b"msf1" => Some(HEIF),
            _ => None,
        };
    }
    if bytes.starts_with(b"%PDF-") {
        return Some(PDF);
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return sniff_zip(bytes);
    }
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return sniff_ole2(bytes);
    }
    None
}

/// OpenDocument files start with a stored `mimetype` entry naming the type; Office Open XML
/// files hold `[Content_Types].xml` and a main part whose folder names the application. Any
/// other zip (an archive, a jar, an apk) is refused.
fn sniff_zip(bytes: &[u8]) -> Option<Sniffed> {
    if let Some(mime) = odf_mimetype(bytes) {
        return match mime {
            b"application/vnd.oasis.opendocument.text" => Some(ODT),
            b"application/vnd.oasis.opendocument.spreadsheet" => Some(ODS),
            b"application/vnd.oasis.opendocument.presentation" => Some(ODP),
            _ => None,
        };
    }
    let names = zip_entry_names(bytes)?;
    if !names.iter().any(|n| n == b"[Content_Types].xml") {
        return None;
    }
    let has = |prefix: &[u8]| names.iter().any(|n| n.starts_with(prefix));
    if has(b"word/") {
        Some(DOCX)
    } else if has(b"xl/") {
        Some(XLSX)
    } else if has(b"ppt/") {
        Some(PPTX)
    } else {
        None
    }
}

/// The content of an OpenDocument's first entry when it is the stored `mimetype` file.
fn odf_mimetype(bytes: &[u8]) -> Option<&[u8]> {
    let name_len = usize::from(u16::from_le_bytes([*bytes.get(26)?, *bytes.get(27)?]));
    let extra_len = usize::from(u16::from_le_bytes([*bytes.get(28)?, *bytes.get(29)?]));
    let name = bytes.get(30..30 + name_len)?;
    if name != b"mimetype" {
        return None;
    }
    let size = u32::from_le_bytes(bytes.get(18..22)?.try_into().ok()?) as usize;
    let start = 30 + name_len + extra_len;
    bytes.get(start..start.checked_add(size)?)
}

/// The entry names in a zip's central directory, or `None` when it is not a well-formed zip.
fn zip_entry_names(bytes: &[u8]) -> Option<Vec<&[u8]>> {
    const EOCD: &[u8] = b"PK\x05\x06";
    // The end record is 22 bytes plus a comment of at most 65,535.
    let search_from = bytes.len().saturating_sub(22 + 65_535);
    let eocd = bytes[search_from..]
        .windows(4)
        .rposition(|w| w == EOCD)
        .map(|i| search_from + i)?;
    let record = bytes.get(eocd..eocd + 22)?;
    let count = usize::from(u16::from_le_bytes([record[10], record[11]]));
    let mut at = u32::from_le_bytes(record[16..20].try_into().ok()?) as usize;
    let mut names = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        let header = bytes.get(at..at + 46)?;
        if &header[0..4] != b"PK\x01\x02" {
            return None;
        }
        let name_len = usize::from(u16::from_le_bytes([header[28], header[29]]));
        let extra_len = usize::from(u16::from_le_bytes([header[30], header[31]]));
        let comment_len = usize::from(u16::from_le_bytes([header[32], header[33]]));
        names.push(bytes.get(at + 46..at + 46 + name_len)?);
        at += 46 + name_len + extra_len + comment_len;
    }
    Some(names)
}

/// Old Office files are OLE2 compound files; the name of their main stream (in UTF-16 in the
/// directory) tells Word, Excel and PowerPoint apart. Other compound files (installers) are
/// refused.
fn sniff_ole2(bytes: &[u8]) -> Option<Sniffed> {
    let contains = |name: &str| {
        let utf16: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
        bytes.windows(utf16.len()).any(|w| w == utf16.as_slice())
    };
    if contains("WordDocument") {
        Some(DOC)
    } else if contains("Workbook") || contains("Book\0") {
        Some(XLS)
    } else if contains("PowerPoint Document") {
        Some(PPT)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zip with the given stored entries, enough for the sniffer.
    fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in entries {
            let offset = out.len() as u32;
            out.extend_from_slice(b"PK\x03\x04");
            out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&[0, 0, 0, 0]); // crc
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);
            central.extend_from_slice(b"PK\x01\x02");
            central.extend_from_slice(&[0u8; 24]);
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0u8; 12]);
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let cd_offset = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(b"PK\x05\x06");
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }

    #[test]
    fn images_and_pdf_by_magic() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0\0\x10JFIF"), Some(JPEG));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some(PNG));
        assert_eq!(sniff(b"GIF89a\x01\0"), Some(GIF));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some(WEBP));
        assert_eq!(sniff(b"\0\0\0\x18ftypheic\0\0\0\0"), Some(HEIC));
        assert_eq!(sniff(b"%PDF-1.7\n"), Some(PDF));
    }

    #[test]
    fn office_containers_by_their_parts() {
        let docx = zip(&[
            ("[Content_Types].xml", b"<Types/>"),
            ("word/document.xml", b"<w/>"),
        ]);
        assert_eq!(sniff(&docx), Some(DOCX));
        let xlsx = zip(&[
            ("[Content_Types].xml", b"<Types/>"),
            ("xl/workbook.xml", b"<x/>"),
        ]);
        assert_eq!(sniff(&xlsx), Some(XLSX));
        let odt = zip(&[
            ("mimetype", b"application/vnd.oasis.opendocument.text"),
            ("content.xml", b"<o/>"),
        ]);
        assert_eq!(sniff(&odt), Some(ODT));
        let mut doc = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        doc.extend("WordDocument".encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(sniff(&doc), Some(DOC));
    }

    #[test]
    fn everything_else_is_refused() {
        assert_eq!(sniff(b"\x7fELF\x02\x01\x01\0"), None);
        assert_eq!(sniff(b"#!/bin/sh\nrm -rf /\n"), None);
        assert_eq!(sniff(b"<html><script>alert(1)</script>"), None);
        assert_eq!(sniff(b"MZ\x90\0"), None);
        assert_eq!(sniff(b""), None);
        let jar = zip(&[
            ("META-INF/MANIFEST.MF", b"Main-Class: x"),
            ("x.class", b"\xCA\xFE"),
        ]);
        assert_eq!(sniff(&jar), None);
        let truncated = &zip(&[("[Content_Types].xml", b""), ("word/d.xml", b"")])[..40];
        assert_eq!(sniff(truncated), None);
        let msi = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0];
        assert_eq!(sniff(&msi), None);
    }
}
