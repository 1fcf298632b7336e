//! The store data of one action call: WASI, the resource table, the memory budget, the
//! action's log, and each capability's per-invocation state.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::capabilities::Slots;
use crate::capabilities::log::LogCapture;
use crate::limits::StoreLimiter;

pub struct ActionState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: StoreLimiter,
    pub(crate) log: Arc<LogCapture>,
    pub(crate) slots: Slots,
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
