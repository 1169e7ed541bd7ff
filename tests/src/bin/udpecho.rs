//! A UDP echo server for the network tests (busybox's nc has no UDP):
//! `udpecho PORT` binds 0.0.0.0:PORT, prints `ready`, then answers every
//! datagram with `echo:` and the datagram, until one says `quit`.

use std::io::Write;
use std::net::UdpSocket;

fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("usage: udpecho PORT");
    let sock = UdpSocket::bind(("0.0.0.0", port)).expect("bind");
    println!("ready");
    let _ = std::io::stdout().flush();
    let mut buf = [0u8; 2048];
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        if &buf[..n] == b"quit" {
            return;
        }
        let mut reply = b"echo:".to_vec();
        reply.extend_from_slice(&buf[..n]);
        let _ = sock.send_to(&reply, from);
    }
}
