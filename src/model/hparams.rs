//! Reading GGUF metadata: [`Meta`] reads `{arch}.*` keys (scalars or per-layer arrays, in any
//! integer type), [`HParams`] holds the keys every architecture shares (spec §1.1). Keys only
//! some architectures have are read by their own file in `arch/`.

use crate::gguf::{GgufIndex, Value};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("unsupported architecture {0:?} (Braid runs: {list})", list = super::arch::supported_names().join(", "))]
    UnsupportedArch(String),
    #[error("metadata key {0:?} is missing or has the wrong type")]
    MissingKey(String),
    #[error("tensor {0:?} is missing")]
    MissingTensor(String),
    #[error("tensor {name:?} has shape {got:?}, expected {want:?}")]
    BadShape { name: String, got: Vec<u64>, want: Vec<u64> },
    #[error("tensor {0:?} is not used by Braid's implementation of this architecture (not supported yet)")]
    UnexpectedTensor(String),
    #[error("{0} (not supported yet)")]
    UnsupportedFeature(String),
    #[error("invalid hyperparameters: {0}")]
    BadHparams(String),
}

impl ModelError {
    /// The stable error code used by the JavaScript API.
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::UnsupportedArch(_) | ModelError::UnsupportedFeature(_) => "UNSUPPORTED_ARCH",
            ModelError::UnexpectedTensor(_) => "UNSUPPORTED_TYPE",
            _ => "GGUF_INVALID",
        }
    }
}

/// The largest model dimension accepted (vocabulary, FFN width, …): with `MAX_BATCH` tokens
/// per step it keeps every buffer size and shader index within u32.
pub const MAX_DIM: u32 = 1 << 20;

/// The metadata of one file, read with the architecture's key prefix.
pub struct Meta<'a> {
    pub index: &'a GgufIndex,
    pub arch: &'a str,
}

fn u32_of(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|x| u32::try_from(x).ok())
}

impl<'a> Meta<'a> {
    pub fn new(index: &'a GgufIndex, arch: &'a str) -> Meta<'a> {
        Meta { index, arch }
    }

    /// `{arch}.{k}`.
    pub fn key(&self, k: &str) -> String {
        format!("{}.{k}", self.arch)
    }

    pub fn get(&self, k: &str) -> Option<&Value> {
        self.index.get(&self.key(k))
    }

    pub fn u32(&self, k: &str) -> Option<u32> {
        self.get(k).and_then(u32_of)
    }

    pub fn req_u32(&self, k: &str) -> Result<u32, ModelError> {
        self.u32(k).ok_or_else(|| ModelError::MissingKey(self.key(k)))
    }

    pub fn f32(&self, k: &str) -> Option<f32> {
        self.get(k).and_then(Value::as_f64).map(|v| v as f32)
    }

    pub fn bool(&self, k: &str) -> Option<bool> {
        self.get(k).and_then(Value::as_bool)
    }

    /// RoPE's linear scaling as llama.cpp reads it: `1 / rope.scaling.factor` (or the old
    /// `rope.scale_linear`), 1 without one. YaRN and LongRoPE are refused: they change more
    /// than the angle's scale.
    pub fn rope_freq_scale(&self) -> Result<f32, ModelError> {
        if let Some(s) = self.get("rope.scaling.type").and_then(|v| v.as_str().map(str::to_owned)) {
            if !["none", "linear"].contains(&s.as_str()) {
                return Err(ModelError::UnsupportedFeature(format!("RoPE scaling {s:?}")));
            }
        }
        let factor = self.f32("rope.scaling.factor").or_else(|| self.f32("rope.scale_linear")).unwrap_or(0.0);
        if !factor.is_finite() || factor < 0.0 {
            return Err(ModelError::BadHparams(format!("rope.scaling.factor {factor}")));
        }
        Ok(if factor == 0.0 { 1.0 } else { 1.0 / factor })
    }

    /// A key that is a scalar (the same for every layer) or an array of `n_layer` integers.
    pub fn per_layer(&self, k: &str, n_layer: u32, default: u32) -> Result<Vec<u32>, ModelError> {
        match self.get(k) {
            None => Ok(vec![default; n_layer as usize]),
            Some(Value::Array(a)) => {
                let v: Option<Vec<u32>> = (0..a.len()).map(|i| a.get(i).as_ref().and_then(u32_of)).collect();
                match v {
                    Some(v) if v.len() == n_layer as usize => Ok(v),
                    _ => Err(ModelError::BadHparams(format!("{} must have {n_layer} integer entries", self.key(k)))),
                }
            }
            Some(v) => u32_of(v).map(|x| vec![x; n_layer as usize]).ok_or_else(|| ModelError::MissingKey(self.key(k))),
        }
    }

    /// A per-layer boolean array (e.g. `attention.recurrent_layers`).
    pub fn per_layer_bool(&self, k: &str, n_layer: u32) -> Result<Option<Vec<bool>>, ModelError> {
        match self.get(k) {
            None => Ok(None),
            Some(Value::Array(a)) => {
                let v: Option<Vec<bool>> = (0..a.len()).map(|i| a.get(i).as_ref().and_then(Value::as_bool)).collect();
                match v {
                    Some(v) if v.len() == n_layer as usize => Ok(Some(v)),
                    _ => Err(ModelError::BadHparams(format!("{} must have {n_layer} booleans", self.key(k)))),
                }
            }
            Some(_) => Err(ModelError::MissingKey(self.key(k))),
        }
    }
}

/// The Mamba-family `ssm.*` keys (spec §1.1): d_conv, d_inner, d_state, heads (for Mamba2,
/// `ssm.time_step_rank` is the number of heads), groups.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SsmParams {
    pub d_conv: u32,
    pub d_inner: u32,
    pub d_state: u32,
    pub n_head: u32,
    pub n_group: u32,
    pub head_dim: u32,
}

impl SsmParams {
    pub fn conv_dim(&self) -> u32 {
        self.d_inner + 2 * self.n_group * self.d_state
    }
    pub fn d_in_proj(&self) -> u32 {
        2 * self.d_inner + 2 * self.n_group * self.d_state + self.n_head
    }
    /// Floats of conv state per sequence and layer.
    pub fn conv_state_len(&self) -> u32 {
        (self.d_conv - 1) * self.conv_dim()
    }
    /// Floats of SSM state per sequence and layer.
    pub fn ssm_state_len(&self) -> u32 {
        self.d_state * self.d_inner
    }
}

/// What a layer keeps: a KV cache (attention), a recurrent state, both, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerKind {
    pub attention: bool,
    pub recurrent: bool,
}

/// The metadata keys every architecture shares (spec §1.1), plus the per-layer summary of
/// what each layer keeps (from the layer plan).
#[derive(Debug, Clone, PartialEq)]
pub struct HParams {
    /// `general.architecture`, as the arch registry names it.
    pub arch: &'static str,
    pub n_embd: u32,
    pub n_layer: u32,
    pub n_vocab: u32,
    /// Per layer (`feed_forward_length`, scalar or array; 0 where a layer has no FFN).
    pub n_ff_layer: Vec<u32>,
    /// The widest FFN.
    pub n_ff: u32,
    /// Per layer; the widest in `n_head`.
    pub n_head_layer: Vec<u32>,
    pub n_head: u32,
    /// Per layer; 0 for layers without attention (when the file says so).
    pub n_head_kv: Vec<u32>,
    pub head_dim: u32,
    pub eps: f32,
    pub ssm: Option<SsmParams>,
    pub context_length: u32,
    /// Filled in from the layer plan.
    pub layers: Vec<LayerKind>,
}

impl HParams {
    pub fn read(m: &Meta, arch: &'static str) -> Result<HParams, ModelError> {
        let index = m.index;
        let n_embd = m.req_u32("embedding_length")?;
        let n_layer = m.req_u32("block_count")?;
        if n_embd == 0 || n_layer == 0 || n_layer > 4096 || n_embd > MAX_DIM {
            return Err(ModelError::BadHparams(format!("embedding_length {n_embd}, block_count {n_layer}")));
        }
        let n_vocab = match index.get("tokenizer.ggml.tokens") {
            Some(Value::Array(a)) => a.len() as u32,
            _ => index
                .tensor("token_embd.weight")
                .and_then(|t| t.dims.get(1).copied())
                .map(|v| v as u32)
                .ok_or_else(|| ModelError::MissingTensor("token_embd.weight".into()))?,
        };
        let n_head_layer = m.per_layer("attention.head_count", n_layer, 0)?;
        let n_head = n_head_layer.iter().copied().max().unwrap_or(0);
        let n_head_kv = match m.get("attention.head_count_kv") {
            None => n_head_layer.clone(),
            Some(_) => m.per_layer("attention.head_count_kv", n_layer, 0)?,
        };
        let n_ff_layer = m.per_layer("feed_forward_length", n_layer, 0)?;
        let n_ff = n_ff_layer.iter().copied().max().unwrap_or(0);
        let head_dim = m.u32("attention.key_length").unwrap_or(if n_head > 0 { n_embd / n_head } else { 0 });
        let ssm = match m.u32("ssm.inner_size") {
            Some(d_inner) if d_inner > 0 && d_inner <= MAX_DIM => {
                let n_head = m.req_u32("ssm.time_step_rank")?;
                let n_group = m.u32("ssm.group_count").unwrap_or(1).clamp(1, 1 << 10);
                let p = SsmParams {
                    d_conv: m.req_u32("ssm.conv_kernel")?,
                    d_inner,
                    d_state: m.req_u32("ssm.state_size")?,
                    n_head,
                    n_group,
                    head_dim: if n_head > 0 { d_inner / n_head } else { 0 },
                };
                Some(p)
            }
            Some(d_inner) if d_inner > 0 => return Err(ModelError::BadHparams(format!("ssm.inner_size {d_inner} is above 2^20"))),
            _ => None,
        };
        let widest = [n_vocab, n_ff, n_head.saturating_mul(head_dim)];
        if widest.iter().any(|&d| d > MAX_DIM) || n_head > 4096 || head_dim > 512 {
            return Err(ModelError::BadHparams(format!("a dimension is too large (vocab {n_vocab}, ff {n_ff}, heads {n_head}×{head_dim})")));
        }
        Ok(HParams {
            arch,
            n_embd,
            n_layer,
            n_vocab,
            n_ff_layer,
            n_ff,
            n_head_layer,
            n_head,
            n_head_kv,
            head_dim,
            eps: m.f32("attention.layer_norm_rms_epsilon").unwrap_or(1e-5),
            ssm,
            context_length: m.u32("context_length").unwrap_or(4096),
            layers: vec![],
        })
    }

    /// The Mamba2 parameters, checked (required by archs with Mamba2 layers).
    pub fn mamba2(&self) -> Result<SsmParams, ModelError> {
        let p = self.ssm.ok_or_else(|| ModelError::MissingKey(format!("{}.ssm.inner_size", self.arch)))?;
        if p.n_head == 0
            || p.d_inner % p.n_head != 0
            || p.d_inner % p.n_group != 0
            || p.n_head % p.n_group != 0
            || p.d_conv < 1
            || p.d_conv > 16
            || p.d_state == 0
            || p.d_state > 256
            || p.d_in_proj().max(p.conv_dim()) > MAX_DIM
        {
            return Err(ModelError::BadHparams(format!("ssm parameters {p:?}")));
        }
        Ok(p)
    }
}
