//! Chat templates from `tokenizer.chat_template`, rendered with minijinja in the environment
//! Hugging Face transformers renders them in (`chat_template_utils._compile_jinja_template`,
//! transformers 5.x): trim_blocks and lstrip_blocks, loop controls, Python string methods
//! (minijinja-contrib's pycompat), the `{% generation %}` block of assistant-mask templates
//! (rendered as its body), and HF's additions — `raise_exception`, `strftime_now` (Python's
//! strftime on the current local time, every C/glibc directive), and a `tojson` that is
//! Python's `json.dumps` with HF's defaults and keyword arguments (`ensure_ascii`, `indent`,
//! `separators`, `sort_keys`). Mappings keep the order they were given in (JSON from JS, tool
//! schemas), as Python dicts do. `tools` and `documents` are always defined (none when not
//! given), and a message's reasoning (`reasoning_content` / `thinking` / `reasoning`) is
//! visible under all its names, as in `render_jinja_template`.

use minijinja::{Environment, Error, ErrorKind, Value};

use crate::gguf::{GgufIndex, Value as GValue};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    #[error("the model has no chat template")]
    Missing,
    #[error("chat template error: {0}")]
    Render(String),
}

/// A local date and time for `strftime_now` (the machine's clock by default; fixed in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub year: i32,
    /// 1 ..= 12
    pub month: u32,
    /// 1 ..= 31
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub microsecond: u32,
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = y as i64 - (m <= 2) as i64;
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl DateTime {
    /// Now: the browser's local time in wasm (as Python's `datetime.now()` is local), UTC
    /// natively.
    pub fn now() -> DateTime {
        #[cfg(target_arch = "wasm32")]
        {
            let d = js_sys::Date::new_0();
            DateTime {
                year: d.get_full_year() as i32,
                month: d.get_month() + 1,
                day: d.get_date(),
                hour: d.get_hours(),
                minute: d.get_minutes(),
                second: d.get_seconds(),
                microsecond: d.get_milliseconds() * 1000,
            }
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            DateTime::from_unix(t.as_secs() as i64, t.subsec_micros())
        }
    }

    /// The UTC date and time of a Unix timestamp.
    pub fn from_unix(secs: i64, micros: u32) -> DateTime {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + (month <= 2) as i64) as i32;
        DateTime { year, month, day, hour: (rem / 3600) as u32, minute: (rem / 60 % 60) as u32, second: (rem % 60) as u32, microsecond: micros }
    }

    fn days(&self) -> i64 {
        days_from_civil(self.year, self.month.clamp(1, 12), self.day.clamp(1, 31))
    }

    /// 0 = Sunday.
    fn weekday(&self) -> u32 {
        (self.days() + 4).rem_euclid(7) as u32
    }

    /// 0-based day of the year.
    fn yday(&self) -> u32 {
        (self.days() - days_from_civil(self.year, 1, 1)) as u32
    }

    /// ISO 8601 year and week.
    fn iso_week(&self) -> (i32, u32) {
        let wd = (self.weekday() + 6) % 7; // Monday 0
        let thursday = self.days() - wd as i64 + 3;
        let y = DateTime::from_unix(thursday * 86_400, 0).year;
        let week = ((thursday - days_from_civil(y, 1, 1)) / 7 + 1) as u32;
        (y, week)
    }

    /// Python's `datetime.strftime` on Linux (glibc's directives and its `-`, `_`, `0`, `^`,
    /// `#` flags, in the C locale; `%f` microseconds; `%z` and `%Z` empty for a naive time).
    pub fn strftime(&self, fmt: &str) -> String {
        const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
        const MONTHS: [&str; 12] = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
        let wd = self.weekday() as usize;
        let mon = (self.month.clamp(1, 12) - 1) as usize;
        let h12 = if self.hour % 12 == 0 { 12 } else { self.hour % 12 };
        let pm = if self.hour >= 12 { "PM" } else { "AM" };
        let yday = self.yday();
        let (iso_y, iso_w) = self.iso_week();
        let mut out = String::new();
        let mut it = fmt.chars().peekable();
        while let Some(c) = it.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let mut flag = None;
            while let Some(&f) = it.peek() {
                if "-_0^#".contains(f) {
                    flag = Some(f);
                    it.next();
                } else {
                    break;
                }
            }
            // (text, is a number, natural width, natural pad)
            let num = |v: i64, w: usize| (v.to_string(), true, w, '0');
            let space = |v: i64, w: usize| (v.to_string(), true, w, ' ');
            let txt = |s: String| (s, false, 0, ' ');
            let Some(d) = it.next() else {
                out.push('%');
                break;
            };
            let (s, is_num, width, pad) = match d {
                'a' => txt(DAYS[wd][..3].into()),
                'A' => txt(DAYS[wd].into()),
                'w' => num(wd as i64, 1),
                'u' => num(if wd == 0 { 7 } else { wd as i64 }, 1),
                'd' => num(self.day as i64, 2),
                'e' => space(self.day as i64, 2),
                'b' | 'h' => txt(MONTHS[mon][..3].into()),
                'B' => txt(MONTHS[mon].into()),
                'm' => num(self.month as i64, 2),
                'y' => num(self.year.rem_euclid(100) as i64, 2),
                'Y' => num(self.year as i64, 1),
                'C' => num(self.year.div_euclid(100) as i64, 2),
                'G' => num(iso_y as i64, 1),
                'g' => num(iso_y.rem_euclid(100) as i64, 2),
                'V' => num(iso_w as i64, 2),
                'H' => num(self.hour as i64, 2),
                'k' => space(self.hour as i64, 2),
                'I' => num(h12 as i64, 2),
                'l' => space(h12 as i64, 2),
                'p' => txt(pm.into()),
                'P' => txt(pm.to_lowercase()),
                'M' => num(self.minute as i64, 2),
                'S' => num(self.second as i64, 2),
                // Python formats a bare %f itself; with a flag glibc sees an unknown conversion
                'f' if flag.is_some() => {
                    out.push('%');
                    out.extend(flag);
                    out.push(if flag == Some('^') { 'F' } else { 'f' });
                    continue;
                }
                'f' => num(self.microsecond as i64, 6),
                'j' => num(yday as i64 + 1, 3),
                'U' => num(((yday + 7 - wd as u32) / 7) as i64, 2),
                'W' => num(((yday + 7 - (wd as u32 + 6) % 7) / 7) as i64, 2),
                's' => num(self.days() * 86_400 + (self.hour * 3600 + self.minute * 60 + self.second) as i64, 1),
                'c' => txt(format!("{} {} {:>2} {:02}:{:02}:{:02} {}", &DAYS[wd][..3], &MONTHS[mon][..3], self.day, self.hour, self.minute, self.second, self.year)),
                'x' | 'D' => txt(format!("{:02}/{:02}/{:02}", self.month, self.day, self.year.rem_euclid(100))),
                'X' | 'T' => txt(format!("{:02}:{:02}:{:02}", self.hour, self.minute, self.second)),
                'F' => txt(format!("{}-{:02}-{:02}", self.year, self.month, self.day)),
                'R' => txt(format!("{:02}:{:02}", self.hour, self.minute)),
                'r' => txt(format!("{:02}:{:02}:{:02} {pm}", h12, self.minute, self.second)),
                'n' => txt("\n".into()),
                't' => txt("\t".into()),
                '%' => txt("%".into()),
                'z' | 'Z' => txt(String::new()),
                o => {
                    // glibc leaves an unknown conversion as written
                    out.push('%');
                    if let Some(f) = flag {
                        out.push(f);
                    }
                    out.push(o);
                    continue;
                }
            };
            let s = if is_num {
                match flag {
                    Some('-') => s,
                    Some('_') => format!("{s:>width$}"),
                    Some('0') => format!("{s:0>width$}"),
                    _ if pad == ' ' => format!("{s:>width$}"),
                    _ => format!("{s:0>width$}"),
                }
            } else {
                // glibc: `^` upper-cases (not %P), `#` upper-cases names and lower-cases %p
                match (flag, d) {
                    (Some('^'), 'P') => s,
                    (Some('^'), _) => s.to_uppercase(),
                    (Some('#'), 'a' | 'A' | 'b' | 'B' | 'h') => s.to_uppercase(),
                    (Some('#'), 'p') => s.to_lowercase(),
                    _ => s,
                }
            };
            out += &s;
        }
        out
    }
}

pub struct ChatTemplate {
    pub source: String,
}

#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub add_generation_prompt: bool,
    pub bos_token: String,
    pub eos_token: String,
    /// The time `strftime_now` reports (now when None).
    pub now: Option<DateTime>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions { add_generation_prompt: true, bos_token: String::new(), eos_token: String::new(), now: None }
    }
}

/// Python's `json.dumps(v, ensure_ascii=…, indent=…, separators=…, sort_keys=…)`: key order
/// as given (or sorted), Python's float repr, `\uXXXX` escapes (surrogate pairs) for non-ASCII
/// when `ensure_ascii`, no HTML escaping.
pub struct PyJson {
    pub ensure_ascii: bool,
    /// Spaces per level (None: one line).
    pub indent: Option<String>,
    pub item_sep: String,
    pub key_sep: String,
    pub sort_keys: bool,
}

impl PyJson {
    /// json.dumps' defaults for the given indent: separators (", ", ": ") on one line,
    /// (",", ": ") with an indent.
    pub fn new(ensure_ascii: bool, indent: Option<String>, separators: Option<(String, String)>, sort_keys: bool) -> PyJson {
        let (item_sep, key_sep) = separators.unwrap_or_else(|| if indent.is_some() { (",".into(), ": ".into()) } else { (", ".into(), ": ".into()) });
        PyJson { ensure_ascii, indent, item_sep, key_sep, sort_keys }
    }

    pub fn dumps(&self, v: &serde_json::Value) -> String {
        let mut out = String::new();
        self.write(v, 0, &mut out);
        out
    }

    fn newline(&self, level: usize, out: &mut String) {
        if let Some(ind) = &self.indent {
            out.push('\n');
            for _ in 0..level {
                out.push_str(ind);
            }
        }
    }

    fn write(&self, v: &serde_json::Value, level: usize, out: &mut String) {
        use serde_json::Value as J;
        match v {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Number(n) => out.push_str(&py_number(n)),
            J::String(s) => self.string(s, out),
            J::Array(a) => {
                if a.is_empty() {
                    out.push_str("[]");
                    return;
                }
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push_str(&self.item_sep);
                    }
                    self.newline(level + 1, out);
                    self.write(x, level + 1, out);
                }
                self.newline(level, out);
                out.push(']');
            }
            J::Object(m) => {
                if m.is_empty() {
                    out.push_str("{}");
                    return;
                }
                let mut entries: Vec<(&String, &serde_json::Value)> = m.iter().collect();
                if self.sort_keys {
                    entries.sort_by(|a, b| a.0.cmp(b.0));
                }
                out.push('{');
                for (i, (k, x)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push_str(&self.item_sep);
                    }
                    self.newline(level + 1, out);
                    self.string(k, out);
                    out.push_str(&self.key_sep);
                    self.write(x, level + 1, out);
                }
                self.newline(level, out);
                out.push('}');
            }
        }
    }

    fn string(&self, s: &str, out: &mut String) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 || (self.ensure_ascii && (c as u32) > 0x7e) => {
                    let mut buf = [0u16; 2];
                    for u in c.encode_utf16(&mut buf) {
                        out.push_str(&format!("\\u{:04x}", u));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
}

/// A JSON number as Python prints it: integers as is, floats by `repr` (shortest round trip,
/// exponent form below 1e-4 and from 1e16, `1e+16`, `inf` as `Infinity`).
fn py_number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    let e = format!("{f:e}"); // shortest digits: "1.2345e3"
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if neg { "-" } else { "" };
    if (-4..16).contains(&exp) {
        // fixed notation with at least one decimal
        let point = exp + 1;
        let s = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
        };
        format!("{sign}{s}")
    } else {
        let m = if digits.len() > 1 { format!("{}.{}", &digits[..1], &digits[1..]) } else { digits };
        format!("{sign}{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    }
}

/// `{% generation %}` … `{% endgeneration %}` (HF's AssistantTracker: the body rendered as is,
/// its place only recorded for assistant masks) as an `if true` block, keeping the tags'
/// whitespace control.
fn generation_blocks(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while let Some(i) = rest.find("{%") {
        out.push_str(&rest[..i]);
        let tag = &rest[i..];
        let Some(end) = tag.find("%}") else {
            out.push_str(tag);
            return out;
        };
        let inner = &tag[2..end];
        let (lead, body) = inner.strip_prefix('-').map_or(("", inner), |b| ("-", b));
        let (body, trail) = body.strip_suffix('-').map_or((body, ""), |b| (b, "-"));
        match body.trim() {
            "generation" => out.push_str(&format!("{{%{lead} if true {trail}%}}")),
            "endgeneration" => out.push_str(&format!("{{%{lead} endif {trail}%}}")),
            _ => out.push_str(&tag[..end + 2]),
        }
        rest = &tag[end + 2..];
    }
    out.push_str(rest);
    out
}

/// HF's `_alias_reasoning_fields`: a message with reasoning under `reasoning_content`,
/// `thinking` or `reasoning` gets it as `thinking` (unless it has one) and as
/// `reasoning_content`.
fn alias_reasoning(messages: &serde_json::Value) -> serde_json::Value {
    let Some(list) = messages.as_array() else { return messages.clone() };
    serde_json::Value::Array(
        list.iter()
            .map(|m| {
                let Some(obj) = m.as_object() else { return m.clone() };
                let Some(r) = ["reasoning_content", "thinking", "reasoning"].iter().find_map(|k| obj.get(*k).filter(|v| !v.is_null())) else { return m.clone() };
                let mut out = serde_json::Map::new();
                if !obj.contains_key("thinking") {
                    out.insert("thinking".into(), r.clone());
                }
                for (k, v) in obj {
                    out.insert(k.clone(), v.clone());
                }
                out.insert("reasoning_content".into(), r.clone());
                serde_json::Value::Object(out)
            })
            .collect(),
    )
}

impl ChatTemplate {
    pub fn from_index(index: &GgufIndex) -> Option<ChatTemplate> {
        index.get("tokenizer.chat_template").and_then(GValue::as_str).map(|s| ChatTemplate { source: s.to_string() })
    }

    /// Render `messages` (a JSON array of `{role, content, …}`), plus any extra variables
    /// (`tools`, `documents`, `enable_thinking`, …) in `extra`.
    pub fn render(&self, messages: &serde_json::Value, extra: &serde_json::Value, opts: &RenderOptions) -> Result<String, TemplateError> {
        let mut env = Environment::new();
        if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).build() {
            env.set_syntax(syntax);
        }
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        // Templates come from model files: bound the work a hostile one can do.
        env.set_fuel(Some(5_000_000));
        env.add_function("raise_exception", |msg: String| -> Result<Value, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, msg))
        });
        let now = opts.now.unwrap_or_else(DateTime::now);
        env.add_function("strftime_now", move |fmt: String| now.strftime(&fmt));
        env.add_filter("tojson", |v: Value, kwargs: minijinja::value::Kwargs| -> Result<Value, Error> {
            let ensure_ascii: Option<bool> = kwargs.get("ensure_ascii")?;
            let indent: Option<Value> = kwargs.get("indent")?;
            let separators: Option<Vec<String>> = kwargs.get("separators")?;
            let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
            kwargs.assert_all_used()?;
            // indent: a number of spaces or a string (json.dumps accepts both); none: one line
            let indent = match indent {
                None => None,
                Some(i) if i.is_none() || i.is_undefined() => None,
                // bounded: a hostile template must not make every line a gigabyte
                Some(i) => match i.as_str() {
                    Some(s) if s.len() <= 64 => Some(s.to_string()),
                    Some(_) => return Err(Error::new(ErrorKind::InvalidOperation, "tojson: an indent string over 64 characters")),
                    None => match i64::try_from(i) {
                        Ok(n) if n <= 64 => Some(" ".repeat(n.max(0) as usize)),
                        _ => return Err(Error::new(ErrorKind::InvalidOperation, "tojson: indent must be an integer up to 64 or a string")),
                    },
                },
            };
            let separators = match separators {
                None => None,
                Some(s) if s.len() == 2 => Some((s[0].clone(), s[1].clone())),
                Some(_) => return Err(Error::new(ErrorKind::InvalidOperation, "tojson: separators must be (item_separator, key_separator)")),
            };
            let json: serde_json::Value = serde_json::to_value(&v).map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
            Ok(Value::from_safe_string(PyJson::new(ensure_ascii.unwrap_or(false), indent, separators, sort_keys.unwrap_or(false)).dumps(&json)))
        });
        let source = generation_blocks(&self.source);
        let tmpl = env.template_from_str(&source).map_err(|e| TemplateError::Render(format!("{e:#}")))?;
        let mut ctx = serde_json::Map::new();
        ctx.insert("tools".into(), serde_json::Value::Null);
        ctx.insert("documents".into(), serde_json::Value::Null);
        if let serde_json::Value::Object(m) = extra {
            ctx.extend(m.clone());
        }
        ctx.insert("messages".into(), alias_reasoning(messages));
        ctx.insert("add_generation_prompt".into(), opts.add_generation_prompt.into());
        ctx.entry("bos_token").or_insert_with(|| opts.bos_token.clone().into());
        ctx.entry("eos_token").or_insert_with(|| opts.eos_token.clone().into());
        tmpl.render(Value::from(minijinja::value::Serde(&ctx))).map_err(|e| TemplateError::Render(format!("{e:#}")))
    }
}
