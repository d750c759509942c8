//! Interop with Python's asyncio: its echo server against our client, our servers against
//! its client. Skips through
//! `tulip_test_support::peers` when no Python 3 is available.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use tulip_net::{Protocol, Transport, create_server, open_connection, start_server};
use tulip_test_support::peers;

use crate::{localhost, run};

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const PY_ECHO_SERVER: &str = r#"
import asyncio, sys
async def handle(r, w):
    while True:
        line = await r.readline()
        if not line:
            break
        w.write(line)
        await w.drain()
    w.close()
async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await asyncio.wait_for(srv.serve_forever(), 15)
try:
    asyncio.run(main())
except (asyncio.TimeoutError, asyncio.CancelledError):
    pass
"#;

const PY_CLIENT: &str = r#"
import asyncio, sys
async def main(port):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    for i in range(50):
        msg = f"line {i} ".encode() * (i + 1) + b"\n"
        w.write(msg)
        await w.drain()
        back = await asyncio.wait_for(r.readline(), 5)
        assert back == msg, (back, msg)
    w.write_eof()
    rest = await asyncio.wait_for(r.read(), 5)
    assert rest == b"", rest
    w.close()
    print("ok", flush=True)
asyncio.run(main(int(sys.argv[1])))
"#;

#[test]
fn our_client_against_python_asyncio_echo_server() {
    let Some(py) = peers::python(&["asyncio"]) else {
        return;
    };
    let mut child = Kill(
        Command::new(py)
            .args(["-c", PY_ECHO_SERVER])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().expect("port from python");
    run(async move {
        let (mut r, mut w) = open_connection("127.0.0.1", port).await.unwrap();
        for i in 0..50 {
            let msg = format!("{i} {}\n", "x".repeat(i * 100));
            w.write(msg.as_bytes());
            w.drain().await.unwrap();
            assert_eq!(r.read_line().await.unwrap(), msg.as_bytes());
        }
        w.write_eof().await.unwrap();
        assert_eq!(r.read_line().await.unwrap(), b"");
    });
}

fn run_python_client(py: &OsStr, port: u16) {
    let out = Command::new(py)
        .args(["-c", PY_CLIENT, &port.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stdout.starts_with(b"ok"),
        "python client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn python_asyncio_client_against_our_stream_server() {
    let Some(py) = peers::python(&["asyncio"]) else {
        return;
    };
    run(async move {
        let server = start_server(
            |mut r, mut w| async move {
                while let Ok(line) = r.read_line().await {
                    if line.is_empty() {
                        break;
                    }
                    w.write(&line);
                    if w.drain().await.is_err() {
                        return;
                    }
                }
                let _ = w.wait_closed().await;
            },
            localhost(),
        )
        .unwrap();
        let port = server.local_addr().unwrap().port();
        tulip_executor::spawn_blocking(move || run_python_client(&py, port))
            .await
            .unwrap();
        server.close();
        server.wait_closed().await;
    });
}

struct Echo(Option<Transport>);

impl Protocol for Echo {
    fn connection_made(&mut self, t: Transport) {
        self.0 = Some(t);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.0.as_ref().unwrap().write(data);
    }
}

#[test]
fn python_asyncio_client_against_our_protocol_server() {
    let Some(py) = peers::python(&["asyncio"]) else {
        return;
    };
    run(async move {
        let server = create_server(|| Echo(None), localhost()).unwrap();
        let port = server.local_addr().unwrap().port();
        tulip_executor::spawn_blocking(move || run_python_client(&py, port))
            .await
            .unwrap();
        server.close();
        server.wait_closed().await;
    });
}
