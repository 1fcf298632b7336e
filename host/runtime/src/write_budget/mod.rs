//! Write-time budgets for an action's writable directories (its outputs, `/tmp`, a cache):
//! bytes and entries (files, directories, links), charged as the guest writes — not found
//! afterwards at packaging — so an action cannot fill the disk, whatever its timeout.
//!
//! The guest's `wasi:filesystem/types` is wasmtime-wasi's own, wrapped ([`filesystem`]):
//! every call that can grow the disk is charged first and refused with ENOSPC (bytes) or
//! EDQUOT (entries) when it would go over, so use never passes the budget. The first refusal
//! is kept, and the action fails with it even if the guest ignores the error. Removing files
//! gives their share back, so an action that cleans up as it goes is not punished.

pub(crate) mod filesystem;
mod measure;
mod stream;

pub(crate) use measure::usage;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// What an action may write, and how much of it is in use.
#[derive(Debug)]
pub struct WriteBudget {
    max_bytes: u64,
    max_entries: u64,
    bytes: AtomicU64,
    entries: AtomicU64,
    /// The first refusal, as the action's failure message.
    breach: Mutex<Option<String>>,
}

/// Why a charge was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    Bytes,
    Entries,
}

impl WriteBudget {
    pub fn new(max_bytes: u64, max_entries: u64) -> Self {
        WriteBudget {
            max_bytes,
            max_entries,
            bytes: AtomicU64::new(0),
            entries: AtomicU64::new(0),
            breach: Mutex::new(None),
        }
    }

    /// Bytes and entries charged so far.
    pub fn used(&self) -> (u64, u64) {
        (
            self.bytes.load(Ordering::Relaxed),
            self.entries.load(Ordering::Relaxed),
        )
    }

    /// Bytes and entries still free.
    pub fn remaining(&self) -> (u64, u64) {
        let (bytes, entries) = self.used();
        (
            self.max_bytes.saturating_sub(bytes),
            self.max_entries.saturating_sub(entries),
        )
    }

    /// Charge what the host wrote on the guest's behalf, already held to [`Self::remaining`]
    /// (a git export): counted, never refused.
    pub(crate) fn charge_written(&self, bytes: u64, entries: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.entries.fetch_add(entries, Ordering::Relaxed);
    }

    /// The first refusal's message, once there has been one.
    pub fn breach(&self) -> Option<String> {
        self.breach
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Charge `bytes` more, or refuse the whole write.
    pub(crate) fn charge_bytes(&self, bytes: u64) -> Result<(), Refused> {
        if bytes == 0 {
            return Ok(());
        }
        charge(&self.bytes, bytes, self.max_bytes).map_err(|used| {
            self.note(format!(
                "the action's output budget of {} was exceeded: its writable directories \
                 held {} and it tried to write {} more; the write failed with ENOSPC \
                 (raise the budget with --output-budget)",
                bytes_shown(self.max_bytes),
                bytes_shown(used),
                bytes_shown(bytes)
            ));
            Refused::Bytes
        })
    }

    /// Charge one more file, directory or link, or refuse it.
    pub(crate) fn charge_entry(&self) -> Result<(), Refused> {
        charge(&self.entries, 1, self.max_entries).map_err(|_| {
            self.note(format!(
                "the action's file budget of {} files and directories was exceeded; creating \
                 one more failed with EDQUOT (raise the budget with --file-budget)",
                self.max_entries
            ));
            Refused::Entries
        })
    }

    pub(crate) fn refund_bytes(&self, bytes: u64) {
        refund(&self.bytes, bytes);
    }

    pub(crate) fn refund_entry(&self) {
        refund(&self.entries, 1);
    }

    /// Check what processes outside the wasm sandbox (build commands) left in the writable
    /// directories, measured on disk: whether it passed the budget (the breach is then kept
    /// as the action's failure).
    pub(crate) fn passed_by_measure(&self, bytes: u64, entries: u64) -> bool {
        let message = if bytes > self.max_bytes {
            format!(
                "the action's output budget of {} was exceeded: with what its commands wrote, \
                 its writable directories grew by {}, and the commands were stopped (raise the \
                 budget with --output-budget)",
                bytes_shown(self.max_bytes),
                bytes_shown(bytes)
            )
        } else if entries > self.max_entries {
            format!(
                "the action's file budget of {} files and directories was exceeded: with what \
                 its commands made, its writable directories grew by {entries}, and the commands \
                 were stopped (raise the budget with --file-budget)",
                self.max_entries
            )
        } else {
            return false;
        };
        self.note(message);
        true
    }

    pub(crate) fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    pub(crate) fn max_entries(&self) -> u64 {
        self.max_entries
    }

    fn note(&self, message: String) {
        let mut breach = self.breach.lock().unwrap_or_else(|e| e.into_inner());
        breach.get_or_insert(message);
    }
}

/// Add `amount` to `used` unless that passes `max`; on refusal, what was in use.
fn charge(used: &AtomicU64, amount: u64, max: u64) -> Result<(), u64> {
    used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |current| {
        current.checked_add(amount).filter(|total| *total <= max)
    })
    .map(|_| ())
}

fn refund(used: &AtomicU64, amount: u64) {
    let _ = used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |current| {
        Some(current.saturating_sub(amount))
    });
}

/// `512 MiB`, `10 GiB`, `1536 bytes`.
pub fn bytes_shown(bytes: u64) -> String {
    const UNITS: [(&str, u32); 3] = [("GiB", 30), ("MiB", 20), ("KiB", 10)];
    for (unit, shift) in UNITS {
        if bytes >= 1 << shift {
            let value = bytes as f64 / f64::from(1u32 << shift);
            return if value.fract() == 0.0 {
                format!("{value} {unit}")
            } else {
                format!("{value:.1} {unit}")
            };
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_stop_at_the_budget_and_the_first_refusal_is_kept() {
        let budget = WriteBudget::new(100, 2);
        assert_eq!(budget.charge_bytes(60), Ok(()));
        assert_eq!(budget.charge_bytes(41), Err(Refused::Bytes));
        assert_eq!(
            budget.charge_bytes(40),
            Ok(()),
            "the refused write took nothing"
        );
        assert_eq!(budget.used(), (100, 0));
        budget.refund_bytes(30);
        assert_eq!(budget.charge_bytes(30), Ok(()));
        assert_eq!(budget.charge_entry(), Ok(()));
        assert_eq!(budget.charge_entry(), Ok(()));
        assert_eq!(budget.charge_entry(), Err(Refused::Entries));
        let breach = budget.breach().unwrap();
        assert!(
            breach.contains("output budget of 100 bytes") && breach.contains("41 bytes more"),
            "{breach}"
        );
        budget.refund_bytes(1000);
        assert_eq!(budget.used().0, 0, "never below nothing");
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(bytes_shown(10 << 30), "10 GiB");
        assert_eq!(bytes_shown(1536 << 10), "1.5 MiB");
        assert_eq!(bytes_shown(512), "512 bytes");
    }
}
