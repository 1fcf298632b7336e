//! The store data of one action call: WASI, the resource table, the memory budget, the
//! action's log, and each capability's per-invocation state.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::capabilities::Slots;
use crate::capabilities::log::LogCapture;
use crate::limits::StoreLimiter;
use crate::write_budget::WriteBudget;

pub struct ActionState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: StoreLimiter,
    pub(crate) log: Arc<LogCapture>,
    pub(crate) slots: Slots,
    /// What the action may still write, shared by every call of the execution.
    pub(crate) budget: Arc<WriteBudget>,
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
