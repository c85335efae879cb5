//! Backend message tests: one module per message family, each checking the
//! decoder against hand-built wire bytes and the encoder against the decoder.
use limen_wire::pg::{BackendDecoder, BackendMessage, Limits};

#[path = "../common/mod.rs"]
mod common;
pub use common::{msg, R};

mod authentication;
mod copy;
mod data_row;
mod decoder;
mod error_notice;
mod row_description;
mod simple;
mod startup_info;

decoder_helpers!(BackendDecoder::new(Limits::default()), BackendMessage);
