//! A processor that misbehaves on purpose, for the sandbox tests. Config:
//! `{"mode": "...", "after": N}`; it behaves (tags items `misbehave=ok`) for the first `after`
//! batches, then: `spin` loops forever, `hog` allocates without bound, `panic` panics,
//! `error` returns an error, `invalid` writes to an item that does not exist,
//! `panic-init` panics in init, `reject` rejects its config, `sense` reports what it can see
//! of the outside world (clock seconds, `WEIR_TEST_SECRET`) as attributes, `print` writes a
//! line to stdout and one to stderr and then behaves.

use weir_plugin::{Batch, Config, Level, Processor};

/// Which misbehaviour, and after how many good batches.
#[derive(serde::Deserialize)]
pub struct Misbehave {
    mode: String,
    #[serde(default)]
    after: u32,
    #[serde(skip)]
    seen: u32,
}

impl Processor for Misbehave {
    fn init(config: Config) -> Result<Self, String> {
        let m: Misbehave = config.parse()?;
        match m.mode.as_str() {
            "panic-init" => panic!("misbehave: panicking in init as configured"),
            "reject" => Err("misbehave: rejecting this config as asked".into()),
            _ => Ok(m),
        }
    }

    fn process(&mut self, batch: &Batch) -> Result<(), String> {
        self.seen += 1;
        if self.seen <= self.after {
            batch.set_attribute(Level::Item, "misbehave", "ok");
            return Ok(());
        }
        match self.mode.as_str() {
            "spin" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "hog" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => panic!("misbehave: panicking in process as configured"),
            "error" => Err("misbehave: failing this batch as configured".into()),
            "sense" => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let secret = std::env::var("WEIR_TEST_SECRET").unwrap_or_else(|_| "unset".into());
                batch.set_attribute(Level::Item, "clock", now.to_string());
                batch.set_attribute(Level::Item, "secret", secret);
                Ok(())
            }
            "print" => {
                println!("misbehave: batch {} on stdout", self.seen);
                eprintln!("misbehave: batch {} on stderr", self.seen);
                batch.set_attribute(Level::Item, "misbehave", "ok");
                Ok(())
            }
            "invalid" => {
                batch.item(batch.len() + 10).set_attribute("x", "y");
                Ok(())
            }
            other => Err(format!("unknown mode {other}")),
        }
    }
}

weir_plugin::export_processor!(Misbehave);
