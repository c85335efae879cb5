//! FunctionCall.
use super::{decode_err, decode_one, R};
use limen_wire::pg::frontend::FunctionCall;
use limen_wire::pg::FrontendMessage;
use limen_wire::ErrorKind;

#[test]
fn function_call_roundtrip() -> R {
    let mut bytes = Vec::new();
    let args: [Option<&[u8]>; 2] = [Some(b"\0\0\0\x01"), None];
    FunctionCall::encode_parts(1598, &[1], &args, 1, &mut bytes)?;
    decode_one(&bytes, |m| {
        let FrontendMessage::FunctionCall(f) = m else {
            return Err("not FunctionCall".into());
        };
        assert_eq!(f.function_oid, 1598);
        assert_eq!(f.arg_formats.to_vec(), vec![1]);
        assert_eq!(f.args.to_vec(), args.to_vec());
        assert_eq!(f.result_format, 1);
        Ok(())
    })
}

#[test]
fn function_call_missing_result_format_is_truncated() -> R {
    let body = [0, 0, 6, 62, 0, 0, 0, 0];
    assert_eq!(decode_err(&super::msg(b'F', &body))?, ErrorKind::Truncated);
    Ok(())
}
