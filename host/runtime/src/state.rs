//! The store data of one action execution.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::SourceRevision;
use crate::capabilities::exec::ExecAccess;
use crate::capabilities::git::GitAccess;
use crate::capabilities::log::LogCapture;
use crate::capabilities::object_store::ObjectAccess;
use crate::capabilities::projects::ProjectAccess;
use crate::capabilities::secrets::SecretAccess;
use crate::limits::StoreLimiter;

pub struct ActionState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: StoreLimiter,
    pub(crate) log: Arc<LogCapture>,
    pub(crate) objects: ObjectAccess,
    pub(crate) exec: Option<ExecAccess>,
    pub(crate) projects: ProjectAccess,
    pub(crate) secrets: SecretAccess,
    pub(crate) git: GitAccess,
    pub(crate) started_with: Option<SourceRevision>,
    pub(crate) reports_published: usize,
}

impl WasiView for ActionState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl crate::bindings::sandpipe::action::types::Host for ActionState {}
