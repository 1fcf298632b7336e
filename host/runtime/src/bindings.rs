//! Host bindings of the `sandpipe:action@0.1.0` package's `provider` world (every interface the
//! host provides). Private to this crate: [`crate::boundary`] converts them to host types.

wasmtime::component::bindgen!({
    path: "../../wit/action",
    world: "sandpipe:action/provider",
    imports: { default: async | trappable },
    exports: { default: async },
    additional_derives: [PartialEq, Eq],
});
