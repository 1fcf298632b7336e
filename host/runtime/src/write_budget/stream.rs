//! An output stream onto a file (`write-via-stream`, `append-via-stream`) that charges the
//! budget for the bytes by which each write grows the file, before passing it on.

use std::sync::Arc;

use bytes::Bytes;
use wasmtime_wasi::async_trait;
use wasmtime_wasi::p2::{DynOutputStream, OutputStream, Pollable, StreamError, StreamResult};

use super::WriteBudget;

/// Where the stream writes.
pub(super) enum Position {
    /// At the end, whatever its size: every byte grows the file.
    Append,
    /// At `next`; the file is known to reach `end` already, so only writes past it grow it.
    At { next: u64, end: u64 },
}

pub(super) struct BudgetedStream {
    pub(super) inner: DynOutputStream,
    pub(super) budget: Arc<WriteBudget>,
    pub(super) position: Position,
}

impl BudgetedStream {
    fn growth(&self, len: u64) -> u64 {
        match self.position {
            Position::Append => len,
            Position::At { next, end } => next.saturating_add(len).saturating_sub(end),
        }
    }

    fn advance(&mut self, len: u64) {
        if let Position::At { next, end } = &mut self.position {
            *next = next.saturating_add(len);
            *end = (*end).max(*next);
        }
    }
}

/// The error a guest sees for a full disk: wasi-libc reports it as ENOSPC.
fn no_space() -> StreamError {
    StreamError::LastOperationFailed(wasmtime::Error::new(std::io::Error::from_raw_os_error(
        libc::ENOSPC,
    )))
}

#[async_trait]
impl Pollable for BudgetedStream {
    async fn ready(&mut self) {
        self.inner.ready().await
    }
}

#[async_trait]
impl OutputStream for BudgetedStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let len = bytes.len() as u64;
        let growth = self.growth(len);
        self.budget.charge_bytes(growth).map_err(|_| no_space())?;
        if let Err(error) = self.inner.write(bytes) {
            self.budget.refund_bytes(growth);
            return Err(error);
        }
        self.advance(len);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.inner.flush()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.inner.check_write()
    }

    async fn cancel(&mut self) {
        self.inner.cancel().await
    }
}
