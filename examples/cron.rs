//! aiocron: run a job on a crontab schedule.
//!
//! A small crontab parser (six fields: second minute hour day-of-month month day-of-week;
//! `*`, `*/n`, `a-b`, `a-b/n` and comma lists) computes the next matching second, and a task
//! sleeps until then. Times are UTC.
//!
//! Run: `cargo run -p examples --example cron -- "*/2 * * * * *"` to print a line every two
//! seconds until Ctrl-C; `--self-test` runs an every-second job three times and exits.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tulip::{sleep, spawn};

/// One field of a crontab line: which values match.
#[derive(Debug, Clone)]
struct Field(Vec<bool>);

impl Field {
    fn parse(text: &str, min: u32, max: u32) -> Result<Field, String> {
        let mut set = vec![false; max as usize + 1];
        for part in text.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((r, s)) => (
                    r,
                    s.parse::<u32>()
                        .map_err(|_| format!("bad step in {part:?}"))?,
                ),
                None => (part, 1),
            };
            if step == 0 {
                return Err(format!("zero step in {part:?}"));
            }
            let (lo, hi) = if range == "*" {
                (min, max)
            } else if let Some((a, b)) = range.split_once('-') {
                (num(a)?, num(b)?)
            } else {
                let v = num(range)?;
                (v, if part.contains('/') { max } else { v })
            };
            if lo < min || hi > max || lo > hi {
                return Err(format!("{part:?} is outside {min}-{max}"));
            }
            for v in (lo..=hi).step_by(step as usize) {
                set[v as usize] = true;
            }
        }
        Ok(Field(set))
    }

    fn has(&self, v: u32) -> bool {
        self.0.get(v as usize).copied().unwrap_or(false)
    }
}

fn num(s: &str) -> Result<u32, String> {
    s.parse().map_err(|_| format!("{s:?} is not a number"))
}

/// A parsed six-field crontab expression.
#[derive(Debug, Clone)]
struct Cron {
    sec: Field,
    min: Field,
    hour: Field,
    dom: Field,
    month: Field,
    dow: Field,
}

impl Cron {
    fn parse(expr: &str) -> Result<Cron, String> {
        let f: Vec<&str> = expr.split_whitespace().collect();
        let [sec, min, hour, dom, month, dow] = f[..] else {
            return Err(format!(
                "expected 6 fields (sec min hour dom month dow), got {}",
                f.len()
            ));
        };
        Ok(Cron {
            sec: Field::parse(sec, 0, 59)?,
            min: Field::parse(min, 0, 59)?,
            hour: Field::parse(hour, 0, 23)?,
            dom: Field::parse(dom, 1, 31)?,
            month: Field::parse(month, 1, 12)?,
            dow: Field::parse(dow, 0, 6)?,
        })
    }

    fn matches(&self, unix: u64) -> bool {
        let (y_m_d, rem) = (civil(unix / 86_400), unix % 86_400);
        let dow = ((unix / 86_400 + 4) % 7) as u32; // 1970-01-01 was a Thursday
        self.sec.has((rem % 60) as u32)
            && self.min.has((rem / 60 % 60) as u32)
            && self.hour.has((rem / 3600) as u32)
            && self.dom.has(y_m_d.2)
            && self.month.has(y_m_d.1)
            && self.dow.has(dow)
    }

    /// The first matching second strictly after `unix` (searches up to four years ahead).
    fn next_after(&self, unix: u64) -> Option<u64> {
        (unix + 1..unix + 4 * 366 * 86_400).find(|&t| self.matches(t))
    }
}

/// Days since the epoch to (year, month, day) (Howard Hinnant's civil_from_days).
fn civil(days: u64) -> (i64, u32, u32) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Runs `job` at every time matching `cron`, `times` times (or forever).
async fn schedule(cron: Cron, times: Option<usize>, job: impl Fn(u64) + Send + 'static) {
    let mut n = 0;
    loop {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock before 1970");
        let Some(next) = cron.next_after(now.as_secs()) else {
            return;
        };
        sleep(Duration::from_secs(next) - now).await;
        job(next);
        n += 1;
        if times.is_some_and(|t| n >= t) {
            return;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let self_test = args.iter().any(|a| a == "--self-test");
    let expr = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "* * * * * *".into());
    let cron = match Cron::parse(&expr) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bad crontab expression {expr:?}: {e}");
            std::process::exit(2);
        }
    };
    if self_test {
        // The parser against a few known answers before running anything.
        let c = Cron::parse("0 30 9 * * 1-5").unwrap();
        // 2026-11-23 is a Monday: 09:30:00 UTC matches, Sunday the 22nd does not.
        assert!(c.matches(1_795_426_200));
        assert!(!c.matches(1_795_339_800));
        assert!(Cron::parse("* * * * *").is_err());
        assert!(Cron::parse("61 * * * * *").is_err());
    }
    let times = self_test.then_some(3);
    tulip::run(async move {
        let job = spawn(schedule(cron, times, |t| {
            println!("job ran at unix second {t}")
        }));
        job.await.expect("scheduler failed");
    });
}
