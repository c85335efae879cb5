//! PostgreSQL's md5 password response: `"md5" + hex(md5(hex(md5(password +
//! user)) + salt))`. Weak by today's standards; supported for older
//! upstreams and only when the resource's configuration allows it.

fn hex(digest: &[u8; 16]) -> [u8; 32] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 32];
    for (i, b) in digest.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 0x0f)];
    }
    out
}

/// The PasswordMessage payload answering AuthenticationMD5Password.
pub fn md5_password(user: &[u8], password: &[u8], salt: [u8; 4]) -> Vec<u8> {
    let mut ctx = md5::Context::new();
    ctx.consume(password);
    ctx.consume(user);
    let inner = hex(&ctx.finalize().0);
    let mut ctx = md5::Context::new();
    ctx.consume(inner);
    ctx.consume(salt);
    let outer = hex(&ctx.finalize().0);
    let mut out = Vec::with_capacity(35);
    out.extend_from_slice(b"md5");
    out.extend_from_slice(&outer);
    out
}
