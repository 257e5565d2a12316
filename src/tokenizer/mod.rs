//! Tokenizers from GGUF metadata (spec §5.4): byte-level BPE (`tokenizer.ggml.model = gpt2`)
//! with the pre-tokenizer its `tokenizer.ggml.pre` names, and SentencePiece (`llama`) with
//! byte fallback. Checked against llama.cpp's own test vectors (tests/tokenizer.rs).

pub mod pretokenize;
pub mod template;

use std::collections::{BinaryHeap, HashMap};

use crate::gguf::{Array, GgufIndex, Value};
use pretokenize::PreTokenizer;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TokenizerError {
    #[error("tokenizer metadata is missing or malformed: {0}")]
    Metadata(String),
    #[error("tokenizer model {0:?} is not supported (supported: gpt2, llama)")]
    Unsupported(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bpe,
    Spm,
}

pub struct Tokenizer {
    pub kind: Kind,
    pub tokens: Vec<String>,
    pub types: Vec<i32>,
    ids: HashMap<String, u32>,
    ranks: HashMap<(String, String), u32>,
    scores: Vec<f32>,
    pre: PreTokenizer,
    ignore_merges: bool,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    /// Tokens that end generation, as llama.cpp's `special_eog_ids`: EOS, the end-of-turn /
    /// end-of-message ids the file gives, and tokens with a known end-of-generation text
    /// (`<end_of_turn>`, `<|im_end|>`, `<|eot_id|>`, …). Sorted.
    pub eog: Vec<u32>,
    pub add_bos: bool,
    pub add_eos: bool,
    add_space_prefix: bool,
    byte_tokens: [Option<u32>; 256],
    /// User-defined (type 4) and control (type 3) tokens, longest first.
    specials: Vec<(u32, String, bool)>,
    /// GPT-2's byte → char map and its inverse, computed once.
    byte_chars: [char; 256],
    char_bytes: HashMap<char, u8>,
}

fn strings(index: &GgufIndex, key: &str) -> Option<Vec<String>> {
    match index.get(key)? {
        Value::Array(Array::String(v)) => Some(v.clone()),
        _ => None,
    }
}

/// GPT-2's byte → printable unicode character map, and its inverse.
pub fn byte_to_unicode(b: u8) -> char {
    let printable = |c: u8| (b'!'..=b'~').contains(&c) || (0xA1..=0xAC).contains(&c) || (0xAE..=0xFF).contains(&c);
    if printable(b) {
        return b as char;
    }
    let n = (0..b).filter(|&c| !printable(c)).count() as u32;
    char::from_u32(256 + n).unwrap_or('?')
}


impl Tokenizer {
    pub fn from_index(index: &GgufIndex) -> Result<Tokenizer, TokenizerError> {
        let model = index.get("tokenizer.ggml.model").and_then(Value::as_str).unwrap_or("").to_string();
        let kind = match model.as_str() {
            "gpt2" => Kind::Bpe,
            "llama" => Kind::Spm,
            other => return Err(TokenizerError::Unsupported(other.into())),
        };
        let tokens = strings(index, "tokenizer.ggml.tokens").ok_or_else(|| TokenizerError::Metadata("tokenizer.ggml.tokens".into()))?;
        let types = match index.get("tokenizer.ggml.token_type") {
            Some(Value::Array(Array::I32(v))) if v.len() == tokens.len() => v.clone(),
            _ => vec![1; tokens.len()],
        };
        let scores = match index.get("tokenizer.ggml.scores") {
            Some(Value::Array(Array::F32(v))) if v.len() == tokens.len() => v.clone(),
            _ => vec![0.0; tokens.len()],
        };
        let mut ranks = HashMap::new();
        if kind == Kind::Bpe {
            let merges = strings(index, "tokenizer.ggml.merges").ok_or_else(|| TokenizerError::Metadata("tokenizer.ggml.merges".into()))?;
            for (i, m) in merges.iter().enumerate() {
                if let Some((a, b)) = m.split_once(' ') {
                    ranks.entry((a.to_string(), b.to_string())).or_insert(i as u32);
                }
            }
        }
        let ids: HashMap<String, u32> = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        let mut types = types;
        mark_special_by_text(index, &ids, &mut types);
        let pre_name = index.get("tokenizer.ggml.pre").and_then(Value::as_str).unwrap_or("default");
        // llama.cpp's llama-vocab.cpp: which regex each pre-tokenizer uses.
        let (pre, ignore_merges) = match pre_name {
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0" | "lfm2" => (PreTokenizer::Llama3, true),
            "dbrx" | "smaug-bpe" => (PreTokenizer::Llama3, false),
            "qwen2" | "deepseek-r1-qwen" | "megrez" | "hunyuan" => (PreTokenizer::Qwen2, false),
            "qwen35" => (PreTokenizer::Qwen35, false),
            "tekken" => (PreTokenizer::Tekken, true),
            _ => (PreTokenizer::Gpt2, false),
        };
        let id_of = |k: &str| index.get(k).and_then(Value::as_u64).map(|v| v as u32).filter(|&v| (v as usize) < tokens.len());
        let flag = |k: &str, d: bool| index.get(k).and_then(Value::as_bool).unwrap_or(d);
        let mut byte_tokens = [None; 256];
        for b in 0..=255u8 {
            byte_tokens[b as usize] = match kind {
                Kind::Bpe => ids.get(&byte_to_unicode(b).to_string()).copied(),
                Kind::Spm => ids.get(&format!("<0x{b:02X}>")).copied(),
            };
        }
        let mut specials: Vec<(u32, String, bool)> = tokens
            .iter()
            .enumerate()
            .filter(|(i, t)| !t.is_empty() && matches!(types[*i], 3 | 4))
            .map(|(i, t)| (i as u32, t.clone(), types[i] == 3))
            .collect();
        specials.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
        let byte_chars: [char; 256] = std::array::from_fn(|b| byte_to_unicode(b as u8));
        let char_bytes = byte_chars.iter().enumerate().map(|(b, &c)| (c, b as u8)).collect();
        Ok(Tokenizer {
            byte_chars,
            char_bytes,
            specials,
            kind,
            bos: id_of("tokenizer.ggml.bos_token_id"),
            eos: id_of("tokenizer.ggml.eos_token_id"),
            eog: {
                let mut e: Vec<u32> = ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id", "tokenizer.ggml.fim_pad_token_id", "tokenizer.ggml.fim_rep_token_id", "tokenizer.ggml.fim_sep_token_id"]
                    .iter()
                    .filter_map(|k| id_of(k))
                    .chain(EOG_TEXTS.iter().filter_map(|n| ids.get(*n).copied()))
                    .collect();
                e.sort_unstable();
                e.dedup();
                e
            },
            // llama.cpp's default when the file has no add_bos_token: SentencePiece, and the BPE
            // pre-tokenizers that set it (llama-vocab.cpp `load`).
            add_bos: flag("tokenizer.ggml.add_bos_token", kind == Kind::Spm || BOS_BY_DEFAULT.contains(&pre_name)),
            add_eos: flag("tokenizer.ggml.add_eos_token", false),
            add_space_prefix: flag("tokenizer.ggml.add_space_prefix", kind == Kind::Spm),
            tokens,
            types,
            ids,
            ranks,
            scores,
            pre,
            ignore_merges,
            byte_tokens,
        })
    }

    pub fn n_vocab(&self) -> usize {
        self.tokens.len()
    }

    /// Token ids of `text`. User-defined tokens are always matched whole; control tokens
    /// (`<|im_start|>` …) only with `parse_special`. `add_special` adds BOS/EOS as the
    /// vocabulary asks.
    pub fn encode_with(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        let mut out = vec![];
        if add_special && self.add_bos {
            out.extend(self.bos);
        }
        let mut prev_special = true;
        for frag in self.partition(text, parse_special) {
            match frag {
                Fragment::Token(id) => {
                    out.push(id);
                    prev_special = true;
                }
                Fragment::Text(t) => {
                    match self.kind {
                        Kind::Bpe => {
                            for piece in self.pre.split(t) {
                                self.bpe(piece, &mut out);
                            }
                        }
                        Kind::Spm => self.spm(t, prev_special && self.add_space_prefix, &mut out),
                    }
                    prev_special = false;
                }
            }
        }
        if add_special && self.add_eos {
            out.extend(self.eos);
        }
        out
    }

    /// [`Tokenizer::encode_with`] without parsing control tokens.
    pub fn encode(&self, text: &str, add_special: bool) -> Vec<u32> {
        self.encode_with(text, add_special, false)
    }

    /// Split text at occurrences of whole special tokens, longest first (llama.cpp's
    /// `tokenizer_st_partition`).
    fn partition<'a>(&self, text: &'a str, parse_special: bool) -> Vec<Fragment<'a>> {
        let mut frags = vec![Fragment::Text(text)];
        for (id, sp, control) in &self.specials {
            if *control && !parse_special {
                continue;
            }
            let (id, sp) = (*id, sp.as_str());
            let mut next = vec![];
            for f in frags {
                match f {
                    Fragment::Text(mut t) => {
                        while let Some(at) = t.find(sp) {
                            if at > 0 {
                                next.push(Fragment::Text(&t[..at]));
                            }
                            next.push(Fragment::Token(id));
                            t = &t[at + sp.len()..];
                        }
                        if !t.is_empty() {
                            next.push(Fragment::Text(t));
                        }
                    }
                    tok => next.push(tok),
                }
            }
            frags = next;
        }
        frags
    }

    fn bpe(&self, piece: &str, out: &mut Vec<u32>) {
        let word: String = piece.bytes().map(|b| self.byte_chars[b as usize]).collect();
        if self.ignore_merges {
            if let Some(&id) = self.ids.get(&word) {
                out.push(id);
                return;
            }
        }
        // Merge the lowest-ranked adjacent pair (leftmost on ties) until none is in the merge
        // list, as llama.cpp's llm_tokenizer_bpe_session: symbols in a linked list, candidate
        // pairs in a priority queue checked when popped — O(n log n), not a rescan per merge
        // (a 16,000-character word without spaces).
        let mut syms: Vec<(usize, usize)> = vec![];
        let mut at = 0;
        for c in word.chars() {
            syms.push((at, c.len_utf8()));
            at += c.len_utf8();
        }
        let n = syms.len();
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        let mut next: Vec<usize> = (1..=n).collect();
        let mut heap: BinaryHeap<std::cmp::Reverse<(u32, usize, usize, usize)>> = BinaryHeap::new();
        let push = |heap: &mut BinaryHeap<std::cmp::Reverse<(u32, usize, usize, usize)>>, syms: &[(usize, usize)], l: usize, r: usize| {
            if r >= syms.len() {
                return;
            }
            let (a, b) = (&word[syms[l].0..syms[l].0 + syms[l].1], &word[syms[r].0..syms[r].0 + syms[r].1]);
            if let Some(&rank) = self.ranks.get(&(a.to_string(), b.to_string())) {
                // (rank, left position, the pair's lengths to recognise a stale entry)
                heap.push(std::cmp::Reverse((rank, l, syms[l].1, syms[r].1)));
            }
        };
        for l in 0..n.saturating_sub(1) {
            push(&mut heap, &syms, l, l + 1);
        }
        while let Some(std::cmp::Reverse((_, l, len_l, len_r))) = heap.pop() {
            let r = next[l];
            if syms[l].1 != len_l || r >= n || syms[r].1 != len_r {
                continue;
            }
            syms[l].1 += syms[r].1;
            syms[r].1 = 0;
            next[l] = next[r];
            if next[l] < n {
                prev[next[l]] = l;
            }
            if prev[l] < n {
                push(&mut heap, &syms, prev[l], l);
            }
            push(&mut heap, &syms, l, next[l]);
        }
        let mut pieces = vec![];
        let mut l = 0;
        while l < n {
            pieces.push(word[syms[l].0..syms[l].0 + syms[l].1].to_string());
            l = next[l];
        }
        let syms = pieces;
        for s in syms {
            match self.ids.get(&s) {
                Some(&id) => out.push(id),
                None => {
                    // Not in the vocabulary: its bytes, one token each.
                    for c in s.chars() {
                        out.extend(self.char_bytes.get(&c).and_then(|&b| self.byte_tokens[b as usize]));
                    }
                }
            }
        }
    }

    fn spm(&self, text: &str, space_prefix: bool, out: &mut Vec<u32>) {
        if text.is_empty() {
            return;
        }
        let mut s = String::new();
        if space_prefix {
            s.push(' ');
        }
        s.push_str(text);
        let s = s.replace(' ', "\u{2581}");
        // Symbols: the characters; merge the adjacent pair whose concatenation is the vocabulary
        // entry of highest score (leftmost on ties), as llama.cpp's llm_tokenizer_spm.
        let mut syms: Vec<(usize, usize)> = vec![];
        let mut i = 0;
        for c in s.chars() {
            syms.push((i, c.len_utf8()));
            i += c.len_utf8();
        }
        #[derive(PartialEq)]
        struct Cand(f32, std::cmp::Reverse<usize>, usize, usize);
        impl Eq for Cand {}
        impl PartialOrd for Cand {
            fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(o))
            }
        }
        impl Ord for Cand {
            fn cmp(&self, o: &Self) -> std::cmp::Ordering {
                self.0.total_cmp(&o.0).then(self.1.cmp(&o.1))
            }
        }
        // Linked list over symbols; lengths 0 mark merged-away symbols.
        let n = syms.len();
        let mut prev: Vec<isize> = (0..n as isize).map(|i| i - 1).collect();
        let mut next: Vec<usize> = (1..=n).collect();
        let mut heap = BinaryHeap::new();
        let try_pair = |heap: &mut BinaryHeap<Cand>, syms: &[(usize, usize)], l: usize, r: usize| {
            if r >= syms.len() {
                return;
            }
            let text = &s[syms[l].0..syms[r].0 + syms[r].1];
            if let Some(&id) = self.ids.get(text) {
                heap.push(Cand(self.scores[id as usize], std::cmp::Reverse(syms[l].0), l, text.len()));
            }
        };
        for l in 0..n.saturating_sub(1) {
            try_pair(&mut heap, &syms, l, l + 1);
        }
        while let Some(Cand(_, _, l, len)) = heap.pop() {
            let r = next[l];
            if syms[l].1 == 0 || r >= n || syms[r].1 == 0 || syms[l].1 + syms[r].1 != len {
                continue;
            }
            syms[l].1 += syms[r].1;
            syms[r].1 = 0;
            next[l] = next[r];
            if next[l] < n {
                prev[next[l]] = l as isize;
            }
            if prev[l] >= 0 {
                try_pair(&mut heap, &syms, prev[l] as usize, l);
            }
            try_pair(&mut heap, &syms, l, next[l]);
        }
        let mut l = 0;
        while l < n {
            let (a, len) = syms[l];
            let piece = &s[a..a + len];
            match self.ids.get(piece) {
                Some(&id) => out.push(id),
                None => {
                    for b in piece.bytes() {
                        out.extend(self.byte_tokens[b as usize]);
                    }
                }
            }
            l = next[l];
        }
    }

    /// The bytes a token stands for, as llama.cpp's `token_to_piece` without `special`:
    /// control and unknown tokens are empty (see [`Tokenizer::token_bytes_special`]).
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        self.token_bytes_special(id, false)
    }

    /// The bytes of token `id` by its type, as llama.cpp's `token_to_piece`: a normal token
    /// byte-level decoded (BPE) or with ▁ as space (SentencePiece); a user-defined token's text
    /// as it is (whatever its characters); a byte token its byte; control and unknown tokens
    /// their text with `special`, else nothing; unused tokens nothing.
    pub fn token_bytes_special(&self, id: u32, special: bool) -> Vec<u8> {
        let Some(t) = self.tokens.get(id as usize) else { return vec![] };
        // GGUF token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
        let ty = self.types.get(id as usize).copied().unwrap_or(1);
        match ty {
            2 | 3 => return if special { t.as_bytes().to_vec() } else { vec![] },
            4 => return t.as_bytes().to_vec(),
            5 => return vec![],
            6 => {
                if let Some(b) = t.strip_prefix("<0x").and_then(|h| h.strip_suffix('>')).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    return vec![b];
                }
            }
            _ => {}
        }
        match self.kind {
            // byte-level decoding; a character outside the byte map as llama.cpp's
            // `llama_decode_text` writes it
            Kind::Bpe => {
                let mut out = vec![];
                for c in t.chars() {
                    match self.char_bytes.get(&c) {
                        Some(&b) => out.push(b),
                        None => {
                            let mut u = [0u8; 4];
                            let hex: String = c.encode_utf8(&mut u).bytes().map(|b| format!("{b:02x}")).collect();
                            out.extend(format!("[UNK_BYTE_0x{hex}{t}]").into_bytes());
                        }
                    }
                }
                out
            }
            Kind::Spm => t.replace('\u{2581}', " ").into_bytes(),
        }
    }

    /// Text of `ids` (invalid UTF-8 replaced; use [`StreamDecoder`] while generating).
    pub fn decode(&self, ids: &[u32]) -> String {
        self.decode_with(ids, false)
    }

    /// Text of `ids`; `special`: control tokens as their text (llama.cpp's
    /// `llama_detokenize` with `unparse_special`), else left out.
    pub fn decode_with(&self, ids: &[u32], special: bool) -> String {
        let mut bytes: Vec<u8> = ids.iter().flat_map(|&i| self.token_bytes_special(i, special)).collect();
        if self.kind == Kind::Spm && self.add_space_prefix && bytes.first() == Some(&b' ') {
            bytes.remove(0);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Token types llama.cpp corrects at load from the token's text (llama-vocab.cpp `load`): for
/// each special role whose id the file does not give (end of turn / message, fill-in-the-middle
/// pieces), tokens with one of the role's well-known texts become control tokens (not
/// rendered without `special`, matched only when parsing special tokens); gpt-oss's channel
/// markers become user-defined (always rendered).
fn mark_special_by_text(index: &GgufIndex, ids: &HashMap<String, u32>, types: &mut [i32]) {
    const ROLES: &[(&str, &[&str])] = &[
        ("tokenizer.ggml.eot_token_id", &["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<\u{ff5c}end\u{2581}of\u{2581}sentence\u{ff5c}>", "<end_of_utterance>"]),
        ("tokenizer.ggml.eom_token_id", &["<|eom_id|>"]),
        ("tokenizer.ggml.fim_pre_token_id", &["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\u{ff5c}fim\u{2581}begin\u{ff5c}>", "<PRE>", "\u{2581}<PRE>", "<|code_prefix|>", "<|prefix|>"]),
        ("tokenizer.ggml.fim_suf_token_id", &["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\u{ff5c}fim\u{2581}hole\u{ff5c}>", "<SUF>", "\u{2581}<SUF>", "<|code_suffix|>", "<|suffix|>"]),
        ("tokenizer.ggml.fim_mid_token_id", &["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\u{ff5c}fim\u{2581}end\u{ff5c}>", "<MID>", "\u{2581}<MID>", "<|code_middle|>", "<|middle|>"]),
        ("tokenizer.ggml.fim_pad_token_id", &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"]),
        ("tokenizer.ggml.fim_rep_token_id", &["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"]),
        ("tokenizer.ggml.fim_sep_token_id", &["<|file_sep|>"]),
    ];
    for (key, names) in ROLES {
        if index.get(key).is_some() {
            continue;
        }
        // llama.cpp takes the first match it meets; the texts of one role rarely coexist
        if let Some(&id) = names.iter().find_map(|n| ids.get(*n)) {
            if let Some(t) = types.get_mut(id as usize) {
                *t = 3;
            }
        }
    }
    // end-of-generation texts: control tokens wherever they are
    for n in EOG_TEXTS {
        if let Some(t) = ids.get(*n).and_then(|&id| types.get_mut(id as usize)) {
            *t = 3;
        }
    }
    for n in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
        if let Some(t) = ids.get(n).and_then(|&id| types.get_mut(id as usize)) {
            *t = 4;
        }
    }
}

/// Texts of tokens that end generation in llama.cpp (llama-vocab.cpp `special_eog_ids`).
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<\u{ff5c}end\u{2581}of\u{2581}sentence\u{ff5c}>", "[e~[",
];

/// BPE pre-tokenizer names for which llama.cpp adds BOS unless the file says otherwise.
const BOS_BY_DEFAULT: &[&str] = &["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano", "tekken", "chameleon"];

enum Fragment<'a> {
    Text(&'a str),
    Token(u32),
}

/// Turns a stream of token ids into text without ever emitting half a UTF-8 character: bytes
/// of an incomplete character wait for the next token.
#[derive(Default)]
pub struct StreamDecoder {
    pending: Vec<u8>,
    started: bool,
}

impl StreamDecoder {
    pub fn push(&mut self, tok: &Tokenizer, id: u32) -> String {
        self.pending.extend(tok.token_bytes(id));
        // SentencePiece's space prefix is not part of the text (as in `decode`).
        if !self.started && !self.pending.is_empty() {
            self.started = true;
            if tok.kind == Kind::Spm && tok.add_space_prefix && self.pending[0] == b' ' {
                self.pending.remove(0);
            }
        }
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(e) => e.valid_up_to() + e.error_len().unwrap_or(1),
        };
        let out: Vec<u8> = self.pending.drain(..valid).collect();
        String::from_utf8_lossy(&out).into_owned()
    }
    /// What is left at the end (an incomplete character, replaced).
    pub fn finish(&mut self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned()
    }
}
