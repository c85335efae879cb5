//! Prints how long building the built-in masker takes and its hold-back.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]
fn main() {
    let t = std::time::Instant::now();
    let m = limen_mask::Masker::new();
    println!(
        "build {:?}, detectors {}, max_holdback {}",
        t.elapsed(),
        m.detector_names().count(),
        m.max_holdback()
    );
}
