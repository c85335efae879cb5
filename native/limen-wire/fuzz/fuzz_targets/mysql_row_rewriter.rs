//! Fuzz the text row rewriter: arbitrary row bytes and a per-column plan.
//! A changed row must parse back with the planned values; an unchanged one
//! writes nothing.
#![no_main]
use libfuzzer_sys::fuzz_target;
use limen_wire::mysql::resultset::{Action, Rewrite};
use limen_wire::mysql::{TextRow, TextRowRewriter};

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, row)) = data.split_first() else {
        return;
    };
    let cols = usize::from(ctl & 15);
    let mut rw = TextRowRewriter::new(1 << 16);
    let mut out = Vec::new();
    let plan = |i: usize| (ctl >> 4).rotate_left(i as u32) & 3;
    let res = rw.try_rewrite(row, cols, 3, &mut out, |i, v, buf| match plan(i) {
        1 => Action::Null,
        2 => {
            buf.extend_from_slice(b"###");
            Action::Replace
        }
        3 => {
            buf.extend_from_slice(v.unwrap_or_default());
            Action::Replace
        }
        _ => Action::Keep,
    });
    match res {
        Ok((Rewrite::Unchanged, _)) => assert!(out.is_empty()),
        Ok((Rewrite::Changed, next)) => {
            assert_eq!(next, 4);
            let back = TextRow::try_parse(&out[4..], cols);
            assert!(back.is_ok());
        }
        Err(_) => assert!(TextRow::try_parse(row, cols).is_err() || out.is_empty()),
    }
});
