//! A tiny recording TCP proxy used to capture real PostgreSQL sessions as
//! test fixtures (see `tests/data/record.sh`).
//!
//! `pg_record OUT_PREFIX CONNECTIONS [UPSTREAM]` listens on 127.0.0.1 with a
//! port chosen by the OS, prints the port on stdout, relays `CONNECTIONS`
//! connections one after another to UPSTREAM (default 127.0.0.1:5432), and
//! writes each direction of connection N to `OUT_PREFIX-N.fe.bin` (client to
//! server) and `OUT_PREFIX-N.be.bin` (server to client). Loopback only.
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;

fn pump(mut from: TcpStream, mut to: TcpStream, mut log: File) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            let _ = to.shutdown(Shutdown::Write);
            return Ok(());
        }
        log.write_all(&buf[..n])?;
        to.write_all(&buf[..n])?;
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(prefix), Some(count)) = (args.get(1), args.get(2)) else {
        return Err("usage: pg_record OUT_PREFIX CONNECTIONS [UPSTREAM]".into());
    };
    let count: usize = count.parse()?;
    let upstream = args
        .get(3)
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:5432".to_owned());
    let listener = TcpListener::bind("127.0.0.1:0")?;
    println!("{}", listener.local_addr()?.port());
    std::io::stdout().flush()?;
    for n in 0..count {
        let (client, _) = listener.accept()?;
        let server = TcpStream::connect(&upstream)?;
        let fe = File::create(format!("{prefix}-{n}.fe.bin"))?;
        let be = File::create(format!("{prefix}-{n}.be.bin"))?;
        let (c2, s2) = (client.try_clone()?, server.try_clone()?);
        let up = thread::spawn(move || pump(client, server, fe));
        let down = thread::spawn(move || pump(s2, c2, be));
        up.join().map_err(|_| "relay thread panicked")??;
        down.join().map_err(|_| "relay thread panicked")??;
    }
    Ok(())
}
