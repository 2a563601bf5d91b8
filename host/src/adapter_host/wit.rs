//! Host bindings, one module per contract version (Zed's `since_vX_Y_Z` pattern).
//!
//! `latest` owns the logic; an older version's module only converts its types to and from
//! `latest` and delegates. Today 0.1.0 is the only released contract, so the enum below has one
//! arm; when `wit/adapter@0.2.0/` is released, add `since_v0_2_0.rs`, point `latest` at it and
//! give `since_v0_1_0` the conversions.

pub mod since_v0_1_0;

pub use since_v0_1_0 as latest;

/// Contract versions this host loads, oldest first.
pub const SUPPORTED_CONTRACTS: &[&str] = &[since_v0_1_0::CONTRACT_VERSION];

/// The WIT package name adapters export from.
pub const CONTRACT_PACKAGE: &str = "cligate:adapter";

/// A pre-instantiated adapter of some contract version.
#[derive(Clone)]
pub enum AdapterPre {
    /// Built against `wit/adapter@0.1.0`.
    V0_1_0(since_v0_1_0::AdapterPre<super::GuestState>),
}

impl AdapterPre {
    /// The contract version.
    pub fn contract(&self) -> &'static str {
        match self {
            AdapterPre::V0_1_0(_) => since_v0_1_0::CONTRACT_VERSION,
        }
    }
}

/// An instantiated adapter of some contract version.
pub enum AdapterInstance {
    /// Built against `wit/adapter@0.1.0`.
    V0_1_0(since_v0_1_0::Adapter),
}
