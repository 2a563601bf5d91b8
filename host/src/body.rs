//! Reading a client request body: capped, and decompressed per `Content-Encoding`
//! (zstd, gzip, deflate, br) for every route — Codex compresses its requests with zstd when
//! logged in with ChatGPT. The cap applies to the decompressed size, so a compression bomb
//! stops at the cap instead of filling memory.

use std::io::Read;

use axum::body::Body;
use http_body_util::BodyExt;

use crate::error::GatewayError;

/// Read at most `cap` bytes of `body` (compressed size), then decode it.
pub async fn read_body(
    body: Body,
    content_encoding: Option<&str>,
    cap: usize,
) -> Result<Vec<u8>, GatewayError> {
    let limited = http_body_util::Limited::new(body, cap);
    let raw = match limited.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            if err
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return Err(GatewayError::BodyTooLarge { limit: cap });
            }
            return Err(GatewayError::InvalidRequest(format!(
                "could not read the request body: {err}"
            )));
        }
    };
    decode(&raw, content_encoding, cap)
}

/// Undo `Content-Encoding` (a comma-separated list, applied in order, so undone in reverse).
pub fn decode(
    raw: &[u8],
    content_encoding: Option<&str>,
    cap: usize,
) -> Result<Vec<u8>, GatewayError> {
    let encodings: Vec<String> = content_encoding
        .unwrap_or("")
        .split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e != "identity")
        .collect();
    let mut data = raw.to_vec();
    for encoding in encodings.iter().rev() {
        data = match encoding.as_str() {
            "zstd" => read_capped(
                zstd::stream::read::Decoder::new(data.as_slice()).map_err(|e| bad(encoding, e))?,
                cap,
                encoding,
            )?,
            "gzip" | "x-gzip" => {
                read_capped(flate2::read::GzDecoder::new(data.as_slice()), cap, encoding)?
            }
            "deflate" => read_capped(
                flate2::read::ZlibDecoder::new(data.as_slice()),
                cap,
                encoding,
            )?,
            "br" => read_capped(
                brotli_decompressor::Decompressor::new(data.as_slice(), 8192),
                cap,
                encoding,
            )?,
            other => {
                return Err(GatewayError::InvalidRequest(format!(
                    "unsupported Content-Encoding {other:?} (supported: zstd, gzip, deflate, br)"
                )));
            }
        };
    }
    Ok(data)
}

fn read_capped(reader: impl Read, cap: usize, encoding: &str) -> Result<Vec<u8>, GatewayError> {
    let mut out = Vec::new();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| bad(encoding, e))?;
    if out.len() > cap {
        return Err(GatewayError::BodyTooLarge { limit: cap });
    }
    Ok(out)
}

fn bad(encoding: &str, err: std::io::Error) -> GatewayError {
    GatewayError::InvalidRequest(format!(
        "the {encoding} request body could not be decoded: {err}"
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write;

    #[test]
    fn decodes_zstd_gzip_and_refuses_bombs() {
        let text = br#"{"model":"x","input":"hello"}"#;
        let z = zstd::encode_all(&text[..], 3).unwrap();
        assert_eq!(decode(&z, Some("zstd"), 1 << 20).unwrap(), text);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(decode(&gz, Some("gzip"), 1 << 20).unwrap(), text);
        assert_eq!(decode(text, None, 1 << 20).unwrap(), text);
        let bomb = zstd::encode_all(&vec![b'a'; 10 << 20][..], 19).unwrap();
        assert!(bomb.len() < 10_000);
        assert!(matches!(
            decode(&bomb, Some("zstd"), 1 << 20),
            Err(GatewayError::BodyTooLarge { .. })
        ));
        assert!(matches!(
            decode(b"xx", Some("zstd"), 10),
            Err(GatewayError::InvalidRequest(_))
        ));
        assert!(matches!(
            decode(b"xx", Some("compress"), 10),
            Err(GatewayError::InvalidRequest(_))
        ));
    }
}
