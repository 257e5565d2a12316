#![cfg(not(target_arch = "wasm32"))]
//! The streaming GGUF parser: round trips at every chunk size, a corruption matrix of
//! malformed files (each must give its typed error, never a panic), and random-byte and
//! random-truncation property tests.

use braid::gguf::{
    parse_index, Array, Event, GgmlType, GgufError, GgufIndex, GgufParser, Value,
};
use braid::gguf::writer::GgufWriter;
use braid::synth::Rng;

/// Parse `bytes` in chunks of `chunk`; returns the index and each tensor's reassembled bytes.
fn parse_chunked(bytes: &[u8], chunk: usize, total: bool) -> Result<(GgufIndex, Vec<Vec<u8>>), GgufError> {
    let mut p = GgufParser::new();
    if total {
        p = p.with_total_len(bytes.len() as u64);
    }
    let mut data: Vec<Vec<u8>> = vec![];
    let mut ended = vec![];
    let mut index_seen_at = None;
    for (ci, c) in bytes.chunks(chunk.max(1)).enumerate() {
        for ev in p.feed(c)? {
            match ev {
                Event::IndexReady => {
                    index_seen_at = Some(ci);
                    data = vec![vec![]; p.index().unwrap().tensors.len()];
                }
                Event::TensorData { tensor, offset, data: d } => {
                    assert_eq!(offset as usize, data[tensor].len(), "bytes arrive in order");
                    data[tensor].extend_from_slice(d);
                }
                Event::TensorEnd { tensor } => ended.push(tensor),
            }
        }
    }
    p.finish()?;
    assert!(index_seen_at.is_some());
    let index = p.take_index().unwrap();
    assert_eq!(ended, (0..index.tensors.len()).collect::<Vec<_>>());
    Ok((index, data))
}

fn sample_writer(alignment: Option<u32>, version: u32) -> (GgufWriter, Vec<Vec<u8>>) {
    let mut w = GgufWriter::new();
    w.version = version;
    w.kv("general.architecture", Value::String("llama".into()));
    if let Some(a) = alignment {
        w.kv("general.alignment", Value::U32(a));
    }
    w.kv("t.u8", Value::U8(200)).kv("t.i8", Value::I8(-5)).kv("t.u16", Value::U16(65000))
        .kv("t.i16", Value::I16(-300)).kv("t.u32", Value::U32(4_000_000_000)).kv("t.i32", Value::I32(-7))
        .kv("t.f32", Value::F32(1.5)).kv("t.bool", Value::Bool(true)).kv("t.u64", Value::U64(1 << 40))
        .kv("t.i64", Value::I64(-(1 << 40))).kv("t.f64", Value::F64(-2.25))
        .kv("t.str", Value::String("héllo ✓".into()))
        .kv("t.arr_str", Value::Array(Array::String(vec!["a".into(), "".into(), "ccc".into()])))
        .kv("t.arr_f32", Value::Array(Array::F32(vec![1.0, -2.0, 3.5])))
        .kv("t.arr_empty", Value::Array(Array::I32(vec![])))
        .kv("t.nested", Value::Array(Array::Array(vec![Array::U8(vec![1, 2]), Array::String(vec!["x".into()])])));
    let mut rng = Rng::new(7);
    let shapes: [(&str, GgmlType, &[u64]); 4] = [
        ("a", GgmlType::F32, &[3, 5]),
        ("b.weight", GgmlType::Q8_0, &[64, 3]),
        ("c", GgmlType::Q6_K, &[256, 2, 1, 2]),
        ("d", GgmlType::F16, &[7]),
    ];
    let mut data = vec![];
    for (name, ty, dims) in shapes {
        w.tensor(name, ty, dims);
        let n = w.tensors().last().unwrap().n_bytes as usize;
        data.push(rng.bytes(n));
    }
    (w, data)
}

#[test]
fn round_trip_at_every_chunk_size() {
    for (alignment, version) in [(None, 3), (Some(1), 3), (Some(64), 2), (Some(4096), 3)] {
        let (w, data) = sample_writer(alignment, version);
        let bytes = w.to_bytes(&data);
        for chunk in [1, 2, 3, 5, 7, 13, 64, 1000, bytes.len()] {
            for total in [false, true] {
                let (index, got) = parse_chunked(&bytes, chunk, total).unwrap();
                assert_eq!(index.version, version);
                assert_eq!(index.alignment, alignment.unwrap_or(32) as u64);
                assert_eq!(got, data, "chunk {chunk}");
                assert_eq!(index.get("t.i64"), Some(&Value::I64(-(1 << 40))));
                assert_eq!(index.get("t.str").and_then(Value::as_str), Some("héllo ✓"));
                assert_eq!(index.get("t.nested"), Some(&Value::Array(Array::Array(vec![Array::U8(vec![1, 2]), Array::String(vec!["x".into()])]))));
                assert_eq!(index.get("t.arr_empty"), Some(&Value::Array(Array::I32(vec![]))));
                let c = index.tensor("c").unwrap();
                assert_eq!((c.ty, c.dims.clone(), c.n_bytes, c.n_rows()), (GgmlType::Q6_K, vec![256, 2, 1, 2], 840, 4));
                assert_eq!(index.data_start % index.alignment, 0);
                assert_eq!(index.metadata.len(), 17 + alignment.is_some() as usize);
            }
        }
    }
}

#[test]
fn zero_tensor_file_parses() {
    let mut w = GgufWriter::new();
    w.kv("general.architecture", Value::String("llama".into()));
    let bytes = w.to_bytes(&[]);
    let index = parse_index(&bytes).unwrap();
    assert!(index.tensors.is_empty());
    // Without trailing padding too (vocab-only files end right after the index).
    let unpadded = &bytes[..8 + 4 + 16 + 8 + 20 + 4 + 8 + 5];
    let (index, _) = parse_chunked(unpadded, 3, false).unwrap();
    assert_eq!(index.architecture(), Some("llama"));
}

#[test]
fn index_arrives_before_tensor_data() {
    let (w, data) = sample_writer(None, 3);
    let bytes = w.to_bytes(&data);
    let index = parse_index(&bytes).unwrap();
    // Feeding exactly the index bytes yields IndexReady and no data.
    let mut p = GgufParser::new();
    let evs = p.feed(&bytes[..index.data_start as usize]).unwrap();
    assert_eq!(evs, vec![Event::IndexReady]);
    assert!(p.in_data());
}

// ------------------------------------------------------------------- corruption matrix

/// A GGUF file spelled out field by field, so each case can break exactly one thing.
#[derive(Clone)]
struct Raw {
    magic: [u8; 4],
    version: u32,
    n_tensors: Option<u64>,
    n_kv: Option<u64>,
    kvs: Vec<Vec<u8>>,
    tensors: Vec<RawTensor>,
    alignment: u64,
    data_len: u64,
}

#[derive(Clone)]
struct RawTensor {
    name_len: Option<u64>,
    name: Vec<u8>,
    n_dims: Option<u32>,
    dims: Vec<u64>,
    ty: u32,
    offset: u64,
}

fn s(out: &mut Vec<u8>, x: &str) {
    out.extend_from_slice(&(x.len() as u64).to_le_bytes());
    out.extend_from_slice(x.as_bytes());
}

fn kv_u32(key: &str, v: u32) -> Vec<u8> {
    let mut o = vec![];
    s(&mut o, key);
    o.extend_from_slice(&4u32.to_le_bytes());
    o.extend_from_slice(&v.to_le_bytes());
    o
}

fn kv_raw(key: &str, ty: u32, payload: &[u8]) -> Vec<u8> {
    let mut o = vec![];
    s(&mut o, key);
    o.extend_from_slice(&ty.to_le_bytes());
    o.extend_from_slice(payload);
    o
}

fn tensor(name: &str, dims: &[u64], ty: u32, offset: u64) -> RawTensor {
    RawTensor { name_len: None, name: name.as_bytes().to_vec(), n_dims: None, dims: dims.to_vec(), ty, offset }
}

impl Raw {
    fn valid() -> Raw {
        let mut arch = vec![];
        s(&mut arch, "general.architecture");
        arch.extend_from_slice(&8u32.to_le_bytes());
        s(&mut arch, "llama");
        Raw {
            magic: *b"GGUF",
            version: 3,
            n_tensors: None,
            n_kv: None,
            kvs: vec![arch, kv_u32("llama.block_count", 2)],
            // F32 [8, 2] = 64 bytes, Q8_0 [32, 2] = 68 bytes (padded to 96)
            tensors: vec![tensor("a.weight", &[8, 2], 0, 0), tensor("b.weight", &[32, 2], 8, 64)],
            alignment: 32,
            data_len: 64 + 96,
        }
    }
    fn encode(&self) -> Vec<u8> {
        let mut o = vec![];
        o.extend_from_slice(&self.magic);
        o.extend_from_slice(&self.version.to_le_bytes());
        o.extend_from_slice(&self.n_tensors.unwrap_or(self.tensors.len() as u64).to_le_bytes());
        o.extend_from_slice(&self.n_kv.unwrap_or(self.kvs.len() as u64).to_le_bytes());
        for kv in &self.kvs {
            o.extend_from_slice(kv);
        }
        for t in &self.tensors {
            o.extend_from_slice(&t.name_len.unwrap_or(t.name.len() as u64).to_le_bytes());
            o.extend_from_slice(&t.name);
            o.extend_from_slice(&t.n_dims.unwrap_or(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                o.extend_from_slice(&d.to_le_bytes());
            }
            o.extend_from_slice(&t.ty.to_le_bytes());
            o.extend_from_slice(&t.offset.to_le_bytes());
        }
        let a = self.alignment as usize;
        while o.len() % a != 0 {
            o.push(0);
        }
        o.extend((0..self.data_len).map(|i| (i * 7) as u8));
        o
    }
}

type Check = fn(&GgufError) -> bool;

fn cases() -> Vec<(&'static str, Vec<u8>, Check)> {
    let mut v: Vec<(&'static str, Vec<u8>, Check)> = vec![];
    let base = Raw::valid();
    let enc = |f: &dyn Fn(&mut Raw)| {
        let mut r = base.clone();
        f(&mut r);
        r.encode()
    };
    v.push(("bad magic", enc(&|r| r.magic = *b"GGML"), |e| matches!(e, GgufError::BadMagic { .. })));
    v.push(("version 1", enc(&|r| r.version = 1), |e| matches!(e, GgufError::UnsupportedVersion(1))));
    v.push(("version 4", enc(&|r| r.version = 4), |e| matches!(e, GgufError::UnsupportedVersion(4))));
    v.push(("tensor count huge", enc(&|r| r.n_tensors = Some(u64::MAX)), |e| matches!(e, GgufError::CountTooLarge { what: "tensor", .. })));
    v.push(("tensor count above bytes", enc(&|r| r.n_tensors = Some(1000)), |e| matches!(e, GgufError::CountTooLarge { what: "tensor", .. })));
    v.push(("kv count huge", enc(&|r| r.n_kv = Some(1 << 50)), |e| matches!(e, GgufError::CountTooLarge { what: "metadata key", .. })));
    v.push(("key length huge", enc(&|r| r.kvs[0][0..8].copy_from_slice(&(1u64 << 62).to_le_bytes())), |e| matches!(e, GgufError::StringTooLong { .. })));
    v.push(("key length past end", enc(&|r| r.kvs[0][0..8].copy_from_slice(&100_000u64.to_le_bytes())), |e| matches!(e, GgufError::Truncated { .. })));
    v.push(("empty key", enc(&|r| r.kvs.push(kv_u32("", 1))), |e| matches!(e, GgufError::EmptyKey { .. })));
    v.push(("duplicate key", enc(&|r| r.kvs.push(kv_u32("llama.block_count", 3))), |e| matches!(e, GgufError::DuplicateKey { .. })));
    v.push(("unknown value type", enc(&|r| r.kvs.push(kv_raw("x.y", 13, &[0; 8]))), |e| matches!(e, GgufError::UnknownValueType { ty: 13, .. })));
    v.push(("unknown array element type", enc(&|r| {
        let mut p = 99u32.to_le_bytes().to_vec();
        p.extend_from_slice(&1u64.to_le_bytes());
        r.kvs.push(kv_raw("x.arr", 9, &p))
    }), |e| matches!(e, GgufError::UnknownValueType { ty: 99, .. })));
    v.push(("array length above cap", enc(&|r| {
        let mut p = 0u32.to_le_bytes().to_vec();
        p.extend_from_slice(&(1u64 << 40).to_le_bytes());
        r.kvs.push(kv_raw("x.arr", 9, &p))
    }), |e| matches!(e, GgufError::ArrayTooLong { .. })));
    v.push(("array length above bytes", enc(&|r| {
        let mut p = 4u32.to_le_bytes().to_vec();
        p.extend_from_slice(&100_000u64.to_le_bytes());
        r.kvs.push(kv_raw("x.arr", 9, &p))
    }), |e| matches!(e, GgufError::CountTooLarge { what: "array element", .. })));
    v.push(("array nesting too deep", enc(&|r| {
        let mut p = vec![];
        for _ in 0..6 {
            p.extend_from_slice(&9u32.to_le_bytes());
            p.extend_from_slice(&1u64.to_le_bytes());
        }
        p.extend_from_slice(&0u32.to_le_bytes());
        p.extend_from_slice(&0u64.to_le_bytes());
        r.kvs.push(kv_raw("x.deep", 9, &p[..]))
    }), |e| matches!(e, GgufError::NestingTooDeep { .. })));
    v.push(("string value past end", enc(&|r| r.kvs.push(kv_raw("x.s", 8, &5000u64.to_le_bytes()))), |e| matches!(e, GgufError::Truncated { .. })));
    v.push(("alignment not a power of two", enc(&|r| r.kvs.push(kv_u32("general.alignment", 48))), |e| matches!(e, GgufError::BadAlignment(48))));
    v.push(("alignment zero", enc(&|r| r.kvs.push(kv_u32("general.alignment", 0))), |e| matches!(e, GgufError::BadAlignment(0))));
    v.push(("alignment absurd", enc(&|r| r.kvs.push(kv_u32("general.alignment", 1 << 30))), |e| matches!(e, GgufError::BadAlignment(_))));
    v.push(("alignment wrong type", enc(&|r| r.kvs.push(kv_raw("general.alignment", 10, &32u64.to_le_bytes()))), |e| matches!(e, GgufError::WrongValueType { .. })));
    v.push(("empty tensor name", enc(&|r| r.tensors[0].name.clear()), |e| matches!(e, GgufError::EmptyTensorName { .. })));
    v.push(("tensor name too long", enc(&|r| r.tensors[0].name = vec![b'x'; 64]), |e| matches!(e, GgufError::TensorNameTooLong { .. })));
    v.push(("tensor name length huge", enc(&|r| r.tensors[0].name_len = Some(u64::MAX)), |e| matches!(e, GgufError::TensorNameTooLong { .. })));
    v.push(("duplicate tensor", enc(&|r| r.tensors[1].name = b"a.weight".to_vec()), |e| matches!(e, GgufError::DuplicateTensor(_))));
    v.push(("zero dims", enc(&|r| { r.tensors[0].n_dims = Some(0); r.tensors[0].dims.clear(); }), |e| matches!(e, GgufError::BadDimCount { n_dims: 0, .. })));
    v.push(("five dims", enc(&|r| r.tensors[0].dims = vec![8, 2, 1, 1, 1]), |e| matches!(e, GgufError::BadDimCount { n_dims: 5, .. })));
    v.push(("n_dims huge", enc(&|r| r.tensors[0].n_dims = Some(u32::MAX)), |e| matches!(e, GgufError::BadDimCount { .. })));
    v.push(("zero dimension", enc(&|r| r.tensors[0].dims = vec![8, 0]), |e| matches!(e, GgufError::ZeroDim { .. })));
    v.push(("retired ggml type", enc(&|r| r.tensors[0].ty = 4), |e| matches!(e, GgufError::UnknownTensorType { ty: 4, .. })));
    v.push(("unknown ggml type", enc(&|r| r.tensors[0].ty = 1000), |e| matches!(e, GgufError::UnknownTensorType { ty: 1000, .. })));
    v.push(("ne0 not a block multiple", enc(&|r| r.tensors[1].dims = vec![33, 2]), |e| matches!(e, GgufError::RowNotBlockMultiple { .. })));
    v.push(("element count overflow", enc(&|r| r.tensors[0].dims = vec![1 << 32, 1 << 32, 1 << 32]), |e| matches!(e, GgufError::SizeOverflow { .. })));
    v.push(("byte size overflow", enc(&|r| r.tensors[0].dims = vec![1 << 62]), |e| matches!(e, GgufError::SizeOverflow { .. })));
    v.push(("offset plus size overflow", enc(&|r| r.tensors[1].offset = u64::MAX - 31), |e| matches!(e, GgufError::SizeOverflow { .. })));
    v.push(("padded end overflow", enc(&|r| { r.tensors[1].ty = 0; r.tensors[1].dims = vec![1]; r.tensors[1].offset = u64::MAX - 31; }), |e| matches!(e, GgufError::SizeOverflow { .. })));
    v.push(("unaligned offset", enc(&|r| r.tensors[1].offset = 65), |e| matches!(e, GgufError::UnalignedOffset { .. })));
    v.push(("overlapping offset", enc(&|r| r.tensors[1].offset = 32), |e| matches!(e, GgufError::OverlappingOffset { .. })));
    v.push(("out of order", enc(&|r| { r.tensors[0].offset = 96; r.tensors[1].offset = 0; }), |e| matches!(e, GgufError::OverlappingOffset { .. })));
    v.push(("tensor past end", enc(&|r| r.tensors[1].offset = 4096), |e| matches!(e, GgufError::TensorPastEnd { .. })));
    // Cuts at every section.
    let full = base.encode();
    let index_len = parse_index(&full).unwrap().data_start as usize;
    for (name, at) in [("cut in header", 10), ("cut in metadata", 40), ("cut in tensor info", index_len - 20), ("cut in padding", index_len - 1), ("cut in first tensor", index_len + 10), ("cut in last tensor", full.len() - 40)] {
        v.push((name, full[..at].to_vec(), |e| matches!(e, GgufError::Truncated { .. } | GgufError::TensorPastEnd { .. } | GgufError::CountTooLarge { .. })));
    }
    v.push(("empty file", vec![], |e| matches!(e, GgufError::Truncated { .. })));
    v
}

#[test]
fn valid_base_parses() {
    let index = parse_index(&Raw::valid().encode()).unwrap();
    assert_eq!(index.tensors.len(), 2);
    assert_eq!(index.tensors[1].n_bytes, 68);
}

#[test]
fn corruption_matrix() {
    let cases = cases();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let mut names = std::collections::HashSet::new();
    for (name, bytes, check) in &cases {
        assert!(names.insert(*name), "duplicate case {name}");
        // Known length, whole buffer: the specific error.
        let e = parse_index(bytes).expect_err(name);
        assert!(check(&e), "{name}: unexpected error {e:?}");
        assert!(!e.to_string().is_empty());
        // Streaming without the total length, at awkward chunk sizes: still an error.
        for chunk in [1, 5, 4096] {
            let r = parse_chunked(bytes, chunk, false);
            assert!(r.is_err(), "{name}: accepted when streamed in {chunk}-byte chunks");
        }
    }
}

#[test]
fn errors_are_sticky() {
    let mut p = GgufParser::new();
    assert!(p.feed(b"GGML\x03\0\0\0").is_err());
    assert!(matches!(p.feed(b"more"), Err(GgufError::Poisoned(_))));
    assert!(p.finish().is_err());
}

// ------------------------------------------------------------------- property tests

#[test]
fn random_truncations_never_succeed_or_panic() {
    let (w, data) = sample_writer(Some(64), 3);
    let bytes = w.to_bytes(&data);
    let index = parse_index(&bytes).unwrap();
    let end = index.min_file_size() as usize;
    let mut rng = Rng::new(42);
    for _ in 0..300 {
        let cut = rng.below(end as u64) as usize;
        let chunk = 1 + rng.below(97) as usize;
        assert!(parse_chunked(&bytes[..cut], chunk, false).is_err(), "cut at {cut} accepted");
        assert!(parse_index(&bytes[..cut]).is_err());
    }
}

#[test]
fn random_byte_corruption_never_panics() {
    let (w, data) = sample_writer(None, 3);
    let bytes = w.to_bytes(&data);
    let index_len = parse_index(&bytes).unwrap().data_start as usize;
    let mut rng = Rng::new(1234);
    let mut errors = 0;
    for i in 0..3000 {
        let mut b = bytes.clone();
        let flips = 1 + rng.below(4);
        for _ in 0..flips {
            // Mostly inside the index, where the structure is.
            let at = rng.below(if i % 4 == 0 { b.len() } else { index_len } as u64) as usize;
            b[at] = rng.next_u64() as u8;
        }
        let chunk = 1 + rng.below(300) as usize;
        let a = parse_chunked(&b, chunk, rng.below(2) == 0);
        if a.is_err() {
            errors += 1;
        }
    }
    assert!(errors > 300, "corruption detected only {errors} times");
    // Wholly random inputs, with a valid magic to get past the first check.
    for _ in 0..2000 {
        let n = rng.below(400) as usize;
        let mut b = rng.bytes(n);
        if n >= 8 {
            b[..4].copy_from_slice(b"GGUF");
            b[4..8].copy_from_slice(&3u32.to_le_bytes());
        }
        let _ = parse_chunked(&b, 1 + rng.below(50) as usize, false);
        let _ = parse_index(&b);
    }
}
