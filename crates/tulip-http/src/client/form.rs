//! [`FormData`]: `multipart/form-data` request bodies (aiohttp's `FormData`), files streamed
//! from disk.
//!
//! The body is sent with a `Content-Length` computed before the first byte goes out (the
//! files' sizes come from one `stat` each, on the blocking pool), and files are read a piece at
//! a time on the blocking pool, so an upload of any size holds one piece in memory. Being made
//! of paths and shared bytes, a form can be sent again: a 307/308 redirect or a retry on a
//! stale connection reopens the files.

use std::collections::hash_map::RandomState;
use std::fmt::Write as _;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::pin::Pin;

use bytes::Bytes;
use futures_lite::Stream;

use crate::error::{Error, Kind};

/// Bytes read from a file per blocking call.
const FILE_PIECE: usize = 256 * 1024;

/// A `multipart/form-data` body (aiohttp's `FormData`): text fields, in-memory parts and
/// files streamed from disk. Send it with [`RequestBuilder::multipart`](crate::RequestBuilder::multipart).
///
/// # Examples
///
/// ```
/// use tulip_http::{App, Client, FormData, Request, Server};
///
/// tulip_executor::run(async {
///     let app = App::new().post("/upload", |mut req: Request| async move {
///         let form = req.post().await.unwrap();
///         let file = form.file("doc").unwrap();
///         format!("{} {} {}", form.get("title").unwrap(), file.filename, file.data.len())
///     });
///     let server = Server::bind("127.0.0.1:0", app).unwrap();
///     let url = format!("http://{}/upload", server.local_addr());
///     let stop = server.shutdown_handle();
///     let running = tulip_executor::spawn(server.run());
///
///     let path = std::env::temp_dir().join(format!("tulip-formdata-doc-{}.txt", std::process::id()));
///     std::fs::write(&path, b"0123456789").unwrap();
///     let form = FormData::new().text("title", "report").file("doc", &path);
///     let resp = Client::new().post(&url).multipart(form).send().await.unwrap();
///     let name = path.file_name().unwrap().to_str().unwrap().to_owned();
///     assert_eq!(resp.text().await.unwrap(), format!("report {name} 10"));
///     std::fs::remove_file(&path).unwrap();
///
///     stop.shutdown();
///     running.await.unwrap().unwrap();
/// });
/// ```
#[derive(Debug, Clone)]
pub struct FormData {
    boundary: String,
    parts: Vec<FormPart>,
}

#[derive(Debug, Clone)]
struct FormPart {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    body: PartBody,
}

#[derive(Debug, Clone)]
enum PartBody {
    Bytes(Bytes),
    File(PathBuf),
}

impl Default for FormData {
    fn default() -> FormData {
        FormData::new()
    }
}

impl FormData {
    /// An empty form with a random boundary.
    pub fn new() -> FormData {
        // 128 random bits (std's per-process hash keys, varied per call) make a boundary
        // that no file plausibly contains.
        let mut boundary = String::from("tulip-");
        for i in 0..2u8 {
            let mut h = RandomState::new().build_hasher();
            h.write_u8(i);
            let _ = write!(boundary, "{:016x}", h.finish());
        }
        FormData {
            boundary,
            parts: Vec::new(),
        }
    }

    /// A text field (aiohttp's `add_field(name, value)`).
    pub fn text(self, name: impl Into<String>, value: impl Into<String>) -> FormData {
        self.push(
            name.into(),
            None,
            None,
            PartBody::Bytes(Bytes::from(value.into())),
        )
    }

    /// A part from memory, with an optional filename and content type (aiohttp's
    /// `add_field(name, value, filename=, content_type=)`).
    pub fn part(
        self,
        name: impl Into<String>,
        data: impl Into<Bytes>,
        filename: Option<&str>,
        content_type: Option<&str>,
    ) -> FormData {
        self.push(
            name.into(),
            filename.map(str::to_owned),
            content_type.map(str::to_owned),
            PartBody::Bytes(data.into()),
        )
    }

    /// A file streamed from disk when the request is sent, named by its file name and sent
    /// as `application/octet-stream`. A file that cannot be read fails the send with an
    /// [`Error::is_io`] naming it; one that shrinks while it is sent fails it too, and bytes
    /// it grows by are not sent.
    pub fn file(self, name: impl Into<String>, path: impl AsRef<Path>) -> FormData {
        let path = path.as_ref().to_path_buf();
        let filename = path
            .file_name()
            .map_or_else(|| "file".to_owned(), |n| n.to_string_lossy().into_owned());
        self.file_as(name, path, &filename, "application/octet-stream")
    }

    /// A file streamed from disk with the filename and content type given.
    pub fn file_as(
        self,
        name: impl Into<String>,
        path: impl AsRef<Path>,
        filename: &str,
        content_type: &str,
    ) -> FormData {
        self.push(
            name.into(),
            Some(filename.to_owned()),
            Some(content_type.to_owned()),
            PartBody::File(path.as_ref().to_path_buf()),
        )
    }

    fn push(
        mut self,
        name: String,
        filename: Option<String>,
        content_type: Option<String>,
        body: PartBody,
    ) -> FormData {
        self.parts.push(FormPart {
            name,
            filename,
            content_type,
            body,
        });
        self
    }

    /// The boundary between parts.
    pub fn boundary(&self) -> &str {
        &self.boundary
    }

    /// The `Content-Type` the body goes with.
    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    /// Each part's head, its body and the closing line, with the total length: files are
    /// `stat`ed on the blocking pool.
    pub(crate) async fn prepare(&self) -> Result<(u64, FormStream), Error> {
        let mut pieces = Vec::with_capacity(self.parts.len() * 3 + 1);
        let mut len = 0u64;
        for part in &self.parts {
            let head = Bytes::from(self.part_head(part));
            len += head.len() as u64;
            pieces.push(Piece::Bytes(head));
            match &part.body {
                PartBody::Bytes(b) => {
                    len += b.len() as u64;
                    pieces.push(Piece::Bytes(b.clone()));
                }
                PartBody::File(path) => {
                    let p = path.clone();
                    let size = blocking(move || std::fs::metadata(&p).map(|m| m.len()))
                        .await
                        .map_err(|e| file_error(e, path))?;
                    len += size;
                    pieces.push(Piece::File(path.clone(), size));
                }
            }
            len += 2;
            pieces.push(Piece::Bytes(Bytes::from_static(b"\r\n")));
        }
        let tail = Bytes::from(format!("--{}--\r\n", self.boundary));
        len += tail.len() as u64;
        pieces.push(Piece::Bytes(tail));
        pieces.reverse();
        Ok((
            len,
            Box::pin(futures_lite::stream::unfold(
                State { pieces, file: None },
                next_piece,
            )),
        ))
    }

    fn part_head(&self, part: &FormPart) -> String {
        let mut h = format!(
            "--{}\r\nContent-Disposition: form-data; name=\"{}\"",
            self.boundary,
            escape(&part.name)
        );
        if let Some(f) = &part.filename {
            let _ = write!(h, "; filename=\"{}\"", escape(f));
        }
        h.push_str("\r\n");
        if let Some(ct) = &part.content_type {
            // A content type with a line break would smuggle headers: cut it there.
            let ct = ct.split(['\r', '\n']).next().unwrap_or("");
            let _ = write!(h, "Content-Type: {ct}\r\n");
        }
        h.push_str("\r\n");
        h
    }
}

/// The HTML form encoding of names in `Content-Disposition`: quotes and line breaks
/// percent-encoded, as browsers do.
fn escape(s: &str) -> String {
    s.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// The stream of a prepared form.
pub(crate) type FormStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

enum Piece {
    Bytes(Bytes),
    /// A file and the size it had when the length was computed.
    File(PathBuf, u64),
}

struct State {
    /// Still to send, last first.
    pieces: Vec<Piece>,
    /// The file being sent and the bytes of it still to send.
    file: Option<(std::fs::File, PathBuf, u64)>,
}

async fn next_piece(mut st: State) -> Option<(io::Result<Bytes>, State)> {
    loop {
        if let Some((file, path, left)) = st.file.take() {
            if left == 0 {
                continue;
            }
            let want = left.min(FILE_PIECE as u64) as usize;
            let p = path.clone();
            let read = blocking(move || {
                let mut file = file;
                let mut buf = vec![0u8; want];
                let mut got = 0;
                while got < want {
                    match file.read(&mut buf[got..]) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                if got < want {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{} shrank while it was being uploaded", p.display()),
                    ));
                }
                buf.truncate(got);
                Ok((file, buf))
            })
            .await;
            return match read {
                Ok((file, buf)) => {
                    let left = left - buf.len() as u64;
                    st.file = Some((file, path, left));
                    Some((Ok(Bytes::from(buf)), st))
                }
                Err(e) => {
                    st.pieces.clear();
                    Some((Err(e), st))
                }
            };
        }
        match st.pieces.pop()? {
            Piece::Bytes(b) => return Some((Ok(b), st)),
            Piece::File(path, size) => {
                let p = path.clone();
                match blocking(move || std::fs::File::open(&p)).await {
                    Ok(f) => st.file = Some((f, path, size)),
                    Err(e) => {
                        st.pieces.clear();
                        let e = io::Error::new(
                            e.kind(),
                            format!("cannot open {} to upload it: {e}", path.display()),
                        );
                        return Some((Err(e), st));
                    }
                }
            }
        }
    }
}

/// Runs file I/O on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tulip_executor::spawn_blocking(f)
        .await
        .map_err(|e| io::Error::other(format!("the blocking pool failed: {e}")))?
}

fn file_error(e: io::Error, path: &Path) -> Error {
    Error::new(Kind::Io, "a file of the multipart form cannot be read")
        .with_cause(e)
        .at(path.display())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::StreamExt;

    #[test]
    fn the_length_is_the_length_of_what_is_streamed() {
        let dir = std::env::temp_dir();
        let path = dir.join(format!("tulip-form-unit-{}.bin", std::process::id()));
        let data: Vec<u8> = (0..(FILE_PIECE * 2 + 17))
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&path, &data).unwrap();
        let form = FormData::new()
            .text("a\"b", "v1")
            .part("raw", &b"xyz"[..], Some("r.txt"), Some("text/plain"))
            .file("f", &path);
        let body = tulip_executor::run(async {
            let (len, mut s) = form.prepare().await.unwrap();
            let mut out = Vec::new();
            while let Some(piece) = s.next().await {
                out.extend_from_slice(&piece.unwrap());
            }
            assert_eq!(out.len() as u64, len);
            out
        });
        let text = String::from_utf8_lossy(&body);
        let b = form.boundary();
        assert!(text.starts_with(&format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"a%22b\"\r\n\r\nv1\r\n"
        )));
        assert!(text.contains(
            "name=\"raw\"; filename=\"r.txt\"\r\nContent-Type: text/plain\r\n\r\nxyz\r\n"
        ));
        assert!(text.ends_with(&format!("\r\n--{b}--\r\n")));
        let start = body
            .windows(4)
            .rposition(|w| w == b"\r\n\r\n")
            .map(|i| i + 4)
            .unwrap();
        assert_eq!(&body[start..start + data.len()], &data[..]);
        std::fs::remove_file(&path).unwrap();
        assert_ne!(FormData::new().boundary(), FormData::new().boundary());
    }

    #[test]
    fn a_missing_file_is_an_io_error_naming_it() {
        let form = FormData::new().file("f", "/no/such/tulip/file");
        let err = tulip_executor::run(async { form.prepare().await.err().unwrap() });
        assert!(err.is_io());
        assert!(err.to_string().contains("/no/such/tulip/file"), "{err}");
    }
}
