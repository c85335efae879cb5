//! Frontend message tests: one module per message family, each checking the
//! decoder against hand-built wire bytes and the encoder against the decoder.
use limen_wire::pg::{FrontendDecoder, FrontendMessage, Limits};

#[path = "../common/mod.rs"]
mod common;
pub use common::{msg, R};

mod bind;
mod control;
mod copy;
mod decoder;
mod function_call;
mod parse;
mod password;
mod query;
mod startup;
mod target;

decoder_helpers!(
    FrontendDecoder::new_regular(Limits::default()),
    FrontendMessage
);
