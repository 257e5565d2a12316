//! Pre-tokenizers: split text into the pieces BPE runs on, exactly as the regexes of
//! llama.cpp's `llama-vocab.cpp` do (hand-written matchers, as llama.cpp's
//! `unicode_regex_split_custom_*`; the `regex` crate has no look-ahead).

use unicode_general_category::{get_general_category, GeneralCategory as G};

fn is_letter(c: char) -> bool {
    matches!(get_general_category(c), G::UppercaseLetter | G::LowercaseLetter | G::TitlecaseLetter | G::ModifierLetter | G::OtherLetter)
}
fn is_mark(c: char) -> bool {
    matches!(get_general_category(c), G::NonspacingMark | G::SpacingMark | G::EnclosingMark)
}
fn is_number(c: char) -> bool {
    matches!(get_general_category(c), G::DecimalNumber | G::LetterNumber | G::OtherNumber)
}
fn is_space(c: char) -> bool {
    c.is_whitespace()
}
/// A codepoint that has a category at all (llama.cpp's `flags.as_uint() != 0`).
fn is_defined(c: char) -> bool {
    get_general_category(c) != G::Unassigned
}

/// Which split rule a vocabulary uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreTokenizer {
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    /// (llama-bpe / Llama 3, dbrx, falcon-h1, lfm2, smaug, …)
    Llama3,
    /// Llama3's regex with `\p{N}` (one digit per piece) in place of `\p{N}{1,3}` (qwen2).
    Qwen2,
    /// Qwen2's, with combining marks counted as letters: `[\p{L}\p{M}]+` (qwen35).
    Qwen35,
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` (gpt-2, mpt, …)
    Gpt2,
    /// Mistral's tekken, as llama.cpp rewrites it (`[\p{Lu}…]` becomes "a letter but not a-z",
    /// `[\p{Ll}…]` "a letter but not A-Z", so other scripts' letters are both and marks neither):
    /// `[^\r\n\p{L}\p{N}]?U*L+|[^\r\n\p{L}\p{N}]?U+L*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    Tekken,
}

impl PreTokenizer {
    pub fn split<'a>(self, text: &'a str) -> Vec<&'a str> {
        let cs: Vec<(usize, char)> = text.char_indices().collect();
        let at = |i: usize| cs.get(i).map(|c| c.1);
        let byte = |i: usize| cs.get(i).map_or(text.len(), |c| c.0);
        let mut out = vec![];
        let mut pos = 0;
        let n = cs.len();
        let marks = self == PreTokenizer::Qwen35;
        let letter = |i: usize| at(i).is_some_and(|c| is_letter(c) || (marks && is_mark(c)));
        let number = |i: usize| at(i).is_some_and(is_number);
        let space = |i: usize| at(i).is_some_and(is_space);
        let other = |i: usize| at(i).is_some_and(|c| !is_space(c) && !is_letter(c) && !(marks && is_mark(c)) && !is_number(c) && is_defined(c));
        while pos < n {
            let start = pos;
            let c = cs[pos].1;
            let end = 'm: {
                if self == PreTokenizer::Tekken {
                    let upper = |i: usize| at(i).is_some_and(|c| is_letter(c) && !c.is_ascii_lowercase());
                    let lower = |i: usize| at(i).is_some_and(|c| is_letter(c) && !c.is_ascii_uppercase());
                    let run = |mut p: usize, f: &dyn Fn(usize) -> bool| {
                        while f(p) {
                            p += 1;
                        }
                        p
                    };
                    // [^\r\n\p{L}\p{N}]? (tried first, as the greedy `?`), then U*L+ (U* backs off
                    // until an L follows), then U+L*.
                    let starts: &[usize] = if !is_letter(c) && !is_number(c) && c != '\r' && c != '\n' { &[pos + 1, pos] } else { &[pos] };
                    for &s0 in starts {
                        let u = run(s0, &upper);
                        if let Some(k) = (s0..=u).rev().find(|&k| lower(k)) {
                            break 'm run(k, &lower);
                        }
                    }
                    for &s0 in starts {
                        let u = run(s0, &upper);
                        if u > s0 {
                            break 'm run(u, &lower);
                        }
                    }
                    if is_number(c) {
                        break 'm pos + 1;
                    }
                    // ' ?[^\s\p{L}\p{N}]+[\r\n/]*'
                    let q = if c == ' ' { pos + 1 } else { pos };
                    if other(q) {
                        let p = run(q, &other);
                        break 'm run(p, &|i| matches!(at(i), Some('\r' | '\n' | '/')));
                    }
                }
                // contractions
                if c == '\'' && pos + 1 < n && self != PreTokenizer::Tekken {
                    let low = |i: usize| at(i).map(|c| if self != PreTokenizer::Gpt2 { c.to_ascii_lowercase() } else { c });
                    let c1 = low(pos + 1);
                    if matches!(c1, Some('s' | 't' | 'm' | 'd')) {
                        break 'm pos + 2;
                    }
                    if let (Some(a), Some(b)) = (c1, low(pos + 2)) {
                        if matches!((a, b), ('r', 'e') | ('v', 'e') | ('l', 'l')) {
                            break 'm pos + 3;
                        }
                    }
                }
                match self {
                    PreTokenizer::Llama3 | PreTokenizer::Qwen2 | PreTokenizer::Qwen35 => {
                        // [^\r\n\p{L}\p{N}]?\p{L}+  (qwen35: [\p{L}\p{M}]+)
                        if !(c == '\r' || c == '\n' || is_number(c)) && (letter(pos) || letter(pos + 1)) {
                            let mut p = pos + 1;
                            while letter(p) {
                                p += 1;
                            }
                            break 'm p;
                        }
                        // \p{N}{1,3}
                        if is_number(c) {
                            let mut p = pos;
                            let max = if self == PreTokenizer::Llama3 { 3 } else { 1 };
                            while number(p) && p - pos < max {
                                p += 1;
                            }
                            break 'm p;
                        }
                        // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
                        let q = if c == ' ' { pos + 1 } else { pos };
                        if other(q) {
                            let mut p = q;
                            while other(p) {
                                p += 1;
                            }
                            while matches!(at(p), Some('\r' | '\n')) {
                                p += 1;
                            }
                            break 'm p;
                        }
                    }
                    PreTokenizer::Tekken => {}
                    PreTokenizer::Gpt2 => {
                        let q = if c == ' ' { pos + 1 } else { pos };
                        for class in [&letter as &dyn Fn(usize) -> bool, &number, &other] {
                            if class(q) {
                                let mut p = q;
                                while class(p) {
                                    p += 1;
                                }
                                break 'm p;
                            }
                        }
                    }
                }
                // whitespace: \s*[\r\n]+ (Llama3), \s+(?!\S), \s+
                let mut nw = 0;
                let mut last_nl = None;
                while space(pos + nw) {
                    if self != PreTokenizer::Gpt2 && matches!(at(pos + nw), Some('\r' | '\n')) {
                        last_nl = Some(pos + nw + 1);
                    }
                    nw += 1;
                }
                if let Some(e) = last_nl {
                    break 'm e;
                }
                if nw > 1 && pos + nw < n {
                    break 'm pos + nw - 1;
                }
                if nw > 0 {
                    break 'm pos + nw;
                }
                pos + 1
            };
            out.push(&text[byte(start)..byte(end)]);
            pos = end;
        }
        out
    }
}
