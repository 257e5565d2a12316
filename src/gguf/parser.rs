//! A push parser for GGUF: feed it byte chunks of any size, in order; it yields the tensor
//! index as soon as the header, metadata and tensor infos have arrived, then each tensor's
//! bytes as they stream past (as slices of the chunk that carried them, never copied).
//!
//! Memory: besides the metadata and tensor index it keeps only `carry`, the bytes of the one
//! item (a number or a string) that a chunk boundary split. No allocation is ever sized by
//! an unchecked file value: counts are checked against limits (and against the bytes left
//! when the total size is known) and vectors grow as elements actually arrive.

use std::collections::{HashMap, HashSet};

use super::error::GgufError;
use super::types::GgmlType;
use super::value::{Array, Value, ValueType};
use super::{
    MAX_ALIGNMENT, MAX_ARRAY_LEN, MAX_KV_COUNT, MAX_METADATA_BYTES, MAX_NESTING, MAX_STRING_LEN,
    MAX_TENSOR_COUNT, MAX_TENSOR_NAME,
};

pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// One tensor of the index.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub ty: GgmlType,
    /// Shape in ggml order: `dims[0]` (ne0) is the contiguous dimension.
    pub dims: Vec<u64>,
    /// Offset relative to the start of the data section.
    pub offset: u64,
    pub n_bytes: u64,
    pub n_elements: u64,
}

impl TensorInfo {
    pub fn ne0(&self) -> u64 {
        self.dims[0]
    }
    /// Number of rows (all dimensions but ne0, flattened).
    pub fn n_rows(&self) -> u64 {
        self.n_elements / self.dims[0]
    }
    pub fn row_bytes(&self) -> u64 {
        self.n_bytes / self.n_rows()
    }
}

/// Header, metadata and tensor table of a GGUF file.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufIndex {
    pub version: u32,
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Absolute file offset of the data section.
    pub data_start: u64,
    keys: HashMap<String, usize>,
    names: HashMap<String, usize>,
}

impl GgufIndex {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.keys.get(key).map(|&i| &self.metadata[i].1)
    }
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.names.get(name).map(|&i| &self.tensors[i])
    }
    pub fn tensor_index(&self, name: &str) -> Option<usize> {
        self.names.get(name).copied()
    }
    /// The smallest file size that holds every tensor.
    pub fn min_file_size(&self) -> u64 {
        self.tensors.last().map_or(self.data_start, |t| self.data_start + t.offset + t.n_bytes)
    }
    pub fn architecture(&self) -> Option<&str> {
        self.get("general.architecture").and_then(Value::as_str)
    }
    pub fn total_tensor_bytes(&self) -> u64 {
        self.tensors.iter().map(|t| t.n_bytes).sum()
    }
}

/// What a chunk produced.
#[derive(Debug, PartialEq)]
pub enum Event<'a> {
    /// The index is complete: read it with [`GgufParser::index`].
    IndexReady,
    /// `data` holds bytes `offset .. offset + data.len()` of tensor `tensor`.
    TensorData { tensor: usize, offset: u64, data: &'a [u8] },
    /// Every byte of tensor `tensor` has been delivered.
    TensorEnd { tensor: usize },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Header,
    Counts,
    KvKey,
    KvType,
    KvValue(ValueType),
    TensorName,
    TensorNDims,
    TensorDims(u32),
    TensorTypeOffset,
    /// Every tensor info has been read; the index is built on the next step.
    IndexPending,
    Padding,
    Data,
    Done,
}

struct Frame {
    /// Element type and count, once the array header has been read.
    header: Option<(ValueType, u64)>,
    items: Option<Array>,
}

struct Input<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Input<'a> {
    fn remaining(&self) -> usize {
        self.data.len() - self.at
    }
}

/// The streaming GGUF parser. See the module documentation.
pub struct GgufParser {
    /// Bytes consumed so far (absolute file offset of the next unread byte).
    pos: u64,
    total_len: Option<u64>,
    carry: Vec<u8>,
    state: State,
    error: Option<GgufError>,

    version: u32,
    n_tensors: u64,
    n_kv: u64,
    alignment: u64,
    metadata: Vec<(String, Value)>,
    keys: HashMap<String, usize>,
    meta_bytes: u64,
    pending_str: Option<u64>,
    stack: Vec<Frame>,
    cur_key: String,
    item_start: u64,

    tensors: Vec<TensorInfo>,
    names: HashSet<String>,
    cur_name: String,
    cur_dims: Vec<u64>,
    prev_end: u64,

    index: Option<GgufIndex>,
    data_start: u64,
    cur_tensor: usize,
}

impl Default for GgufParser {
    fn default() -> Self {
        Self::new()
    }
}

fn align_up(x: u64, a: u64) -> Option<u64> {
    x.checked_add(a - 1).map(|v| v & !(a - 1))
}

impl GgufParser {
    pub fn new() -> Self {
        GgufParser {
            pos: 0,
            total_len: None,
            carry: Vec::new(),
            state: State::Header,
            error: None,
            version: 0,
            n_tensors: 0,
            n_kv: 0,
            alignment: DEFAULT_ALIGNMENT,
            metadata: Vec::new(),
            keys: HashMap::new(),
            meta_bytes: 0,
            pending_str: None,
            stack: Vec::new(),
            cur_key: String::new(),
            item_start: 0,
            tensors: Vec::new(),
            names: HashSet::new(),
            cur_name: String::new(),
            cur_dims: Vec::new(),
            prev_end: 0,
            index: None,
            data_start: 0,
            cur_tensor: 0,
        }
    }

    /// Tell the parser the total file size (from `Content-Length`, `File.size`, `stat`), so
    /// counts and offsets are checked against it before anything else is read.
    pub fn with_total_len(mut self, len: u64) -> Self {
        self.total_len = Some(len);
        self
    }

    pub fn index(&self) -> Option<&GgufIndex> {
        self.index.as_ref()
    }
    pub fn take_index(&mut self) -> Option<GgufIndex> {
        self.index.take()
    }
    /// Bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }
    /// True once the index is complete and the parser only passes tensor bytes through.
    pub fn in_data(&self) -> bool {
        matches!(self.state, State::Padding | State::Data | State::Done)
    }
    /// Bytes still to come, if the total size is known.
    fn left(&self) -> Option<u64> {
        self.total_len.map(|t| t.saturating_sub(self.pos))
    }

    /// Feed the next chunk. Returns the events it completed, in order. After an error every
    /// further call returns that error again.
    pub fn feed<'a>(&mut self, chunk: &'a [u8]) -> Result<Vec<Event<'a>>, GgufError> {
        if let Some(e) = &self.error {
            return Err(GgufError::Poisoned(Box::new(e.clone())));
        }
        let mut events = Vec::new();
        let mut input = Input { data: chunk, at: 0 };
        match self.run(&mut input, &mut events) {
            Ok(()) => Ok(events),
            Err(e) => {
                self.error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// The stream has ended: an error unless every tensor's bytes have arrived.
    pub fn finish(&mut self) -> Result<(), GgufError> {
        if let Some(e) = &self.error {
            return Err(GgufError::Poisoned(Box::new(e.clone())));
        }
        if self.state == State::Done {
            return Ok(());
        }
        let (context, needed) = match self.state {
            State::Data | State::Padding => {
                let t = &self.tensors[self.cur_tensor];
                (format!("tensor {:?}", t.name), self.data_start + t.offset + t.n_bytes)
            }
            State::Header | State::Counts => ("the header".to_string(), 24),
            State::TensorName | State::TensorNDims | State::TensorDims(_) | State::TensorTypeOffset => {
                (format!("tensor info {}", self.tensors.len()), self.pos + 1)
            }
            _ => (format!("metadata entry {}", self.metadata.len()), self.pos + 1),
        };
        let e = GgufError::Truncated { context, needed, len: self.pos };
        self.error = Some(e.clone());
        Err(e)
    }

    // ---------------------------------------------------------------- primitive reads

    /// Take exactly N bytes across chunk boundaries, or stash what there is and return None.
    fn take<const N: usize>(&mut self, input: &mut Input) -> Option<[u8; N]> {
        let need = N - self.carry.len();
        if input.remaining() >= need {
            let mut out = [0u8; N];
            out[..self.carry.len()].copy_from_slice(&self.carry);
            out[self.carry.len()..].copy_from_slice(&input.data[input.at..input.at + need]);
            input.at += need;
            self.pos += need as u64;
            self.carry.clear();
            Some(out)
        } else {
            self.stash(input);
            None
        }
    }

    fn stash(&mut self, input: &mut Input) {
        let rest = &input.data[input.at..];
        self.carry.extend_from_slice(rest);
        self.pos += rest.len() as u64;
        input.at = input.data.len();
    }

    fn take_vec(&mut self, input: &mut Input, n: u64) -> Option<Vec<u8>> {
        // n was checked against MAX_STRING_LEN, so it fits in usize.
        let n = n as usize;
        let need = n - self.carry.len();
        if input.remaining() >= need {
            let mut out = std::mem::take(&mut self.carry);
            out.extend_from_slice(&input.data[input.at..input.at + need]);
            input.at += need;
            self.pos += need as u64;
            Some(out)
        } else {
            self.stash(input);
            None
        }
    }

    fn take_u32(&mut self, input: &mut Input) -> Option<u32> {
        self.take::<4>(input).map(u32::from_le_bytes)
    }
    fn take_u64(&mut self, input: &mut Input) -> Option<u64> {
        self.take::<8>(input).map(u64::from_le_bytes)
    }

    /// Offset of the item being read (the carry holds its first bytes).
    fn here(&self) -> u64 {
        self.pos - self.carry.len() as u64
    }

    fn charge(&mut self, bytes: u64) -> Result<(), GgufError> {
        self.meta_bytes = self.meta_bytes.saturating_add(bytes);
        if self.meta_bytes > MAX_METADATA_BYTES {
            return Err(GgufError::MetadataTooLarge { offset: self.here(), max: MAX_METADATA_BYTES });
        }
        Ok(())
    }

    /// A GGUF string: u64 length then bytes. `max` bounds the length.
    fn read_string(&mut self, input: &mut Input, max: u64, is_name: bool) -> Result<Option<String>, GgufError> {
        let len = match self.pending_str {
            Some(len) => len,
            None => {
                let offset = self.here();
                let Some(len) = self.take_u64(input) else { return Ok(None) };
                if len > max {
                    return Err(if is_name {
                        GgufError::TensorNameTooLong { offset, len, max }
                    } else {
                        GgufError::StringTooLong { offset, len, max }
                    });
                }
                if let Some(left) = self.left() {
                    if len > left {
                        return Err(GgufError::Truncated {
                            context: format!("string at offset {offset}"),
                            needed: self.pos + len,
                            len: self.pos + left,
                        });
                    }
                }
                self.charge(len + 24)?;
                self.pending_str = Some(len);
                len
            }
        };
        let Some(bytes) = self.take_vec(input, len) else { return Ok(None) };
        self.pending_str = None;
        Ok(Some(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }))
    }

    fn read_scalar(&mut self, input: &mut Input, ty: ValueType) -> Option<Value> {
        Some(match ty {
            ValueType::U8 => Value::U8(self.take::<1>(input)?[0]),
            ValueType::I8 => Value::I8(self.take::<1>(input)?[0] as i8),
            ValueType::Bool => Value::Bool(self.take::<1>(input)?[0] != 0),
            ValueType::U16 => Value::U16(u16::from_le_bytes(self.take(input)?)),
            ValueType::I16 => Value::I16(i16::from_le_bytes(self.take(input)?)),
            ValueType::U32 => Value::U32(u32::from_le_bytes(self.take(input)?)),
            ValueType::I32 => Value::I32(i32::from_le_bytes(self.take(input)?)),
            ValueType::F32 => Value::F32(f32::from_le_bytes(self.take(input)?)),
            ValueType::U64 => Value::U64(u64::from_le_bytes(self.take(input)?)),
            ValueType::I64 => Value::I64(i64::from_le_bytes(self.take(input)?)),
            ValueType::F64 => Value::F64(f64::from_le_bytes(self.take(input)?)),
            ValueType::String | ValueType::Array => return None,
        })
    }

    fn read_value_type(&mut self, input: &mut Input) -> Result<Option<ValueType>, GgufError> {
        let offset = self.here();
        let Some(id) = self.take_u32(input) else { return Ok(None) };
        ValueType::from_id(id).map(Some).ok_or(GgufError::UnknownValueType { ty: id, offset })
    }

    /// Read one value of type `ty`; arrays (nested ones too) resume element by element.
    fn read_value(&mut self, input: &mut Input, ty: ValueType) -> Result<Option<Value>, GgufError> {
        match ty {
            ValueType::String => {
                return Ok(self.read_string(input, MAX_STRING_LEN, false)?.map(Value::String))
            }
            ValueType::Array => {}
            t => {
                let v = self.read_scalar(input, t);
                if v.is_some() {
                    self.charge(t.scalar_size().unwrap_or(8))?;
                }
                return Ok(v);
            }
        }
        if self.stack.is_empty() {
            self.stack.push(Frame { header: None, items: None });
        }
        loop {
            let depth = self.stack.len();
            let Some(top) = self.stack.last() else { return Ok(None) };
            let (elem, count) = match top.header {
                Some(h) => h,
                None => {
                    let offset = self.here();
                    let Some(hdr) = self.take::<12>(input) else { return Ok(None) };
                    let id = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
                    let count = u64::from_le_bytes([hdr[4], hdr[5], hdr[6], hdr[7], hdr[8], hdr[9], hdr[10], hdr[11]]);
                    let elem = ValueType::from_id(id).ok_or(GgufError::UnknownValueType { ty: id, offset })?;
                    if elem == ValueType::Array && depth >= MAX_NESTING {
                        return Err(GgufError::NestingTooDeep { offset, max: MAX_NESTING });
                    }
                    if count > MAX_ARRAY_LEN {
                        return Err(GgufError::ArrayTooLong { offset, len: count, max: MAX_ARRAY_LEN });
                    }
                    if let Some(left) = self.left() {
                        let max = left / elem.min_encoded_size();
                        if count > max {
                            return Err(GgufError::CountTooLarge { what: "array element", count, max, offset });
                        }
                    }
                    let top = self.stack.last_mut().expect("stack is not empty");
                    top.header = Some((elem, count));
                    let mut items = Array::empty(elem);
                    reserve(&mut items, count.min(1 << 16) as usize);
                    top.items = Some(items);
                    (elem, count)
                }
            };
            let top = self.stack.last_mut().expect("stack is not empty");
            let done = top.items.as_ref().map_or(0, |a| a.len() as u64);
            if done == count {
                let items = self.stack.pop().and_then(|f| f.items).unwrap_or(Array::empty(elem));
                match self.stack.last_mut() {
                    None => return Ok(Some(Value::Array(items))),
                    Some(parent) => {
                        if let Some(Array::Array(v)) = parent.items.as_mut() {
                            v.push(items);
                        }
                        continue;
                    }
                }
            }
            match elem {
                ValueType::Array => {
                    self.charge(24)?;
                    self.stack.push(Frame { header: None, items: None });
                }
                ValueType::String => {
                    let Some(s) = self.read_string(input, MAX_STRING_LEN, false)? else { return Ok(None) };
                    if let Some(Some(Array::String(v))) = self.stack.last_mut().map(|f| f.items.as_mut()) {
                        v.push(s);
                    }
                }
                t => {
                    let Some(v) = self.read_scalar(input, t) else { return Ok(None) };
                    self.charge(t.scalar_size().unwrap_or(8))?;
                    if let Some(Some(items)) = self.stack.last_mut().map(|f| f.items.as_mut()) {
                        push_scalar(items, v);
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------- the state machine

    fn run<'a>(&mut self, input: &mut Input<'a>, events: &mut Vec<Event<'a>>) -> Result<(), GgufError> {
        loop {
            if self.state == State::IndexPending {
                self.finish_index(events)?;
                continue;
            }
            if input.remaining() == 0 {
                // Zero-tensor files end right after the index; nothing more is needed.
                if self.state == State::Padding && self.n_tensors == 0 {
                    self.state = State::Done;
                }
                return Ok(());
            }
            match self.state {
                State::Header => {
                    let Some(h) = self.take::<8>(input) else { return Ok(()) };
                    let magic = [h[0], h[1], h[2], h[3]];
                    if magic != GGUF_MAGIC {
                        return Err(GgufError::BadMagic { found: magic });
                    }
                    let version = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
                    if version != 2 && version != 3 {
                        return Err(GgufError::UnsupportedVersion(version));
                    }
                    self.version = version;
                    self.state = State::Counts;
                }
                State::Counts => {
                    let Some(h) = self.take::<16>(input) else { return Ok(()) };
                    let n_tensors = u64::from_le_bytes(h[0..8].try_into().unwrap_or([0; 8]));
                    let n_kv = u64::from_le_bytes(h[8..16].try_into().unwrap_or([0; 8]));
                    let left = self.left().unwrap_or(u64::MAX);
                    // A tensor info takes at least 8 + 1 + 4 + 8 + 4 + 8 bytes, a KV pair 8 + 1 + 4 + 1.
                    let max_t = MAX_TENSOR_COUNT.min(left / 33);
                    if n_tensors > max_t {
                        return Err(GgufError::CountTooLarge { what: "tensor", count: n_tensors, max: max_t, offset: 8 });
                    }
                    let max_kv = MAX_KV_COUNT.min(left / 14);
                    if n_kv > max_kv {
                        return Err(GgufError::CountTooLarge { what: "metadata key", count: n_kv, max: max_kv, offset: 16 });
                    }
                    self.n_tensors = n_tensors;
                    self.n_kv = n_kv;
                    self.state = if n_kv > 0 { State::KvKey } else { self.after_metadata() };
                }
                State::KvKey => {
                    let offset = self.here();
                    let Some(key) = self.read_string(input, MAX_STRING_LEN, false)? else { return Ok(()) };
                    if key.is_empty() {
                        return Err(GgufError::EmptyKey { offset });
                    }
                    if self.keys.contains_key(&key) {
                        return Err(GgufError::DuplicateKey { key, offset });
                    }
                    self.cur_key = key;
                    self.item_start = offset;
                    self.state = State::KvType;
                }
                State::KvType => {
                    let Some(ty) = self.read_value_type(input)? else { return Ok(()) };
                    self.state = State::KvValue(ty);
                }
                State::KvValue(ty) => {
                    let Some(value) = self.read_value(input, ty)? else { return Ok(()) };
                    let key = std::mem::take(&mut self.cur_key);
                    if key == "general.alignment" {
                        let a = match value {
                            Value::U32(a) => a as u64,
                            ref v => {
                                return Err(GgufError::WrongValueType {
                                    key,
                                    expected: "u32",
                                    found: v.value_type().name(),
                                })
                            }
                        };
                        if a == 0 || !a.is_power_of_two() || a > MAX_ALIGNMENT {
                            return Err(GgufError::BadAlignment(a));
                        }
                        self.alignment = a;
                    }
                    self.keys.insert(key.clone(), self.metadata.len());
                    self.metadata.push((key, value));
                    self.state = if (self.metadata.len() as u64) < self.n_kv { State::KvKey } else { self.after_metadata() };
                }
                State::TensorName => {
                    let offset = self.here();
                    let Some(name) = self.read_string(input, MAX_TENSOR_NAME, true)? else { return Ok(()) };
                    if name.is_empty() {
                        return Err(GgufError::EmptyTensorName { offset });
                    }
                    if self.names.contains(&name) {
                        return Err(GgufError::DuplicateTensor(name));
                    }
                    self.cur_name = name;
                    self.state = State::TensorNDims;
                }
                State::TensorNDims => {
                    let Some(n) = self.take_u32(input) else { return Ok(()) };
                    if !(1..=4).contains(&n) {
                        return Err(GgufError::BadDimCount { name: self.cur_name.clone(), n_dims: n });
                    }
                    self.cur_dims.clear();
                    self.state = State::TensorDims(n);
                }
                State::TensorDims(n) => {
                    let Some(d) = self.take_u64(input) else { return Ok(()) };
                    self.cur_dims.push(d);
                    if self.cur_dims.len() as u32 == n {
                        self.state = State::TensorTypeOffset;
                    }
                }
                State::TensorTypeOffset => {
                    let Some(b) = self.take::<12>(input) else { return Ok(()) };
                    let ty = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    let offset = u64::from_le_bytes([b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11]]);
                    let info = self.check_tensor(ty, offset)?;
                    self.prev_end = info.offset + info.n_bytes;
                    self.names.insert(info.name.clone());
                    self.tensors.push(info);
                    self.state = if (self.tensors.len() as u64) < self.n_tensors {
                        State::TensorName
                    } else {
                        State::IndexPending
                    };
                }
                State::Padding => {
                    // Skip to the data section (its padding bytes are not checked).
                    let skip = (self.data_start - self.pos).min(input.remaining() as u64);
                    input.at += skip as usize;
                    self.pos += skip;
                    if self.pos == self.data_start {
                        self.state = if self.n_tensors == 0 { State::Done } else { State::Data };
                    }
                }
                State::IndexPending => {}
                State::Data => self.data(input, events),
                State::Done => {
                    // Trailing bytes after the last tensor are ignored.
                    self.pos += input.remaining() as u64;
                    input.at = input.data.len();
                }
            }
        }
    }

    fn after_metadata(&mut self) -> State {
        if self.n_tensors > 0 {
            State::TensorName
        } else {
            State::IndexPending
        }
    }

    fn check_tensor(&mut self, ty_id: u32, offset: u64) -> Result<TensorInfo, GgufError> {
        let name = std::mem::take(&mut self.cur_name);
        let dims = std::mem::take(&mut self.cur_dims);
        let ty = GgmlType::from_id(ty_id).ok_or_else(|| GgufError::UnknownTensorType { name: name.clone(), ty: ty_id })?;
        if dims.contains(&0) {
            return Err(GgufError::ZeroDim { name, dims });
        }
        let overflow = || GgufError::SizeOverflow { name: name.clone(), dims: dims.clone() };
        let n_elements = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d)).ok_or_else(overflow)?;
        if dims[0] % ty.block_size() != 0 {
            return Err(GgufError::RowNotBlockMultiple { name, ty: ty.name(), ne0: dims[0], block: ty.block_size() });
        }
        let n_bytes = (n_elements / ty.block_size()).checked_mul(ty.type_size()).ok_or_else(overflow)?;
        // Overflow is checked before padding is applied, and for the padded end too.
        let end = offset.checked_add(n_bytes).ok_or_else(overflow)?;
        align_up(end, self.alignment).ok_or_else(overflow)?;
        if offset % self.alignment != 0 {
            return Err(GgufError::UnalignedOffset { name, offset, alignment: self.alignment });
        }
        if offset < self.prev_end {
            return Err(GgufError::OverlappingOffset { name, offset, prev_end: self.prev_end });
        }
        Ok(TensorInfo { name, ty, dims, offset, n_bytes, n_elements })
    }

    fn finish_index<'a>(&mut self, events: &mut Vec<Event<'a>>) -> Result<(), GgufError> {
        let data_start = align_up(self.pos, self.alignment)
            .ok_or(GgufError::SizeOverflow { name: String::new(), dims: vec![] })?;
        if let Some(total) = self.total_len {
            for t in &self.tensors {
                let end = data_start.checked_add(t.offset).and_then(|v| v.checked_add(t.n_bytes));
                match end {
                    Some(end) if end <= total => {}
                    _ => {
                        return Err(GgufError::TensorPastEnd {
                            name: t.name.clone(),
                            end: end.unwrap_or(u64::MAX),
                            len: total,
                        })
                    }
                }
            }
        }
        let names = self.tensors.iter().enumerate().map(|(i, t)| (t.name.clone(), i)).collect();
        self.data_start = data_start;
        self.index = Some(GgufIndex {
            version: self.version,
            metadata: std::mem::take(&mut self.metadata),
            tensors: self.tensors.clone(),
            alignment: self.alignment,
            data_start,
            keys: std::mem::take(&mut self.keys),
            names,
        });
        self.state = State::Padding;
        events.push(Event::IndexReady);
        Ok(())
    }

    fn data<'a>(&mut self, input: &mut Input<'a>, events: &mut Vec<Event<'a>>) {
        let t = &self.tensors[self.cur_tensor];
        let start = self.data_start + t.offset;
        let end = start + t.n_bytes;
        if self.pos < start {
            let skip = (start - self.pos).min(input.remaining() as u64);
            input.at += skip as usize;
            self.pos += skip;
            return;
        }
        let n = (end - self.pos).min(input.remaining() as u64) as usize;
        let data = &input.data[input.at..input.at + n];
        events.push(Event::TensorData { tensor: self.cur_tensor, offset: self.pos - start, data });
        input.at += n;
        self.pos += n as u64;
        if self.pos == end {
            events.push(Event::TensorEnd { tensor: self.cur_tensor });
            self.cur_tensor += 1;
            if self.cur_tensor == self.tensors.len() {
                self.state = State::Done;
            }
        }
    }
}

fn reserve(a: &mut Array, n: usize) {
    match a {
        Array::U8(v) => v.reserve(n), Array::I8(v) => v.reserve(n), Array::U16(v) => v.reserve(n),
        Array::I16(v) => v.reserve(n), Array::U32(v) => v.reserve(n), Array::I32(v) => v.reserve(n),
        Array::F32(v) => v.reserve(n), Array::Bool(v) => v.reserve(n), Array::U64(v) => v.reserve(n),
        Array::I64(v) => v.reserve(n), Array::F64(v) => v.reserve(n),
        // Strings and nested arrays are sized by their contents; reserve less.
        Array::String(v) => v.reserve(n.min(1024)), Array::Array(v) => v.reserve(n.min(64)),
    }
}

fn push_scalar(a: &mut Array, v: Value) {
    match (a, v) {
        (Array::U8(a), Value::U8(v)) => a.push(v), (Array::I8(a), Value::I8(v)) => a.push(v),
        (Array::U16(a), Value::U16(v)) => a.push(v), (Array::I16(a), Value::I16(v)) => a.push(v),
        (Array::U32(a), Value::U32(v)) => a.push(v), (Array::I32(a), Value::I32(v)) => a.push(v),
        (Array::F32(a), Value::F32(v)) => a.push(v), (Array::Bool(a), Value::Bool(v)) => a.push(v),
        (Array::U64(a), Value::U64(v)) => a.push(v), (Array::I64(a), Value::I64(v)) => a.push(v),
        (Array::F64(a), Value::F64(v)) => a.push(v),
        _ => {}
    }
}

/// Parse a whole in-memory file (tests, small files). Returns the index and checks that
/// every tensor's bytes are present.
pub fn parse_index(bytes: &[u8]) -> Result<GgufIndex, GgufError> {
    let mut p = GgufParser::new().with_total_len(bytes.len() as u64);
    p.feed(bytes)?;
    p.finish()?;
    p.take_index().ok_or(GgufError::Truncated { context: "the index".into(), needed: bytes.len() as u64 + 1, len: bytes.len() as u64 })
}

/// Read only the index from a reader, in chunks, without reading tensor data beyond the
/// first chunk. `total_len` is the file size when known.
pub fn read_index<R: std::io::Read>(mut r: R, total_len: Option<u64>) -> Result<GgufIndex, ReadError> {
    let mut p = GgufParser::new();
    if let Some(t) = total_len {
        p = p.with_total_len(t);
    }
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf).map_err(|e| ReadError::Io(e.to_string()))?;
        if n == 0 {
            if p.index().is_none() {
                p.finish()?;
            }
            break;
        }
        p.feed(&buf[..n])?;
        if p.in_data() {
            break;
        }
    }
    p.take_index().ok_or(ReadError::Gguf(GgufError::Truncated { context: "the index".into(), needed: p.position() + 1, len: p.position() }))
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Gguf(#[from] GgufError),
    #[error("read error: {0}")]
    Io(String),
}
