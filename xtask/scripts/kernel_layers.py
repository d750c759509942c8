#!/usr/bin/env python3
"""Split one thread's samples in a `perf record` profile by the layer they land in.

Usage: kernel_layers.py PERF_DATA COMM [PERF_DATA COMM ...]

Made for the servers of `cargo xtask bench --cpu`: record the server's core while one row runs,

    perf record -a -C 0 -F 4000 -o ka.data -- benches --quick --cpu cpu/http_keepalive @tulip

then `kernel_layers.py ka.data tulip-worker-0` prints the share of that thread's samples in:

- user:    user space (the server's own code and libc);
- syscall: what a submission ring such as io_uring would no longer run per operation: the
           system call entry and exit, the per-call descriptor lookup, the read/write/sendto/
           recvfrom wrappers in front of the socket layer, and epoll (waiting, and the
           readiness polls it makes);
- kernel:  everything else in the kernel, which a ring still runs: the socket and TCP/IP
           layers, the copies to and from user memory and their hardening checks, security
           hooks, waking the peer, softirqs, the scheduler.

The syscall share is an upper bound on what io_uring could save: it counts none of the ring's
own cost (request setup, completions, task work).
"""

import re
import subprocess
import sys

SYSCALL = re.compile(
    r"^("
    # entry and exit, and the return-thunk mitigation on it
    r"entry_SYSCALL.*|do_syscall_64|x64_sys_call|syscall_exit.*|syscall_return.*"
    r"|exit_to_user_mode.*|arch_exit_to_user_mode.*|srso.*"
    # the descriptor lookup of each call
    r"|fdget.*|fput|__fget.*|sockfd_lookup.*"
    # the call-specific wrappers in front of the socket layer
    r"|__x64_sys_.*|__sys_.*|ksys_.*|vfs_(read|write)v?|do_(read|write)v|new_sync_(read|write)"
    r"|sock_(read|write)_iter|import_ubuf|import_iovec|__import_iovec|iovec_from_user"
    r"|rw_verify_area|move_addr_to_user|__fsnotify_parent"
    # epoll: the wait, the event copy-out and the readiness polls
    r"|ep_.*|do_epoll_.*|sock_poll|tcp_poll"
    r")$"
)


def layers(path, comm):
    report = subprocess.run(
        ["perf", "report", "-i", path, "--no-children", "--sort", "comm,sym", "-q",
         "--percent-limit", "0"],
        capture_output=True, text=True, check=True,
    ).stdout
    shares = {"user": 0.0, "syscall": 0.0, "kernel": 0.0}
    syscall_syms = {}
    for line in report.splitlines():
        # "  2.51%  tulip-worker-0  [k] do_syscall_64"
        fields = line.split()
        if len(fields) < 4 or fields[1] != comm:
            continue
        pct, kind, sym = float(fields[0].rstrip("%")), fields[2], fields[3]
        if kind == "[.]":
            layer = "user"
        elif SYSCALL.match(sym):
            layer = "syscall"
            syscall_syms[sym] = syscall_syms.get(sym, 0.0) + pct
        else:
            layer = "kernel"
        shares[layer] += pct
    total = sum(shares.values())
    if total == 0:
        sys.exit(f"{path}: no samples of a thread named {comm!r}")
    top = sorted(syscall_syms.items(), key=lambda kv: -kv[1])[:6]
    return {k: 100 * v / total for k, v in shares.items()}, [(s, 100 * p / total) for s, p in top]


def main(argv):
    if len(argv) < 2 or len(argv) % 2:
        sys.exit(__doc__.split("\n\n")[1])
    for path, comm in zip(argv[0::2], argv[1::2]):
        shares, top = layers(path, comm)
        print(f"{path} {comm}: " + " ".join(f"{k} {v:.1f}%" for k, v in shares.items()))
        print("    syscall: " + ", ".join(f"{s} {p:.2f}" for s, p in top))


if __name__ == "__main__":
    main(sys.argv[1:])
