//! A Python aiohttp server for the client's session features (cookies, auth, uploads, forms,
//! JSON, compressed responses), spawned once per test on two loopback ports (two origins).
//! Skipped through `tulip_test_support::peers` when Python or aiohttp is missing.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};

use tulip_test_support::peers;

const SCRIPT: &str = r#"
import asyncio, gzip, hashlib, json, sys, zlib
from aiohttp import web, BasicAuth
try:
    import brotli
except ImportError:
    brotli = None

BIG = b"".join(b"line %d of a compressible body\n" % i for i in range(20000))

async def login(req):
    r = web.Response(text="welcome")
    r.headers.add("Set-Cookie", "session=s3cret; Path=/; HttpOnly")
    r.headers.add("Set-Cookie", "scoped=app; Path=/app")
    r.headers.add("Set-Cookie", "secure=only-https; Secure")
    r.headers.add("Set-Cookie", "stale=old; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    r.headers.add("Set-Cookie", "evil=1; Domain=example.com")
    return r

async def logout(req):
    r = web.Response(text="bye")
    r.headers.add("Set-Cookie", "session=; Max-Age=0; Path=/")
    return r

async def echo_cookies(req):
    return web.Response(text=req.headers.get("Cookie", "<none>"))

async def set_and_redirect(req):
    r = web.HTTPFound("/echo-cookies")
    r.headers.add("Set-Cookie", "hop=1; Path=/")
    raise r

async def to_other(req):
    # A redirect to the other origin (the other port).
    host = req.query.get("host", "127.0.0.1")
    raise web.HTTPFound("http://%s:%s%s" % (host, req.query["port"], req.query["path"]))

async def need_auth(req):
    h = req.headers.get("Authorization")
    if h is None:
        raise web.HTTPUnauthorized(reason="Who Are You", headers={"WWW-Authenticate": 'Basic realm="t"'})
    a = BasicAuth.decode(h, encoding="utf-8")
    return web.Response(text="%s:%s" % (a.login, a.password))

async def echo_auth(req):
    return web.Response(text=req.headers.get("Authorization", "<none>"))

async def upload(req):
    out = {"content_length": req.content_length, "chunked": req.headers.get("Transfer-Encoding")}
    reader = await req.multipart()
    fields = {}
    while True:
        part = await reader.next()
        if part is None:
            break
        if part.filename is None:
            fields[part.name] = (await part.read()).decode()
        else:
            h, n = hashlib.sha256(), 0
            while True:
                chunk = await part.read_chunk(1 << 16)
                if not chunk:
                    break
                h.update(chunk)
                n += len(chunk)
            fields[part.name] = {"filename": part.filename, "type": part.headers.get("Content-Type"),
                                 "size": n, "sha256": h.hexdigest()}
    out["fields"] = fields
    return web.json_response(out)

async def upload_redirect(req):
    raise web.HTTPTemporaryRedirect("/upload")

async def form(req):
    data = await req.post()
    return web.json_response({"type": req.content_type, "fields": {k: v for k, v in data.items()}})

async def echo_json(req):
    value = await req.json()
    return web.json_response({"type": req.content_type, "got": value})

async def compressed(req):
    coding = req.match_info["coding"]
    if coding == "gzip":
        body = gzip.compress(BIG)
    elif coding == "deflate":
        body = zlib.compress(BIG)
    elif coding == "br":
        if brotli is None:
            return web.Response(status=501, text="python brotli missing")
        body = brotli.compress(BIG)
    return web.Response(body=body, headers={"Content-Encoding": coding,
        "X-Accept-Encoding": req.headers.get("Accept-Encoding", "")})

async def big(req):
    return web.Response(body=BIG)

async def status(req):
    raise web.HTTPNotFound(reason="Nothing Here", headers={"X-Why": "gone"})

async def main():
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.add_routes([
        web.get("/login", login), web.get("/app/login", login), web.get("/logout", logout),
        web.get("/echo-cookies", echo_cookies), web.get("/app/echo-cookies", echo_cookies),
        web.get("/apple/echo-cookies", echo_cookies),
        web.get("/set-and-redirect", set_and_redirect), web.get("/to-other", to_other),
        web.get("/auth", need_auth), web.get("/echo-auth", echo_auth),
        web.post("/upload", upload), web.post("/upload-redirect", upload_redirect),
        web.post("/form", form), web.post("/json", echo_json),
        web.get("/compressed/{coding}", compressed), web.get("/big", big),
        web.get("/status", status),
    ])
    runner = web.AppRunner(app)
    await runner.setup()
    ports = []
    for _ in range(2):
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ports.append(site._server.sockets[0].getsockname()[1])
    print(ports[0], ports[1], "brotli" if brotli else "nobrotli", flush=True)
    # Until the test closes our stdin.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
asyncio.run(main())
"#;

/// The running server; killed on drop.
pub(crate) struct Peer {
    child: Child,
    /// `http://127.0.0.1:PORT` of the first site.
    pub(crate) base: String,
    /// The same app on another port: another origin.
    pub(crate) other: String,
    pub(crate) other_port: u16,
    /// Whether the server's Python has the `brotli` module.
    pub(crate) brotli: bool,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server, or skips (`None`) when Python with aiohttp is missing.
pub(crate) fn start() -> Option<Peer> {
    let py = peers::python(&["aiohttp"])?;
    let mut child = Command::new(py)
        .arg("-c")
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the aiohttp server");
    let mut line = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    let (Some(a), Some(b), Some(br)) = (words.first(), words.get(1), words.get(2)) else {
        let _ = child.kill();
        panic!("the aiohttp server printed {line:?}, not its ports");
    };
    let other_port: u16 = b.parse().unwrap();
    Some(Peer {
        base: format!("http://127.0.0.1:{a}"),
        other: format!("http://127.0.0.1:{other_port}"),
        other_port,
        brotli: *br == "brotli",
        child,
    })
}
