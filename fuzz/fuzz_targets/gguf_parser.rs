//! Fuzz the streaming GGUF parser: any bytes, split into chunks of a size taken from the
//! input, with and without the total length. It must never panic, and a file accepted whole
//! must be accepted identically when streamed.
//!
//!     cargo install cargo-fuzz
//!     cd fuzz && cargo +nightly fuzz run gguf_parser -- -max_total_time=300
#![no_main]

use braid::gguf::{parse_index, GgufParser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (chunk, bytes) = match data.split_first() {
        Some((c, rest)) => (1 + *c as usize, rest),
        None => (1, data),
    };
    let whole = parse_index(bytes);
    let mut p = GgufParser::new();
    let mut err = false;
    for c in bytes.chunks(chunk) {
        if p.feed(c).is_err() {
            err = true;
            break;
        }
    }
    if !err {
        err = p.finish().is_err();
    }
    if let Ok(index) = whole {
        assert!(!err, "accepted whole but rejected when streamed");
        // Compared as text (NaN metadata values are not equal to themselves), field by field
        // (the lookup maps print in random order).
        let show = |i: &braid::gguf::GgufIndex| format!("{:?}", (i.version, &i.metadata, &i.tensors, i.alignment, i.data_start));
        assert_eq!(p.index().map(show), Some(show(&index)));
    }
});
