//! JSON helpers every adapter needs: parse with a useful message, answer with a JSON body.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{AdapterError, ClientResponse, Header};

/// Parse a request body, turning a failure into `invalid-request` with serde's position and reason.
pub fn parse_request<T: DeserializeOwned>(body: &[u8]) -> Result<T, AdapterError> {
    serde_json::from_slice(body)
        .map_err(|err| AdapterError::InvalidRequest(format!("request body is not valid: {err}")))
}

/// Parse something the backend sent; a failure is the backend's fault, so it is `internal`
/// from the adapter's point of view (the host reports it as a bad upstream answer).
pub fn parse_upstream<T: DeserializeOwned>(body: &[u8]) -> Result<T, AdapterError> {
    serde_json::from_slice(body).map_err(|err| {
        AdapterError::Internal(format!(
            "upstream sent JSON this adapter cannot read: {err}"
        ))
    })
}

/// Serialise to bytes. Our own structs always serialise; an error is reported, not panicked.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, AdapterError> {
    serde_json::to_vec(value)
        .map_err(|err| AdapterError::Internal(format!("cannot serialise JSON: {err}")))
}

/// A JSON response with the given status.
pub fn response<T: Serialize + ?Sized>(status: u16, value: &T) -> ClientResponse {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
    ClientResponse {
        status,
        headers: vec![Header::new("content-type", "application/json")],
        body,
    }
}
