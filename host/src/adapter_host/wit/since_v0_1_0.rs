//! Bindings of the frozen contract `wit/adapter@0.1.0`.

wasmtime::component::bindgen!({
    path: "../wit/adapter@0.1.0",
    world: "adapter",
    exports: { default: async },
});

// `self::`: the package is also called `cligate`, which doctests see as the extern crate.
pub use self::cligate::adapter::types;

/// The contract version of this module.
pub const CONTRACT_VERSION: &str = "0.1.0";
