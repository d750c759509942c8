//! File upload with a streaming multipart reader (aiohttp's "file upload" handler,
//! `store_mp3_handler`): the first part is a text field `name`, the second the file `mp3`,
//! which is written to disk piece by piece and never held whole in memory.
//!
//! Run: `cargo run -p examples --example http_upload -- DIR` stores uploads in DIR and serves
//! on 127.0.0.1:8083; try
//! `curl -F name=song -F mp3=@some.mp3 http://127.0.0.1:8083/store`.
//! With `--self-test` it uploads a 3 MiB file to itself in a temporary directory, checks the
//! stored copy, prints the answer and exits:
//!
//! ```text
//! POST /store -> 200 "song.mp3 (name: my song) sized of 3145728 successfully stored"
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tulip_http::{App, Client, Error, Method, Request, Response, Server, StatusCode};

/// Uploads may be large: this route allows 1 GiB bodies (the default is 1 MiB).
const MAX_UPLOAD: u64 = 1 << 30;

async fn store(mut req: Request, dir: Arc<PathBuf>) -> Result<Response, Error> {
    let mut reader = req.multipart()?;
    let Some(mut field) = reader.next_part().await? else {
        return Ok(Response::text("empty form").with_status(StatusCode::BAD_REQUEST));
    };
    if field.name() != Some("name") {
        return Ok(
            Response::text("the first field must be 'name'").with_status(StatusCode::BAD_REQUEST)
        );
    }
    let name = field.text().await?;
    let Some(mut field) = reader.next_part().await? else {
        return Ok(Response::text("no 'mp3' field").with_status(StatusCode::BAD_REQUEST));
    };
    // Never trust a client's file name as a path: keep only its last component.
    let Some(filename) = field
        .filename()
        .and_then(|f| Path::new(f).file_name())
        .map(|f| f.to_string_lossy().into_owned())
    else {
        return Ok(Response::text("'mp3' must be a file").with_status(StatusCode::BAD_REQUEST));
    };
    let file = std::fs::File::create(dir.join(&filename))?;
    let size = field.write_to(std::io::BufWriter::new(file)).await?;
    Ok(Response::text(format!(
        "{filename} (name: {name}) sized of {size} successfully stored"
    )))
}

fn app(dir: PathBuf) -> App {
    let dir = Arc::new(dir);
    App::new().route_with_limit(Method::POST, "/store", MAX_UPLOAD, move |req| {
        store(req, dir.clone())
    })
}

fn multipart_body(boundary: &str, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nmy song\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"mp3\"; filename=\"song.mp3\"\r\n\
             Content-Type: audio/mpeg\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--self-test") {
        let dir = PathBuf::from(args.first().cloned().unwrap_or_else(|| ".".into()));
        println!(
            "storing uploads in {} on http://127.0.0.1:8083/store",
            dir.display()
        );
        app(dir).run("127.0.0.1:8083")?;
        return Ok(());
    }
    let dir =
        std::env::temp_dir().join(format!("tulip-http-upload-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let data: Vec<u8> = (0..3u32 << 20).map(|i| (i % 251) as u8).collect();
    let result = tulip_executor::run(async {
        let server = Server::bind("127.0.0.1:0", app(dir.clone()))?;
        let url = format!("http://{}/store", server.local_addr());
        let stop = server.shutdown_handle();
        let running = tulip_executor::spawn(server.run());
        let boundary = "tulip-example-boundary";
        let reply = Client::new()
            .post(&url)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(multipart_body(boundary, &data))
            .send()
            .await?;
        let status = reply.status();
        let text = reply.text().await?;
        println!("POST /store -> {} {text:?}", status.as_u16());
        stop.shutdown();
        running.await.map_err(|e| format!("{e:?}"))??;
        let stored = std::fs::read(dir.join("song.mp3"))?;
        if status != StatusCode::OK || stored != data {
            return Err("the upload was not stored intact".into());
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}
