//! The cligate adapter SDK.
//!
//! An adapter is a plain Rust type that implements [`Adapter`] (and a [`StreamTranslator`]
//! for streamed answers), registered with one macro call:
//!
//! ```no_run
//! use cligate_adapter_sdk::*;
//!
//! struct Echo;
//! struct EchoStream;
//!
//! impl StreamTranslator for EchoStream {
//!     fn push(&mut self, event: SseEvent) -> Result<Vec<u8>, AdapterError> {
//!         Ok(sse::frame(None, &event.data))
//!     }
//!     fn finish(&mut self) -> Result<Vec<u8>, AdapterError> { Ok(Vec::new()) }
//!     fn fail(&mut self, error: GatewayError) -> Vec<u8> { sse::frame(Some("error"), &error.message) }
//! }
//!
//! impl Adapter for Echo {
//!     type Stream = EchoStream;
//!     fn info() -> AdapterInfo { todo!() }
//!     fn open_stream(_ctx: RequestContext) -> EchoStream { EchoStream }
//!     fn translate_error(_ctx: ErrorSite, error: GatewayError) -> ClientResponse {
//!         json::response(error.status, &serde_json::json!({"error": error.message}))
//!     }
//! }
//!
//! register_adapter!(Echo);
//! ```
//!
//! The logic stays a plain library: `cargo test` runs it natively, and the same code is built
//! for `wasm32-wasip2` as a component. The bindings are generated here once, against the
//! frozen contract in `wit/adapter@0.1.0/`.

pub mod json;
pub mod pivot;
pub mod sse;
#[cfg(feature = "testing")]
pub mod testing;

/// The generated bindings of the contract. Adapters use the re-exports at the crate root;
/// this module is public only because [`register_adapter!`] expands into it.
#[doc(hidden)]
#[allow(unsafe_code, missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/adapter@0.1.0",
        world: "adapter",
        pub_export_macro: true,
        export_macro_name: "export_adapter_component",
        default_bindings_module: "cligate_adapter_sdk::bindings",
        generate_all,
    });
}

use std::cell::RefCell;
use std::marker::PhantomData;

pub use bindings::cligate::adapter::types::{
    AdapterError, AdapterInfo, ClientRequest, ClientResponse, ErrorKind, ErrorSite, GatewayError,
    Header, LocalContext, ModelEntry, PivotRequest, RemovedField, RequestContext, RequestOptions,
    Route, RouteAction, SseEvent,
};
use bindings::exports::cligate::adapter::dialect as wit_dialect;

/// The version of the WIT contract this SDK builds adapters against.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// A dialect adapter. Every method is a pure function of its arguments.
///
/// Only [`Adapter::info`], [`Adapter::open_stream`] and [`Adapter::translate_error`] are
/// required; the rest answer `unsupported` until the adapter implements them.
pub trait Adapter: 'static {
    /// Per-stream translation state.
    type Stream: StreamTranslator;

    /// Name, version and routes.
    fn info() -> AdapterInfo;

    /// Client request → pivot (Chat Completions) request.
    fn translate_request(
        req: ClientRequest,
        options: RequestOptions,
    ) -> Result<PivotRequest, AdapterError> {
        let _ = (req, options);
        Err(AdapterError::Unsupported(
            "this adapter does not translate requests".into(),
        ))
    }

    /// Whole pivot response → client response.
    fn translate_response(
        ctx: RequestContext,
        body: Vec<u8>,
    ) -> Result<ClientResponse, AdapterError> {
        let _ = (ctx, body);
        Err(AdapterError::Unsupported(
            "this adapter does not translate whole responses".into(),
        ))
    }

    /// A failure rendered in the client's dialect.
    fn translate_error(ctx: ErrorSite, error: GatewayError) -> ClientResponse;

    /// A local answer (model list, token count, probe).
    fn answer_local(req: ClientRequest, ctx: LocalContext) -> Result<ClientResponse, AdapterError> {
        let _ = (req, ctx);
        Err(AdapterError::Unsupported(
            "this adapter has no local routes".into(),
        ))
    }

    /// Start translating one streamed response.
    fn open_stream(ctx: RequestContext) -> Self::Stream;
}

/// The state of one streamed response. See the `stream-translator` resource in the contract:
/// `push` per upstream event, then exactly one of `finish` or `fail`.
pub trait StreamTranslator: 'static {
    /// One whole upstream event → zero or more framed client events.
    fn push(&mut self, event: SseEvent) -> Result<Vec<u8>, AdapterError>;
    /// Bytes that keep a silent connection alive, or none.
    fn keepalive(&mut self) -> Vec<u8> {
        Vec::new()
    }
    /// The upstream ended: close what is open and send the terminal event.
    fn finish(&mut self) -> Result<Vec<u8>, AdapterError>;
    /// The stream failed: the dialect's terminal error event(s).
    fn fail(&mut self, error: GatewayError) -> Vec<u8>;
}

/// Glue between an [`Adapter`] and the generated export traits. Used by [`register_adapter!`].
#[doc(hidden)]
pub struct Export<A>(PhantomData<A>);

/// A stream resource as the component model sees it: `&self` methods, so the state lives
/// in a `RefCell` (each resource is used by one call at a time).
#[doc(hidden)]
pub struct ExportedStream<A: Adapter>(RefCell<A::Stream>);

impl<A: Adapter> wit_dialect::GuestStreamTranslator for ExportedStream<A> {
    fn new(ctx: RequestContext) -> Self {
        ExportedStream(RefCell::new(A::open_stream(ctx)))
    }
    fn push(&self, event: SseEvent) -> Result<Vec<u8>, AdapterError> {
        self.0.borrow_mut().push(event)
    }
    fn keepalive(&self) -> Vec<u8> {
        self.0.borrow_mut().keepalive()
    }
    fn finish(&self) -> Result<Vec<u8>, AdapterError> {
        self.0.borrow_mut().finish()
    }
    fn fail(&self, error: GatewayError) -> Vec<u8> {
        self.0.borrow_mut().fail(error)
    }
}

impl<A: Adapter> wit_dialect::Guest for Export<A> {
    type StreamTranslator = ExportedStream<A>;

    fn info() -> AdapterInfo {
        A::info()
    }
    fn translate_request(
        req: ClientRequest,
        options: RequestOptions,
    ) -> Result<PivotRequest, AdapterError> {
        A::translate_request(req, options)
    }
    fn translate_response(
        ctx: RequestContext,
        body: Vec<u8>,
    ) -> Result<ClientResponse, AdapterError> {
        A::translate_response(ctx, body)
    }
    fn translate_error(ctx: ErrorSite, error: GatewayError) -> ClientResponse {
        A::translate_error(ctx, error)
    }
    fn answer_local(req: ClientRequest, ctx: LocalContext) -> Result<ClientResponse, AdapterError> {
        A::answer_local(req, ctx)
    }
}

/// Export an [`Adapter`] as the component's implementation of the contract.
///
/// Call it once, at the crate root of an adapter crate: `register_adapter!(MyAdapter);`.
#[macro_export]
macro_rules! register_adapter {
    ($adapter:ty) => {
        // Only the Wasm build exports the component: the export names contain `:`, which a
        // native linker's version script rejects, and native builds are for tests.
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        type __CligateAdapterExport = $crate::Export<$adapter>;
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::export_adapter_component!(__CligateAdapterExport with_types_in $crate::bindings);
    };
}

/// Shorthand constructors for the contract's records.
impl Header {
    /// A header from two string slices.
    pub fn new(name: &str, value: &str) -> Self {
        Header {
            name: name.to_owned(),
            value: value.to_owned(),
        }
    }
}

impl Route {
    /// A route the adapter translates to the backend.
    pub fn translate(method: &str, path: &str) -> Self {
        Route {
            method: method.to_owned(),
            path: path.to_owned(),
            when_header: None,
            action: RouteAction::Translate,
        }
    }
    /// A route the adapter answers itself with `answer_local`.
    pub fn local(method: &str, path: &str) -> Self {
        Route {
            action: RouteAction::Local,
            ..Route::translate(method, path)
        }
    }
    /// Match only requests that carry `header`.
    pub fn when_header(mut self, header: &str) -> Self {
        self.when_header = Some(header.to_owned());
        self
    }
}

impl ClientRequest {
    /// The first value of a header, by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// The first value of a query parameter (not percent-decoded: the names we look for
    /// and their values are plain ASCII).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .as_deref()?
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }
}

impl AdapterError {
    /// The message, whatever the variant.
    pub fn message(&self) -> &str {
        match self {
            AdapterError::InvalidRequest(m)
            | AdapterError::Unsupported(m)
            | AdapterError::Internal(m) => m,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn query_param_finds_plain_values() {
        let req = ClientRequest {
            method: "POST".into(),
            path: "/x".into(),
            query: Some("alt=sse&key=abc&flag".into()),
            headers: vec![Header::new("Content-Type", "application/json")],
            body: Vec::new(),
        };
        assert_eq!(req.query_param("alt"), Some("sse"));
        assert_eq!(req.query_param("key"), Some("abc"));
        assert_eq!(req.query_param("flag"), Some(""));
        assert_eq!(req.query_param("missing"), None);
        assert_eq!(req.header("content-type"), Some("application/json"));
    }
}
