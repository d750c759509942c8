//! Run a command and read its output line by line as it arrives (asyncio's
//! `create_subprocess_exec` + `proc.stdout.readline()`).
//!
//! Run: `cargo run -p examples --example subprocess_lines` runs a small shell loop that prints
//! five lines 50 ms apart; each is shown with the time it arrived, proving they are read as
//! they come rather than at exit. Pass a command to run your own:
//! `cargo run -p examples --example subprocess_lines -- ping -c 3 127.0.0.1`.
//! Exits with the child's exit code.

use std::time::Instant;

use tulip::process::{Command, Stdio};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut cmd = match args.split_first() {
        Some((program, rest)) => {
            let mut cmd = Command::new(program);
            cmd.args(rest);
            cmd
        }
        None => Command::shell("for i in 1 2 3 4 5; do echo \"line $i\"; sleep 0.05; done"),
    };
    cmd.stdout(Stdio::piped()).kill_on_drop(true);

    let status = tulip::run(async move {
        let started = Instant::now();
        let mut child = cmd.spawn()?;
        println!("started pid {}", child.id());
        let mut lines = child.stdout.take().expect("stdout is piped").into_reader();
        let mut count = 0;
        loop {
            // read_line keeps asyncio's 64 KiB line limit: a runaway line is an error, not OOM.
            let line = lines.read_line().await?;
            if line.is_empty() {
                break; // end-of-file: the child closed stdout
            }
            count += 1;
            let ms = started.elapsed().as_secs_f64() * 1e3;
            print!("[{ms:7.1} ms] {}", String::from_utf8_lossy(&line));
        }
        let status = child.wait().await?;
        println!("{count} lines, {status}");
        Ok::<_, std::io::Error>(status)
    })?;
    std::process::exit(status.code().unwrap_or(1));
}
