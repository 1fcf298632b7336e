//! Host capabilities, one module per import the action world defines. WASI itself comes
//! from wasmtime-wasi, configured deny-by-default in [`crate::invoke`].

pub mod log;
pub mod object_store;
