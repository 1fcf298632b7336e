//! `wasi:filesystem/types` with the action's [`WriteBudget`] in front: wasmtime-wasi's
//! implementation does the work (and its read-only preopens stay read-only); this view
//! charges whatever grows the disk before passing the call on, and gives back what a
//! removal frees. Calls that cannot grow anything are passed on unchanged.

use std::sync::Arc;

use wasmtime::component::{HasData, Resource};
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemCtxView};
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, ErrorCode, HostDescriptor, HostDirectoryEntryStream,
};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, FsError, FsResult};

use super::stream::{BudgetedStream, Position};
use super::{Refused, WriteBudget};
use crate::state::ActionState;

/// The `HasData` marker `add_to_linker` takes for the budgeted view.
pub(crate) struct BudgetedFilesystem;

impl HasData for BudgetedFilesystem {
    type Data<'a> = BudgetedView<'a>;
}

pub(crate) struct BudgetedView<'a> {
    inner: WasiFilesystemCtxView<'a>,
    budget: &'a Arc<WriteBudget>,
}

/// The getter `add_to_linker` calls for each filesystem call.
pub(crate) fn view(state: &mut ActionState) -> BudgetedView<'_> {
    BudgetedView {
        inner: WasiFilesystemCtxView {
            ctx: state.wasi.filesystem(),
            table: &mut state.table,
        },
        budget: &state.budget,
    }
}

/// Shadow wasmtime-wasi's `wasi:filesystem/types` (already in `linker`) with the budgeted
/// view.
pub(crate) fn add_to_linker(
    linker: &mut wasmtime::component::Linker<ActionState>,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let added = types::add_to_linker::<ActionState, BudgetedFilesystem>(linker, view);
    linker.allow_shadowing(false);
    added
}

fn refused(why: Refused) -> FsError {
    match why {
        Refused::Bytes => ErrorCode::InsufficientSpace.into(),
        Refused::Entries => ErrorCode::Quota.into(),
    }
}

/// Another handle on the descriptor a call was given, for a call of our own first.
fn again(fd: &Resource<types::Descriptor>) -> Resource<types::Descriptor> {
    Resource::new_borrow(fd.rep())
}

/// The file's size now; unknown counts as empty, so growth is never under-charged.
fn size_of(file: &std::fs::File) -> u64 {
    file.metadata().map_or(0, |m| m.len())
}

impl BudgetedView<'_> {
    fn file(&self, fd: &Resource<types::Descriptor>) -> FsResult<Option<Arc<std::fs::File>>> {
        Ok(match self.inner.table.get(fd)? {
            Descriptor::File(file) => Some(file.file.clone()),
            Descriptor::Dir(_) => None,
        })
    }

    /// What `path` under `fd` is, without following a final link; `None` if nothing is there
    /// (or it cannot be told).
    async fn lstat(
        &mut self,
        fd: &Resource<types::Descriptor>,
        path: &str,
    ) -> Option<types::DescriptorStat> {
        HostDescriptor::stat_at(
            &mut self.inner,
            again(fd),
            types::PathFlags::empty(),
            path.to_string(),
        )
        .await
        .ok()
    }

    /// Charge one more entry, to be made next.
    fn charge_entry(&self) -> FsResult<()> {
        self.budget.charge_entry().map_err(refused)
    }

    /// Give the entry charged for `made` back if making it failed.
    fn settle_entry<T>(&self, made: FsResult<T>) -> FsResult<T> {
        if made.is_err() {
            self.budget.refund_entry();
        }
        made
    }

    /// Wrap `stream`, just opened on `fd`, so that its writes are charged.
    fn budgeted_stream(
        &mut self,
        fd: &Resource<types::Descriptor>,
        stream: Resource<DynOutputStream>,
        position: impl FnOnce(u64) -> Position,
    ) -> FsResult<Resource<DynOutputStream>> {
        let end = self.file(fd)?.as_deref().map_or(0, size_of);
        let inner = self.inner.table.delete(stream)?;
        let stream: DynOutputStream = Box::new(BudgetedStream {
            inner,
            budget: self.budget.clone(),
            position: position(end),
        });
        Ok(self.inner.table.push(stream)?)
    }
}

impl types::Host for BudgetedView<'_> {
    fn convert_error_code(&mut self, err: FsError) -> wasmtime::Result<ErrorCode> {
        types::Host::convert_error_code(&mut self.inner, err)
    }

    fn filesystem_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        types::Host::filesystem_error_code(&mut self.inner, err)
    }
}

impl HostDescriptor for BudgetedView<'_> {
    async fn write(
        &mut self,
        fd: Resource<types::Descriptor>,
        buf: Vec<u8>,
        offset: types::Filesize,
    ) -> FsResult<types::Filesize> {
        let end = self.file(&fd)?.as_deref().map_or(0, size_of);
        let growth = offset.saturating_add(buf.len() as u64).saturating_sub(end);
        self.budget.charge_bytes(growth).map_err(refused)?;
        let written = HostDescriptor::write(&mut self.inner, fd, buf, offset).await;
        if written.is_err() {
            self.budget.refund_bytes(growth);
        }
        written
    }

    async fn set_size(
        &mut self,
        fd: Resource<types::Descriptor>,
        size: types::Filesize,
    ) -> FsResult<()> {
        let end = self.file(&fd)?.as_deref().map_or(0, size_of);
        let growth = size.saturating_sub(end);
        self.budget.charge_bytes(growth).map_err(refused)?;
        let result = HostDescriptor::set_size(&mut self.inner, fd, size).await;
        match result {
            Ok(()) => self.budget.refund_bytes(end.saturating_sub(size)),
            Err(_) => self.budget.refund_bytes(growth),
        }
        result
    }

    fn write_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: types::Filesize,
    ) -> FsResult<Resource<DynOutputStream>> {
        let stream = HostDescriptor::write_via_stream(&mut self.inner, again(&fd), offset)?;
        self.budgeted_stream(&fd, stream, |end| Position::At { next: offset, end })
    }

    fn append_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<Resource<DynOutputStream>> {
        let stream = HostDescriptor::append_via_stream(&mut self.inner, again(&fd))?;
        self.budgeted_stream(&fd, stream, |_| Position::Append)
    }

    async fn open_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: types::PathFlags,
        path: String,
        oflags: types::OpenFlags,
        flags: types::DescriptorFlags,
    ) -> FsResult<Resource<types::Descriptor>> {
        let creates = oflags.contains(types::OpenFlags::CREATE);
        let truncates = oflags.contains(types::OpenFlags::TRUNCATE);
        if !creates && !truncates {
            return HostDescriptor::open_at(&mut self.inner, fd, path_flags, path, oflags, flags)
                .await;
        }
        let existing = self.lstat(&fd, &path).await;
        let created = creates && existing.is_none();
        if created {
            self.charge_entry()?;
        }
        let opened =
            HostDescriptor::open_at(&mut self.inner, fd, path_flags, path, oflags, flags).await;
        if created {
            return self.settle_entry(opened);
        }
        if let Some(stat) = existing
            && opened.is_ok()
            && truncates
            && stat.link_count <= 1
        {
            self.budget.refund_bytes(stat.size);
        }
        opened
    }

    async fn create_directory_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<()> {
        self.charge_entry()?;
        let made = HostDescriptor::create_directory_at(&mut self.inner, fd, path).await;
        self.settle_entry(made)
    }

    async fn symlink_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        src_path: String,
        dest_path: String,
    ) -> FsResult<()> {
        self.charge_entry()?;
        let made = HostDescriptor::symlink_at(&mut self.inner, fd, src_path, dest_path).await;
        self.settle_entry(made)
    }

    async fn link_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        old_path_flags: types::PathFlags,
        old_path: String,
        new_descriptor: Resource<types::Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        self.charge_entry()?;
        let made = HostDescriptor::link_at(
            &mut self.inner,
            fd,
            old_path_flags,
            old_path,
            new_descriptor,
            new_path,
        )
        .await;
        self.settle_entry(made)
    }

    async fn unlink_file_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<()> {
        let existing = self.lstat(&fd, &path).await;
        HostDescriptor::unlink_file_at(&mut self.inner, fd, path).await?;
        self.budget.refund_entry();
        if let Some(stat) = existing.filter(|s| s.link_count <= 1) {
            self.budget.refund_bytes(stat.size);
        }
        Ok(())
    }

    async fn remove_directory_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<()> {
        HostDescriptor::remove_directory_at(&mut self.inner, fd, path).await?;
        self.budget.refund_entry();
        Ok(())
    }

    // Everything below changes nothing the budget counts.

    async fn advise(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: types::Filesize,
        len: types::Filesize,
        advice: types::Advice,
    ) -> FsResult<()> {
        HostDescriptor::advise(&mut self.inner, fd, offset, len, advice).await
    }

    async fn sync_data(&mut self, fd: Resource<types::Descriptor>) -> FsResult<()> {
        HostDescriptor::sync_data(&mut self.inner, fd).await
    }

    async fn get_flags(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<types::DescriptorFlags> {
        HostDescriptor::get_flags(&mut self.inner, fd).await
    }

    async fn get_type(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<types::DescriptorType> {
        HostDescriptor::get_type(&mut self.inner, fd).await
    }

    async fn set_times(
        &mut self,
        fd: Resource<types::Descriptor>,
        atim: types::NewTimestamp,
        mtim: types::NewTimestamp,
    ) -> FsResult<()> {
        HostDescriptor::set_times(&mut self.inner, fd, atim, mtim).await
    }

    async fn read(
        &mut self,
        fd: Resource<types::Descriptor>,
        len: types::Filesize,
        offset: types::Filesize,
    ) -> FsResult<(Vec<u8>, bool)> {
        HostDescriptor::read(&mut self.inner, fd, len, offset).await
    }

    async fn read_directory(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<Resource<types::DirectoryEntryStream>> {
        HostDescriptor::read_directory(&mut self.inner, fd).await
    }

    async fn sync(&mut self, fd: Resource<types::Descriptor>) -> FsResult<()> {
        HostDescriptor::sync(&mut self.inner, fd).await
    }

    async fn stat(&mut self, fd: Resource<types::Descriptor>) -> FsResult<types::DescriptorStat> {
        HostDescriptor::stat(&mut self.inner, fd).await
    }

    async fn stat_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: types::PathFlags,
        path: String,
    ) -> FsResult<types::DescriptorStat> {
        HostDescriptor::stat_at(&mut self.inner, fd, path_flags, path).await
    }

    async fn set_times_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: types::PathFlags,
        path: String,
        atim: types::NewTimestamp,
        mtim: types::NewTimestamp,
    ) -> FsResult<()> {
        HostDescriptor::set_times_at(&mut self.inner, fd, path_flags, path, atim, mtim).await
    }

    fn drop(&mut self, fd: Resource<types::Descriptor>) -> wasmtime::Result<()> {
        HostDescriptor::drop(&mut self.inner, fd)
    }

    async fn readlink_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path: String,
    ) -> FsResult<String> {
        HostDescriptor::readlink_at(&mut self.inner, fd, path).await
    }

    async fn rename_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        old_path: String,
        new_fd: Resource<types::Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        HostDescriptor::rename_at(&mut self.inner, fd, old_path, new_fd, new_path).await
    }

    fn read_via_stream(
        &mut self,
        fd: Resource<types::Descriptor>,
        offset: types::Filesize,
    ) -> FsResult<Resource<DynInputStream>> {
        HostDescriptor::read_via_stream(&mut self.inner, fd, offset)
    }

    async fn is_same_object(
        &mut self,
        a: Resource<types::Descriptor>,
        b: Resource<types::Descriptor>,
    ) -> wasmtime::Result<bool> {
        HostDescriptor::is_same_object(&mut self.inner, a, b).await
    }

    async fn metadata_hash(
        &mut self,
        fd: Resource<types::Descriptor>,
    ) -> FsResult<types::MetadataHashValue> {
        HostDescriptor::metadata_hash(&mut self.inner, fd).await
    }

    async fn metadata_hash_at(
        &mut self,
        fd: Resource<types::Descriptor>,
        path_flags: types::PathFlags,
        path: String,
    ) -> FsResult<types::MetadataHashValue> {
        HostDescriptor::metadata_hash_at(&mut self.inner, fd, path_flags, path).await
    }
}

impl HostDirectoryEntryStream for BudgetedView<'_> {
    async fn read_directory_entry(
        &mut self,
        stream: Resource<types::DirectoryEntryStream>,
    ) -> FsResult<Option<types::DirectoryEntry>> {
        HostDirectoryEntryStream::read_directory_entry(&mut self.inner, stream).await
    }

    fn drop(&mut self, stream: Resource<types::DirectoryEntryStream>) -> wasmtime::Result<()> {
        HostDirectoryEntryStream::drop(&mut self.inner, stream)
    }
}
