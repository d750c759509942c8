// `main` returning a `Result`, with `?` and an early `return` in the body.
#[tulip::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u32 = "42".parse()?;
    if n != 42 {
        return Err("wrong number".into());
    }
    tulip::sleep(std::time::Duration::from_millis(1)).await;
    Ok(())
}
