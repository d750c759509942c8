//! Starting children: arguments, environment, working directory, exit codes, bad input.

use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;

use std::os::fd::AsFd;

use tulip_process::{Command, Stdio};

use crate::run;

#[test]
fn bad_input_is_a_clear_error() {
    // (command, expected kind, text the message must contain)
    let file = std::env::current_exe().unwrap();
    let cases: Vec<(Command, ErrorKind, &str)> = vec![
        (
            Command::new("tulip-no-such-program"),
            ErrorKind::NotFound,
            "\"tulip-no-such-program\"",
        ),
        (
            Command::new("/nonexistent/dir/prog"),
            ErrorKind::NotFound,
            "\"/nonexistent/dir/prog\"",
        ),
        (
            {
                let mut c = Command::new("true");
                c.current_dir("/nonexistent-tulip-dir");
                c
            },
            ErrorKind::NotFound,
            "working directory \"/nonexistent-tulip-dir\"",
        ),
        (
            {
                let mut c = Command::new("true");
                c.current_dir(&file);
                c
            },
            ErrorKind::NotADirectory,
            "working directory",
        ),
        (
            Command::new("/etc/passwd"),
            ErrorKind::PermissionDenied,
            "\"/etc/passwd\"",
        ),
    ];
    for (mut cmd, kind, text) in cases {
        let err = cmd.spawn().unwrap_err();
        assert_eq!(err.kind(), kind, "{cmd:?}: {err}");
        assert!(err.to_string().contains(text), "{cmd:?}: {err}");
    }
}

#[test]
fn exit_codes_and_signals_come_back() {
    // (shell script, exit code, terminating signal)
    let cases = [
        ("exit 0", Some(0), None),
        ("exit 3", Some(3), None),
        ("exit 255", Some(255), None),
        ("kill -TERM $$", None, Some(15)),
        ("kill -KILL $$", None, Some(9)),
    ];
    run(async {
        for (script, code, sig) in cases {
            let status = Command::shell(script).status().await.unwrap();
            assert_eq!(status.code(), code, "{script}");
            assert_eq!(status.signal(), sig, "{script}");
        }
    });
}

#[test]
fn args_env_and_cwd_reach_the_child() {
    run(async {
        let out = Command::new("sh")
            .args([
                "-c",
                "printf '%s|%s|%s|%s' \"$1\" \"$TULIP_A\" \"$HOME\" \"$(pwd)\"",
                "sh",
            ])
            .arg("one arg with spaces")
            .env_clear()
            .env("TULIP_A", "a=b")
            .env("PATH", "/usr/bin:/bin")
            .current_dir("/tmp")
            .output()
            .await
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"one arg with spaces|a=b||/tmp");

        let out = Command::new("sh")
            .args(["-c", "printf %s \"${TULIP_GONE-unset}\""])
            .env("TULIP_GONE", "x")
            .env_remove("TULIP_GONE")
            .output()
            .await
            .unwrap();
        assert_eq!(out.stdout, b"unset");
    });
}

#[test]
fn shell_convenience_runs_sh_c() {
    run(async {
        let out = Command::shell("echo out; echo err >&2; exit 4")
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(4));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
    });
}

#[test]
fn output_defaults_stdin_to_null_and_respects_explicit_stdio() {
    run(async {
        // `cat` on a null stdin ends at once instead of waiting for the terminal.
        let out = Command::new("cat").output().await.unwrap();
        assert!(out.status.success());
        assert!(out.stdout.is_empty());

        // Stdout explicitly discarded: nothing is captured.
        let out = Command::shell("echo hidden; echo shown >&2")
            .stdout(Stdio::null())
            .output()
            .await
            .unwrap();
        assert!(out.stdout.is_empty());
        assert_eq!(out.stderr, b"shown\n");
    });
}

#[test]
fn process_group_puts_the_child_in_its_own_group() {
    run(async {
        let mut child = Command::new("sleep")
            .arg("10")
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        // "pid (comm) state ppid pgrp ..."
        let pgrp: u32 = stat[stat.rfind(')').unwrap() + 2..]
            .split(' ')
            .nth(2)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(pgrp, pid);
        child.kill().unwrap();
        assert_eq!(child.wait().await.unwrap().signal(), Some(9));
    });
}

#[test]
fn from_std_command_keeps_its_settings() {
    let mut std = std::process::Command::new("sh");
    std.args(["-c", "echo $TULIP_STD"]).env("TULIP_STD", "kept");
    run(async {
        let out = Command::from(std).output().await.unwrap();
        assert_eq!(out.stdout, b"kept\n");
    });
}

#[test]
fn children_inherit_no_tulip_descriptors() {
    use std::os::fd::AsRawFd;
    run(async {
        // Hold a live child (pidfd + pipes) and a signal listener (socket pair) while spawning.
        let mut other = Command::new("sleep")
            .arg("10")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let _listener = tulip_process::signal::signal(tulip_process::signal::SignalKind::HANGUP);
        let link = |fd: i32| std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap();
        let ours = [
            link(other.stdin.as_ref().unwrap().as_raw_fd()),
            link(other.stdout.as_ref().unwrap().as_fd().as_raw_fd()),
        ];
        // The test harness may itself hand inherited descriptors down (cargo's jobserver
        // pipe), so look for ours by kind and identity rather than by count.
        let out = Command::shell("for f in /proc/self/fd/*; do readlink $f; done")
            .output()
            .await
            .unwrap();
        for target in String::from_utf8(out.stdout).unwrap().lines() {
            assert!(
                !target.contains("pidfd") && !target.starts_with("socket:"),
                "leaked {target}"
            );
            assert!(
                ours.iter().all(|p| p.to_str() != Some(target)),
                "leaked {target}"
            );
        }
        other.kill().unwrap();
    });
}
