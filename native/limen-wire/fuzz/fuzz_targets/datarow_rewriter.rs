//! Fuzz the DataRow rewriter on arbitrary bodies with a callback driven by
//! the input: the output must be exactly one valid DataRow with the expected
//! values, or nothing at all.
#![no_main]
use libfuzzer_sys::fuzz_target;
use limen_wire::pg::{Action, BackendDecoder, BackendMessage, Rewrite, RowRewriter};

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, body)) = data.split_first() else {
        return;
    };
    let mut rw = RowRewriter::new(1 << 16);
    let mut out = vec![0xee];
    let mut expected: Vec<Option<Vec<u8>>> = Vec::new();
    let r = rw.try_rewrite(body, &mut out, |i, v, s| {
        let action = match (ctl.rotate_left(i as u32)) % 3 {
            0 => Action::Keep,
            1 => Action::Null,
            _ => {
                s.extend_from_slice(&body[..body.len().min(i * 3)]);
                Action::Replace
            }
        };
        expected.push(match action {
            Action::Keep => v.map(<[u8]>::to_vec),
            Action::Null => None,
            Action::Replace => Some(s.clone()),
        });
        action
    });
    match r {
        Err(_) | Ok(Rewrite::Unchanged) => assert_eq!(out, vec![0xee]),
        Ok(Rewrite::Changed) => {
            let mut d = BackendDecoder::default();
            assert!(d.receive_data(&out[1..]).is_ok());
            match d.next_message() {
                Ok(Some((f, BackendMessage::DataRow(row)))) => {
                    assert_eq!(f.raw().len(), out.len() - 1);
                    let got: Vec<Option<Vec<u8>>> =
                        row.values.iter().map(|v| v.map(<[u8]>::to_vec)).collect();
                    assert_eq!(got, expected);
                }
                _ => panic!("rewritten row does not decode"),
            }
        }
    }
});
