//! Object bodies between the async HTTP side and the store's blocking std I/O, both ways,
//! never whole in memory: an upload is handed to the store's `Read` through a small bounded
//! channel (and, when s3s left it framed, decoded from aws-chunked here), with the checksums
//! the client sent checked before the store commits anything; a download is read from the
//! file a chunk at a time, each read on the blocking pool, only as fast as the client takes it.

use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures::{Stream, StreamExt};
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Md5, Sha1, Sha256};
use s3s::dto::{Checksum, StreamingBlob};
use s3s::stream::{ByteStream, RemainingLength};
use s3s::{S3Result, StdError, s3_error};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Chunks in flight between the connection and the store: with hyper's reads of at most a
/// few hundred KiB, an upload holds a few MiB at most, whatever its size.
const BRIDGE_DEPTH: usize = 8;
/// The size of each read from a file being downloaded.
const DOWNLOAD_CHUNK: usize = 256 * 1024;
/// The longest aws-chunked chunk header or trailer line accepted, and how many trailers.
const MAX_CHUNK_LINE: u64 = 4096;
const MAX_TRAILERS: usize = 64;

/// Why a body could not be stored: carried inside the store's I/O error so that the S3 error
/// the client sees names the body's fault, not the disk's.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("{0}")]
    BadDigest(String),
    /// A digest header that is not a digest at all (S3 tells this apart from a mismatch).
    #[error("{0}")]
    InvalidDigest(String),
    #[error("{0}")]
    Malformed(String),
    #[error("the request body was cut short: {0}")]
    Interrupted(String),
}

impl BodyError {
    pub fn to_s3(&self) -> s3s::S3Error {
        let message = self.to_string();
        match self {
            BodyError::BadDigest(_) => s3_error!(BadDigest, "{message}"),
            BodyError::InvalidDigest(_) => s3_error!(InvalidDigest, "{message}"),
            BodyError::Malformed(_) => s3_error!(InvalidRequest, "{message}"),
            BodyError::Interrupted(_) => s3_error!(IncompleteBody, "{message}"),
        }
    }
}

/// The flexible checksums S3 knows, by their header names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl Algorithm {
    const ALL: [Algorithm; 5] = [
        Algorithm::Crc32,
        Algorithm::Crc32c,
        Algorithm::Crc64Nvme,
        Algorithm::Sha1,
        Algorithm::Sha256,
    ];

    fn header(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "x-amz-checksum-crc32",
            Algorithm::Crc32c => "x-amz-checksum-crc32c",
            Algorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Algorithm::Sha1 => "x-amz-checksum-sha1",
            Algorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    fn named(header: &str) -> Option<Algorithm> {
        let header = header.trim();
        Algorithm::ALL
            .into_iter()
            .find(|a| a.header().eq_ignore_ascii_case(header))
    }

    fn enable(self, hasher: &mut ChecksumHasher) {
        match self {
            Algorithm::Crc32 => hasher.crc32 = Some(Crc32::new()),
            Algorithm::Crc32c => hasher.crc32c = Some(Crc32c::new()),
            Algorithm::Crc64Nvme => hasher.crc64nvme = Some(Crc64Nvme::new()),
            Algorithm::Sha1 => hasher.sha1 = Some(Sha1::new()),
            Algorithm::Sha256 => hasher.sha256 = Some(Sha256::new()),
        }
    }

    fn slot(self, checksum: &mut Checksum) -> &mut Option<String> {
        match self {
            Algorithm::Crc32 => &mut checksum.checksum_crc32,
            Algorithm::Crc32c => &mut checksum.checksum_crc32c,
            Algorithm::Crc64Nvme => &mut checksum.checksum_crc64nvme,
            Algorithm::Sha1 => &mut checksum.checksum_sha1,
            Algorithm::Sha256 => &mut checksum.checksum_sha256,
        }
    }
}

/// Trailing headers, once the body has been read: s3s's (a signed aws-chunked body it
/// decoded) or our own decoder's.
type TrailerSource = Box<dyn FnOnce() -> Vec<(String, String)> + Send>;

/// How to read one request body and what to check it against.
pub struct Upload {
    body: Option<StreamingBlob>,
    /// aws-chunked framing s3s did not remove (see `super::anonymous`).
    chunked: bool,
    checksums: Vec<(Algorithm, String)>,
    trailer_checksum: Option<Algorithm>,
    content_md5: Option<String>,
    trailers: Option<TrailerSource>,
}

/// Marks a request whose aws-chunked body s3s will not decode, because its signature was
/// taken off before s3s saw it.
#[derive(Debug, Clone, Copy)]
pub struct UndecodedAwsChunked;

impl Upload {
    /// The body of a PutObject or UploadPart request, with the checksums its headers name.
    pub fn of<T>(request: &s3s::S3Request<T>, body: Option<StreamingBlob>) -> Self {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let checksums = Algorithm::ALL
            .into_iter()
            .filter_map(|a| header(a.header()).map(|value| (a, value)))
            .collect();
        let trailers = request.trailing_headers.clone().map(|handle| {
            Box::new(move || {
                handle
                    .take()
                    .map(|map| {
                        map.iter()
                            .filter_map(|(k, v)| {
                                Some((k.as_str().to_string(), v.to_str().ok()?.to_string()))
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            }) as TrailerSource
        });
        Upload {
            body,
            chunked: request.extensions.get::<UndecodedAwsChunked>().is_some(),
            checksums,
            trailer_checksum: header("x-amz-trailer")
                .as_deref()
                .and_then(Algorithm::named),
            content_md5: header("content-md5"),
            trailers,
        }
    }

    /// Run `write` on the blocking pool with the body as a `Read`, returning what it returned
    /// and the checksums verified. The body is not asked for until `write` first reads, so a
    /// request refused before that (a missing bucket) never makes the client send it.
    pub async fn store<T: Send + 'static>(
        mut self,
        write: impl FnOnce(&mut dyn Read) -> T + Send + 'static,
    ) -> S3Result<(T, Checksum)> {
        let (chunks, receiver) = mpsc::channel(BRIDGE_DEPTH);
        let (wanted, first_read) = oneshot::channel();
        let body = self.body.take();
        let job = tokio::task::spawn_blocking(move || {
            let channel = ChannelReader {
                chunks: receiver,
                current: Bytes::new(),
                wanted: Some(wanted),
            };
            let mut trailers = self.trailers.take();
            let framed: Box<dyn Read> = if self.chunked {
                let decoder = AwsChunkedReader::new(channel);
                let found = decoder.trailers.clone();
                trailers = Some(Box::new(move || std::mem::take(&mut *lock(&found))));
                Box::new(decoder)
            } else {
                Box::new(channel)
            };
            let mut reader = VerifyingReader::new(framed, self, trailers);
            let result = write(&mut reader);
            (result, reader.verified)
        });
        let pumping = pump(body, chunks, first_read);
        tokio::pin!(job);
        let joined = tokio::select! {
            biased;
            joined = &mut job => joined,
            () = pumping => job.await,
        };
        joined.map_err(|e| s3_error!(e, InternalError, "the upload was interrupted"))
    }
}

/// Hand the body to the channel once the reader first asks, until it ends or the reader goes.
async fn pump(
    body: Option<StreamingBlob>,
    chunks: mpsc::Sender<io::Result<Bytes>>,
    first_read: oneshot::Receiver<()>,
) {
    let Some(mut body) = body else { return };
    if first_read.await.is_err() {
        return;
    }
    while let Some(chunk) = body.next().await {
        let failed = chunk.is_err();
        let chunk = chunk.map_err(|e| io::Error::other(BodyError::Interrupted(e.to_string())));
        if chunks.send(chunk).await.is_err() || failed {
            return;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The blocking end of the bridge.
struct ChannelReader {
    chunks: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
    wanted: Option<oneshot::Sender<()>>,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(wanted) = self.wanted.take() {
            let _ = wanted.send(());
        }
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(error)) => return Err(error),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

/// Decodes `aws-chunked` (`<hex size>[;chunk-signature=…]\r\n<data>\r\n … 0\r\n<trailers>\r\n`)
/// without checking chunk signatures: only used when no signature is checked at all.
struct AwsChunkedReader<R> {
    inner: BufReader<R>,
    left_in_chunk: u64,
    done: bool,
    trailers: Arc<Mutex<Vec<(String, String)>>>,
}

impl<R: Read> AwsChunkedReader<R> {
    fn new(inner: R) -> Self {
        AwsChunkedReader {
            inner: BufReader::new(inner),
            left_in_chunk: 0,
            done: false,
            trailers: Arc::default(),
        }
    }

    /// One line without its CRLF; `None` at the end of the body.
    fn line(&mut self) -> io::Result<Option<String>> {
        let mut line = Vec::new();
        (&mut self.inner)
            .take(MAX_CHUNK_LINE + 2)
            .read_until(b'\n', &mut line)?;
        if line.is_empty() {
            return Ok(None);
        }
        if !line.ends_with(b"\n") {
            return Err(malformed(
                "an aws-chunked header line is too long or cut short",
            ));
        }
        let text = String::from_utf8(line)
            .map_err(|_| malformed("an aws-chunked header line is not UTF-8"))?;
        Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()))
    }

    fn read_trailers(&mut self) -> io::Result<()> {
        let mut found = Vec::new();
        while let Some(line) = self.line()? {
            if line.is_empty() {
                break;
            }
            if found.len() == MAX_TRAILERS {
                return Err(malformed("too many aws-chunked trailers"));
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| malformed("an aws-chunked trailer is not 'name:value'"))?;
            found.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
        *lock(&self.trailers) = found;
        Ok(())
    }
}

fn malformed(message: &str) -> io::Error {
    io::Error::other(BodyError::Malformed(message.to_string()))
}

impl<R: Read> Read for AwsChunkedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while !self.done {
            if self.left_in_chunk > 0 {
                let wanted = buf
                    .len()
                    .min(usize::try_from(self.left_in_chunk).unwrap_or(usize::MAX));
                let n = self.inner.read(&mut buf[..wanted])?;
                if n == 0 && wanted > 0 {
                    return Err(malformed("the body ended inside an aws-chunked chunk"));
                }
                self.left_in_chunk -= n as u64;
                if self.left_in_chunk == 0 && self.line()?.is_none_or(|rest| !rest.is_empty()) {
                    return Err(malformed("an aws-chunked chunk is longer than its size"));
                }
                return Ok(n);
            }
            let Some(header) = self.line()? else {
                return Err(malformed(
                    "the body ended before the last aws-chunked chunk",
                ));
            };
            let size = header.split(';').next().unwrap_or_default().trim();
            self.left_in_chunk = u64::from_str_radix(size, 16)
                .map_err(|_| malformed("an aws-chunked chunk size is not hexadecimal"))?;
            if self.left_in_chunk == 0 {
                self.read_trailers()?;
                self.done = true;
            }
        }
        Ok(0)
    }
}

/// Hashes what passes through and, at the end, compares it with what the client sent,
/// failing the last read (so the store keeps nothing) on a mismatch.
struct VerifyingReader {
    inner: Box<dyn Read>,
    hasher: Option<ChecksumHasher>,
    md5: Option<Md5>,
    expected: Vec<(Algorithm, String)>,
    trailer_checksum: Option<Algorithm>,
    content_md5: Option<String>,
    trailers: Option<TrailerSource>,
    verified: Checksum,
}

impl VerifyingReader {
    fn new(inner: Box<dyn Read>, upload: Upload, trailers: Option<TrailerSource>) -> Self {
        let mut hasher = ChecksumHasher::default();
        let algorithms = upload
            .checksums
            .iter()
            .map(|(a, _)| *a)
            .chain(upload.trailer_checksum);
        let mut any = false;
        for algorithm in algorithms {
            algorithm.enable(&mut hasher);
            any = true;
        }
        VerifyingReader {
            inner,
            hasher: any.then_some(hasher),
            md5: upload.content_md5.is_some().then(Md5::new),
            expected: upload.checksums,
            trailer_checksum: upload.trailer_checksum,
            content_md5: upload.content_md5,
            trailers,
            verified: Checksum::default(),
        }
    }

    fn verify(&mut self) -> io::Result<()> {
        let mut expected = std::mem::take(&mut self.expected);
        if let Some(algorithm) = self.trailer_checksum.take() {
            let trailers = self.trailers.take().map(|take| take()).unwrap_or_default();
            let value = trailers
                .into_iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(algorithm.header()))
                .map(|(_, value)| value)
                .ok_or_else(|| {
                    malformed(&format!("the {} trailer is missing", algorithm.header()))
                })?;
            expected.push((algorithm, value));
        }
        if let Some(hasher) = self.hasher.take() {
            let mut actual = hasher.finalize();
            for (algorithm, value) in expected {
                let computed = algorithm.slot(&mut actual).take().unwrap_or_default();
                if computed != value.trim() {
                    return Err(io::Error::other(BodyError::BadDigest(format!(
                        "the {} you specified ({value}) did not match the body's ({computed})",
                        algorithm.header()
                    ))));
                }
                *algorithm.slot(&mut self.verified) = Some(computed);
            }
        }
        if let (Some(md5), Some(expected)) = (self.md5.take(), self.content_md5.take()) {
            let digest = base64_simd::STANDARD.decode_to_vec(expected.trim());
            if digest.map_or(true, |d| d.len() != 16) {
                return Err(io::Error::other(BodyError::InvalidDigest(format!(
                    "the Content-MD5 you specified ({expected}) is not the base64 of an MD5 digest"
                ))));
            }
            let computed = base64_simd::STANDARD.encode_to_string(md5.finalize());
            if computed != expected.trim() {
                return Err(io::Error::other(BodyError::BadDigest(format!(
                    "the Content-MD5 you specified ({expected}) did not match the body's ({computed})"
                ))));
            }
        }
        Ok(())
    }
}

impl Read for VerifyingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.verify()?;
            return Ok(0);
        }
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        if let Some(md5) = &mut self.md5 {
            md5.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// The `BodyError` inside a store error, if a body's fault made the store fail.
pub fn body_error(error: &io::Error) -> Option<&BodyError> {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<BodyError>())
}

/// A download: `length` bytes of `file` from `start`, read a chunk at a time on the blocking
/// pool as the client takes them.
pub fn download(file: std::fs::File, start: u64, length: u64) -> StreamingBlob {
    StreamingBlob::new(FileChunks {
        state: ChunkState::Idle {
            file: Some(file),
            seek_to: Some(start),
        },
        remaining: length,
    })
}

struct FileChunks {
    state: ChunkState,
    remaining: u64,
}

enum ChunkState {
    Idle {
        file: Option<std::fs::File>,
        seek_to: Option<u64>,
    },
    Reading(JoinHandle<io::Result<(std::fs::File, Bytes)>>),
    Done,
}

impl Stream for FileChunks {
    type Item = Result<Bytes, StdError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                ChunkState::Done => return Poll::Ready(None),
                ChunkState::Idle { file, seek_to } => {
                    let (Some(mut file), true) = (file.take(), this.remaining > 0) else {
                        this.state = ChunkState::Done;
                        return Poll::Ready(None);
                    };
                    let seek_to = seek_to.take();
                    let wanted = this.remaining.min(DOWNLOAD_CHUNK as u64) as usize;
                    this.state = ChunkState::Reading(tokio::task::spawn_blocking(move || {
                        if let Some(start) = seek_to {
                            file.seek(SeekFrom::Start(start))?;
                        }
                        let mut chunk = vec![0; wanted];
                        file.read_exact(&mut chunk)?;
                        Ok((file, Bytes::from(chunk)))
                    }));
                }
                ChunkState::Reading(job) => {
                    let joined = std::task::ready!(Pin::new(job).poll(cx));
                    let read = joined.map_err(io::Error::other).and_then(|read| read);
                    match read {
                        Ok((file, chunk)) => {
                            this.remaining -= chunk.len() as u64;
                            this.state = ChunkState::Idle {
                                file: Some(file),
                                seek_to: None,
                            };
                            return Poll::Ready(Some(Ok(chunk)));
                        }
                        Err(error) => {
                            this.state = ChunkState::Done;
                            return Poll::Ready(Some(Err(Box::new(error))));
                        }
                    }
                }
            }
        }
    }
}

impl ByteStream for FileChunks {
    fn remaining_length(&self) -> RemainingLength {
        usize::try_from(self.remaining)
            .map_or_else(|_| RemainingLength::unknown(), RemainingLength::new_exact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(framed: &[u8]) -> (io::Result<Vec<u8>>, Vec<(String, String)>) {
        let mut decoder = AwsChunkedReader::new(framed);
        let mut out = Vec::new();
        let result = decoder.read_to_end(&mut out).map(|_| out);
        let trailers = lock(&decoder.trailers).clone();
        (result, trailers)
    }

    #[test]
    fn aws_chunked_bodies_decode_with_or_without_signatures_and_trailers() {
        let signed = b"5;chunk-signature=abc\r\nhello\r\n6;chunk-signature=def\r\n world\r\n0;chunk-signature=0\r\n\r\n";
        let (body, trailers) = decode(signed);
        assert_eq!(body.unwrap(), b"hello world");
        assert!(trailers.is_empty());

        let unsigned = b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n";
        let (body, trailers) = decode(unsigned);
        assert_eq!(body.unwrap(), b"abc");
        assert_eq!(
            trailers,
            [("x-amz-checksum-crc32".to_string(), "NSRBwg==".to_string())]
        );
    }

    #[test]
    fn malformed_aws_chunked_bodies_are_refused() {
        for bad in [
            &b"zz\r\nabc\r\n0\r\n\r\n"[..],
            b"3\r\nabcdef\r\n0\r\n\r\n",
            b"10\r\nshort",
            b"3\r\nabc\r\n",
        ] {
            let (body, _) = decode(bad);
            let error = body.unwrap_err();
            assert!(
                matches!(body_error(&error), Some(BodyError::Malformed(_))),
                "{error}"
            );
        }
        let long_line = [b'1'; 5000];
        assert!(decode(&long_line).0.is_err());
    }
}
