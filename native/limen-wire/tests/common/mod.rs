//! Helpers shared by the frontend and backend message tests.

/// Test result.
pub type R = Result<(), Box<dyn std::error::Error>>;

/// A tagged message from its type byte and body.
pub fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// Defines `decode_one`, `roundtrip` and `decode_err` for one decoder type:
/// `$new` builds a decoder, `$msg` is its message type.
#[macro_export]
macro_rules! decoder_helpers {
    ($new:expr, $msg:ident) => {
        /// Decodes exactly one message from `bytes`, checks that its frame is
        /// the whole input, and hands the parsed view to `check`.
        pub fn decode_one(bytes: &[u8], check: impl FnOnce($msg<'_>) -> R) -> R {
            let mut d = $new;
            d.receive_data(bytes)?;
            let (frame, m) = d.next_message()?.ok_or("decoder wanted more bytes")?;
            assert_eq!(frame.raw(), bytes, "frame must be the whole message");
            assert_eq!(frame.offset(), 0);
            check(m)?;
            assert_eq!(d.pending(), 0);
            Ok(())
        }

        /// Encodes `m`, decodes it back, and checks both agree.
        pub fn roundtrip(m: &$msg<'_>) -> R {
            let mut bytes = Vec::new();
            m.try_encode(&mut bytes)?;
            decode_one(&bytes, |back| {
                assert_eq!(&back, m);
                Ok(())
            })
        }

        /// The error kind decoding one message from `bytes` fails with; the
        /// error must be the peer's fault and the decoder must stay failed.
        pub fn decode_err(
            bytes: &[u8],
        ) -> Result<limen_wire::ErrorKind, Box<dyn std::error::Error>> {
            let mut d = $new;
            d.receive_data(bytes)?;
            match d.next_message() {
                Err(e) => {
                    assert!(e.is_remote(), "peer bytes must give a remote error: {e}");
                    assert_eq!(d.next_message().err().map(|e2| e2.kind()), Some(e.kind()));
                    Ok(e.kind())
                }
                Ok(m) => Err(format!("expected an error, got {:?}", m.map(|x| x.1)).into()),
            }
        }
    };
}
