//! Input-token estimates, for `count_tokens` and for usage when a backend reports none.
//!
//! The gateway has no tokenizer for the routed model (and a Wasm adapter should not carry
//! one), so the count is an estimate: **one token per 4 bytes (UTF-8) of text**, rounded
//! up, over everything the model reads — system text, message text, thinking text, tool
//! names, descriptions and input schemas, tool-call inputs and tool results — plus a flat
//! **1,600 tokens per image** (Anthropic's own ceiling for a ~1.15-megapixel image; the
//! real size is unknown without decoding it) and **2,000 per PDF or URL document**.
//! English prose and code run at 3.5–4.5 bytes per token on current tokenizers, so the
//! estimate is within about ±20 % for typical Claude Code traffic — good enough for
//! `/context` and auto-compaction, which only need the order of magnitude right.

use crate::wire::{Block, Content, MessagesRequest};

/// Flat cost of one image.
const IMAGE_TOKENS: u64 = 1_600;
/// Flat cost of a document the gateway cannot read (PDF, URL).
const OPAQUE_DOCUMENT_TOKENS: u64 = 2_000;

/// Estimated input tokens of a Messages (or count_tokens) request.
pub(crate) fn estimate_input_tokens(req: &MessagesRequest) -> u64 {
    let mut count = Count::default();
    if let Some(system) = &req.system {
        count.content(system);
    }
    for message in &req.messages {
        count.content(&message.content);
    }
    for tool in &req.tools {
        count.text(tool.name.as_deref());
        count.text(tool.description.as_deref());
        count.bytes += tool.input_schema.as_ref().map_or(0, |s| s.get().len());
    }
    count.total()
}

/// Estimated tokens of generated text.
pub(crate) fn estimate_output_tokens(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(4)
}

#[derive(Default)]
struct Count {
    bytes: usize,
    fixed: u64,
}

impl Count {
    fn total(&self) -> u64 {
        (self.bytes as u64).div_ceil(4) + self.fixed
    }

    fn text(&mut self, text: Option<&str>) {
        self.bytes += text.map_or(0, str::len);
    }

    fn content(&mut self, content: &Content) {
        match content {
            Content::Text(text) => self.bytes += text.len(),
            Content::Blocks(blocks) => blocks.iter().for_each(|b| self.block(b)),
        }
    }

    fn block(&mut self, block: &Block) {
        match block.kind.as_str() {
            "image" => self.fixed += IMAGE_TOKENS,
            "document" => match block.source.as_ref() {
                Some(source) if source.kind == "text" => self.text(source.data.as_deref()),
                Some(source) if source.kind == "content" => {
                    if let Some(content) = &source.content {
                        self.content(content);
                    }
                }
                _ => self.fixed += OPAQUE_DOCUMENT_TOKENS,
            },
            _ => {
                self.text(block.text.as_deref());
                self.text(block.thinking.as_deref());
                self.text(block.name.as_deref());
                self.text(block.title.as_deref());
                self.bytes += block.input.as_ref().map_or(0, |i| i.get().len());
                if let Some(content) = &block.content {
                    self.content(content);
                }
            }
        }
    }
}
