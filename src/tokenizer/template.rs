//! Chat templates from `tokenizer.chat_template`, rendered with minijinja in the environment
//! Hugging Face renders them in (trim_blocks, lstrip_blocks, Python string methods through
//! minijinja-contrib's pycompat), with the functions real templates call:
//! `raise_exception`, `strftime_now`, and a `tojson` that writes JSON as Python's json.dumps
//! does (no HTML escaping).

use minijinja::{Environment, Error, ErrorKind, Value};

use crate::gguf::{GgufIndex, Value as GValue};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    #[error("the model has no chat template")]
    Missing,
    #[error("chat template error: {0}")]
    Render(String),
}

/// A calendar date for `strftime_now` (the page's clock by default; fixed in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl Date {
    /// Today (UTC).
    pub fn today() -> Date {
        #[cfg(target_arch = "wasm32")]
        let days = (js_sys::Date::now() / 86_400_000.0) as i64;
        #[cfg(not(target_arch = "wasm32"))]
        let days = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64 / 86_400);
        // civil-from-days (Howard Hinnant's algorithm)
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + (month <= 2) as i64) as i32;
        Date { year, month, day }
    }

    fn format(&self, fmt: &str) -> String {
        const MONTHS: [&str; 12] = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
        let name = MONTHS[(self.month.clamp(1, 12) - 1) as usize];
        let mut out = String::new();
        let mut chars = fmt.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('Y') => out += &self.year.to_string(),
                Some('y') => out += &format!("{:02}", self.year.rem_euclid(100)),
                Some('m') => out += &format!("{:02}", self.month),
                Some('d') => out += &format!("{:02}", self.day),
                Some('e') => out += &format!("{:>2}", self.day),
                Some('B') => out += name,
                Some('b') | Some('h') => out += &name[..3],
                Some('H') | Some('M') | Some('S') => out += "00",
                Some('%') => out.push('%'),
                Some(o) => {
                    out.push('%');
                    out.push(o);
                }
                None => out.push('%'),
            }
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
    /// The date `strftime_now` reports (today when None).
    pub date: Option<Date>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions { add_generation_prompt: true, bos_token: String::new(), eos_token: String::new(), date: None }
    }
}

fn tojson(v: Value, indent: Option<usize>) -> Result<Value, Error> {
    let json: serde_json::Value = serde_json::to_value(&v).map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
    let s = match indent {
        None => serde_json::to_string(&json),
        Some(n) => {
            let ind = vec![b' '; n];
            let mut buf = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(&ind);
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
            serde::Serialize::serialize(&json, &mut ser).map(|_| String::from_utf8_lossy(&buf).into_owned())
        }
    }
    .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
    // Python's json.dumps puts a space after ':' and ',' in its compact form.
    let s = if indent.is_none() { python_separators(&s) } else { s };
    Ok(Value::from_safe_string(s))
}

/// serde_json's compact output with Python's default separators (", " and ": ").
fn python_separators(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    let mut in_str = false;
    let mut esc = false;
    for c in s.chars() {
        out.push(c);
        if in_str {
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
        } else if c == ',' || c == ':' {
            out.push(' ');
        }
    }
    out
}

impl ChatTemplate {
    pub fn from_index(index: &GgufIndex) -> Option<ChatTemplate> {
        index.get("tokenizer.chat_template").and_then(GValue::as_str).map(|s| ChatTemplate { source: s.to_string() })
    }

    /// Render `messages` (a JSON array of `{role, content, …}`), plus any extra variables
    /// (`tools`, `enable_thinking`, …) in `extra`.
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
        let date = opts.date.unwrap_or_else(Date::today);
        env.add_function("strftime_now", move |fmt: String| date.format(&fmt));
        env.add_filter("tojson", |v: Value, kwargs: minijinja::value::Kwargs| -> Result<Value, Error> {
            let indent: Option<usize> = kwargs.get("indent")?;
            kwargs.assert_all_used()?;
            tojson(v, indent)
        });
        let tmpl = env.template_from_str(&self.source).map_err(|e| TemplateError::Render(format!("{e:#}")))?;
        let mut ctx = serde_json::Map::new();
        if let serde_json::Value::Object(m) = extra {
            ctx.extend(m.clone());
        }
        ctx.insert("messages".into(), messages.clone());
        ctx.insert("add_generation_prompt".into(), opts.add_generation_prompt.into());
        ctx.insert("bos_token".into(), opts.bos_token.clone().into());
        ctx.insert("eos_token".into(), opts.eos_token.clone().into());
        tmpl.render(Value::from(minijinja::value::Serde(&ctx))).map_err(|e| TemplateError::Render(format!("{e:#}")))
    }
}
